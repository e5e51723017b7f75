"""TAXII 2.1 over HTTP at /taxii2/: discovery, the API root, collections, objects, manifest,
versions and status, with TAXII's media type, error resource, filters and paging. Pages are
written from the stored JSON bodies as they are, never parsed and serialised again."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from itsdangerous import BadSignature, URLSafeSerializer

from shieldwall import __version__
from shieldwall.api.deps import CurrentCtx, ReadDB, SettingsDep, WriteDB
from shieldwall.config import Settings
from shieldwall.db.engine import get_database
from shieldwall.intel.errors import DomainError, Forbidden, NotFound
from shieldwall.taxii import ingest
from shieldwall.taxii.collections import Access, get_collection, list_collections
from shieldwall.taxii.models import TaxiiStatus
from shieldwall.taxii.query import ObjectFilter, Page, page
from shieldwall.taxii.store import catch_up, format_timestamp, parse_timestamp

TAXII_MEDIA = "application/taxii+json;version=2.1"
STIX_MEDIA = "application/stix+json;version=2.1"
API_ROOT = "intel"
# Changed events rendered before a first page is served, so a reader sees their own writes;
# what a large import leaves beyond this is rendered by the background job.
RENDER_BUDGET_SECONDS = 0.5


class TaxiiError(DomainError):
    """An HTTP-level refusal that has no domain meaning (media types, paging tokens)."""

    def __init__(self, status: int, title: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail, field=field)
        self.status = status
        self.title = title


def taxii_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = content if isinstance(content, bytes) else orjson.dumps(content)
    return Response(body, status_code=status, media_type=TAXII_MEDIA, headers=headers)


def error_response(status: int, title: str, description: str, field: str | None = None) -> Response:
    body: dict[str, Any] = {"title": title, "description": description, "http_status": str(status)}
    if field:
        body["details"] = {"field": field}
    headers = (
        {"WWW-Authenticate": 'Basic realm="Shieldwall TAXII", charset="UTF-8"'}
        if status == 401
        else None
    )
    return taxii_response(body, status, headers)


class TaxiiRoute(APIRoute):
    """Errors on TAXII paths are TAXII error resources."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except DomainError as exc:
                status = 400 if exc.status == 422 else exc.status
                return error_response(status, exc.title, exc.detail, exc.field)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                loc = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path"))
                return error_response(
                    400, "Bad request", f"{loc}: {first.get('msg', 'invalid')}", loc
                )

        return wrapped


def _media(value: str) -> tuple[str, dict[str, str]]:
    kind, *params = (p.strip() for p in value.split(";"))
    out = {}
    for p in params:
        name, _, val = p.partition("=")
        out[name.strip().lower()] = val.strip().strip('"')
    return kind.lower(), out


def _taxii_media(value: str) -> bool:
    kind, params = _media(value)
    return kind == "application/taxii+json" and params.get("version", "2.1") == "2.1"


def check_accept(request: Request) -> None:
    accept = request.headers.get("accept", "")
    if not any(_taxii_media(v) for v in accept.split(",") if v.strip()):
        raise TaxiiError(
            406,
            "Not acceptable",
            f"this server answers {TAXII_MEDIA}; send it in the Accept header",
            "Accept",
        )


router = APIRouter(
    prefix="/taxii2",
    route_class=TaxiiRoute,
    tags=["TAXII 2.1"],
    dependencies=[Depends(check_accept)],
)


def _base(request: Request, settings: Settings) -> str:
    return (settings.base_url or str(request.base_url).rstrip("/")) + "/taxii2"


def _root(api_root: str) -> None:
    if api_root != API_ROOT:
        raise NotFound(f"API root {api_root} not found", field="api_root")


@router.get("/")
def discovery(request: Request, ctx: CurrentCtx, settings: SettingsDep) -> Response:
    root = f"{_base(request, settings)}/{API_ROOT}/"
    return taxii_response(
        {
            "title": "Shieldwall TAXII",
            "description": "Intelligence of this Shieldwall instance as STIX 2.1, under its access rules",
            "default": root,
            "api_roots": [root],
        }
    )


@router.get("/{api_root}/")
def api_root_info(api_root: str, ctx: CurrentCtx, settings: SettingsDep) -> Response:
    _root(api_root)
    return taxii_response(
        {
            "title": "Shieldwall intelligence",
            "description": f"Shieldwall {__version__}: collections are saved searches over the intel store",
            "versions": [TAXII_MEDIA],
            "max_content_length": settings.max_body_bytes,
        }
    )


