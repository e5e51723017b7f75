"""MISP's event edit: merge an event document into a stored event.

PyMISP's `update_event` (and MISP peers and feeds) send the whole event. As in MISP:
- the event's own fields are replaced by the document's;
- attributes and objects are matched by uuid; a stored one changes only when the document's
  copy is newer (a later timestamp, or none at all, which is how PyMISP marks an edit);
  unknown ones are added; `deleted` soft-deletes, and clearing it restores;
- tags in the document are attached; removing a tag is its own call (untag).
Every change goes through the services in intel/events.py, so access rules, the TLP guard,
validation and the audit log apply exactly as for single edits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.context import Ctx
from shieldwall.intel import events as ev
from shieldwall.intel.common import (
    attribute_tag_names,
    editable_event,
    event_tag_names,
    get_object,
)
from shieldwall.intel.errors import DomainError
from shieldwall.intel.models import Attribute, Event, MispObject
from shieldwall.intel.schemas import AttributeIn, AttributeUpdate, EventIn, EventUpdate, ObjectIn

_EVENT_FIELDS = (
    "info",
    "date",
    "threat_level_id",
    "analysis",
    "distribution",
    "sharing_group_id",
    "extends_uuid",
    "disable_correlation",
    "locked",
)
_ATTRIBUTE_FIELDS = (
    "type",
    "value",
    "category",
    "to_ids",
    "distribution",
    "comment",
    "first_seen",
    "last_seen",
    "disable_correlation",
)


def _aware(value: datetime | str | None) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _newer(incoming: datetime | str | None, stored: datetime | None) -> bool:
    """Whether the document's copy should replace the stored one."""
    when = _aware(incoming)
    return when is None or stored is None or when > stored


def merge_event(session: Session, ctx: Ctx, ref: str | int, data: EventIn) -> Event:
    event = editable_event(session, ctx, ref)
    sent = data.model_fields_set
    fields: dict[str, Any] = {n: getattr(data, n) for n in _EVENT_FIELDS if n in sent}
    if "distribution" in fields and "sharing_group_id" not in fields:
        fields["sharing_group_id"] = data.sharing_group_id
    if fields:
        ev.update_event(session, ctx, event.id, EventUpdate.model_validate(fields))
    have = {n.lower() for n in event_tag_names(session, event.id)}
    new_tags = [t for t in data.tags if t.name.strip().lower() not in have]
    if new_tags:
        ev.tag_event(session, ctx, event.id, new_tags)

    stored = {
        a.uuid: a
        for a in session.execute(sa.select(Attribute).where(Attribute.event_id == event.id))
        .scalars()
        .all()
    }
    fresh: list[AttributeIn] = []
    for i, a in enumerate(data.attributes):
        current = stored.get(a.uuid.lower()) if a.uuid else None
        if current is None or current.object_id is not None:
            fresh.append(a)
        else:
            _merge_attribute(session, ctx, current, a, f"attributes[{i}]")
    if fresh:
        ev.add_attributes(session, ctx, event.id, fresh, break_on_duplicate=False)

    objects = {
        o.uuid: o
        for o in session.execute(sa.select(MispObject).where(MispObject.event_id == event.id))
        .scalars()
        .all()
    }
    for j, o in enumerate(data.objects):
        current_obj = objects.get(o.uuid.lower()) if o.uuid else None
        if current_obj is None:
            ev.add_object(session, ctx, event.id, o)
            continue
        _merge_object(session, ctx, current_obj, o, stored, f"objects[{j}]")
    session.flush()
    session.refresh(event)
    return event


def _merge_attribute(
    session: Session, ctx: Ctx, current: Attribute, a: AttributeIn, field: str
) -> None:
    try:
        _merge_attribute_fields(session, ctx, current, a)
    except DomainError as exc:
        exc.field = f"{field}.{exc.field}" if exc.field else field
        raise


def _merge_attribute_fields(session: Session, ctx: Ctx, current: Attribute, a: AttributeIn) -> None:
    if not _newer(a.timestamp, current.timestamp):
        return
    if a.deleted:
        if not current.deleted:
            ev.delete_attribute(session, ctx, current.id)
        return
    if current.deleted:
        ev.restore_attribute(session, ctx, current.id)
    sent = a.model_fields_set
    changes: dict[str, Any] = {n: getattr(a, n) for n in _ATTRIBUTE_FIELDS if n in sent}
    for name in ("first_seen", "last_seen"):
        if name in changes:
            changes[name] = _aware(changes[name])
    if changes.get("to_ids") is None:
        changes.pop("to_ids", None)
    if changes.get("distribution") == 4:
        changes["sharing_group_id"] = a.sharing_group_id or None
    ev.update_attribute(session, ctx, current.id, AttributeUpdate.model_validate(changes))
    have = {n.lower() for n in attribute_tag_names(session, current.id)}
    new_tags = [t for t in a.tags if t.name.strip().lower() not in have]
    if new_tags:
        ev.tag_attribute(session, ctx, current.id, new_tags)


def merge_object(session: Session, ctx: Ctx, ref: str | int, o: ObjectIn) -> MispObject:
    """MISP's object edit: the object document merged into a stored object, by the same rules
    as an event edit."""
    current, _ = get_object(session, ctx, ref)
    editable_event(session, ctx, current.event_id)
    stored = {
        a.uuid: a
        for a in session.execute(sa.select(Attribute).where(Attribute.object_id == current.id))
        .scalars()
        .all()
    }
    _merge_object(session, ctx, current, o, stored, "Object")
    session.flush()
    session.refresh(current)
    return current


def _merge_object(
    session: Session,
    ctx: Ctx,
    current: MispObject,
    o: ObjectIn,
    stored: dict[str, Attribute],
    field: str,
) -> None:
    if _newer(o.timestamp, current.timestamp):
        if o.deleted:
            if not current.deleted:
                ev.delete_object(session, ctx, current.id)
            return
        sent = o.model_fields_set
        changes: dict[str, Any] = {
            n: getattr(o, n)
            for n in ("comment", "first_seen", "last_seen", "distribution")
            if n in sent
        }
        if changes.get("distribution") == 4:
            changes["sharing_group_id"] = o.sharing_group_id
        if changes:
            ev.update_object(session, ctx, current.id, changes)
    fresh: list[AttributeIn] = []
    for k, a in enumerate(o.attributes):
        attr = stored.get(a.uuid.lower()) if a.uuid else None
        if attr is None:
            fresh.append(a)
        elif attr.object_id == current.id:
            _merge_attribute(session, ctx, attr, a, f"{field}.attributes[{k}]")
    if fresh:
        ev.add_object_attributes(session, ctx, current.id, fresh)
