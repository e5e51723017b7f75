"""Event reports: markdown documents attached to an event, written by those who may edit the
event and read by the access rules with the report's own distribution (5 = the event's).
Content is stored exactly as given."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from shieldwall.audit.service import record
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.db.base import new_uuid
from shieldwall.intel.collab_models import EventReport
from shieldwall.intel.common import (
    check_tlp,
    check_uuid,
    editable_event,
    effective_distribution,
    event_tag_names,
    ref_condition,
    resolve_sharing_group,
)
from shieldwall.intel.errors import Conflict, NotFound
from shieldwall.intel.events import _edited
from shieldwall.intel.models import Event
from shieldwall.intel.schemas import DbId, Timestamp
from shieldwall.intel.visibility import report_condition
from shieldwall.text import Text


def _no_group(v: Any) -> Any:
    # MISP writes "0" or "" for "no sharing group".
    return None if v in ("", "0", 0) else v


class ReportIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    name: Text = Field(min_length=1, max_length=255)
    content: Text = ""
    distribution: int = Field(default=5, ge=0, le=5)
    sharing_group_id: DbId | None = None
    uuid: Text | None = None
    timestamp: Timestamp = None

    _sg = field_validator("sharing_group_id", mode="before")(_no_group)

    @field_validator("name", mode="after")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("a report name is not blank")
        return v


class ReportUpdate(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    name: Text | None = Field(default=None, min_length=1, max_length=255)
    content: Text | None = None
    distribution: int | None = Field(default=None, ge=0, le=5)
    sharing_group_id: DbId | None = None

    _sg = field_validator("sharing_group_id", mode="before")(_no_group)

    @field_validator("name", mode="after")
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("a report name is not blank")
        return v


# ---------------------------------------------------------------- reading


def _select(ctx: Ctx, include_deleted: bool) -> sa.Select[EventReport, Event]:
    return (
        sa.select(EventReport, Event)
        .join(Event, Event.id == EventReport.event_id)
        .where(report_condition(ctx.principal, ctx.opts, include_deleted=include_deleted))
    )


def get_report(
    session: Session, ctx: Ctx, ref: str | int, *, include_deleted: bool = False
) -> tuple[EventReport, Event]:
    """A readable report by id or uuid, with its event."""
    cond = ref_condition(EventReport.id, EventReport.uuid, ref, "report")
    row = session.execute(_select(ctx, include_deleted).where(cond)).first()
    if row is None:
        raise NotFound(f"event report {ref} not found", field="report")
    return row[0], row[1]


def list_reports(
    session: Session,
    ctx: Ctx,
    *,
    event: str | int | None = None,
    deleted: bool | None = False,
    search: str | None = None,
    after: int = 0,
    limit: int = 100,
    event_field: str = "event",
) -> list[tuple[EventReport, Event]]:
    """Readable reports in id order after `after` (keyset paging). deleted: False live ones,
    True soft-deleted ones (owner organisation only), None both; search: a case-blind
    substring of the name or content."""
    q = (
        _select(ctx, include_deleted=deleted is not False)
        .where(EventReport.id > after)
        .order_by(EventReport.id)
        .limit(limit)
    )
    if event is not None:
        q = q.where(ref_condition(Event.id, Event.uuid, event, event_field))
    if deleted is True:
        q = q.where(EventReport.deleted.is_(True))
    if search:
        term = search.lower()
        q = q.where(
            sa.or_(
                sa.func.lower(EventReport.name).contains(term, autoescape=True),
                sa.func.lower(EventReport.content).contains(term, autoescape=True),
            )
        )
    return [(r[0], r[1]) for r in session.execute(q)]


def report_out(r: EventReport, event_uuid: str) -> dict[str, Any]:
    return {
        "id": r.id,
        "uuid": r.uuid,
        "event_id": r.event_id,
        "event_uuid": event_uuid,
        "name": r.name,
        "content": r.content,
        "distribution": r.distribution,
        "sharing_group_id": r.sharing_group_id,
        "timestamp": _iso(r.timestamp),
        "deleted": r.deleted,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def reports_for_event(
    session: Session, ctx: Ctx, event_id: int, *, include_deleted: bool = False
) -> list[dict[str, Any]]:
    """The event's reports the caller may read, natively serialised, for the event view."""
    rows = session.execute(
        _select(ctx, include_deleted)
        .where(EventReport.event_id == event_id)
        .order_by(EventReport.id)
    )
    return [report_out(r, e.uuid) for r, e in rows]


