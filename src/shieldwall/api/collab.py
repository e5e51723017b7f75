"""Proposals (MISP's shadow attributes) and event reports."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.api.search import MAX_AFTER
from shieldwall.intel import proposals as prop
from shieldwall.intel import reports as rep
from shieldwall.intel.collab_models import EventReport
from shieldwall.intel.common import get_event
from shieldwall.intel.proposals import ProposalChange, ProposalIn
from shieldwall.intel.reports import ReportIn, ReportUpdate

router = APIRouter()

After = Annotated[int, Query(ge=0, le=MAX_AFTER)]
Limit = Annotated[int, Query(ge=1, le=1000)]


class OrgBrief(BaseModel):
    id: int
    uuid: str
    name: str
    local: bool


class ProposalOut(BaseModel):
    id: int
    uuid: str
    event_id: int
    event_uuid: str
    event_org_id: int
    old_id: int | None
    old_uuid: str | None
    org: OrgBrief
    email: str
    category: str
    type: str
    value: str
    value1: str
    value2: str
    to_ids: bool
    comment: str
    first_seen: str | None
    last_seen: str | None
    proposal_to_delete: bool
    deleted: bool
    disable_correlation: bool
    timestamp: str


class ProposalList(BaseModel):
    items: list[ProposalOut]
    next: int | None


class Accepted(BaseModel):
    proposal: ProposalOut
    applied: Literal["added", "changed", "deleted"]


class ReportOut(BaseModel):
    id: int
    uuid: str
    event_id: int
    event_uuid: str
    name: str
    content: str
    distribution: int
    sharing_group_id: int | None
    timestamp: str
    deleted: bool


class ReportList(BaseModel):
    items: list[ReportOut]
    next: int | None


def _proposal(db: ReadDB, ctx: CurrentCtx, ref: str | int) -> ProposalOut:
    row = prop.get_proposal(db, ctx, ref, include_deleted=True)
    return ProposalOut.model_validate(prop.proposals_out(db, [row])[0])


# ---------------------------------------------------------------- proposals


@router.get("/proposals", tags=["proposals"])
def list_proposals(
    ctx: CurrentCtx,
    db: ReadDB,
    event: str | None = None,
    include_closed: bool = False,
    after: After = 0,
    limit: Limit = 100,
) -> ProposalList:
    """Proposals the caller may see (the event's owner organisation and the proposing one),
    open ones unless include_closed, in id order (keyset paging with `after`)."""
    rows = prop.list_proposals(
        db,
        ctx,
        event=event,
        deleted=None if include_closed else False,
        after=after,
        limit=limit,
    )
    items = [ProposalOut.model_validate(p) for p in prop.proposals_out(db, rows)]
    return ProposalList(items=items, next=items[-1].id if len(items) == limit else None)


@router.get("/events/{ref}/proposals", tags=["proposals"])
def event_proposals(
    ref: str,
    ctx: CurrentCtx,
    db: ReadDB,
    include_closed: bool = False,
    after: After = 0,
    limit: Limit = 100,
) -> ProposalList:
    event = get_event(db, ctx, ref)
    return list_proposals(ctx, db, str(event.id), include_closed, after, limit)


@router.post("/events/{ref}/proposals", status_code=201, tags=["proposals"])
def propose_attribute(ref: str, data: ProposalIn, ctx: CurrentCtx, db: WriteDB) -> ProposalOut:
    """Propose a new attribute on an event the caller may read."""
    p = prop.propose_attribute(db, ctx, ref, data)
    out = _proposal(db, ctx, p.id)
    db.commit()
    return out


@router.post("/attributes/{ref}/proposals", status_code=201, tags=["proposals"])
def propose_change(ref: str, data: ProposalChange, ctx: CurrentCtx, db: WriteDB) -> ProposalOut:
    """Propose a change to an attribute: the fields given are the change."""
    p = prop.propose_change(db, ctx, ref, data)
    out = _proposal(db, ctx, p.id)
    db.commit()
    return out


@router.post("/attributes/{ref}/deletion-proposals", status_code=201, tags=["proposals"])
def propose_deletion(ref: str, ctx: CurrentCtx, db: WriteDB) -> ProposalOut:
    """Propose the deletion of an attribute."""
    p = prop.propose_deletion(db, ctx, ref)
    out = _proposal(db, ctx, p.id)
    db.commit()
    return out


@router.get("/proposals/{ref}", tags=["proposals"])
def get_proposal(ref: str, ctx: CurrentCtx, db: ReadDB) -> ProposalOut:
    return _proposal(db, ctx, ref)


@router.post("/proposals/{ref}/accept", tags=["proposals"])
def accept_proposal(ref: str, ctx: CurrentCtx, db: WriteDB) -> Accepted:
    """Apply the proposal to the event (its editors only); the event is unpublished."""
    p, done = prop.accept_proposal(db, ctx, ref)
    out = Accepted(proposal=_proposal(db, ctx, p.id), applied=done)
    db.commit()
    return out


@router.post("/proposals/{ref}/discard", tags=["proposals"])
def discard_proposal(ref: str, ctx: CurrentCtx, db: WriteDB) -> ProposalOut:
    """Close the proposal unapplied (the event's editors, or the proposing organisation)."""
    p = prop.discard_proposal(db, ctx, ref)
    out = _proposal(db, ctx, p.id)
    db.commit()
    return out


# ---------------------------------------------------------------- reports


@router.get("/reports", tags=["reports"])
def list_reports(
    ctx: CurrentCtx,
    db: ReadDB,
    event: str | None = None,
    deleted: Literal["no", "only", "also"] = "no",
    q: str | None = None,
    after: After = 0,
    limit: Limit = 100,
) -> ReportList:
    """Reports the caller may read in id order (keyset paging with `after`); q searches
    names and contents; soft-deleted ones (owner organisation) with deleted=only or also."""
    rows = rep.list_reports(
        db,
        ctx,
        event=event,
        deleted={"no": False, "only": True, "also": None}[deleted],
        search=q,
        after=after,
        limit=limit,
    )
    items = [ReportOut.model_validate(rep.report_out(r, e.uuid)) for r, e in rows]
    return ReportList(items=items, next=items[-1].id if len(items) == limit else None)


@router.get("/events/{ref}/reports", tags=["reports"])
def event_reports(
    ref: str,
    ctx: CurrentCtx,
    db: ReadDB,
    deleted: Literal["no", "only", "also"] = "no",
    after: After = 0,
    limit: Limit = 100,
) -> ReportList:
    event = get_event(db, ctx, ref)
    return list_reports(ctx, db, str(event.id), deleted, None, after, limit)


@router.post("/events/{ref}/reports", status_code=201, tags=["reports"])
def create_report(ref: str, data: ReportIn, ctx: CurrentCtx, db: WriteDB) -> ReportOut:
    """Attach a markdown report to an event (its editors only); stored exactly as sent."""
    r = rep.create_report(db, ctx, ref, data)
    out = ReportOut.model_validate(rep.report_out(*_with_uuid(db, ctx, r.id)))
    db.commit()
    return out


def _with_uuid(db: ReadDB, ctx: CurrentCtx, ref: str | int) -> tuple[EventReport, str]:
    r, e = rep.get_report(db, ctx, ref, include_deleted=True)
    return r, e.uuid


@router.get("/reports/{ref}", tags=["reports"])
def get_report(ref: str, ctx: CurrentCtx, db: ReadDB, include_deleted: bool = False) -> ReportOut:
    r, e = rep.get_report(db, ctx, ref, include_deleted=include_deleted)
    return ReportOut.model_validate(rep.report_out(r, e.uuid))


@router.patch("/reports/{ref}", tags=["reports"])
def update_report(ref: str, data: ReportUpdate, ctx: CurrentCtx, db: WriteDB) -> ReportOut:
    r = rep.update_report(db, ctx, ref, data)
    out = ReportOut.model_validate(rep.report_out(*_with_uuid(db, ctx, r.id)))
    db.commit()
    return out


@router.delete("/reports/{ref}", status_code=204, tags=["reports"])
def delete_report(ref: str, ctx: CurrentCtx, db: WriteDB, hard: bool = False) -> Response:
    """Soft-delete (restorable) or, with hard=true, remove a report."""
    rep.delete_report(db, ctx, ref, hard=hard)
    db.commit()
    return Response(status_code=204)


@router.post("/reports/{ref}/restore", tags=["reports"])
def restore_report(ref: str, ctx: CurrentCtx, db: WriteDB) -> ReportOut:
    r = rep.restore_report(db, ctx, ref)
    out = ReportOut.model_validate(rep.report_out(*_with_uuid(db, ctx, r.id)))
    db.commit()
    return out
