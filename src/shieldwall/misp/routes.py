"""MISP's API paths (the part PyMISP needs to connect, add and view events and search),
answering in MISP's shapes, over the same services and access rules as the native API."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from datetime import datetime
from importlib.metadata import version
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.api.responses import OrjsonResponse
from shieldwall.api.search import parse_time
from shieldwall.auth.models import User
from shieldwall.auth.permissions import Permission
from shieldwall.ids import as_id
from shieldwall.intel import events as ev
from shieldwall.intel.common import get_event
from shieldwall.intel.errors import DomainError, InvalidInput, TooManyRequests
from shieldwall.intel.schemas import EventIn
from shieldwall.intel.search import SearchFilter, TagFilter, search_attributes, search_events
from shieldwall.intel.serialize import attributes_with_tags, event_detail, event_summary, event_tags
from shieldwall.intel.types import type_table
from shieldwall.misp.shapes import attribute_shape, event_shape, user_shape

MISP_VERSION = "2.5.0"


def misp_error(status: int, message: str, url: str, field: str | None = None) -> OrjsonResponse:
    errors: Any = {field: [message]} if field else message
    return OrjsonResponse(
        {
            "name": message,
            "message": message,
            "url": url,
            "errors": errors,
            "saved": False,
            "success": False,
        },
        status_code=status,
    )


class MispRoute(APIRoute):
    """Errors on MISP paths come back in MISP's shape, not as problem details."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except DomainError as exc:
                response = misp_error(exc.status, exc.detail, request.url.path, exc.field)
                if isinstance(exc, TooManyRequests):
                    response.headers["Retry-After"] = str(max(exc.retry_after, 1))
                return response
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                loc = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
                return misp_error(
                    400, f"{loc}: {first.get('msg', 'invalid')}", request.url.path, loc or None
                )

        return wrapped


router = APIRouter(route_class=MispRoute, tags=["MISP-compatible API"])


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}", field="body") from None
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    return body


@router.get("/servers/getVersion")
@router.get("/servers/getVersion.json")
def get_version(ctx: CurrentCtx) -> dict[str, Any]:
    p = ctx.principal
    return {
        "version": MISP_VERSION,
        "pymisp_recommended_version": version("pymisp"),
        "perm_sync": p.can(Permission.SYNC),
        "perm_sighting": True,
        "perm_galaxy_editor": False,
        "request_encoding": ["gzip"],
        "filter_sightings": True,
        "product": "Shieldwall",
    }