# ---------------------------------------------------------------- writing


def _sharing(
    session: Session, ctx: Ctx, event: Event, distribution: int, sg_ref: int | None
) -> int | None:
    check_tlp(
        effective_distribution(distribution, event.distribution),
        event_tag_names(session, event.id),
        "distribution",
        "report of an event",
    )
    return resolve_sharing_group(session, ctx, distribution, sg_ref, "sharing_group_id")


def _audit(session: Session, ctx: Ctx, action: str, r: EventReport, **change: Any) -> None:
    record(
        session,
        ctx.actor,
        action,
        "EventReport",
        model_id=r.id,
        model_uuid=r.uuid,
        title=r.name[:200],
        change={"event_id": r.event_id, **change},
    )


def create_report(session: Session, ctx: Ctx, event_ref: str | int, data: ReportIn) -> EventReport:
    event = editable_event(session, ctx, event_ref)
    uuid = check_uuid(data.uuid, "uuid") or new_uuid()
    if session.execute(sa.select(EventReport.id).where(EventReport.uuid == uuid)).first():
        raise Conflict(f"an event report with uuid {uuid} already exists", field="uuid")
    sg_id = _sharing(session, ctx, event, data.distribution, data.sharing_group_id)
    r = EventReport(
        uuid=uuid,
        event_id=event.id,
        name=data.name,
        content=data.content,
        distribution=data.distribution,
        sharing_group_id=sg_id,
        timestamp=data.timestamp or now(),
    )
    session.add(r)
    _edited(event)
    session.flush()
    _audit(session, ctx, "create", r, distribution=r.distribution, sharing_group_id=sg_id)
    return r


def update_report(session: Session, ctx: Ctx, ref: str | int, data: ReportUpdate) -> EventReport:
    r, event = get_report(session, ctx, ref)
    editable_event(session, ctx, event)
    fields = data.model_fields_set
    changes: dict[str, Any] = {}
    for name in ("name", "content"):
        value = getattr(data, name)
        if name in fields and value is not None and getattr(r, name) != value:
            # The content may be long: the audit notes that it changed, not the text.
            changes[name] = [r.name, value] if name == "name" else "changed"
            setattr(r, name, value)
    if (data.distribution is not None) or "sharing_group_id" in fields:
        dist = data.distribution if data.distribution is not None else r.distribution
        sg_ref = data.sharing_group_id if "sharing_group_id" in fields else r.sharing_group_id
        sg_id = _sharing(session, ctx, event, dist, sg_ref)
        if (dist, sg_id) != (r.distribution, r.sharing_group_id):
            changes["distribution"] = [r.distribution, dist]
            changes["sharing_group_id"] = [r.sharing_group_id, sg_id]
            r.distribution, r.sharing_group_id = dist, sg_id
    if changes:
        r.timestamp = now()
        _edited(event)
    session.flush()
    _audit(session, ctx, "update", r, **changes)
    return r


def delete_report(session: Session, ctx: Ctx, ref: str | int, *, hard: bool = False) -> int:
    """Soft-delete (hide, restorable) or hard-delete a report; returns its id."""
    r, event = get_report(session, ctx, ref, include_deleted=hard)
    editable_event(session, ctx, event)
    report_id = r.id
    if hard:
        _audit(session, ctx, "delete", r, hard=True)
        session.delete(r)
    else:
        r.deleted = True
        r.timestamp = now()
        _audit(session, ctx, "soft_delete", r)
    _edited(event)
    session.flush()
    return report_id


def restore_report(session: Session, ctx: Ctx, ref: str | int) -> EventReport:
    r, event = get_report(session, ctx, ref, include_deleted=True)
    editable_event(session, ctx, event)
    if not r.deleted:
        raise Conflict("the event report is not deleted", field="report")
    r.deleted = False
    r.timestamp = now()
    _edited(event)
    session.flush()
    _audit(session, ctx, "restore", r)
    return r