def _collection(access: Access) -> dict[str, Any]:
    c = access.collection
    out: dict[str, Any] = {"id": c.uuid, "title": c.title}
    if c.description:
        out["description"] = c.description
    if c.alias:
        out["alias"] = c.alias
    out.update(can_read=access.can_read, can_write=access.can_write, media_types=[STIX_MEDIA])
    return out


@router.get("/{api_root}/collections/")
def collections(api_root: str, ctx: CurrentCtx, db: ReadDB) -> Response:
    _root(api_root)
    found = [_collection(a) for a in list_collections(db, ctx)]
    return taxii_response({"collections": found} if found else {})


@router.get("/{api_root}/collections/{collection_id}/")
def collection(api_root: str, collection_id: str, ctx: CurrentCtx, db: ReadDB) -> Response:
    _root(api_root)
    return taxii_response(_collection(get_collection(db, ctx, collection_id)))


# --- filters and paging ---------------------------------------------------------------------

_MATCH = {"match[id]", "match[type]", "match[version]", "match[spec_version]"}


def _values(request: Request, name: str) -> list[str]:
    return [
        v.strip() for raw in request.query_params.getlist(name) for v in raw.split(",") if v.strip()
    ]


def _filters(
    request: Request, *, versions: str = "last", allowed: frozenset[str] | None = None
) -> ObjectFilter:
    for name in request.query_params:
        if name.startswith("match[") and (
            name not in _MATCH or (allowed is not None and name not in allowed)
        ):
            raise TaxiiError(400, "Bad filter", f"{name} is not a filter of this endpoint", name)
    added_after = None
    if "added_after" in request.query_params:
        try:
            added_after = parse_timestamp(request.query_params["added_after"])
        except ValueError as exc:
            raise TaxiiError(400, "Bad filter", str(exc), "added_after") from None
    chosen: list[str | datetime] = []
    for v in _values(request, "match[version]") or [versions]:
        if v in ("first", "last", "all"):
            chosen.append(v)
            continue
        try:
            chosen.append(parse_timestamp(v))
        except ValueError:
            raise TaxiiError(
                400, "Bad filter", f"{v!r} is not first, last, all or a timestamp", "match[version]"
            ) from None
    ids = _values(request, "match[id]")
    for v in ids:
        if "--" not in v:
            raise TaxiiError(400, "Bad filter", f"{v!r} is not a STIX identifier", "match[id]")
    specs = _values(request, "match[spec_version]")
    for v in specs:
        if v not in ("2.0", "2.1"):
            raise TaxiiError(
                400,
                "Bad filter",
                f"{v!r} is not a STIX version (2.0 or 2.1)",
                "match[spec_version]",
            )
    return ObjectFilter(
        added_after=added_after,
        ids=tuple(ids),
        types=tuple(_values(request, "match[type]")),
        versions=tuple(chosen),
        spec_versions=tuple(specs),
    )


def _limit(request: Request, settings: Settings) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return min(settings.taxii_default_limit, settings.taxii_max_limit)
    if not raw.isdigit() or int(raw) < 1:
        raise TaxiiError(400, "Bad limit", "limit must be a whole number of at least 1", "limit")
    return min(int(raw), settings.taxii_max_limit)


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.ensure_secret_key(), salt="shieldwall-taxii-next")


def _scope(request: Request, access: Access) -> str:
    """What a next token is good for: this endpoint, collection and filters."""
    params = sorted(
        (k, v) for k, v in request.query_params.multi_items() if k not in ("next", "limit")
    )
    digest = hashlib.sha256(
        orjson.dumps([request.url.path, access.collection.uuid, params])
    ).hexdigest()
    return digest[:24]


def _after(request: Request, settings: Settings, access: Access) -> tuple[datetime, int] | None:
    token = request.query_params.get("next")
    if token is None:
        return None
    try:
        scope, stamp, row = _serializer(settings).loads(token)
        key = (datetime.fromisoformat(stamp), int(row))
    except (BadSignature, ValueError, TypeError):
        raise TaxiiError(400, "Bad next", "next is not a value this server gave", "next") from None
    if scope != _scope(request, access):
        raise TaxiiError(
            400,
            "Bad next",
            "next belongs to another endpoint, collection or set of filters",
            "next",
        )
    return key