@router.get("/users/view/me")
@router.get("/users/view/me.json")
def view_me(ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    user = db.get(User, ctx.principal.user_id)
    assert user is not None
    return user_shape(user)


@router.get("/attributes/describeTypes.json")
@router.get("/attributes/describeTypes")
def describe_types(ctx: CurrentCtx) -> dict[str, Any]:
    return {"result": type_table().raw}


@router.post("/events/add")
@router.post("/events/add/metadata:{meta}")
async def add_event(
    request: Request, ctx: CurrentCtx, db: WriteDB, meta: str | None = None
) -> dict[str, Any]:
    body = await _json_body(request)
    raw = body.get("Event", body)
    try:
        data = EventIn.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{loc}: {first['msg']}", field=loc) from None
    event = ev.create_event(db, ctx, data)
    out = event_shape(event_detail(db, ctx, event), metadata=meta == "1")
    db.commit()
    return {"Event": out}


@router.get("/events/view/{ref}")
@router.post("/events/view/{ref}")
def view_event(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    event = get_event(db, ctx, ref)
    return {"Event": event_shape(event_detail(db, ctx, event))}


@router.head("/events/view/{ref}")
def event_exists(ref: str, ctx: CurrentCtx, db: ReadDB) -> Response:
    get_event(db, ctx, ref)
    return Response(status_code=200)


def _as_list(value: Any) -> list[str]:
    if value in (None, "", []):
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v not in (None, "")]
    return [str(value)]


def _bool(value: Any) -> bool | None:
    if value in (None, ""):
        return None
    return str(value).lower() in ("1", "true")


def _time_range(value: Any, field: str) -> tuple[datetime | None, datetime | None]:
    if value in (None, ""):
        return None, None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return parse_time(value[0], field), parse_time(value[1], field)
    return parse_time(value, field), None


def _tags(value: Any) -> TagFilter:
    tf = TagFilter()
    if isinstance(value, dict):
        upper = {k.upper(): v for k, v in value.items()}
        tf.any_of = _as_list(upper.get("OR"))
        tf.all_of = _as_list(upper.get("AND"))
        tf.none_of = _as_list(upper.get("NOT"))
        return tf
    for t in _as_list(value):
        (tf.none_of if t.startswith("!") else tf.any_of).append(t.lstrip("!"))
    return tf


def misp_filter(q: dict[str, Any]) -> SearchFilter:
    """MISP's restSearch parameters as a Shieldwall search filter."""
    fmt = q.get("returnFormat") or "json"
    if fmt != "json":
        raise InvalidInput(
            f"returnFormat {fmt!r} is not available yet; use json", field="returnFormat"
        )
    ts_from, ts_to = _time_range(q.get("timestamp"), "timestamp")
    pub = q.get("publish_timestamp") or q.get("last")
    pts_from, pts_to = _time_range(pub, "publish_timestamp")
    from_ = parse_time(q.get("from"), "from") if q.get("from") else None
    to = parse_time(q.get("to"), "to") if q.get("to") else None
    to_ids = _bool(q.get("to_ids"))
    return SearchFilter(
        value=_as_list(q.get("value")),
        type=_as_list(q.get("type")),
        category=_as_list(q.get("category")),
        tags=_tags(q.get("tags")),
        org=_as_list(q.get("org")),
        event=_as_list(q.get("eventid")),
        uuid=_as_list(q.get("uuid")),
        info=_text(q.get("eventinfo"), "eventinfo"),
        date_from=from_.date() if from_ else None,
        date_to=to.date() if to else None,
        timestamp_from=ts_from,
        timestamp_to=ts_to,
        publish_timestamp_from=pts_from,
        publish_timestamp_to=pts_to,
        published=_bool(q.get("published")),
        to_ids=to_ids,
        include_deleted=bool(_bool(q.get("deleted"))),
        limit=_whole(q.get("limit"), "limit", default=10000, low=1, high=100000),
    )


def _page(q: dict[str, Any]) -> int:
    return _whole(q.get("page"), "page", default=1, low=1, high=1_000_000)


def _whole(value: Any, field: str, *, default: int, low: int, high: int) -> int:
    """A whole number parameter within bounds (MISP sends them as numbers or strings)."""
    if value in (None, "", 0, "0"):
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str)) or as_id(value) is None:
        raise InvalidInput(f"{field} is a whole number from {low} to {high}", field=field)
    number = int(value)
    if not low <= number <= high:
        raise InvalidInput(f"{field} is a whole number from {low} to {high}", field=field)
    return number


def _text(value: Any, field: str) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} is text", field=field)
    return value


@router.post("/attributes/restSearch")
async def attributes_rest_search(request: Request, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    q = await _json_body(request)
    f = misp_filter(q)
    rows = _paged(
        lambda after: search_attributes(db, ctx, _with_after(f, after)),
        lambda r: r[0].id,
        f.limit,
        _page(q),
    )
    uuids = {a.event_id: u for a, u in rows}
    items = attributes_with_tags(db, ctx, [a for a, _ in rows], uuids)
    return {"response": {"Attribute": [attribute_shape(a) for a in items]}}


@router.post("/events/restSearch")
async def events_rest_search(request: Request, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    q = await _json_body(request)
    f = misp_filter(q)
    events = _paged(
        lambda after: search_events(db, ctx, _with_after(f, after)),
        lambda e: e.id,
        f.limit,
        _page(q),
    )
    metadata = bool(_bool(q.get("metadata")))
    out = []
    for e in events:
        if metadata:
            summary = event_summary(e)
            summary["tags"] = event_tags(db, ctx, e.id)
            out.append({"Event": event_shape(summary, metadata=True)})
        else:
            out.append({"Event": event_shape(event_detail(db, ctx, e))})
    return {"response": out}


def _with_after(f: SearchFilter, after: int) -> SearchFilter:
    from dataclasses import replace

    return replace(f, after=after)


def _paged(
    fetch: Callable[[int], list[Any]], key: Callable[[Any], int], limit: int, page: int
) -> list[Any]:
    """MISP pages by number; walk the keyset to the page instead of an OFFSET scan."""
    after = 0
    for _ in range(page - 1):
        rows = fetch(after)
        if len(rows) < limit:
            return []
        after = key(rows[-1])
    return fetch(after)
