"""Correlation services for the adapters: an event's or an attribute's correlations with the
related events, exclusions (site admins), and figures for operators."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.audit.service import record
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.context import Ctx
from shieldwall.correlation import engine
from shieldwall.correlation.models import (
    CorrelationExclusion,
    CorrelationNetwork,
    CorrelationSsdeep,
)
from shieldwall.db.lists import in_values
from shieldwall.ids import as_id
from shieldwall.intel.common import get_attribute, get_event
from shieldwall.intel.errors import Conflict, InvalidInput, NotFound
from shieldwall.intel.models import Attribute, Event
from shieldwall.intel.serialize import event_summaries, readable_attributes
from shieldwall.intel.visibility import event_condition


def _attribute_rows(
    session: Session, ctx: Ctx, ids: set[int], known: dict[int, Any]
) -> dict[int, dict[str, Any]]:
    """Related attributes by id: from the rows the engine read already (`known`, engine.DETAIL
    order), the others serialised through the access rules."""
    out: dict[int, dict[str, Any]] = {}
    for i in ids & known.keys():
        d = dict(zip(engine.DETAIL, known[i], strict=True))
        d["value"] = f"{d['value1']}|{d['value2']}" if d["value2"] else d["value1"]
        out[i] = d
    for a in readable_attributes(session, ctx, sorted(ids - known.keys())):
        out[a["id"]] = a
    return out


def related_events(session: Session, ctx: Ctx, found: engine.Correlations) -> list[dict[str, Any]]:
    """The events of the matches (event_summary), each with the number of values it shares,
    most shared first."""
    shared: dict[int, set[str]] = defaultdict(set)
    for m in found.matches:
        shared[m.event_id].add(m.value)
    if not shared:
        return []
    out = event_summaries(
        session,
        in_values(session, Event.id, sorted(shared)),
        event_condition(ctx.principal, ctx.opts),
    )
    for summary in out:
        summary["correlating_values"] = len(shared[summary["id"]])
    out.sort(key=lambda e: (-e["correlating_values"], e["id"]))
    return out


def _native(
    session: Session, ctx: Ctx, found: engine.Correlations, sources: dict[int, str]
) -> dict[str, Any]:
    related = _attribute_rows(session, ctx, {m.attribute_id for m in found.matches}, found.details)
    events = related_events(session, ctx, found)
    by_id = {e["id"]: e for e in events}
    items = []
    for m in found.matches:
        r = related[m.attribute_id]
        e = by_id[m.event_id]
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
    over = [
        {"value": v, "attribute_ids": ids}
        for v, ids in sorted(found.over.items(), key=lambda x: x[0])
    ]
    return {"correlations": items, "related_events": events, "over_correlating": over}


def event_correlations(session: Session, ctx: Ctx, ref: str | int) -> dict[str, Any]:
    """An event's correlations, its related events and the graph between them (the event,
    each related event, an edge weighted by the number of shared values)."""
    event = get_event(session, ctx, ref)
    event_sources = engine.event_sources(session, event.id)
    found = engine.correlate(session, ctx.principal, ctx.opts, event_sources, whole_event=event.id)
    out = _native(session, ctx, found, {s.id: s.uuid for s in event_sources})
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
        **_native(session, ctx, found, {attr.id: attr.uuid}),
    }


def related_attributes(
    session: Session, ctx: Ctx, attribute_ids: list[int]
) -> tuple[dict[int, list[dict[str, Any]]], dict[int, dict[str, Any]]]:
    """For restSearch's includeCorrelations: attribute id -> the correlating attributes
    (serialised as everywhere), and their events (event_summary) by id."""
    found = engine.correlate(
        session, ctx.principal, ctx.opts, engine.attribute_sources(session, attribute_ids)
    )
    rows = {
        a["id"]: a
        for a in readable_attributes(session, ctx, sorted({m.attribute_id for m in found.matches}))
    }
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for m in found.matches:
        out[m.source_id].append(rows[m.attribute_id])
    return out, {e["id"]: e for e in related_events(session, ctx, found)}


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
    correlating = sa.and_(*engine.correlating_conditions())
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
