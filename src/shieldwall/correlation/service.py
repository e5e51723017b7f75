"""Correlation services for the adapters: an event's or an attribute's correlations with the
related events, exclusions (site admins), and figures for operators."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.audit.service import record
from shieldwall.auth.models import Organisation
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.context import Ctx
from shieldwall.correlation import engine
from shieldwall.correlation.models import (
    CorrelationExclusion,
    CorrelationNetwork,
    CorrelationSsdeep,
)
from shieldwall.correlation.rules import NON_CORRELATING_TYPES
from shieldwall.db.lists import in_values
from shieldwall.ids import as_id
from shieldwall.intel.common import get_attribute, get_event
from shieldwall.intel.errors import Conflict, InvalidInput, NotFound
from shieldwall.intel.models import Attribute, Event

CHUNK = 500


_DETAIL = ("id", "event_id", "uuid", "type", "category", "value1", "value2", "to_ids")


def _attribute_rows(
    session: Session, ids: set[int], known: dict[int, Any] | None = None
) -> dict[int, dict[str, Any]]:
    """Attribute fields by id; `known` holds rows the engine read already (_DETAIL order)."""
    out: dict[int, dict[str, Any]] = {}
    missing = set()
    for i in ids:
        row = (known or {}).get(i)
        if row is None:
            missing.add(i)
            continue
        d = dict(zip(_DETAIL, row, strict=True))
        d["value"] = f"{d['value1']}|{d['value2']}" if d["value2"] else d["value1"]
        out[i] = d
    if not missing:
        return out
    rows = session.execute(
        sa.select(
            Attribute.id,
            Attribute.uuid,
            Attribute.event_id,
            Attribute.object_id,
            Attribute.object_relation,
            Attribute.category,
            Attribute.type,
            Attribute.value1,
            Attribute.value2,
            Attribute.to_ids,
            Attribute.timestamp,
            Attribute.distribution,
            Attribute.sharing_group_id,
            Attribute.comment,
        ).where(in_values(session, Attribute.id, sorted(missing)))
    ).all()
    for r in rows:
        d = r._asdict()
        d["value"] = f"{d['value1']}|{d['value2']}" if d["value2"] else d["value1"]
        out[r.id] = d
    return out


def event_rows(session: Session, ids: set[int]) -> dict[int, dict[str, Any]]:
    """Related events as MISP lists them: the event's fields with Org and Orgc."""
    wanted = sorted(ids)
    out: dict[int, dict[str, Any]] = {}
    if not wanted:
        return out
    org = sa.orm.aliased(Organisation)
    orgc = sa.orm.aliased(Organisation)
    rows = session.execute(
        sa.select(
            Event.id,
            Event.uuid,
            Event.info,
            Event.date,
            Event.threat_level_id,
            Event.published,
            Event.analysis,
            Event.timestamp,
            Event.distribution,
            Event.org_id,
            Event.orgc_id,
            org.name.label("org_name"),
            org.uuid.label("org_uuid"),
            orgc.name.label("orgc_name"),
            orgc.uuid.label("orgc_uuid"),
        )
        .join(org, org.id == Event.org_id)
        .join(orgc, orgc.id == Event.orgc_id)
        .where(in_values(session, Event.id, wanted))
    ).all()
    for r in rows:
        out[r.id] = r._asdict()
    return out


