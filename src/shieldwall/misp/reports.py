"""MISP's event report calls: view, index, add, edit, delete (soft or hard) and restore,
under MISP's two spellings of the path (eventReports and event_reports)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.intel import reports as rep
from shieldwall.intel.collab_models import EventReport
from shieldwall.intel.errors import InvalidInput
from shieldwall.intel.models import Event, SharingGroup
from shieldwall.misp.common import (
    flag,
    json_value,
    misp_ok,
    misp_router,
    named_params,
    paged,
    prefixed_routes,
    text_param,
    validated,
    whole,
)
from shieldwall.misp.shapes import epoch

router = misp_router()

_PREFIXES = ("/eventReports", "/event_reports")
_INDEX_PARAMS = ("event_id", "context", "value", "limit", "page")
_CONTEXTS: dict[str, bool | None] = {"default": False, "deleted": True, "all": None}
INDEX_LIMIT = 10_000


_route = prefixed_routes(router, _PREFIXES)


def report_shape(r: dict[str, Any]) -> dict[str, Any]:
    """From the native serialisation (intel.reports.report_out)."""
    return {
        "id": str(r["id"]),
        "uuid": r["uuid"],
        "event_id": str(r["event_id"]),
        "name": r["name"],
        "content": r["content"],
        "distribution": str(r["distribution"]),
        "sharing_group_id": str(r["sharing_group_id"] or 0),
        "timestamp": epoch(datetime.fromisoformat(r["timestamp"])),
        "deleted": r["deleted"],
    }


def _event_brief(e: Event) -> dict[str, Any]:
    return {
        "id": str(e.id),
        "orgc_id": str(e.orgc_id),
        "org_id": str(e.org_id),
        "info": e.info,
        "user_id": str(e.user_id or 0),
        "date": e.date.isoformat(),
        "Orgc": {"id": str(e.orgc.id), "name": e.orgc.name},
        "Org": {"id": str(e.org.id), "name": e.org.name},
    }


def _entry(db: Session, r: EventReport, e: Event) -> dict[str, Any]:
    """A report as MISP answers it: the report, its event's metadata, its sharing group."""
    out: dict[str, Any] = {
        "EventReport": report_shape(rep.report_out(r, e.uuid)),
        "Event": _event_brief(e),
    }
    if r.sharing_group_id is not None:
        sg = db.get(SharingGroup, r.sharing_group_id)
        if sg is not None:
            out["SharingGroup"] = {"id": str(sg.id), "name": sg.name, "uuid": sg.uuid}
    return out


async def _body(request: Request) -> dict[str, Any]:
    body = await json_value(request)
    if isinstance(body, dict) and isinstance(body.get("EventReport"), dict):
        return dict(body["EventReport"])
    if isinstance(body, dict):
        return body
    raise InvalidInput("send the event report as a JSON object", field="EventReport")


@_route("GET", "/view/{ref}")
def view_report(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    # As MISP does, a soft-deleted report still answers (to those who may see it).
    r, e = rep.get_report(db, ctx, ref, include_deleted=True)
    return _entry(db, r, e)


@_route("GET", "/index", "/index/{named:path}")
def index_reports(
    request: Request, ctx: CurrentCtx, db: ReadDB, named: str = ""
) -> list[dict[str, Any]]:
    """Readable reports, of one event with event_id; context default (live ones), deleted
    or all; value searches names and contents."""
    params: dict[str, Any] = {**dict(request.query_params), **named_params(named)}
    for name in params:
        if name not in _INDEX_PARAMS:
            raise InvalidInput(f"the report index parameter {name} is not supported", field=name)
    context = params.get("context") or "default"
    if context not in _CONTEXTS:
        raise InvalidInput("context is one of default, deleted, all", field="context")
    event = text_param(params.get("event_id"), "event_id")
    search = text_param(params.get("value"), "value")
    limit = whole(params.get("limit"), "limit", default=INDEX_LIMIT, low=1, high=INDEX_LIMIT)
    page = whole(params.get("page"), "page", default=1, low=1, high=1_000_000)
    rows = paged(
        lambda after: rep.list_reports(
            db,
            ctx,
            event=event,
            deleted=_CONTEXTS[context],
            search=search,
            after=after,
            limit=limit,
            event_field="event_id",
        ),
        lambda row: row[0].id,
        limit,
        page,
    )
    return [_entry(db, r, e) for r, e in rows]


@_route("POST", "/add/{event_ref}")
async def add_report(
    request: Request, event_ref: str, ctx: CurrentCtx, db: WriteDB
) -> dict[str, Any]:
    data = validated(rep.ReportIn, await _body(request))
    r = rep.create_report(db, ctx, event_ref, data)
    out = _entry(db, *rep.get_report(db, ctx, r.id))
    db.commit()
    return out


@_route("POST", "/edit/{ref}")
async def edit_report(request: Request, ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    body = await _body(request)
    # MISP keeps the stored id, uuid, event and deleted flag, and sets a new timestamp.
    fields = {
        k: body[k] for k in ("name", "content", "distribution", "sharing_group_id") if k in body
    }
    if "distribution" in fields and str(fields["distribution"]) != "4":
        fields.pop("sharing_group_id", None)
    r = rep.update_report(db, ctx, ref, validated(rep.ReportUpdate, fields))
    out = _entry(db, *rep.get_report(db, ctx, r.id))
    db.commit()
    return out


@_route("POST", "/delete/{ref}", "/delete/{ref}/{hard}")
async def delete_report(
    request: Request, ref: str, ctx: CurrentCtx, db: WriteDB, hard: str | None = None
) -> dict[str, Any]:
    body = await json_value(request)
    hard_delete = bool(flag(hard)) or (isinstance(body, dict) and bool(flag(body.get("hard"))))
    report_id = rep.delete_report(db, ctx, ref, hard=hard_delete)
    db.commit()
    message = f"Event Report {ref} {'hard' if hard_delete else 'soft'} deleted"
    return misp_ok(message, request.url.path, id=str(report_id))


@_route("POST", "/restore/{ref}")
def restore_report(request: Request, ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    r = rep.restore_report(db, ctx, ref)
    db.commit()
    return misp_ok(f"Event Report {ref} restored", request.url.path, id=str(r.id))
