"""MISP's sighting calls: add (to an attribute or by value), listSightings, delete and
restSearch, with MISP's paths, parameters and JSON shapes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from sqlalchemy.orm import Session

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.api.search import parse_time
from shieldwall.auth.models import Organisation
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.intel import sightings as sights
from shieldwall.intel.common import get_attribute, get_event
from shieldwall.intel.errors import DomainError, InvalidInput, NotFound
from shieldwall.intel.schemas import SightingCreate
from shieldwall.intel.serialize import sighting_out
from shieldwall.intel.sightings import SightingFilter, SightingHit
from shieldwall.misp.common import (
    flag,
    json_body,
    misp_ok,
    misp_router,
    time_range,
    whole,
)
from shieldwall.misp.shapes import epoch

router = misp_router()

CONTEXTS = ("attribute", "event")
# MISP's restSearch for sightings looks back 30 days unless told otherwise.
DEFAULT_WINDOW = timedelta(days=30)
# listSightings is not paged in MISP; the newest ones are kept when there are more.
LIST_LIMIT = 10_000
_BARE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# ---------------------------------------------------------------- shapes


def sighting_shape(s: dict[str, Any]) -> dict[str, Any]:
    """From the native serialisation (intel.serialize.sighting_out)."""
    return {
        "id": str(s["id"]),
        "attribute_id": str(s["attribute_id"]),
        "event_id": str(s["event_id"]),
        "org_id": str(s["org_id"]),
        "date_sighting": epoch(datetime.fromisoformat(s["date_sighting"])),
        "uuid": s["uuid"],
        "source": s["source"],
        "type": str(s["type"]),
    }


def _org_brief(org: Organisation) -> dict[str, Any]:
    return {"id": str(org.id), "uuid": org.uuid, "name": org.name}


def _listed(hit: SightingHit) -> dict[str, Any]:
    """An entry of listSightings: the sighting and, beside it, its organisation."""
    out: dict[str, Any] = {"Sighting": sighting_shape(sighting_out(hit.sighting))}
    if hit.org is not None:
        out["Organisation"] = _org_brief(hit.org)
    return out


def _found(hit: SightingHit, *, attribute: bool, event: bool, uuids: bool) -> dict[str, Any]:
    """An entry of restSearch: the sighting with its attribute's value, the organisation
    inside, and on request the attribute, the event's metadata and both uuids."""
    a, e = hit.attribute, hit.event
    out = sighting_shape(sighting_out(hit.sighting))
    out["value"] = a.value
    if uuids:
        out["attribute_uuid"] = a.uuid
        out["event_uuid"] = e.uuid
    if attribute:
        out["Attribute"] = {
            "id": str(a.id),
            "value": a.value,
            "uuid": a.uuid,
            "type": a.type,
            "category": a.category,
            "to_ids": a.to_ids,
        }
    if event:
        out["Event"] = {
            "id": str(e.id),
            "uuid": e.uuid,
            "orgc_id": str(e.orgc_id),
            "org_id": str(e.org_id),
            "info": e.info,
            "Orgc": _org_brief(e.orgc),
        }
    if hit.org is not None:
        out["Organisation"] = _org_brief(hit.org)
    return {"Sighting": out}


# ---------------------------------------------------------------- input


@contextmanager
def _fields_named(names: dict[str, str]) -> Iterator[None]:
    """Domain errors name the domain's fields; MISP callers sent MISP's."""
    try:
        yield
    except DomainError as exc:
        if exc.field in names:
            exc.field = names[exc.field]
        raise


def _unwrap(body: dict[str, Any], *keys: str) -> dict[str, Any]:
    for key in keys:
        inner = body.get(key)
        if isinstance(inner, dict):
            body = inner
    return body


def _texts(value: Any, field: str) -> list[str]:
    """A text parameter that may be one value or a list of them."""
    items = value if isinstance(value, (list, tuple)) else [value]
    out: list[str] = []
    for item in items:
        if item in (None, ""):
            continue
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise InvalidInput(f"{field} is text or a list of texts", field=field)
        out.append(str(item))
    return out


def _when(body: dict[str, Any]) -> tuple[Any, str]:
    """The sighting time MISP's way: date and time together, else timestamp (epoch)."""
    date, clock = body.get("date"), body.get("time")
    if date not in (None, "") and clock not in (None, ""):
        if not isinstance(date, str) or not isinstance(clock, str):
            raise InvalidInput("date is YYYY-MM-DD and time is HH:MM:SS", field="date")
        return f"{date.strip()}T{clock.strip()}", "date"
    for name in ("timestamp", "date_sighting"):
        if body.get(name) not in (None, ""):
            return body[name], name
    return None, "timestamp"