def _native(
    session: Session, found: engine.Correlations, sources: dict[int, str]
) -> dict[str, Any]:
    related = _attribute_rows(session, {m.attribute_id for m in found.matches}, found.details)
    events = event_rows(session, set(found.event_ids()))
    per_event: dict[int, set[str]] = defaultdict(set)
    items = []
    for m in found.matches:
        r = related[m.attribute_id]
        e = events[m.event_id]
        per_event[m.event_id].add(m.value)
        items.append(
            {
                "attribute": {"id": m.source_id, "uuid": sources[m.source_id], "value": m.value},
                "kind": m.kind,
                "score": m.score,
                "related": {
                    "id": r["id"],
                    "uuid": r["uuid"],
                    "type": r["type"],
                    "category": r["category"],
                    "value": r["value"],
                    "to_ids": r["to_ids"],
                    "event": {"id": e["id"], "uuid": e["uuid"], "info": e["info"]},
                },
            }
        )
    related_events = [
        {
            "id": e["id"],
            "uuid": e["uuid"],
            "info": e["info"],
            "date": e["date"].isoformat() if e["date"] else None,
            "published": e["published"],
            "threat_level_id": e["threat_level_id"],
            "org": {"id": e["org_id"], "name": e["org_name"], "uuid": e["org_uuid"]},
            "orgc": {"id": e["orgc_id"], "name": e["orgc_name"], "uuid": e["orgc_uuid"]},
            "correlating_values": len(per_event[e["id"]]),
        }
        for e in sorted(events.values(), key=lambda e: (-len(per_event[e["id"]]), e["id"]))
    ]
    over = [
        {"value": v, "attribute_ids": ids}
        for v, ids in sorted(found.over.items(), key=lambda x: x[0])
    ]
    return {"correlations": items, "related_events": related_events, "over_correlating": over}


def event_correlations(session: Session, ctx: Ctx, ref: str | int) -> dict[str, Any]:
    """An event's correlations, its related events and the graph between them (the event,
    each related event, an edge weighted by the number of shared values)."""
    event = get_event(session, ctx, ref)
    event_sources = engine.event_sources(session, event.id)
    found = engine.correlate(session, ctx.principal, ctx.opts, event_sources, whole_event=event.id)
    out = _native(session, found, {s.id: s.uuid for s in event_sources})
    nodes = [{"id": event.id, "uuid": event.uuid, "info": event.info, "root": True}]
    nodes += [
        {"id": e["id"], "uuid": e["uuid"], "info": e["info"], "root": False}
        for e in out["related_events"]
    ]
    edges = [
        {"source": event.id, "target": e["id"], "weight": e["correlating_values"]}
        for e in out["related_events"]
    ]
    return {
        "event": {"id": event.id, "uuid": event.uuid, "info": event.info},
        **out,
        "graph": {"nodes": nodes, "edges": edges},
    }


def attribute_correlations(session: Session, ctx: Ctx, ref: str | int) -> dict[str, Any]:
    attr, _event = get_attribute(session, ctx, ref)
    found = engine.correlate(
        session, ctx.principal, ctx.opts, engine.attribute_sources(session, [attr.id])
    )
    return {
        "attribute": {"id": attr.id, "uuid": attr.uuid},
        **_native(session, found, {attr.id: attr.uuid}),
    }


def related_attributes(
    session: Session, ctx: Ctx, attribute_ids: list[int]
) -> tuple[dict[int, list[dict[str, Any]]], dict[int, dict[str, Any]]]:
    """For restSearch's includeCorrelations: attribute id -> related attribute rows, and the
    related events by id."""
    found = engine.correlate(
        session, ctx.principal, ctx.opts, engine.attribute_sources(session, attribute_ids)
    )
    rows = _attribute_rows(session, {m.attribute_id for m in found.matches})
    events = event_rows(session, set(found.event_ids()))
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for m in found.matches:
        out[m.source_id].append(rows[m.attribute_id])
    return out, events


# Exclusions


def _exclusion_shape(row: CorrelationExclusion) -> dict[str, Any]:
    return {"id": row.id, "value": row.value, "comment": row.comment, "created_at": row.created_at}


def list_exclusions(session: Session, ctx: Ctx) -> list[dict[str, Any]]:
    require(ctx, Permission.SITE_ADMIN)
    rows = session.execute(sa.select(CorrelationExclusion).order_by(CorrelationExclusion.id))
    return [_exclusion_shape(r) for r in rows.scalars()]