def _next(request: Request, settings: Settings, access: Access, result: Page) -> str | None:
    if not result.more or result.last_key is None:
        return None
    stamp, row = result.last_key
    return str(_serializer(settings).dumps([_scope(request, access), stamp.isoformat(), row]))


def _headers(result: Page) -> dict[str, str]:
    if not result.rows:
        return {}
    return {
        "X-TAXII-Date-Added-First": format_timestamp(result.rows[0].date_added),
        "X-TAXII-Date-Added-Last": format_timestamp(result.rows[-1].date_added),
    }


def _readable(db: ReadDB, ctx: CurrentCtx, collection_id: str) -> Access:
    access = get_collection(db, ctx, collection_id)
    if not access.can_read:
        raise Forbidden("this collection may not be read by your organisation", field="collection")
    return access


def _fresh(request: Request) -> None:
    if "next" not in request.query_params:
        catch_up(get_database(), budget=RENDER_BUDGET_SECONDS)


def _head(request: Request, settings: Settings, access: Access, result: Page) -> dict[str, Any]:
    """`more`, and `next` while there is more."""
    head: dict[str, Any] = {"more": result.more}
    token = _next(request, settings, access, result)
    if token:
        head["next"] = token
    return head


def _envelope(request: Request, settings: Settings, access: Access, result: Page) -> bytes:
    head = _head(request, settings, access, result)
    if not result.rows:
        return orjson.dumps(head)
    start = orjson.dumps(head)[:-1] + b',"objects":['
    return start + ",".join(r.body for r in result.rows).encode() + b"]}"


def _objects_page(
    request: Request,
    ctx: CurrentCtx,
    db: ReadDB,
    settings: Settings,
    collection_id: str,
    flt: ObjectFilter,
) -> tuple[Access, Page]:
    access = _readable(db, ctx, collection_id)
    after = _after(request, settings, access)
    return access, page(db, ctx, access.collection, flt, after, _limit(request, settings))


@router.get("/{api_root}/collections/{collection_id}/objects/")
def get_objects(
    request: Request, api_root: str, collection_id: str, ctx: CurrentCtx, settings: SettingsDep
) -> Response:
    _root(api_root)
    _fresh(request)
    flt = _filters(request)
    with get_database().reading() as db:
        access, result = _objects_page(request, ctx, db, settings, collection_id, flt)
    return taxii_response(_envelope(request, settings, access, result), headers=_headers(result))


async def _body(request: Request) -> bytes:
    kind = request.headers.get("content-type", "")
    if not _taxii_media(kind):
        raise TaxiiError(
            415, "Unsupported media type", f"objects are posted as {TAXII_MEDIA}", "Content-Type"
        )
    return await request.body()


@router.post("/{api_root}/collections/{collection_id}/objects/")
def add_objects(
    api_root: str,
    collection_id: str,
    body: Annotated[bytes, Depends(_body)],
    ctx: CurrentCtx,
    db: WriteDB,
    background: BackgroundTasks,
) -> Response:
    _root(api_root)
    access = get_collection(db, ctx, collection_id)
    status = ingest.accept(db, ctx, access, body)
    out = _status(status)
    db.commit()
    background.add_task(ingest.process, get_database(), status.uuid)
    return taxii_response(out, 202)


@router.get("/{api_root}/collections/{collection_id}/objects/{object_id}/")
def get_object(
    request: Request,
    api_root: str,
    collection_id: str,
    object_id: str,
    ctx: CurrentCtx,
    settings: SettingsDep,
) -> Response:
    _root(api_root)
    _fresh(request)
    base = _filters(request, allowed=frozenset({"match[version]", "match[spec_version]"}))
    flt = ObjectFilter(base.added_after, (object_id,), (), base.versions, base.spec_versions)
    with get_database().reading() as db:
        access, result = _objects_page(request, ctx, db, settings, collection_id, flt)
    if not result.rows and "next" not in request.query_params:
        raise NotFound(f"object {object_id} not found in this collection", field="object_id")
    return taxii_response(_envelope(request, settings, access, result), headers=_headers(result))


