"""Tags: definitions (create, edit, delete, list, search, usage) and attaching them to the
event or attribute a uuid names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session

from shieldwall.audit.service import record
from shieldwall.auth.models import Organisation
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.ids import as_id
from shieldwall.intel import events as ev
from shieldwall.intel.common import check_uuid, colour_for, get_attribute, get_event
from shieldwall.intel.errors import Conflict, Forbidden, InvalidInput, NotFound
from shieldwall.intel.models import Attribute, AttributeTag, Event, EventTag, Tag
from shieldwall.intel.schemas import TagIn, TagRef, TagUpdate
from shieldwall.intel.visibility import (
    attribute_condition,
    event_condition,
    tag_condition,
    tlp_level,
)


def _text(value: str, field: str) -> str:
    # PostgreSQL refuses NUL in text: say so here rather than fail in the database.
    if "\x00" in value:
        raise InvalidInput("text may not contain NUL characters", field=field)
    return value


def get_tag(session: Session, ctx: Ctx, ref: str | int) -> Tag:
    text = _text(str(ref), "tag")
    ident = as_id(text)
    cond = Tag.id == ident if ident is not None else Tag.name == text
    tag = session.execute(
        sa.select(Tag).where(cond, tag_condition(ctx.principal))
    ).scalar_one_or_none()
    if tag is None:
        raise NotFound(f"tag {ref!r} not found", field="tag")
    return tag


def list_tags(
    session: Session,
    ctx: Ctx,
    *,
    search: str | None = None,
    name: str | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[Tag]:
    """Visible tags in id order. search: a pattern (`*` or `%` for any text); name: one
    name, whatever its case."""
    q = (
        sa.select(Tag)
        .where(tag_condition(ctx.principal), Tag.id > after)
        .order_by(Tag.id)
        .limit(limit)
    )
    if search:
        pattern = _text(search, "search").lower().replace("*", "%")
        q = q.where(sa.func.lower(Tag.name).like(pattern))
    if name:
        q = q.where(sa.func.lower(Tag.name) == _text(name, "name").lower())
    return list(session.execute(q).scalars())


def search_tags(session: Session, ctx: Ctx, terms: Sequence[str], *, strict: bool) -> list[Tag]:
    """Visible tags matching any term, by name. Loose terms are patterns (`%` for any text)
    whatever the case; strict ones are exact names, or ids when all digits."""
    conds: list[sa.ColumnElement[bool]] = []
    for term in terms:
        text = _text(term, "tagname").strip()
        if not text:
            continue
        ident = as_id(text)
        if strict:
            conds.append(Tag.id == ident if ident is not None else Tag.name == text)
        else:
            conds.append(sa.func.lower(Tag.name).like(text.lower()))
    if not conds:
        raise InvalidInput("name the tag to search for", field="tagname")
    q = sa.select(Tag).where(sa.or_(*conds), tag_condition(ctx.principal)).order_by(Tag.name)
    return list(session.execute(q).scalars())


def tag_usage(session: Session, ctx: Ctx, tag_id: int | None = None) -> dict[int, tuple[int, int]]:
    """How many events and attributes the caller may read carry each tag (or the one tag):
    {tag id: (events, attributes)}; unused tags are absent."""
    p, opts = ctx.principal, ctx.opts
    events = (
        sa.select(EventTag.tag_id, sa.func.count())
        .join(Event, Event.id == EventTag.event_id)
        .where(event_condition(p, opts))
        .group_by(EventTag.tag_id)
    )
    attributes = (
        sa.select(AttributeTag.tag_id, sa.func.count())
        .join(Attribute, Attribute.id == AttributeTag.attribute_id)
        .join(Event, Event.id == Attribute.event_id)
        .where(attribute_condition(p, opts))
        .group_by(AttributeTag.tag_id)
    )
    if tag_id is not None:
        events = events.where(EventTag.tag_id == tag_id)
        attributes = attributes.where(AttributeTag.tag_id == tag_id)
    counts: dict[int, tuple[int, int]] = {}
    for tid, n in session.execute(events):
        counts[tid] = (n, 0)
    for tid, n in session.execute(attributes):
        counts[tid] = (counts.get(tid, (0, 0))[0], n)
    return counts


def create_tag(session: Session, ctx: Ctx, data: TagIn) -> Tag:
    require(ctx, Permission.TAG_EDIT)
    name = data.name.strip()
    if not name:
        raise InvalidInput("a tag name is not blank", field="name")
    if session.execute(sa.select(Tag.id).where(Tag.name == name)).first():
        raise Conflict(f"a tag named {name!r} exists", field="name")
    org_id = data.org_id
    if org_id is not None and org_id != ctx.org_id and not ctx.principal.is_site_admin:
        raise InvalidInput("you may restrict a tag to your own organisation only", field="org_id")
    if org_id is not None and session.get(Organisation, org_id) is None:
        raise InvalidInput(f"no organisation has id {org_id}", field="org_id")
    tag = Tag(
        name=name,
        colour=data.colour,
        exportable=data.exportable,
        hide_tag=data.hide_tag,
        local_only=data.local_only,
        numerical_value=data.numerical_value,
        org_id=org_id,
    )
    session.add(tag)
    session.flush()
    record(session, ctx.actor, "create", "Tag", model_id=tag.id, title=tag.name)
    return tag


def add_tag(session: Session, ctx: Ctx, data: TagIn) -> tuple[Tag, bool]:
    """MISP's add: the tag of that name when the caller may see it (nothing changes), else a
    new one, coloured from its name unless a colour is given. Returns (tag, created)."""
    require(ctx, Permission.TAG_EDIT)
    name = data.name.strip()
    existing = session.execute(
        sa.select(Tag).where(Tag.name == name, tag_condition(ctx.principal))
    ).scalar_one_or_none()
    if existing is not None:
        return existing, False
    if "colour" not in data.model_fields_set:
        data = data.model_copy(update={"colour": colour_for(name)})
    return create_tag(session, ctx, data), True


def _editable_tag(session: Session, ctx: Ctx, ref: str | int) -> Tag:
    """Shared tags mark every organisation's data: only site admins change them. Others
    edit the tags restricted to their own organisation."""
    require(ctx, Permission.TAG_EDIT)
    tag = get_tag(session, ctx, ref)
    if not ctx.principal.is_site_admin and tag.org_id != ctx.org_id:
        raise Forbidden("only site admins change tags shared by every organisation", field="tag")
    return tag


def update_tag(session: Session, ctx: Ctx, ref: str | int, data: TagUpdate) -> Tag:
    tag = _editable_tag(session, ctx, ref)
    changes: dict[str, Any] = {}
    for name in data.model_fields_set:
        value = getattr(data, name)
        if value is None and name != "numerical_value":
            raise InvalidInput(f"{name} may not be null", field=name)
        if name == "name":
            value = value.strip()
            if not value:
                raise InvalidInput("a tag name is not blank", field="name")
            if tlp_level({value, tag.name}) and not ctx.principal.is_site_admin:
                raise Forbidden(
                    "only site admins rename to or from a guarded TLP tag", field="name"
                )
            if session.execute(
                sa.select(Tag.id).where(Tag.name == value, Tag.id != tag.id)
            ).first():
                raise Conflict(f"a tag named {value!r} exists", field="name")
        if getattr(tag, name) != value:
            changes[name] = [getattr(tag, name), value]
            setattr(tag, name, value)
    session.flush()
    record(session, ctx.actor, "update", "Tag", model_id=tag.id, title=tag.name, change=changes)
    return tag


def delete_tag(session: Session, ctx: Ctx, ref: str | int) -> None:
    tag = _editable_tag(session, ctx, ref)
    record(session, ctx.actor, "delete", "Tag", model_id=tag.id, title=tag.name)
    # The events that carried the tag changed: their timestamps say so (sync compares them).
    affected = sa.union(
        sa.select(EventTag.event_id).where(EventTag.tag_id == tag.id),
        sa.select(AttributeTag.event_id).where(AttributeTag.tag_id == tag.id),
    ).scalar_subquery()
    session.execute(sa.update(Event).where(Event.id.in_(affected)).values(timestamp=now()))
    session.execute(sa.delete(EventTag).where(EventTag.tag_id == tag.id))
    session.execute(sa.delete(AttributeTag).where(AttributeTag.tag_id == tag.id))
    session.delete(tag)
    session.flush()


# ---------------------------------------------------------------- attaching by uuid


@dataclass(frozen=True)
class Target:
    """The event or attribute a uuid names."""

    kind: Literal["Event", "Attribute"]
    id: int
    uuid: str


def find_target(session: Session, ctx: Ctx, ref: str) -> Target:
    """The event, else the attribute, with this uuid that the caller may read."""
    uuid = check_uuid(_text(ref, "uuid").strip(), "uuid")
    if uuid is None:
        raise InvalidInput("name the event or attribute by its uuid", field="uuid")
    try:
        event = get_event(session, ctx, uuid)
        return Target("Event", event.id, event.uuid)
    except NotFound:
        pass
    try:
        attr, _ = get_attribute(session, ctx, uuid)
    except NotFound:
        raise NotFound(f"no event or attribute has uuid {uuid}", field="uuid") from None
    return Target("Attribute", attr.id, attr.uuid)


def _tag_ref(session: Session, ctx: Ctx, ref: str, local: bool) -> TagRef:
    """A tag named by id (all digits, the tag must exist) or by name (created on attach when
    missing and allowed)."""
    text = _text(ref, "tag").strip()
    if as_id(text) is not None:
        text = get_tag(session, ctx, text).name
    try:
        return TagRef(name=text, local=local)
    except ValidationError as exc:
        raise InvalidInput(f"tag: {exc.errors()[0]['msg']}", field="tag") from None


def attach_tags(
    session: Session, ctx: Ctx, target_ref: str, refs: Sequence[str], *, local: bool
) -> tuple[Target, list[str]]:
    """Attach tags, globally or locally, to the event or attribute with this uuid. Returns the
    target and the names newly attached (a tag already there is left as it is)."""
    if not refs:
        raise InvalidInput("name a tag to attach", field="tag")
    target = find_target(session, ctx, target_ref)
    tags = list({t.name: t for t in (_tag_ref(session, ctx, r, local) for r in refs)}.values())
    if target.kind == "Event":
        added = ev.tag_event(session, ctx, target.id, tags)
    else:
        added = ev.tag_attribute(session, ctx, target.id, tags)
    return target, added


def detach_tag(session: Session, ctx: Ctx, target_ref: str, ref: str) -> tuple[Target, str]:
    """Remove a tag (by id or name; a name in any case) from the event or attribute with this
    uuid. Returns the target and the tag's name."""
    target = find_target(session, ctx, target_ref)
    name = _tag_ref(session, ctx, ref, False).name
    if as_id(ref) is None:
        stored = session.execute(
            sa.select(Tag.name)
            .where(sa.func.lower(Tag.name) == name.lower(), tag_condition(ctx.principal))
            .order_by(Tag.name != name, Tag.id)
        ).scalar()
        name = stored or name
    if target.kind == "Event":
        ev.untag_event(session, ctx, target.id, name)
    else:
        ev.untag_attribute(session, ctx, target.id, name)
    return target, name
