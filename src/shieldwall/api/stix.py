"""STIX 2.1 in and out on the native API: bundles of events, and bundles imported as events."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.api.responses import session_stream
from shieldwall.api.search import QueryFilter
from shieldwall.exchange.stix import MEDIA_TYPE
from shieldwall.exchange.stix_import import import_bundle
from shieldwall.intel.schemas import DbId
from shieldwall.intel.serialize import event_summary
from shieldwall.misp.stix_export import event_bundle, search_bundle

router = APIRouter(tags=["stix"])


EnforceWarninglist = Annotated[
    bool,
    Query(
        description="leave out attributes an enabled warninglist holds (MISP's enforceWarninglist)"
    ),
]


@router.get("/events/{ref}/stix")
def event_stix(
    ref: str, ctx: CurrentCtx, db: ReadDB, enforce_warninglist: EnforceWarninglist = False
) -> StreamingResponse:
    """The event as a STIX 2.1 bundle, holding only what the caller may read."""
    body = b"".join(event_bundle(db, ctx, ref, unwarned=enforce_warninglist))
    return StreamingResponse(iter([body]), media_type=MEDIA_TYPE)


@router.get("/stix/export")
def export_stix(
    request: Request,
    ctx: CurrentCtx,
    f: QueryFilter,
    enforce_warninglist: EnforceWarninglist = False,
) -> StreamingResponse:
    """One STIX 2.1 bundle over every event the search finds (the filters of GET /events),
    streamed an event at a time; `limit` caps the number of events only when given."""
    if "limit" not in request.query_params:
        f = replace(f, limit=10**12)
    return session_stream(
        lambda s: search_bundle(s, ctx, f, unwarned=enforce_warninglist), MEDIA_TYPE
    )


@router.post("/stix/import", status_code=201)
async def import_stix(
    request: Request,
    ctx: CurrentCtx,
    db: WriteDB,
    distribution: Annotated[int, Query(ge=0, le=4)] = 0,
    sharing_group_id: Annotated[DbId | None, Query()] = None,
) -> dict[str, Any]:
    """Import a STIX 2.1 bundle (the request body) as events, all of them or none: a bad
    object is refused with 422 naming its id and the problem. The events get `distribution`
    (0, the caller's organisation only, by default)."""
    body = await request.body()
    events = import_bundle(
        db, ctx, body, distribution=distribution, sharing_group_id=sharing_group_id
    )
    out = [event_summary(e) for e in events]
    db.commit()
    return {"events": out}
