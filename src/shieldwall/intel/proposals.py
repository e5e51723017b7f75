"""MISP's proposals (shadow attributes): another organisation suggests a new attribute, a
change to one or its deletion; the event's owner accepts (the change is applied through the
event services) or discards it, and the proposing organisation may withdraw its own.

Who sees a proposal: site admins; while the event (and, for a change or deletion, the
attribute) stays readable to them, the event's owner organisation and the proposing one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from shieldwall.audit.service import record
from shieldwall.auth.models import Organisation
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.db.base import new_uuid
from shieldwall.intel import events as ev
from shieldwall.intel.collab_models import ShadowAttribute
from shieldwall.intel.common import (
    editable_event,
    get_attribute,
    get_event,
    ref_condition,
)
from shieldwall.intel.errors import DomainError, Forbidden, InvalidInput, NotFound
from shieldwall.intel.models import Attribute, Event
from shieldwall.intel.schemas import (
    AttributeIn,
    AttributeUpdate,
    OptFlag,
    Timestamp,
    Value,
)
from shieldwall.intel.types import check_type_and_category, split_and_normalise, type_table
from shieldwall.intel.visibility import (
    Principal,
    ReadOptions,
    attribute_condition,
    can_edit_event,
    event_condition,
)
from shieldwall.text import Text


class ProposalIn(BaseModel):
    """A proposed new attribute (MISP's field names and loose JSON accepted). Its uuid is
    always the server's: a uuid chosen by the proposer could probe for others' attributes,
    and becomes the attribute's when the proposal is accepted."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", coerce_numbers_to_str=True)

    type: Text = Field(min_length=1, max_length=100)
    value: Text
    category: Text | None = Field(default=None, max_length=255)
    to_ids: OptFlag = None
    comment: Text = ""
    first_seen: Timestamp = None
    last_seen: Timestamp = None
    disable_correlation: OptFlag = None
    # Refused rather than dropped: a proposal accepted without its file would lose it.
    data: str | None = None

    @field_validator("data")
    @classmethod
    def _no_file(cls, v: str | None) -> str | None:
        if v:
            raise ValueError(
                "a proposal carries no file: the event's organisation adds attachment and "
                "malware-sample files"
            )
        return v


class ProposalChange(BaseModel):
    """A proposed change to an attribute: the fields given (not null) are the change."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    type: Text | None = Field(default=None, max_length=100)
    value: Value | None = None
    category: Text | None = Field(default=None, max_length=255)
    to_ids: OptFlag = None
    comment: Text | None = None
    first_seen: Timestamp = None
    last_seen: Timestamp = None


Applied = Literal["added", "changed", "deleted"]

CHANGE_FIELDS = ("type", "category", "value", "to_ids", "comment", "first_seen", "last_seen")


# ---------------------------------------------------------------- reading


def proposal_condition(p: Principal, opts: ReadOptions) -> sa.ColumnElement[bool]:
    """Proposals the principal may see (ShadowAttribute, its Event and the Attribute of
    old_id, outer-joined, in the FROM clause), built from THE access rules."""
    if p.is_site_admin:
        return sa.true()
    return sa.and_(
        event_condition(p, opts),
        sa.or_(Event.org_id == p.org_id, ShadowAttribute.org_id == p.org_id),
        sa.or_(
            ShadowAttribute.old_id.is_(None),
            attribute_condition(p, opts, include_deleted=True),
        ),
    )


Row = tuple[ShadowAttribute, Event, str | None]


def _select(ctx: Ctx) -> sa.Select[ShadowAttribute, Event, str]:
    return (
        sa.select(ShadowAttribute, Event, Attribute.uuid)
        .join(Event, Event.id == ShadowAttribute.event_id)
        .outerjoin(Attribute, Attribute.id == ShadowAttribute.old_id)
        .where(proposal_condition(ctx.principal, ctx.opts))
    )


def get_proposal(
    session: Session, ctx: Ctx, ref: str | int, *, include_deleted: bool = False
) -> Row:
    """A visible proposal by id or uuid, with its event and the uuid of the attribute it
    would change; closed (accepted or discarded) ones only when asked for."""
    q = _select(ctx).where(ref_condition(ShadowAttribute.id, ShadowAttribute.uuid, ref, "proposal"))
    if not include_deleted:
        q = q.where(ShadowAttribute.deleted.is_(False))
    row = session.execute(q).first()
    if row is None:
        raise NotFound(f"proposal {ref} not found", field="proposal")
    return row[0], row[1], row[2]


def list_proposals(
    session: Session,
    ctx: Ctx,
    *,
    event: str | int | None = None,
    deleted: bool | None = False,
    since: datetime | None = None,
    after: int = 0,
    limit: int = 100,
    event_field: str = "event",
) -> list[Row]:
    """Visible proposals in id order after `after` (keyset paging); an event given by id or
    uuid narrows them to that event (none when it is not readable)."""
    q = _select(ctx).where(ShadowAttribute.id > after).order_by(ShadowAttribute.id).limit(limit)
    if event is not None:
        q = q.where(ref_condition(Event.id, Event.uuid, event, event_field))
    if deleted is not None:
        q = q.where(ShadowAttribute.deleted.is_(deleted))
    if since is not None:
        q = q.where(ShadowAttribute.timestamp >= since)
    return [(r[0], r[1], r[2]) for r in session.execute(q)]


def proposals_out(session: Session, rows: list[Row]) -> list[dict[str, Any]]:
    """Native serialisations of proposals, with the proposing organisation."""
    org_ids = {sa_.org_id for sa_, _, _ in rows}
    orgs = {
        o.id: o
        for o in session.execute(
            sa.select(Organisation).where(Organisation.id.in_(org_ids))
        ).scalars()
    }
    return [proposal_out(sa_, event, orgs[sa_.org_id], old_uuid) for sa_, event, old_uuid in rows]


def proposal_out(
    p: ShadowAttribute, event: Event, org: Organisation, old_uuid: str | None
) -> dict[str, Any]:
    return {
        "id": p.id,
        "uuid": p.uuid,
        "event_id": p.event_id,
        "event_uuid": event.uuid,
        "event_org_id": event.orgc_id,
        "old_id": p.old_id,
        "old_uuid": old_uuid,
        "org": {"id": org.id, "uuid": org.uuid, "name": org.name, "local": org.local},
        "email": p.email,
        "category": p.category,
        "type": p.type,
        "value": p.value,
        "value1": p.value1,
        "value2": p.value2,
        "to_ids": p.to_ids,
        "comment": p.comment,
        "first_seen": _iso(p.first_seen),
        "last_seen": _iso(p.last_seen),
        "proposal_to_delete": p.proposal_to_delete,
        "deleted": p.deleted,
        "disable_correlation": p.disable_correlation,
        "timestamp": _iso(p.timestamp),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def proposals_for_event(session: Session, ctx: Ctx, event_id: int) -> list[dict[str, Any]]:
    """The open proposals on an event that the caller may see, natively serialised, for the
    event view (a change or deletion carries old_id/old_uuid of its attribute)."""
    q = (
        _select(ctx)
        .where(ShadowAttribute.event_id == event_id, ShadowAttribute.deleted.is_(False))
        .order_by(ShadowAttribute.id)
    )
    return proposals_out(session, [(r[0], r[1], r[2]) for r in session.execute(q)])


# ---------------------------------------------------------------- proposing


def _check_times(first: datetime | None, last: datetime | None) -> None:
    if first and last and last < first:
        raise InvalidInput("last_seen is before first_seen", field="last_seen")


def _store(session: Session, ctx: Ctx, p: ShadowAttribute, event: Event, what: str) -> None:
    session.add(p)
    session.flush()
    record(
        session,
        ctx.actor,
        "propose",
        "ShadowAttribute",
        model_id=p.id,
        model_uuid=p.uuid,
        title=f"{what} to event {event.id}: {p.category}/{p.type} {p.value[:100]}",
        change={
            "event_id": event.id,
            "old_id": p.old_id,
            "proposal_to_delete": p.proposal_to_delete,
        },
    )


def propose_attribute(
    session: Session, ctx: Ctx, event_ref: str | int, data: ProposalIn
) -> ShadowAttribute:
    """Propose a new attribute on an event the caller may read."""
    require(ctx, Permission.EVENT_ADD)
    event = get_event(session, ctx, event_ref)
    category = check_type_and_category(data.type, data.category)
    value1, value2 = split_and_normalise(data.type, data.value)
    _check_times(data.first_seen, data.last_seen)
    to_ids = data.to_ids
    if to_ids is None:
        to_ids = type_table().default_to_ids.get(data.type, False)
    p = ShadowAttribute(
        uuid=new_uuid(),
        event_id=event.id,
        old_id=None,
        org_id=ctx.org_id,
        email=ctx.principal.email,
        category=category,
        type=data.type,
        value1=value1,
        value2=value2,
        to_ids=to_ids,
        comment=data.comment,
        first_seen=data.first_seen,
        last_seen=data.last_seen,
        disable_correlation=bool(data.disable_correlation),
        timestamp=now(),
    )
    _store(session, ctx, p, event, "new attribute proposed")
    return p


def propose_change(
    session: Session, ctx: Ctx, attribute_ref: str | int, data: ProposalChange
) -> ShadowAttribute:
    """Propose a change to an attribute the caller may read; fields not given keep the
    attribute's current values, and at least one must be given."""
    require(ctx, Permission.EVENT_ADD)
    attr, event = get_attribute(session, ctx, attribute_ref)
    given = {
        n for n in CHANGE_FIELDS if n in data.model_fields_set and getattr(data, n) is not None
    }
    if not given:
        raise InvalidInput(
            "propose a change to at least one of " + ", ".join(CHANGE_FIELDS), field="value"
        )
    new_type = attr.type if data.type is None else data.type
    if attr.object_id is not None and new_type != attr.type:
        raise InvalidInput("the type of an object's attribute cannot change", field="type")
    category = attr.category if data.category is None else data.category
    category = check_type_and_category(new_type, category)
    if "value" in given or new_type != attr.type:
        value1, value2 = split_and_normalise(
            new_type, attr.value if data.value is None else data.value
        )
    else:
        value1, value2 = attr.value1, attr.value2
    first_seen = attr.first_seen if data.first_seen is None else data.first_seen
    last_seen = attr.last_seen if data.last_seen is None else data.last_seen
    _check_times(first_seen, last_seen)
    p = ShadowAttribute(
        uuid=new_uuid(),
        event_id=event.id,
        old_id=attr.id,
        org_id=ctx.org_id,
        email=ctx.principal.email,
        category=category,
        type=new_type,
        value1=value1,
        value2=value2,
        to_ids=data.to_ids if data.to_ids is not None else attr.to_ids,
        comment=data.comment if data.comment is not None else attr.comment,
        first_seen=first_seen,
        last_seen=last_seen,
        disable_correlation=attr.disable_correlation,
        timestamp=now(),
    )
    _store(session, ctx, p, event, f"change of attribute {attr.id} proposed")
    return p


def propose_deletion(session: Session, ctx: Ctx, attribute_ref: str | int) -> ShadowAttribute:
    """Propose the deletion of an attribute the caller may read."""
    require(ctx, Permission.EVENT_ADD)
    attr, event = get_attribute(session, ctx, attribute_ref)
    p = ShadowAttribute(
        uuid=new_uuid(),
        event_id=event.id,
        old_id=attr.id,
        org_id=ctx.org_id,
        email=ctx.principal.email,
        category=attr.category,
        type=attr.type,
        value1=attr.value1,
        value2=attr.value2,
        to_ids=attr.to_ids,
        comment=attr.comment,
        first_seen=attr.first_seen,
        last_seen=attr.last_seen,
        disable_correlation=attr.disable_correlation,
        proposal_to_delete=True,
        timestamp=now(),
    )
    _store(session, ctx, p, event, f"deletion of attribute {attr.id} proposed")
    return p


# ---------------------------------------------------------------- deciding


def _close(session: Session, ctx: Ctx, p: ShadowAttribute, action: str, title: str) -> None:
    p.deleted = True
    p.timestamp = now()
    session.flush()
    record(
        session,
        ctx.actor,
        action,
        "ShadowAttribute",
        model_id=p.id,
        model_uuid=p.uuid,
        title=title,
        change={"event_id": p.event_id, "old_id": p.old_id, "org_id": p.org_id},
    )


def accept_proposal(session: Session, ctx: Ctx, ref: str | int) -> tuple[ShadowAttribute, Applied]:
    """Apply a proposal through the event services, as the event's editor. Returns the
    proposal (now closed) and what was done: "added", "changed" or "deleted"."""
    p, event, _ = get_proposal(session, ctx, ref)
    editable_event(session, ctx, event)
    done: Applied
    try:
        if p.old_id is None:
            # The new attribute keeps the proposal's uuid and inherits the event's distribution.
            ev.add_attributes(
                session,
                ctx,
                event.id,
                [
                    AttributeIn(
                        uuid=p.uuid,
                        type=p.type,
                        category=p.category,
                        value=p.value,
                        to_ids=p.to_ids,
                        comment=p.comment,
                        first_seen=p.first_seen,
                        last_seen=p.last_seen,
                        disable_correlation=p.disable_correlation,
                        distribution=5,
                    )
                ],
            )
            done = "added"
        elif p.proposal_to_delete:
            ev.delete_attribute(session, ctx, p.old_id)
            done = "deleted"
        else:
            ev.update_attribute(
                session,
                ctx,
                p.old_id,
                AttributeUpdate(
                    type=p.type,
                    category=p.category,
                    value=p.value,
                    to_ids=p.to_ids,
                    comment=p.comment,
                    first_seen=p.first_seen,
                    last_seen=p.last_seen,
                ),
            )
            done = "changed"
    except DomainError as exc:
        if exc.field and exc.field.startswith("attributes[0]."):
            exc.field = exc.field.removeprefix("attributes[0].")
        raise
    # MISP's rule: accepting a proposal is an edit of the event, whatever it changed.
    ev._edited(event)
    _close(
        session,
        ctx,
        p,
        "accept",
        f"proposal {p.id} of organisation {p.org_id} to event {event.id} accepted ({done})",
    )
    return p, done


def discard_proposal(session: Session, ctx: Ctx, ref: str | int) -> ShadowAttribute:
    """Close a proposal unapplied: the event's editors, or the proposing organisation
    withdrawing its own."""
    p, event, _ = get_proposal(session, ctx, ref)
    own = p.org_id == ctx.org_id and ctx.principal.can(Permission.EVENT_ADD)
    if not (own or can_edit_event(ctx.principal, event)):
        raise Forbidden(
            "only the event's editors or the proposing organisation may discard a proposal",
            field="proposal",
        )
    _close(
        session,
        ctx,
        p,
        "discard",
        f"proposal {p.id} of organisation {p.org_id} to event {event.id} discarded",
    )
    return p
