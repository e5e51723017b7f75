"""Sharing groups: member organisations (with an extend right), this instance's
all-organisations entry, roaming and releasability."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.audit.service import record
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import get_org, require
from shieldwall.context import Ctx
from shieldwall.intel.common import check_uuid, ref_condition
from shieldwall.intel.errors import Conflict, Forbidden, NotFound
from shieldwall.intel.models import (
    Attribute,
    Event,
    MispObject,
    SharingGroup,
    SharingGroupOrg,
    SharingGroupServer,
)
from shieldwall.intel.schemas import SharingGroupIn, SharingGroupUpdate
from shieldwall.intel.visibility import sharing_group_condition


def get_sharing_group(session: Session, ctx: Ctx, ref: str | int) -> SharingGroup:
    cond = ref_condition(SharingGroup.id, SharingGroup.uuid, ref, "sharing_group")
    sg = session.execute(
        sa.select(SharingGroup).where(cond, sharing_group_condition(ctx.principal))
    ).scalar_one_or_none()
    if sg is None:
        raise NotFound(f"sharing group {ref} not found", field="sharing_group")
    return sg


def list_sharing_groups(
    session: Session, ctx: Ctx, *, after: int = 0, limit: int = 100, active: bool | None = None
) -> list[SharingGroup]:
    q = (
        sa.select(SharingGroup)
        .where(sharing_group_condition(ctx.principal), SharingGroup.id > after)
        .order_by(SharingGroup.id)
        .limit(limit)
    )
    if active is not None:
        q = q.where(SharingGroup.active.is_(active))
    return list(session.execute(q).scalars())


def readable_sharing_groups(session: Session, ctx: Ctx, ids: set[int]) -> dict[int, SharingGroup]:
    """These sharing groups, those the caller may see, by id (event views embed them)."""
    if not ids:
        return {}
    q = sa.select(SharingGroup).where(
        SharingGroup.id.in_(sorted(ids)), sharing_group_condition(ctx.principal)
    )
    return {sg.id: sg for sg in session.execute(q).scalars()}


def can_edit(ctx: Ctx, sg: SharingGroup) -> bool:
    """May change the group and its members: site admins; with the sharing-group permission,
    the creating organisation and members holding the extend right."""
    if ctx.principal.is_site_admin:
        return True
    if not ctx.principal.can(Permission.SHARING_GROUP_MANAGE):
        return False
    if sg.org_id == ctx.org_id:
        return True
    return any(m.org_id == ctx.org_id and m.extend for m in sg.members)


def _set_all_local(sg: SharingGroup, on: bool) -> None:
    local = [s for s in sg.servers if s.server_url is None]
    if local:
        local[0].all_orgs = on
    else:
        sg.servers.append(
            SharingGroupServer(server_url=None, server_name="this instance", all_orgs=on)
        )


def create_sharing_group(session: Session, ctx: Ctx, data: SharingGroupIn) -> SharingGroup:
    require(ctx, Permission.SHARING_GROUP_MANAGE)
    name = data.name.strip()
    if session.execute(sa.select(SharingGroup.id).where(SharingGroup.name == name)).first():
        raise Conflict(f"a sharing group named {name!r} exists", field="name")
    uuid = check_uuid(data.uuid, "uuid")
    if (
        uuid
        and session.execute(sa.select(SharingGroup.id).where(SharingGroup.uuid == uuid)).first()
    ):
        raise Conflict("a sharing group with this uuid exists", field="uuid")
    sg = SharingGroup(
        name=name,
        description=data.description,
        releasability=data.releasability,
        org_id=ctx.org_id,
        active=data.active,
        roaming=data.roaming,
    )
    if uuid:
        sg.uuid = uuid
    # The creator is always a member, with the right to extend.
    sg.members.append(SharingGroupOrg(org_id=ctx.org_id, extend=True))
    for i, m in enumerate(data.members):
        org = get_org(session, m.org)
        if org.id == ctx.org_id:
            continue
        if any(x.org_id == org.id for x in sg.members):
            raise Conflict(f"organisation {org.name!r} is listed twice", field=f"members[{i}].org")
        sg.members.append(SharingGroupOrg(org_id=org.id, extend=m.extend))
    _set_all_local(sg, data.all_local_orgs)
    session.add(sg)
    session.flush()
    record(
        session,
        ctx.actor,
        "create",
        "SharingGroup",
        model_id=sg.id,
        model_uuid=sg.uuid,
        title=sg.name,
        change={"members": [m.org_id for m in sg.members], "all_local_orgs": data.all_local_orgs},
    )
    return sg


def update_sharing_group(
    session: Session, ctx: Ctx, ref: str | int, data: SharingGroupUpdate
) -> SharingGroup:
    sg = get_sharing_group(session, ctx, ref)
    if not can_edit(ctx, sg):
        raise Forbidden("you may not edit this sharing group")
    changes: dict[str, Any] = {}
    for name in ("name", "description", "releasability", "active", "roaming"):
        if name in data.model_fields_set:
            value = getattr(data, name)
            if value is None:
                continue
            if (
                name == "name"
                and session.execute(
                    sa.select(SharingGroup.id).where(
                        SharingGroup.name == value, SharingGroup.id != sg.id
                    )
                ).first()
            ):
                raise Conflict(f"a sharing group named {value!r} exists", field="name")
            if getattr(sg, name) != value:
                changes[name] = [getattr(sg, name), value]
                setattr(sg, name, value)
    if data.all_local_orgs is not None:
        changes["all_local_orgs"] = data.all_local_orgs
        _set_all_local(sg, data.all_local_orgs)
    session.flush()
    record(
        session,
        ctx.actor,
        "update",
        "SharingGroup",
        model_id=sg.id,
        model_uuid=sg.uuid,
        title=sg.name,
        change=changes,
    )
    return sg


def can_delete(ctx: Ctx, sg: SharingGroup) -> bool:
    """May delete the group: site admins, and the creating organisation with the
    sharing-group permission."""
    return ctx.principal.is_site_admin or (
        sg.org_id == ctx.org_id and ctx.principal.can(Permission.SHARING_GROUP_MANAGE)
    )


def delete_sharing_group(session: Session, ctx: Ctx, ref: str | int) -> None:
    sg = get_sharing_group(session, ctx, ref)
    if not can_delete(ctx, sg):
        raise Forbidden("only the creating organisation deletes a sharing group")
    for model in (Event, Attribute, MispObject):
        used = session.execute(
            sa.select(model.id).where(model.sharing_group_id == sg.id).limit(1)
        ).first()
        if used:
            raise Conflict(
                f"the sharing group is still used by a {model.__name__.lower()}",
                field="sharing_group",
            )
    record(
        session,
        ctx.actor,
        "delete",
        "SharingGroup",
        model_id=sg.id,
        model_uuid=sg.uuid,
        title=sg.name,
    )
    session.delete(sg)
    session.flush()


def add_member(
    session: Session, ctx: Ctx, ref: str | int, org_ref: str, extend: bool = False
) -> SharingGroup:
    sg = get_sharing_group(session, ctx, ref)
    if not can_edit(ctx, sg):
        raise Forbidden("you may not change this sharing group's members")
    org = get_org(session, org_ref)
    existing = next((m for m in sg.members if m.org_id == org.id), None)
    if existing is not None:
        existing.extend = extend
    else:
        sg.members.append(SharingGroupOrg(org_id=org.id, extend=extend))
    session.flush()
    record(
        session,
        ctx.actor,
        "add_member",
        "SharingGroup",
        model_id=sg.id,
        model_uuid=sg.uuid,
        title=sg.name,
        change={"org_id": org.id, "extend": extend},
    )
    return sg


def remove_member(session: Session, ctx: Ctx, ref: str | int, org_ref: str) -> SharingGroup:
    sg = get_sharing_group(session, ctx, ref)
    if not can_edit(ctx, sg):
        raise Forbidden("you may not change this sharing group's members")
    org = get_org(session, org_ref)
    if org.id == sg.org_id:
        raise Conflict("the creating organisation stays a member", field="org")
    member = next((m for m in sg.members if m.org_id == org.id), None)
    if member is None:
        raise NotFound(f"organisation {org.name!r} is not a member", field="org")
    sg.members.remove(member)
    session.flush()
    record(
        session,
        ctx.actor,
        "remove_member",
        "SharingGroup",
        model_id=sg.id,
        model_uuid=sg.uuid,
        title=sg.name,
        change={"org_id": org.id},
    )
    return sg