def _sighting_input(payload: dict[str, Any], names: dict[str, str]) -> SightingCreate:
    try:
        return SightingCreate.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first["loc"]] or ["body"]
        loc[0] = names.get(loc[0], loc[0])
        name = ".".join(loc)
        raise InvalidInput(f"{name}: {first['msg']}", field=name) from None


# ---------------------------------------------------------------- add


@router.post("/sightings/add")
@router.post("/sightings/add/{ref}")
async def add_sighting(
    request: Request, ctx: CurrentCtx, db: WriteDB, ref: str | None = None
) -> dict[str, Any]:
    """Sight one attribute (id or uuid in the path, or as id/uuid in the body), or every
    attribute the caller may read holding value/values. An attribute named wins over values,
    as in MISP. Answers the (last) sighting made."""
    body = _unwrap(await json_body(request), "request", "Sighting")
    if ref == "stix":
        raise InvalidInput("STIX sighting documents are not accepted; send MISP JSON", field="id")
    if body.get("filters"):
        raise InvalidInput("filters is not supported; give an attribute or values", field="filters")
    target = ref or body.get("uuid") or body.get("id")
    when, when_field = _when(body)
    source = body.get("source")
    payload: dict[str, Any] = {
        "type": 0 if body.get("type") in (None, "") else body["type"],
        "source": source.strip() if isinstance(source, str) else (source or ""),
        "date_sighting": when,
    }
    if target not in (None, ""):
        payload["attribute"] = str(target)
    elif body.get("value") not in (None, ""):
        payload["values"] = _texts(body["value"], "value")
    else:
        payload["values"] = _texts(body.get("values"), "values")
        if not payload["values"]:
            raise InvalidInput(
                "give an attribute id or uuid, or a value or values to sight", field="value"
            )
    names = {"attribute": "id", "date_sighting": when_field}
    data = _sighting_input(payload, names)
    with _fields_named(names):
        rows = sights.add_sightings(db, ctx, data)
    sighting, attribute_uuid = rows[-1]
    out = sighting_shape(sighting_out(sighting, attribute_uuid))
    db.commit()
    return {"Sighting": out}


# ---------------------------------------------------------------- listSightings


def _visible_targets(db: Session, ctx: Ctx, refs: list[str], context: str) -> list[str]:
    """The ids among refs of attributes (or events) the caller may read; none is a 404."""
    ids: list[str] = []
    with _fields_named({"attribute": "id", "event": "id"}):
        for ref in refs:
            try:
                if context == "attribute":
                    ids.append(str(get_attribute(db, ctx, ref)[0].id))
                else:
                    ids.append(str(get_event(db, ctx, ref).id))
            except NotFound:
                continue
    if not ids:
        named = refs[0] if len(refs) == 1 else f"of the {len(refs)} given"
        raise NotFound(f"{context} {named} not found", field="id")
    return ids


@router.get("/sightings/listSightings/{ref}")
@router.get("/sightings/listSightings/{ref}/{context}")
@router.get("/sightings/listSightings/{ref}/{context}/{org}")
@router.post("/sightings/listSightings")
@router.post("/sightings/listSightings/{ref}")
@router.post("/sightings/listSightings/{ref}/{context}")
@router.post("/sightings/listSightings/{ref}/{context}/{org}")
async def list_sightings(
    request: Request,
    ctx: CurrentCtx,
    db: ReadDB,
    ref: str | None = None,
    context: str | None = None,
    org: str | None = None,
) -> list[dict[str, Any]]:
    """The sightings of an attribute (or of an event's attributes) the caller may read
    under the sighting policy, newest first; org_id keeps one organisation's. As in MISP,
    a posted id, context or org_id overrides the path."""
    body = await json_body(request) if request.method == "POST" else {}
    refs = _texts(body.get("id", ref), "id")
    context = (_texts(body.get("context", context), "context") or ["attribute"])[0]
    orgs = [o for o in _texts(body.get("org_id", org), "org_id") if o != "0"][:1]
    if context not in CONTEXTS:
        raise InvalidInput("context is attribute or event", field="context")
    refs = [r for part in refs for r in part.split("|") if r.strip()]
    if not refs:
        raise InvalidInput(f"give the id of the {context}", field="id")
    if len(refs) > sights.MAX_REFS:
        raise InvalidInput(f"at most {sights.MAX_REFS} ids", field="id")
    ids = _visible_targets(db, ctx, refs, context)
    f = SightingFilter(org=orgs, newest_first=True, limit=LIST_LIMIT)
    if context == "attribute":
        f.attribute = ids
    else:
        f.event = ids
    with _fields_named({"org": "org_id"}):
        hits = sights.search_sightings(db, ctx, f)
    return [_listed(h) for h in hits]


# ---------------------------------------------------------------- delete