def get_exclusion(session: Session, ctx: Ctx, ref: str | int) -> dict[str, Any]:
    require(ctx, Permission.SITE_ADMIN)
    return _exclusion_shape(_exclusion(session, ref))


def _exclusion(session: Session, ref: str | int) -> CorrelationExclusion:
    ident = as_id(str(ref))
    row = session.get(CorrelationExclusion, ident) if ident is not None else None
    if row is None:
        raise NotFound(f"correlation exclusion {ref} not found", field="id")
    return row


def add_exclusion(session: Session, ctx: Ctx, value: str, comment: str = "") -> dict[str, Any]:
    """Exclude a value (`%` matches any run of characters) from correlation; takes effect on
    the next read, nothing to rebuild."""
    require(ctx, Permission.SITE_ADMIN)
    value = (value or "").strip()
    if not value or value.strip("%") == "":
        raise InvalidInput("give a value to exclude (not only '%')", field="value")
    if len(value) > 1024:
        raise InvalidInput("at most 1024 characters", field="value")
    clash = session.execute(
        sa.select(CorrelationExclusion.id).where(CorrelationExclusion.value == value)
    ).scalar_one_or_none()
    if clash is not None:
        raise Conflict(f"{value!r} is excluded already (exclusion {clash})", field="value")
    row = CorrelationExclusion(value=value, comment=comment or "")
    session.add(row)
    session.flush()
    record(session, ctx.actor, "create", "CorrelationExclusion", model_id=row.id, title=value)
    return _exclusion_shape(row)


def delete_exclusion(session: Session, ctx: Ctx, ref: str | int) -> None:
    require(ctx, Permission.SITE_ADMIN)
    row = _exclusion(session, ref)
    record(session, ctx.actor, "delete", "CorrelationExclusion", model_id=row.id, title=row.value)
    session.delete(row)
    session.flush()


# Figures


def stats(session: Session, *, top: int = 10) -> dict[str, Any]:
    """What the correlation indexes hold and the most shared values (a full scan of the
    attribute values: for operators, not for request paths)."""
    cap = engine.Options.from_settings().cap
    correlating = sa.and_(
        Attribute.deleted.is_(False),
        Attribute.disable_correlation.is_(False),
        Attribute.type.not_in(sorted(NON_CORRELATING_TYPES)),
        Event.disable_correlation.is_(False),
    )
    attributes = session.execute(
        sa.select(sa.func.count())
        .select_from(Attribute)
        .join(Event, Event.id == Attribute.event_id)
        .where(correlating)
    ).scalar_one()
    count = sa.func.count().label("n")
    shared = session.execute(
        sa.select(Attribute.value1, count)
        .join(Event, Event.id == Attribute.event_id)
        .where(correlating)
        .group_by(Attribute.value1)
        .having(sa.func.count() > 1)
        .order_by(count.desc(), Attribute.value1)
        .limit(top)
    ).all()
    over = session.execute(
        sa.select(sa.func.count()).select_from(
            sa.select(Attribute.value1)
            .join(Event, Event.id == Attribute.event_id)
            .where(correlating)
            .group_by(Attribute.value1)
            .having(sa.func.count() > cap)
            .subquery()
        )
    ).scalar_one()
    return {
        "correlating_attributes": int(attributes),
        "network_index_rows": session.execute(
            sa.select(sa.func.count()).select_from(CorrelationNetwork)
        ).scalar_one(),
        "ssdeep_index_rows": session.execute(
            sa.select(sa.func.count()).select_from(CorrelationSsdeep)
        ).scalar_one(),
        "exclusions": session.execute(
            sa.select(sa.func.count()).select_from(CorrelationExclusion)
        ).scalar_one(),
        "cap": cap,
        "over_correlating_values": int(over),
        "most_shared": [{"value": v, "attributes": int(n)} for v, n in shared],
    }
