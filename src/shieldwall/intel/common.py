"""Helpers shared by the intel services: lookups that honour the access rules, tags, TLP."""

from __future__ import annotations

import re
import uuid as _uuid
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import QueryableAttribute, Session

from shieldwall.audit.service import record
from shieldwall.auth.permissions import Permission
from shieldwall.context import Ctx
from shieldwall.ids import as_id
from shieldwall.intel.errors import Forbidden, InvalidInput, NotEditable, NotFound, TLPViolation
from shieldwall.intel.models import (
    Attribute,
    AttributeTag,
    Event,
    EventTag,
    MispObject,
    SharingGroup,
    Tag,
)
from shieldwall.intel.visibility import (
    TLP_AMBER_STRICT,
    TLP_RED,
    attribute_condition,
    can_edit_event,
    event_condition,
    object_condition,
    sharing_group_condition,
    tlp_level,
)


def is_uuid(ref: str) -> bool:
    try:
        _uuid.UUID(ref)
    except ValueError:
        return False
    return True


CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def check_uuid(value: str | None, field: str) -> str | None:
    if value in (None, ""):
        return None
    assert value is not None
    if CANONICAL_UUID.match(value):
        return value
    try:
        return str(_uuid.UUID(value))
    except ValueError:
        raise InvalidInput(f"{value!r} is not a UUID", field=field) from None


def ref_condition(
    id_col: QueryableAttribute[int], uuid_col: QueryableAttribute[str], ref: str | int, field: str
) -> sa.ColumnElement[bool]:
    text = str(ref).strip()
    ident = as_id(text)
    if ident is not None:
        return id_col == ident
    if is_uuid(text):
        return uuid_col == str(_uuid.UUID(text))
    raise InvalidInput(f"{text!r} is neither an id nor a UUID", field=field)


def get_event(session: Session, ctx: Ctx, ref: str | int) -> Event:
    cond = ref_condition(Event.id, Event.uuid, ref, "event")
    event = session.execute(
        sa.select(Event).where(cond, event_condition(ctx.principal, ctx.opts))
    ).scalar_one_or_none()
    if event is None:
        raise NotFound(f"event {ref} not found", field="event")
    return event


def editable_event(session: Session, ctx: Ctx, ref: str | int | Event) -> Event:
    event = ref if isinstance(ref, Event) else get_event(session, ctx, ref)
    if not can_edit_event(ctx.principal, event):
        raise NotEditable("you may not modify this event", field="event")
    if event.locked and not ctx.principal.is_site_admin and event.org_id != ctx.org_id:
        raise Forbidden("the event is locked", field="event")
    return event


def get_attribute(
    session: Session, ctx: Ctx, ref: str | int, *, include_deleted: bool = False
) -> tuple[Attribute, Event]:
    cond = ref_condition(Attribute.id, Attribute.uuid, ref, "attribute")
    row = session.execute(
        sa.select(Attribute, Event)
        .join(Event, Event.id == Attribute.event_id)
        .where(cond, attribute_condition(ctx.principal, ctx.opts, include_deleted=include_deleted))
    ).first()
    if row is None:
        raise NotFound(f"attribute {ref} not found", field="attribute")
    return row[0], row[1]


def get_object(
    session: Session, ctx: Ctx, ref: str | int, *, include_deleted: bool = False
) -> tuple[MispObject, Event]:
    cond = ref_condition(MispObject.id, MispObject.uuid, ref, "object")
    row = session.execute(
        sa.select(MispObject, Event)
        .join(Event, Event.id == MispObject.event_id)
        .where(cond, object_condition(ctx.principal, ctx.opts, include_deleted=include_deleted))
    ).first()
    if row is None:
        raise NotFound(f"object {ref} not found", field="object")
    return row[0], row[1]


