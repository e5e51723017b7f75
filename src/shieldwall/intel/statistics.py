"""Counts for MISP's statistics calls, over what the caller may read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.auth.models import Organisation, User
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.intel.collab_models import ShadowAttribute
from shieldwall.intel.errors import InvalidInput
from shieldwall.intel.models import Attribute, Event, EventTag, Tag
from shieldwall.intel.visibility import attribute_condition, event_condition, tag_condition


def overview(session: Session, ctx: Ctx) -> dict[str, Any]:
    """MISP's users/statistics/data: events, attributes and the community's size."""
    month = now() - timedelta(days=30)
    events = (
        sa.select(sa.func.count())
        .select_from(Event)
        .where(event_condition(ctx.principal, ctx.opts))
    )
    attributes = (
        sa.select(sa.func.count())
        .select_from(Attribute)
        .join(Event, Event.id == Attribute.event_id)
        .where(attribute_condition(ctx.principal, ctx.opts))
    )
    event_count = session.execute(events).scalar_one()
    attribute_count = session.execute(attributes).scalar_one()
    orgs = session.execute(sa.select(sa.func.count()).select_from(Organisation)).scalar_one()
    local_orgs = session.execute(
        sa.select(sa.func.count()).select_from(Organisation).where(Organisation.local.is_(True))
    ).scalar_one()
    users = session.execute(
        sa.select(sa.func.count()).select_from(User).where(User.disabled.is_(False))
    ).scalar_one()
    contributing = session.execute(
        sa.select(sa.func.count(sa.distinct(Event.orgc_id))).where(
            event_condition(ctx.principal, ctx.opts)
        )
    ).scalar_one()
    proposals = session.execute(
        sa.select(sa.func.count())
        .select_from(ShadowAttribute)
        .join(Event, Event.id == ShadowAttribute.event_id)
        .where(event_condition(ctx.principal, ctx.opts), ShadowAttribute.deleted.is_(False))
    ).scalar_one()
    return {
        "event_count": event_count,
        "event_count_month": session.execute(events.where(Event.created_at >= month)).scalar_one(),
        "attribute_count": attribute_count,
        "attribute_count_month": session.execute(
            attributes.where(Attribute.timestamp >= month)
        ).scalar_one(),
        "attributes_per_event": round(attribute_count / event_count) if event_count else 0,
        "proposal_count": proposals,
        "user_count": users,
        "org_count": orgs,
        "local_org_count": local_orgs,
        "contributing_org_count": contributing,
        "average_user_per_org": round(users / local_orgs, 1) if local_orgs else 0,
    }


def attribute_counts_by(session: Session, ctx: Ctx, context: str) -> dict[str, int]:
    """Readable live attributes per type or per category."""
    if context not in ("type", "category"):
        raise InvalidInput("context is type or category", field="context")
    column = Attribute.type if context == "type" else Attribute.category
    rows = session.execute(
        sa.select(column, sa.func.count())
        .join(Event, Event.id == Attribute.event_id)
        .where(attribute_condition(ctx.principal, ctx.opts))
        .group_by(column)
        .order_by(column)
    ).all()
    return {name: n for name, n in rows}


def tag_counts(session: Session, ctx: Ctx) -> dict[str, int]:
    """Readable events carrying each tag the caller may see."""
    rows = session.execute(
        sa.select(Tag.name, sa.func.count(sa.distinct(EventTag.event_id)))
        .join(EventTag, EventTag.tag_id == Tag.id)
        .join(Event, Event.id == EventTag.event_id)
        .where(event_condition(ctx.principal, ctx.opts), tag_condition(ctx.principal))
        .group_by(Tag.name)
    ).all()
    return {name: n for name, n in rows}
