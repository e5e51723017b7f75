"""Sightings: add by attribute or by value, list, delete."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.audit.service import record
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.intel.common import get_attribute
from shieldwall.intel.errors import Forbidden, InvalidInput, NotFound
from shieldwall.intel.models import Attribute, Event, Sighting
from shieldwall.intel.schemas import SightingCreate
from shieldwall.intel.search import value_match_condition
from shieldwall.intel.visibility import attribute_condition, sighting_condition


def add_sightings(session: Session, ctx: Ctx, data: SightingCreate) -> list[tuple[Sighting, str]]:
    """Sight one attribute (by id or uuid), or every readable attribute holding the values;
    returns each sighting with its attribute's uuid, as list_sightings does."""
    require(ctx, Permission.SIGHTING_ADD)
    when = data.date_sighting or now()
    if when > now():
        raise InvalidInput("a sighting cannot be in the future", field="date_sighting")
    targets: list[tuple[int, int, str]] = []
    if data.attribute:
        attr, event = get_attribute(session, ctx, data.attribute)
        targets.append((attr.id, event.id, attr.uuid))
    values = list(data.values) + ([data.value] if data.value else [])
    if values:
        rows = session.execute(
            sa.select(Attribute.id, Attribute.event_id, Attribute.uuid)
            .join(Event, Event.id == Attribute.event_id)
            .where(value_match_condition(values), attribute_condition(ctx.principal, ctx.opts))
        ).all()
        targets.extend((r[0], r[1], r[2]) for r in rows)
    if not data.attribute and not values:
        raise InvalidInput("give an attribute id or uuid, or one or more values", field="attribute")
    if not targets:
        raise NotFound("no readable attribute matches", field="value" if values else "attribute")
    targets = list(dict.fromkeys(targets))
    sightings = [
        Sighting(
            attribute_id=a,
            event_id=e,
            org_id=ctx.org_id,
            type=data.type,
            source=data.source,
            date_sighting=when,
        )
        for a, e, _ in targets
    ]
    session.add_all(sightings)
    session.flush()
    record(
        session,
        ctx.actor,
        "create",
        "Sighting",
        title=f"{len(sightings)} sightings of type {data.type}",
        change={
            "attribute_ids": [s.attribute_id for s in sightings][:100],
            "type": data.type,
            "source": data.source,
        },
    )
    return [(s, uuid) for s, (_, _, uuid) in zip(sightings, targets, strict=True)]


def list_sightings(
    session: Session,
    ctx: Ctx,
    *,
    attribute: str | None = None,
    event: str | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[tuple[Sighting, str]]:
    q = (
        sa.select(Sighting, Attribute.uuid)
        .join(Attribute, Attribute.id == Sighting.attribute_id)
        .join(Event, Event.id == Sighting.event_id)
        .where(sighting_condition(ctx.principal, ctx.opts), Sighting.id > after)
        .order_by(Sighting.id)
        .limit(limit)
    )
    if attribute:
        attr, _ = get_attribute(session, ctx, attribute)
        q = q.where(Sighting.attribute_id == attr.id)
    if event:
        from shieldwall.intel.common import get_event

        q = q.where(Sighting.event_id == get_event(session, ctx, event).id)
    return [(r[0], r[1]) for r in session.execute(q).all()]


def delete_sighting(session: Session, ctx: Ctx, sighting_id: int) -> None:
    row = session.execute(
        sa.select(Sighting, Event.org_id)
        .join(Attribute, Attribute.id == Sighting.attribute_id)
        .join(Event, Event.id == Sighting.event_id)
        .where(Sighting.id == sighting_id, sighting_condition(ctx.principal, ctx.opts))
    ).first()
    if row is None:
        raise NotFound(f"sighting {sighting_id} not found", field="sighting")
    sighting, event_org = row
    if not (ctx.principal.is_site_admin or sighting.org_id == ctx.org_id):
        raise Forbidden("only the organisation that made a sighting deletes it")
    record(
        session,
        ctx.actor,
        "delete",
        "Sighting",
        model_id=sighting.id,
        model_uuid=sighting.uuid,
        change={"attribute_id": sighting.attribute_id, "event_org_id": event_org},
    )
    session.delete(sighting)
    session.flush()
