"""MISP's event calls: add, view, exists, edit, delete, publish, unpublish, index."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from shieldwall.api.deps import BulkWriteDB, CurrentCtx, ReadDB, WriteDB
from shieldwall.correlation.engine import written_sources
from shieldwall.intel import events as ev
from shieldwall.intel.common import get_event
from shieldwall.intel.errors import InvalidInput
from shieldwall.intel.merge import merge_event
from shieldwall.intel.schemas import EventIn
from shieldwall.intel.search import SearchFilter, attribute_counts, search_events
from shieldwall.intel.serialize import event_detail, event_summary, event_tags
from shieldwall.misp.common import (
    as_list,
    flag,
    json_body,
    misp_ok,
    misp_router,
    named_params,
    paged,
    tag_filter,
    text_param,
    time_range,
    validated,
    whole,
    with_after,
)
from shieldwall.misp.knowledge import attach_warnings, event_attributes
from shieldwall.misp.shapes import event_shape, tag_shape
from shieldwall.misp.views import complete

router = misp_router()


def _answer(
    db: ReadDB,
    ctx: CurrentCtx,
    event: Any,
    *,
    metadata: bool,
    written: list[tuple[Any, ...]] | None = None,
) -> dict[str, Any]:
    """The event as add and edit return it; with metadata:1 its attributes are not read.
    `written`: the attribute rows the add just wrote, so they are not read back."""
    if metadata:
        summary = event_summary(event)
        summary["tags"] = event_tags(db, ctx, event.id)
        return event_shape(summary, metadata=True)
    detail = event_detail(db, ctx, event, written=written)
    sources = written_sources(event, written) if written is not None else None
    return complete(db, ctx, detail, event_shape(detail), attachments=True, sources=sources)


@router.post("/events/add")
@router.post("/events/add/metadata:{meta}")
async def add_event(
    request: Request, ctx: CurrentCtx, db: BulkWriteDB, meta: str | None = None
) -> dict[str, Any]:
    body = await json_body(request)
    data = validated(EventIn, body.get("Event", body))
    made = ev.create_event_written(db, ctx, data)
    out = _answer(db, ctx, made.event, metadata=meta == "1", written=made.attributes)
    db.commit()
    return {"Event": out}


@router.get("/events/view/{ref}")
@router.post("/events/view/{ref}")
@router.get("/events/view/{ref}/{named:path}")
@router.post("/events/view/{ref}/{named:path}")
async def view_event(
    request: Request, ref: str, ctx: CurrentCtx, db: ReadDB, named: str = ""
) -> dict[str, Any]:
    # PyMISP posts {"deleted": ..., "extended": ...} when it wants soft-deleted attributes,
    # and appends named parameters such as noSightings:1 (sightings are not inlined yet).
    params = named_params(named)
    body = await json_body(request) if request.method == "POST" else {}
    deleted = body.get("deleted", params.get("deleted"))
    if isinstance(deleted, list):
        deleted = any(str(d) == "1" for d in deleted)
    granular = body.get("includeGranularCorrelations", params.get("includeGranularCorrelations"))
    event = get_event(db, ctx, ref)
    detail = event_detail(db, ctx, event, include_deleted=bool(flag(deleted)))
    # As MISP's API does, files come with the view unless includeAttachments:0.
    files = body.get("includeAttachments", params.get("includeAttachments", True))
    sg_ref = body.get("sgReferenceOnly", params.get("sgReferenceOnly"))
    shaped = complete(
        db,
        ctx,
        detail,
        event_shape(detail),
        granular=bool(flag(granular)),
        attachments=bool(flag(files)),
        sg_reference_only=bool(flag(sg_ref)),
    )
    if flag(body.get("includeWarninglistHits", params.get("includeWarninglistHits"))):
        attach_warnings(db, event_attributes(shaped))
    return {"Event": shaped}


@router.head("/events/view/{ref}")
def event_exists(ref: str, ctx: CurrentCtx, db: ReadDB) -> Response:
    get_event(db, ctx, ref)
    return Response(status_code=200)


@router.post("/events/edit/{ref}")
@router.post("/events/edit/{ref}/metadata:{meta}")
async def edit_event(
    request: Request, ref: str, ctx: CurrentCtx, db: WriteDB, meta: str | None = None
) -> dict[str, Any]:
    body = await json_body(request)
    data = validated(EventIn, body.get("Event", body))
    event = merge_event(db, ctx, ref, data)
    out = _answer(db, ctx, event, metadata=meta == "1")
    db.commit()
    return {"Event": out}


@router.post("/events/delete/{ref}")
@router.delete("/events/delete/{ref}")
def delete_event(request: Request, ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    event_id = get_event(db, ctx, ref).id
    ev.delete_event(db, ctx, event_id)
    db.commit()
    return misp_ok("Event deleted.", request.url.path, id=str(event_id))


@router.post("/events/publish/{ref}")
@router.post("/events/alert/{ref}")
def publish_event(request: Request, ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    # Publishing takes effect at once (no job queue); e-mail alerts are not sent.
    event = ev.publish_event(db, ctx, ref, publish=True)
    db.commit()
    return misp_ok("Event published.", request.url.path, id=str(event.id))


@router.post("/events/unpublish/{ref}")
def unpublish_event(request: Request, ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    event = ev.publish_event(db, ctx, ref, publish=False)
    db.commit()
    return misp_ok("Event unpublished.", request.url.path, id=str(event.id))


def _levels(value: Any, field: str, low: int, high: int) -> tuple[list[int], list[int]]:
    """MISP's numeric index filter: values, a list, or "!"-prefixed ones to exclude."""
    wanted: list[int] = []
    unwanted: list[int] = []
    for item in as_list(value):
        digits = item.removeprefix("!")
        if not digits.isdigit() or not low <= int(digits) <= high:
            raise InvalidInput(
                f"{field} takes {low} to {high}, ! to exclude; not {item!r}", field=field
            )
        (unwanted if item.startswith("!") else wanted).append(int(digits))
    return wanted, unwanted


