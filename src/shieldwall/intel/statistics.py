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
from shieldwall.intel.models import Attribute, AttributeTag, Event, EventTag, Sighting, Tag
from shieldwall.intel.visibility import (
    Principal,
    attribute_condition,
    attribute_in_readable_event,
    attributes_that_may_be_hidden,
    event_condition,
    tag_condition,
)


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


def _pairs(session: Session, q: Any) -> dict[Any, Any]:
    return {k: v for k, v in session.execute(q)}


def organisations(session: Session, ctx: Ctx, scope: str = "local") -> dict[str, dict[str, Any]]:
    """MISP's users/statistics/orgs: each organisation (scope local, external or all) with
    the events it created and their attributes among those the caller may read, and its
    user count where the caller may see its users (site admins: every organisation)."""
    if scope not in ("local", "external", "all"):
        raise InvalidInput("scope is local, external or all", field="scope")
    q = sa.select(Organisation)
    if scope != "all":
        q = q.where(Organisation.local.is_(scope == "local"))
    orgs = list(session.execute(q).scalars())
    ids = [o.id for o in orgs]
    events = _pairs(
        session,
        (
            sa.select(Event.orgc_id, sa.func.count())
            .where(event_condition(ctx.principal, ctx.opts), Event.orgc_id.in_(ids))
            .group_by(Event.orgc_id)
        ),
    )
    attributes = _pairs(
        session,
        (
            sa.select(Event.orgc_id, sa.func.count())
            .select_from(Attribute)
            .join(Event, Event.id == Attribute.event_id)
            .where(
                attribute_condition(ctx.principal, ctx.opts),
                Attribute.deleted.is_(False),
                Event.orgc_id.in_(ids),
            )
            .group_by(Event.orgc_id)
        ),
    )
    user_q = sa.select(User.org_id, sa.func.count()).where(User.org_id.in_(ids))
    if not ctx.principal.is_site_admin:
        user_q = user_q.where(User.org_id == ctx.org_id)
    users = _pairs(session, user_q.group_by(User.org_id))
    out: dict[str, dict[str, Any]] = {}
    for o in sorted(orgs, key=lambda o: o.name.lower()):
        entry: dict[str, Any] = {
            "id": str(o.id),
            "name": o.name,
            "description": o.description,
            "local": o.local,
            "contacts": o.contacts,
            "type": o.type,
            "sector": o.sector,
            "nationality": o.nationality,
        }
        if o.id in users:
            entry["userCount"] = users[o.id]
        if o.id in events:
            entry["eventCount"] = events[o.id]
            entry["attributeCount"] = attributes.get(o.id, 0)
        out[o.name] = entry
    return out


def users_and_orgs(session: Session, ctx: Ctx) -> dict[str, Any]:
    """MISP's users/statistics/users: users, local and external organisations created in
    total, this month and this year. Users are counted where the caller may see them (site
    admins: all; others: their organisation's)."""
    t = now()
    ranges = {
        "total": None,
        "month": t.replace(day=1, hour=0, minute=0, second=0, microsecond=0),
        "year": t.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0),
    }
    users = sa.select(sa.func.count()).select_from(User)
    if not ctx.principal.is_site_admin:
        users = users.where(User.org_id == ctx.org_id)
    local = sa.select(sa.func.count()).select_from(Organisation).where(Organisation.local.is_(True))
    external = (
        sa.select(sa.func.count()).select_from(Organisation).where(Organisation.local.is_(False))
    )
    scopes = {
        "user": (users, User.created_at),
        "org_local": (local, Organisation.created_at),
        "org_external": (external, Organisation.created_at),
    }
    out: dict[str, Any] = {}
    for scope, (q, created) in scopes.items():
        out[scope] = {
            "data": {
                name: session.execute(
                    q if since is None else q.where(created >= since)
                ).scalar_one()
                for name, since in ranges.items()
            }
        }
    return out


_SIGHTING_TYPES = ("sighting", "false-positive", "expiration")


