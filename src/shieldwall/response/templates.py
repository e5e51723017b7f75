"""Case templates of an organisation: the prefills a new case takes (title prefix,
severity, markings, tags, tasks, custom field definitions)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.audit.service import record
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.context import Ctx
from shieldwall.ids import as_id
from shieldwall.intel.errors import Conflict, InvalidInput, NotFound
from shieldwall.response.models import CaseTemplate
from shieldwall.response.schemas import TemplateIn, TemplateUpdate


def _visible(ctx: Ctx) -> Any:
    return sa.true() if ctx.principal.is_site_admin else CaseTemplate.org_id == ctx.org_id


def list_templates(session: Session, ctx: Ctx) -> list[CaseTemplate]:
    return list(
        session.execute(
            sa.select(CaseTemplate).where(_visible(ctx)).order_by(CaseTemplate.name)
        ).scalars()
    )


def get_template(session: Session, ctx: Ctx, ref: str | int) -> CaseTemplate:
    """One of the caller's organisation's templates, by id, uuid or name."""
    q = sa.select(CaseTemplate).where(_visible(ctx))
    if as_id(ref) is not None:
        q = q.where(CaseTemplate.id == as_id(ref))
    else:
        q = q.where(sa.or_(CaseTemplate.uuid == str(ref), CaseTemplate.name == str(ref)))
    found = session.execute(q.order_by(CaseTemplate.org_id != ctx.org_id)).scalars().first()
    if found is None:
        raise NotFound(f"case template {ref!r} not found", field="template")
    return found


def _check(data: TemplateIn | TemplateUpdate) -> None:
    names = [f.name for f in data.custom_fields or []]
    if len(names) != len(set(names)):
        raise InvalidInput("custom field names are unique in a template", field="custom_fields")
    for i, f in enumerate(data.custom_fields or []):
        if f.options and f.type != "string":
            raise InvalidInput("options are for string fields", field=f"custom_fields[{i}].options")


def create_template(session: Session, ctx: Ctx, data: TemplateIn) -> CaseTemplate:
    require(ctx, Permission.RESPONSE_CONFIGURE)
    _check(data)
    if session.execute(
        sa.select(CaseTemplate.id).where(
            CaseTemplate.org_id == ctx.org_id, CaseTemplate.name == data.name
        )
    ).first():
        raise Conflict(f"the organisation already has a template named {data.name!r}", field="name")
    tpl = CaseTemplate(
        org_id=ctx.org_id,
        name=data.name,
        title_prefix=data.title_prefix,
        description=data.description,
        severity=data.severity,
        tlp=data.tlp,
        pap=data.pap,
        tags=data.tags,
        tasks=[t.model_dump() for t in data.tasks],
        custom_fields=[f.model_dump() for f in data.custom_fields],
    )
    session.add(tpl)
    session.flush()
    record(
        session,
        ctx.actor,
        "create",
        "CaseTemplate",
        model_id=tpl.id,
        model_uuid=tpl.uuid,
        title=tpl.name,
    )
    return tpl


def update_template(session: Session, ctx: Ctx, ref: str, data: TemplateUpdate) -> CaseTemplate:
    require(ctx, Permission.RESPONSE_CONFIGURE)
    tpl = get_template(session, ctx, ref)
    _check(data)
    change = data.model_dump(exclude_unset=True)
    if (
        "name" in change
        and change["name"] != tpl.name
        and session.execute(
            sa.select(CaseTemplate.id).where(
                CaseTemplate.org_id == tpl.org_id, CaseTemplate.name == change["name"]
            )
        ).first()
    ):
        raise Conflict(
            f"the organisation already has a template named {change['name']!r}", field="name"
        )
    for name, value in change.items():
        if value is not None:
            setattr(tpl, name, value)
    session.flush()
    record(
        session,
        ctx.actor,
        "update",
        "CaseTemplate",
        model_id=tpl.id,
        model_uuid=tpl.uuid,
        title=tpl.name,
        change=change,
    )
    return tpl


def delete_template(session: Session, ctx: Ctx, ref: str) -> None:
    require(ctx, Permission.RESPONSE_CONFIGURE)
    tpl = get_template(session, ctx, ref)
    session.delete(tpl)
    session.flush()
    record(
        session,
        ctx.actor,
        "delete",
        "CaseTemplate",
        model_id=tpl.id,
        model_uuid=tpl.uuid,
        title=tpl.name,
    )


def template_out(t: CaseTemplate) -> dict[str, Any]:
    return {
        "id": t.id,
        "uuid": t.uuid,
        "org_id": t.org_id,
        "name": t.name,
        "title_prefix": t.title_prefix,
        "description": t.description,
        "severity": t.severity,
        "tlp": t.tlp,
        "pap": t.pap,
        "tags": t.tags,
        "tasks": t.tasks,
        "custom_fields": t.custom_fields,
    }