@router.post("/sightings/delete/{ref}")
def delete_sighting(ref: str, request: Request, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """Delete a sighting by id or uuid: site admins, or its own organisation's users who
    may modify the organisation's data."""
    with _fields_named({"sighting": "id"}):
        sights.delete_sighting(db, ctx, ref)
    db.commit()
    return misp_ok("Sighting successfully deleted.", request.url.path, id=ref)


# ---------------------------------------------------------------- restSearch


def _until(value: Any, field: str) -> datetime | None:
    """An upper bound; a bare date means the whole of that day."""
    if isinstance(value, str) and _BARE_DATE.match(value.strip()):
        try:
            day = datetime.fromisoformat(value.strip()).date()
        except ValueError:
            raise InvalidInput(f"{value!r} is not a date", field=field) from None
        return datetime.combine(day, time.max, tzinfo=UTC)
    return parse_time(value, field)


def _window(q: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """from/to and last (a time, a relative time like 7d, or a [from, to] pair) all apply;
    with none of them, the last 30 days, as in MISP."""
    frm, to, last = q.get("from"), q.get("to"), q.get("last")
    if all(v in (None, "", 0, "0") for v in (frm, to, last)):
        return now() - DEFAULT_WINDOW, None
    bounds_from: list[datetime] = []
    bounds_to: list[datetime] = []
    if frm not in (None, ""):
        start = parse_time(frm, "from")
        if start is not None:
            bounds_from.append(start)
    if to not in (None, ""):
        end = _until(to, "to")
        if end is not None:
            bounds_to.append(end)
    last_from, last_to = time_range(last, "last")
    if last_from is not None:
        bounds_from.append(last_from)
    if last_to is not None:
        bounds_to.append(last_to)
    return (max(bounds_from) if bounds_from else None, min(bounds_to) if bounds_to else None)


def _types(value: Any) -> list[int]:
    out = []
    for t in _texts(value, "type"):
        if t.strip() not in ("0", "1", "2"):
            raise InvalidInput(
                "type is 0 (sighting), 1 (false positive) or 2 (expiration)", field="type"
            )
        out.append(int(t))
    return out


def rest_filter(q: dict[str, Any], context: str | None, ref: str | None) -> SightingFilter:
    """MISP's sighting restSearch parameters as a Shieldwall sighting filter."""
    fmt = q.get("returnFormat") or "json"
    if fmt != "json":
        raise InvalidInput(f"returnFormat {fmt!r} is not available; use json", field="returnFormat")
    if not context:
        given = _texts(q.get("context"), "context")
        context = given[0] if given else None
    if context is not None and context not in CONTEXTS:
        raise InvalidInput("context is attribute or event", field="context")
    refs = [ref] if ref else _texts(q.get("id"), "id") + _texts(q.get("uuid"), "uuid")
    if context and not refs:
        raise InvalidInput(f"give the id or uuid of the {context}", field="id")
    if refs and not context:
        raise InvalidInput("an id needs a context: attribute or event", field="context")
    orgs = _texts(q["org_id"] if q.get("org_id") not in (None, "") else q.get("org"), "org_id")
    since, until = _window(q)
    return SightingFilter(
        attribute=refs if context == "attribute" else [],
        event=refs if context == "event" else [],
        type=_types(q.get("type")),
        org=[o for o in orgs if not o.startswith("!")],
        not_org=[o[1:] for o in orgs if o.startswith("!")],
        source=_texts(q.get("source"), "source"),
        since=since,
        until=until,
        limit=whole(q.get("limit"), "limit", default=10000, low=1, high=100000),
    )


@router.post("/sightings/restSearch")
@router.post("/sightings/restSearch/{context}")
@router.post("/sightings/restSearch/{context}/{ref}")
async def rest_search(
    request: Request,
    ctx: CurrentCtx,
    db: ReadDB,
    context: str | None = None,
    ref: str | None = None,
) -> dict[str, Any]:
    """Sightings the caller may read (sighting policy applied), oldest first, filtered by
    context and id, type, from/to/last, org_id, source; includeAttribute, includeEvent and
    includeUuid add what they name. Paged by limit and page."""
    q = _unwrap(await json_body(request), "request")
    f = rest_filter(q, context, ref)
    page = whole(q.get("page"), "page", default=1, low=1, high=1_000_000)
    names = {"attribute": "id", "event": "id", "org": "org_id"}
    with _fields_named(names):
        # MISP pages by number; walk the keyset to the page instead of an OFFSET scan.
        after = 0
        for _ in range(page - 1):
            skipped = sights.search_sightings(db, ctx, replace(f, after=after))
            if len(skipped) < f.limit:
                return {"response": []}
            after = skipped[-1].sighting.id
        hits = sights.search_sightings(db, ctx, replace(f, after=after))
    options = {
        "attribute": bool(flag(q.get("includeAttribute"))),
        "event": bool(flag(q.get("includeEvent"))),
        "uuids": bool(flag(q.get("includeUuid"))),
    }
    return {"response": [_found(h, **options) for h in hits]}