def _index_filter(q: dict[str, Any]) -> SearchFilter:
    tags = tag_filter(q.get("tags") or q.get("tag"))
    ts_from, ts_to = time_range(q.get("timestamp"), "timestamp")
    pts_from, pts_to = time_range(q.get("publish_timestamp"), "publish_timestamp")
    date_from, _ = time_range(q.get("datefrom"), "datefrom")
    date_to, _ = time_range(q.get("dateuntil"), "dateuntil")
    events = as_list(q.get("eventid") or q.get("id"))
    threat, not_threat = _levels(q.get("threatlevel"), "threatlevel", 1, 4)
    dist, not_dist = _levels(q.get("distribution"), "distribution", 0, 5)
    analysis, not_analysis = _levels(q.get("analysis"), "analysis", 0, 2)
    return SearchFilter(
        threat_level=threat,
        without_threat_level=not_threat,
        distribution=dist,
        without_distribution=not_dist,
        analysis=analysis,
        without_analysis=not_analysis,
        has_proposal=flag(q.get("hasproposal")),
        value=as_list(q.get("attribute") or q.get("value")),
        tags=tags,
        org=as_list(q.get("org")),
        event=events,
        info=text_param(q.get("eventinfo"), "eventinfo"),
        date_from=date_from.date() if date_from else None,
        date_to=date_to.date() if date_to else None,
        timestamp_from=ts_from,
        timestamp_to=ts_to,
        publish_timestamp_from=pts_from,
        publish_timestamp_to=pts_to,
        published=flag(q.get("published")),
        sharing_group=as_list(q.get("sharinggroup")),
        limit=whole(q.get("limit"), "limit", default=10000, low=1, high=100000),
    )


def _index_entry(summary: dict[str, Any], count: int) -> dict[str, Any]:
    out = event_shape(summary, metadata=True)
    out["attribute_count"] = str(count)
    out["EventTag"] = [
        {"event_id": out["id"], "tag_id": t["id"], "local": t["local"], "Tag": tag_shape(t)}
        for t in summary["tags"]
    ]
    return out


@router.get("/events/index")
@router.post("/events/index")
@router.get("/events")
async def index_events(request: Request, ctx: CurrentCtx, db: ReadDB) -> list[dict[str, Any]]:
    q = await json_body(request) if request.method == "POST" else dict(request.query_params)
    f = _index_filter(q)
    rows = paged(
        lambda after: search_events(db, ctx, with_after(f, after)),
        lambda e: e.id,
        f.limit,
        whole(q.get("page"), "page", default=1, low=1, high=1_000_000),
    )
    counts = attribute_counts(db, ctx, [e.id for e in rows])
    out = []
    for e in rows:
        summary = event_summary(e)
        summary["tags"] = event_tags(db, ctx, e.id)
        out.append(_index_entry(summary, counts.get(e.id, 0)))
    return out