def own_sightings(session: Session, ctx: Ctx, since: Any = None) -> dict[str, Any]:
    """MISP's users/statistics/sightings: the caller's organisation's sightings (on events
    it may still read) by source: `toplist` {source: count}, most first, and `eventids`
    {source: {type: [event ids]}}. Sightings without a source count as "Undefined"."""
    q = (
        sa.select(Sighting.type, Sighting.source, Sighting.event_id)
        .join(Event, Event.id == Sighting.event_id)
        .where(Sighting.org_id == ctx.org_id, event_condition(ctx.principal, ctx.opts))
        .order_by(Sighting.id)
    )
    if since is not None:
        q = q.where(Sighting.date_sighting > since)
    toplist: dict[str, int] = {}
    eventids: dict[str, dict[str, list[str]]] = {}
    for kind, source, event_id in session.execute(q):
        name = source or "Undefined"
        toplist[name] = toplist.get(name, 0) + 1
        ids = eventids.setdefault(name, {}).setdefault(_SIGHTING_TYPES[kind], [])
        if str(event_id) not in ids:
            ids.append(str(event_id))
    ordered = dict(sorted(toplist.items(), key=lambda kv: (-kv[1], kv[0])))
    return {"toplist": ordered, "eventids": eventids}


def attribute_histogram(session: Session, ctx: Ctx) -> list[dict[str, Any]]:
    """MISP's users/statistics/attributehistogram: readable live attributes per type, for
    all organisations and for each creator organisation, the largest first."""
    rows = session.execute(
        sa.select(Event.orgc_id, Attribute.type, sa.func.count())
        .select_from(Attribute)
        .join(Event, Event.id == Attribute.event_id)
        .where(attribute_condition(ctx.principal, ctx.opts), Attribute.deleted.is_(False))
        .group_by(Event.orgc_id, Attribute.type)
    ).all()
    names = _pairs(
        session,
        (
            sa.select(Organisation.id, Organisation.name).where(
                Organisation.id.in_({r[0] for r in rows})
            )
        ),
    )
    everything: dict[str, int] = {}
    per_org: dict[int, dict[str, int]] = {}
    for orgc_id, attr_type, n in rows:
        everything[attr_type] = everything.get(attr_type, 0) + n
        per_org.setdefault(orgc_id, {})[attr_type] = n
    entries = [("All organisations", everything)] + [
        (names[orgc_id], data) for orgc_id, data in per_org.items()
    ]
    entries.sort(key=lambda e: (-sum(e[1].values()), e[0] != "All organisations", e[0]))
    return [{"data": data, "org_name": name, "total": sum(data.values())} for name, data in entries]


def tag_scores(session: Session, ctx: Ctx, names: list[str]) -> dict[str, int]:
    """How often each of these tags is on an event or an attribute the caller may read
    (MISP's galaxy matrix scores)."""
    if not names:
        return {}
    scores: dict[str, int] = {}
    for i in range(0, len(names), 500):
        chunk = names[i : i + 500]
        on_events = (
            sa.select(Tag.name, sa.func.count())
            .join(EventTag, EventTag.tag_id == Tag.id)
            .join(Event, Event.id == EventTag.event_id)
            .where(Tag.name.in_(chunk), event_condition(ctx.principal, ctx.opts))
            .group_by(Tag.name)
        )
        on_attributes = (
            sa.select(Tag.name, sa.func.count())
            .join(AttributeTag, AttributeTag.tag_id == Tag.id)
            .join(Attribute, Attribute.id == AttributeTag.attribute_id)
            .join(Event, Event.id == Attribute.event_id)
            .where(
                Tag.name.in_(chunk),
                attribute_condition(ctx.principal, ctx.opts),
                Attribute.deleted.is_(False),
            )
            .group_by(Tag.name)
        )
        for q in (on_events, on_attributes):
            for name, n in session.execute(q):
                scores[name] = scores.get(name, 0) + n
    return scores


# ---------------------------------------------------------------- the situational picture


def bucket(col: Any, session: Session, hourly: bool) -> Any:
    """A time column as text by day (or hour), on SQLite and PostgreSQL alike."""
    if session.get_bind().dialect.name == "sqlite":
        return sa.func.strftime("%Y-%m-%d %H" if hourly else "%Y-%m-%d", col)
    return sa.func.to_char(
        sa.func.timezone("UTC", col), "YYYY-MM-DD HH24" if hourly else "YYYY-MM-DD"
    )


