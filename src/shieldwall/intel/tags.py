"""Tag definitions: create, edit, delete, list."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.audit.service import record
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.ids import as_id
from shieldwall.intel.errors import Conflict, Forbidden, InvalidInput, NotFound
from shieldwall.intel.models import AttributeTag, Event, EventTag, Tag
from shieldwall.intel.schemas import TagIn, TagUpdate
from shieldwall.intel.visibility import tag_condition, tlp_level


def get_tag(session: Session, ctx: Ctx, ref: str | int) -> Tag:
    text = str(ref)
    ident = as_id(text)
    cond = Tag.id == ident if ident is not None else Tag.name == text
    tag = session.execute(
        sa.select(Tag).where(cond, tag_condition(ctx.principal))
    ).scalar_one_or_none()
    if tag is None:
        raise NotFound(f"tag {ref!r} not found", field="tag")
    return tag


def list_tags(
    session: Session, ctx: Ctx, *, search: str | None = None, after: int = 0, limit: int = 100
) -> list[Tag]:
    q = (
        sa.select(Tag)
        .where(tag_condition(ctx.principal), Tag.id > after)
        .order_by(Tag.id)
        .limit(limit)
    )
    if search:
        q = q.where(sa.func.lower(Tag.name).like(search.lower().replace("*", "%")))
    return list(session.execute(q).scalars())


def create_tag(session: Session, ctx: Ctx, data: TagIn) -> Tag:
    require(ctx, Permission.TAG_EDIT)
    name = data.name.strip()
    if session.execute(sa.select(Tag.id).where(Tag.name == name)).first():
        raise Conflict(f"a tag named {name!r} exists", field="name")
    org_id = data.org_id
    if org_id is not None and org_id != ctx.org_id and not ctx.principal.is_site_admin:
        raise InvalidInput("you may restrict a tag to your own organisation only", field="org_id")
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