def resolve_sharing_group(
    session: Session, ctx: Ctx, distribution: int, sg_ref: int | str | None, field: str
) -> int | None:
    """The sharing group id to store: required for distribution 4, dropped otherwise."""
    if distribution != 4:
        return None
    if sg_ref in (None, "", 0):
        raise InvalidInput("distribution 4 needs a sharing group", field=field)
    assert sg_ref is not None
    cond = ref_condition(SharingGroup.id, SharingGroup.uuid, sg_ref, field)
    sg = session.execute(
        sa.select(SharingGroup).where(cond, sharing_group_condition(ctx.principal))
    ).scalar_one_or_none()
    if sg is None:
        raise InvalidInput(f"unknown sharing group {sg_ref}", field=field)
    return sg.id


def find_tags(session: Session, names: Iterable[str]) -> dict[str, Tag]:
    names = list({n for n in names})
    found: dict[str, Tag] = {}
    for i in range(0, len(names), 500):
        for tag in session.execute(
            sa.select(Tag).where(Tag.name.in_(names[i : i + 500]))
        ).scalars():
            found[tag.name] = tag
    return found


def ensure_tags(session: Session, ctx: Ctx, names: Iterable[str], field: str) -> dict[str, Tag]:
    """Tags by name; missing ones are created for users who may edit tags."""
    wanted = [n.strip() for n in names]
    for n in wanted:
        if not n or len(n) > 255:
            raise InvalidInput("a tag name has 1 to 255 characters", field=field)
    found = find_tags(session, wanted)
    for name, tag in found.items():
        if tag.org_id is not None and tag.org_id != ctx.org_id and not ctx.principal.is_site_admin:
            # The name is taken by another organisation's private tag: say so, reveal nothing.
            raise Forbidden(f"tag {name!r} is not available to your organisation", field=field)
    missing = [n for n in dict.fromkeys(wanted) if n not in found]
    if missing:
        if not ctx.principal.can(Permission.TAG_EDIT) and not ctx.principal.can(Permission.SYNC):
            raise Forbidden(
                f"tag {missing[0]!r} does not exist and you may not create tags", field=field
            )
        for name in missing:
            tag = Tag(name=name, colour=colour_for(name))
            session.add(tag)
            session.flush()
            record(session, ctx.actor, "create", "Tag", model_id=tag.id, title=name)
            found[name] = tag
    return found


def colour_for(name: str) -> str:
    lowered = name.lower()
    fixed = {
        "tlp:red": "#cc0033",
        "tlp:amber": "#ffc000",
        "tlp:amber+strict": "#ffc000",
        "tlp:green": "#339900",
        "tlp:white": "#ffffff",
        "tlp:clear": "#ffffff",
    }
    if lowered in fixed:
        return fixed[lowered]
    import hashlib

    return "#" + hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()[:6]


def event_tag_names(session: Session, event_id: int) -> list[str]:
    return list(
        session.execute(
            sa.select(Tag.name)
            .join(EventTag, EventTag.tag_id == Tag.id)
            .where(EventTag.event_id == event_id)
        ).scalars()
    )


def attribute_tag_names(session: Session, attribute_id: int) -> list[str]:
    return list(
        session.execute(
            sa.select(Tag.name)
            .join(AttributeTag, AttributeTag.tag_id == Tag.id)
            .where(AttributeTag.attribute_id == attribute_id)
        ).scalars()
    )


def check_tlp(distribution: int, tags: Iterable[str], field: str, what: str = "event") -> None:
    """The TLP guard: refuse a distribution the marking forbids, saying why."""
    level = tlp_level(set(tags))
    if level == TLP_RED and distribution in (1, 2, 3):
        raise TLPViolation(
            f"{_an(what)} marked tlp:red may only be shared with its organisation or a sharing "
            f"group (distribution 0 or 4), not distribution {distribution}",
            field=field,
        )
    if level == TLP_AMBER_STRICT and distribution != 0:
        raise TLPViolation(
            f"{_an(what)} marked tlp:amber+strict may not leave its organisation "
            f"(distribution must be 0, not {distribution})",
            field=field,
        )


def _an(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def effective_distribution(attr_distribution: int, event_distribution: int) -> int:
    return event_distribution if attr_distribution == 5 else attr_distribution