def readable_attribute_counts(
    session: Session, p: Principal, event_ids: sa.Select[Any]
) -> dict[int, int]:
    """How many attributes of each event in `event_ids` (events the principal may read) the
    principal may read, without checking every attribute: all of an event's attributes,
    counted from the event index, less the hidden ones among those that may be hidden."""
    counts: dict[int, int] = dict(
        session.execute(
            sa.select(Attribute.event_id, sa.func.count())
            .where(Attribute.event_id.in_(event_ids))
            .group_by(Attribute.event_id)
        ).all()
    )
    hidden = sa.func.sum(sa.case((attribute_in_readable_event(p), 0), else_=1))
    for may_hide in attributes_that_may_be_hidden():
        for event_id, n in session.execute(
            sa.select(Attribute.event_id, hidden)
            .select_from(Attribute)
            .join(Event, Event.id == Attribute.event_id)
            .where(Attribute.event_id.in_(event_ids), may_hide)
            .group_by(Attribute.event_id)
        ):
            counts[event_id] -= int(n or 0)
    return {event_id: n for event_id, n in counts.items() if n > 0}


def activity(
    session: Session, ctx: Ctx, since: Any, hourly: bool = False, org_id: int | None = None
) -> dict[str, dict[str, int]]:
    """Per day (or hour) since `since`: readable events created, their readable attributes
    (indicators), and readable sightings; of one creator organisation's events when
    `org_id` is given. Only what the caller may read is counted."""
    day = bucket(Event.created_at, session, hourly)
    scope = [Event.created_at >= since] + ([Event.orgc_id == org_id] if org_id else [])
    readable = event_condition(ctx.principal, ctx.opts)
    event_day: dict[int, str] = dict(
        session.execute(sa.select(Event.id, day).where(*scope, readable)).tuples().all()
    )
    events: dict[str, int] = {}
    for d in event_day.values():
        events[d] = events.get(d, 0) + 1
    # Counted a readable event at a time (its attributes through their index), the event's
    # rules checked once an event rather than once an attribute; the days are the events'.
    recent = sa.select(Event.id).where(*scope, readable)
    attributes: dict[str, int] = {}
    for event_id, n in readable_attribute_counts(session, ctx.principal, recent).items():
        when = event_day.get(event_id)
        if when is not None:
            attributes[when] = attributes.get(when, 0) + n
    from shieldwall.intel.visibility import sighting_condition

    seen = bucket(Sighting.date_sighting, session, hourly)
    sightings: dict[str, int] = dict(
        session.execute(
            sa.select(seen, sa.func.count())
            .select_from(Sighting)
            .join(Attribute, Attribute.id == Sighting.attribute_id)
            .join(Event, Event.id == Sighting.event_id)
            .where(
                Sighting.date_sighting >= since,
                Sighting.type == 0,
                sighting_condition(ctx.principal, ctx.opts),
                *([Event.orgc_id == org_id] if org_id else []),
            )
            .group_by(seen)
        )
        .tuples()
        .all()
    )
    return {"events": events, "attributes": attributes, "sightings": sightings}


def top_tags(
    session: Session,
    ctx: Ctx,
    since: Any,
    limit: int = 10,
    prefix: str | None = None,
    org_id: int | None = None,
) -> list[tuple[str, int]]:
    """Tags (or tags starting with `prefix`) on the most readable events created since."""
    q = (
        sa.select(Tag.name, sa.func.count(sa.distinct(EventTag.event_id)).label("n"))
        .join(EventTag, EventTag.tag_id == Tag.id)
        .join(Event, Event.id == EventTag.event_id)
        .where(
            Event.created_at >= since,
            event_condition(ctx.principal, ctx.opts),
            tag_condition(ctx.principal),
        )
        .group_by(Tag.name)
        .order_by(sa.desc("n"), Tag.name)
        .limit(limit)
    )
    if org_id:
        q = q.where(Event.orgc_id == org_id)
    # A prefix (ATT&CK's galaxy tags) or the plain tags (galaxies counted on their own).
    q = q.where(Tag.name.like(f"{prefix}%") if prefix else ~Tag.name.like("misp-galaxy:%"))
    return [(name, n) for name, n in session.execute(q).all()]