@router.delete("/{api_root}/collections/{collection_id}/objects/{object_id}/")
def delete_object(
    request: Request,
    api_root: str,
    collection_id: str,
    object_id: str,
    ctx: CurrentCtx,
    db: WriteDB,
    settings: SettingsDep,
) -> Response:
    _root(api_root)
    _fresh(request)  # before the write transaction takes its lock
    base = _filters(
        request, versions="all", allowed=frozenset({"match[version]", "match[spec_version]"})
    )
    flt = ObjectFilter(None, (object_id,), (), base.versions, base.spec_versions)
    access = _readable(db, ctx, collection_id)
    result = page(db, ctx, access.collection, flt, None, settings.taxii_max_limit, bodies=False)
    if not result.rows:
        raise NotFound(f"object {object_id} not found in this collection", field="object_id")
    ingest.delete_object(db, ctx, access, result.rows)
    db.commit()
    return taxii_response(b"", 200)


@router.get("/{api_root}/collections/{collection_id}/objects/{object_id}/versions/")
def object_versions(
    request: Request,
    api_root: str,
    collection_id: str,
    object_id: str,
    ctx: CurrentCtx,
    settings: SettingsDep,
) -> Response:
    _root(api_root)
    _fresh(request)
    base = _filters(request, versions="all", allowed=frozenset({"match[spec_version]"}))
    flt = ObjectFilter(base.added_after, (object_id,), (), ("all",), base.spec_versions)
    with get_database().reading() as db:
        access = _readable(db, ctx, collection_id)
        after = _after(request, settings, access)
        result = page(
            db, ctx, access.collection, flt, after, _limit(request, settings), bodies=False
        )
    if not result.rows and after is None:
        raise NotFound(f"object {object_id} not found in this collection", field="object_id")
    out = _head(request, settings, access, result)
    if result.rows:
        out["versions"] = [format_timestamp(r.version) for r in result.rows]
    return taxii_response(out, headers=_headers(result))


@router.get("/{api_root}/collections/{collection_id}/manifest/")
def manifest(
    request: Request, api_root: str, collection_id: str, ctx: CurrentCtx, settings: SettingsDep
) -> Response:
    _root(api_root)
    _fresh(request)
    flt = _filters(request)
    with get_database().reading() as db:
        access = _readable(db, ctx, collection_id)
        after = _after(request, settings, access)
        result = page(
            db, ctx, access.collection, flt, after, _limit(request, settings), bodies=False
        )
    out = _head(request, settings, access, result)
    if result.rows:
        out["objects"] = [
            {
                "id": r.stix_id,
                "date_added": format_timestamp(r.date_added),
                "version": format_timestamp(r.version),
                "media_type": f"application/stix+json;version={r.spec_version}",
            }
            for r in result.rows
        ]
    return taxii_response(out, headers=_headers(result))


def _status(s: TaxiiStatus) -> dict[str, Any]:
    return {
        "id": s.uuid,
        "status": s.status,
        "request_timestamp": format_timestamp(s.request_timestamp),
        "total_count": s.total_count,
        "success_count": s.success_count,
        "successes": s.successes,
        "failure_count": s.failure_count,
        "failures": s.failures,
        "pending_count": s.pending_count,
        "pendings": s.pendings,
    }


@router.get("/{api_root}/status/{status_id}/")
def status(api_root: str, status_id: str, ctx: CurrentCtx, db: ReadDB) -> Response:
    _root(api_root)
    found = ingest.status_for(db, ctx, status_id)
    if found is None:
        raise NotFound(f"status {status_id} not found", field="status_id")
    return taxii_response(_status(found))


# Paths under /taxii2/ that are no endpoint (or not for this method) get TAXII's error
# resource too, whatever the client accepts: the routes above are tried first.
fallback = APIRouter(prefix="/taxii2", route_class=TaxiiRoute, include_in_schema=False)


def _methods(path: str) -> set[str]:
    """The methods TAXII's routes answer at this path."""
    out: set[str] = set()
    for route in router.routes:
        if isinstance(route, APIRoute) and route.methods and route.path_regex.match(path):
            out.update(route.methods)
    return out


@fallback.api_route(
    "/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
)
def unknown(request: Request, path: str) -> Response:
    here = request.url.path
    allowed = _methods(here)
    if allowed:
        response = error_response(
            405,
            "Method not allowed",
            f"{request.method} is not allowed on {here}; it answers {', '.join(sorted(allowed))}",
        )
        response.headers["Allow"] = ", ".join(sorted(allowed))
        return response
    if not here.endswith("/") and _methods(here + "/"):
        # TAXII's URLs end with a slash.
        return RedirectResponse(str(request.url.replace(path=here + "/")), status_code=307)
    raise NotFound(f"{here} is not an endpoint of this TAXII server", field="path")
