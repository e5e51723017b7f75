"""Observables of a case, linked to intel: added by hand or with merged alerts (one per
type and value), shown with what intel the reader may read knows of them, shared as intel in
one step, and sighted again when a hunt sees the attributes they became."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.audit.service import record
from shieldwall.auth.permissions import Permission
from shieldwall.context import Ctx
from shieldwall.intel.errors import NotFound
from shieldwall.intel.models import Attribute, Event, Sighting
from shieldwall.intel.visibility import attribute_condition, sighting_condition
from shieldwall.response.common import case_access, normalise_observable, timeline
from shieldwall.response.models import Case, CaseObservable
from shieldwall.response.schemas import ObservableIn, PromoteIn

OPEN = ("new", "in_progress")


def insert_observable(
    session: Session,
    case: Case,
    type_: str,
    value: str,
    key: str,
    tlp: str,
    ioc: bool,
    sighted: bool,
    tags: list[str],
    message: str,
    attribute_id: int | None = None,
) -> CaseObservable | None:
    existing = session.execute(
        sa.select(CaseObservable).where(
            CaseObservable.case_id == case.id,
            CaseObservable.type == type_,
            CaseObservable.value_key == key,
        )
    ).scalar_one_or_none()
    if existing is not None:
        existing.ioc = existing.ioc or ioc
        existing.sighted = existing.sighted or sighted
        existing.tags = sorted(set(existing.tags) | set(tags))
        if attribute_id and existing.attribute_id is None:
            existing.attribute_id = attribute_id
        return None
    obs = CaseObservable(
        case_id=case.id,
        type=type_,
        value=value,
        value_key=key,
        tlp=tlp,
        ioc=ioc,
        sighted=sighted,
        tags=sorted(set(tags)),
        message=message,
        attribute_id=attribute_id,
    )
    session.add(obs)
    session.flush()
    return obs


def add_observable(
    session: Session, ctx: Ctx, case: Case, data: ObservableIn, field: str
) -> CaseObservable | None:
    n = normalise_observable(data, field)
    return insert_observable(
        session,
        case,
        n.type,
        n.value,
        n.key,
        data.tlp,
        data.ioc,
        data.sighted,
        data.tags,
        data.message,
    )


def add_observables(
    session: Session, ctx: Ctx, ref: str, items: Sequence[ObservableIn]
) -> list[CaseObservable]:
    access = case_access(session, ctx, ref, "contribute")
    added = []
    for i, data in enumerate(items):
        obs = add_observable(session, ctx, access.case, data, f"[{i}]")
        if obs is not None:
            added.append(obs)
    if added:
        timeline(
            session,
            ctx,
            access.case.id,
            "observable.added",
            f"{len(added)} observables added",
            {"observables": [f"{o.type}:{o.value[:100]}" for o in added[:20]]},
        )
        record(
            session,
            ctx.actor,
            "create",
            "CaseObservable",
            model_id=access.case.id,
            model_uuid=access.case.uuid,
            title=f"{len(added)} observables",
        )
    return added


def delete_observable(session: Session, ctx: Ctx, ref: str, observable_id: int) -> None:
    access = case_access(session, ctx, ref, "contribute")
    obs = session.get(CaseObservable, observable_id)
    if obs is None or obs.case_id != access.case.id:
        raise NotFound(f"observable {observable_id} not found", field="observable")
    session.delete(obs)
    session.flush()
    timeline(
        session,
        ctx,
        access.case.id,
        "observable.removed",
        f"observable removed: {obs.type} {obs.value[:100]}",
    )
    record(
        session,
        ctx.actor,
        "delete",
        "CaseObservable",
        model_id=observable_id,
        title=obs.value[:200],
    )


def observables(session: Session, ctx: Ctx, ref: str) -> list[dict[str, Any]]:
    """The case's observables, each with what intel knows of it as far as the caller may
    read: the linked attribute and its sightings (count, last seen), and other readable
    attributes of the same value."""
    access = case_access(session, ctx, ref)
    rows = list(
        session.execute(
            sa.select(CaseObservable)
            .where(CaseObservable.case_id == access.case.id)
            .order_by(CaseObservable.id)
        ).scalars()
    )
    linked = _readable_attributes(session, ctx, {o.attribute_id for o in rows if o.attribute_id})
    sightings = _sighting_summary(session, ctx, sorted(linked))
    known = _known_in_intel(session, ctx, rows)
    out = []
    for o in rows:
        item = observable_out(o)
        attr = linked.get(o.attribute_id or 0)
        item["attribute"] = (
            {
                "id": attr[0],
                "uuid": attr[1],
                "event_id": attr[2],
                "event_uuid": attr[3],
                "sightings": sightings.get(
                    attr[0], {"count": 0, "false_positives": 0, "last_seen": None}
                ),
            }
            if attr
            else None
        )
        events = known.get((o.type, o.value), [])
        item["intel"] = {"events": events[:10], "event_count": len(events)}
        if attr and sightings.get(attr[0], {}).get("count"):
            item["sighted"] = True
        out.append(item)
    return out


def observable_out(o: CaseObservable) -> dict[str, Any]:
    return {
        "id": o.id,
        "uuid": o.uuid,
        "type": o.type,
        "value": o.value,
        "tlp": o.tlp,
        "ioc": o.ioc,
        "sighted": o.sighted,
        "tags": o.tags,
        "message": o.message,
        "attribute_id": o.attribute_id,
        "created_at": o.created_at.isoformat(),
    }


def _readable_attributes(
    session: Session, ctx: Ctx, ids: set[int]
) -> dict[int, tuple[int, str, int, str]]:
    if not ids:
        return {}
    rows = session.execute(
        sa.select(Attribute.id, Attribute.uuid, Event.id, Event.uuid)
        .join(Event, Event.id == Attribute.event_id)
        .where(Attribute.id.in_(sorted(ids)), attribute_condition(ctx.principal, ctx.opts))
    ).all()
    return {r[0]: (r[0], r[1], r[2], r[3]) for r in rows}


def _sighting_summary(
    session: Session, ctx: Ctx, attribute_ids: list[int]
) -> dict[int, dict[str, Any]]:
    if not attribute_ids:
        return {}
    rows = session.execute(
        sa.select(
            Sighting.attribute_id,
            Sighting.type,
            sa.func.count(),
            sa.func.max(Sighting.date_sighting),
        )
        .join(Attribute, Attribute.id == Sighting.attribute_id)
        .join(Event, Event.id == Sighting.event_id)
        .where(
            Sighting.attribute_id.in_(attribute_ids), sighting_condition(ctx.principal, ctx.opts)
        )
        .group_by(Sighting.attribute_id, Sighting.type)
    ).all()
    out: dict[int, dict[str, Any]] = {}
    for attr_id, kind, count, last in rows:
        s = out.setdefault(attr_id, {"count": 0, "false_positives": 0, "last_seen": None})
        if kind == 0:
            s["count"] += count
            s["last_seen"] = last.isoformat() if last else None
        elif kind == 1:
            s["false_positives"] += count
    return out


def _known_in_intel(
    session: Session, ctx: Ctx, rows: Sequence[CaseObservable]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Readable events holding each observable's value (exact, on either part)."""
    if not rows:
        return {}
    from shieldwall.intel.search import SearchFilter, search_attributes

    values = sorted({o.value for o in rows})[:1000]
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    hits = search_attributes(session, ctx, SearchFilter(value=values, limit=5000))
    by_value: dict[str, dict[int, str]] = {}
    for attr, event_uuid in hits:
        for v in {attr.value1, attr.value2, attr.value} - {""}:
            by_value.setdefault(v, {})[attr.event_id] = event_uuid
    for o in rows:
        events = by_value.get(o.value, {})
        out[(o.type, o.value)] = [{"id": eid, "uuid": u} for eid, u in sorted(events.items())]
    return out


def promote(session: Session, ctx: Ctx, ref: str, data: PromoteIn) -> tuple[Event, int]:
    """Chosen observables into intel: a new event of the caller's organisation (with the
    chosen distribution), or an existing event the caller may edit. Each attribute carries
    its observable's TLP as a tag, so the TLP guard holds; observables are linked to their
    attributes, and sightings of those attributes show on the case."""
    from shieldwall.intel import events as ev
    from shieldwall.intel.schemas import AttributeIn, EventIn, TagRef

    access = case_access(session, ctx, ref, "contribute")
    case = access.case
    wanted = sorted(set(data.observables))
    found = {
        o.id: o
        for o in session.execute(
            sa.select(CaseObservable).where(
                CaseObservable.case_id == case.id, CaseObservable.id.in_(wanted)
            )
        ).scalars()
    }
    for i, oid in enumerate(data.observables):
        if oid not in found:
            raise NotFound(f"observable {oid} is not on this case", field=f"observables[{i}]")
    chosen = [found[i] for i in wanted]
    attrs = [
        AttributeIn(
            type=o.type,
            value=o.value,
            comment=(o.message or f"from case #{case.number}")[:1000],
            to_ids=o.ioc,
            tags=[TagRef(name=f"tlp:{o.tlp}")] if o.tlp != "clear" else [TagRef(name="tlp:clear")],
        )
        for o in chosen
    ]
    # The TLP markings are the one vocabulary every promoted attribute carries: they are
    # created when missing, whatever the caller's right to create tags.
    from shieldwall.intel.common import ensure_tags
    from shieldwall.intel.visibility import Principal

    markings = sorted({t.name for a in attrs for t in a.tags} | {f"tlp:{case.tlp}"})
    tagger = Ctx(
        Principal(
            org_id=ctx.org_id,
            user_id=ctx.principal.user_id,
            permissions=frozenset({Permission.TAG_EDIT}),
        ),
        ctx.actor,
        ctx.opts,
    )
    ensure_tags(session, tagger, markings, "observables")
    if data.event:
        created = ev.add_attributes(session, ctx, data.event, attrs, break_on_duplicate=False)
        event = (
            session.get(Event, created[0].event_id)
            if created
            else ev.editable_event(session, ctx, data.event)
        )
        assert event is not None
    else:
        event = ev.create_event(
            session,
            ctx,
            EventIn(
                info=data.info or f"Case #{case.number}: {case.title}"[:65535],
                distribution=data.distribution,
                sharing_group_id=data.sharing_group_id,
                threat_level_id=data.threat_level_id,
                attributes=attrs,
                tags=[TagRef(name=f"tlp:{case.tlp}")],
            ),
        )
        created = list(
            session.execute(sa.select(Attribute).where(Attribute.event_id == event.id)).scalars()
        )
    by_value = {(a.type, a.value): a for a in created}
    linked = 0
    for o in chosen:
        attr = by_value.get((o.type, o.value))
        if attr is not None:
            o.attribute_id = attr.id
            linked += 1
    if data.publish:
        ev.publish_event(session, ctx, event.id)
    session.flush()
    timeline(
        session,
        ctx,
        case.id,
        "intel.shared",
        f"{linked} observables shared as intel in event {event.id}: {event.info[:150]}",
        {"event_id": event.id, "event_uuid": event.uuid, "distribution": event.distribution},
    )
    record(
        session,
        ctx.actor,
        "promote",
        "Case",
        model_id=case.id,
        model_uuid=case.uuid,
        title=case.title[:200],
        change={"event_id": event.id, "observables": wanted},
    )
    return event, linked


def sightings_flow_back(
    session: Session, attribute_ids: Sequence[int], sensor_name: str, at: datetime
) -> int:
    """A hunt sighted attributes: open cases holding them as observables note it on their
    timeline, once a sighting batch; returns the cases touched."""
    if not attribute_ids:
        return 0
    rows = session.execute(
        sa.select(CaseObservable.case_id, CaseObservable.id, CaseObservable.value)
        .join(Case, Case.id == CaseObservable.case_id)
        .where(CaseObservable.attribute_id.in_(sorted(set(attribute_ids))), Case.status.in_(OPEN))
    ).all()
    by_case: dict[int, list[str]] = {}
    for case_id, obs_id, value in rows:
        by_case.setdefault(case_id, []).append(value)
        session.execute(
            sa.update(CaseObservable).where(CaseObservable.id == obs_id).values(sighted=True)
        )
    for case_id, values in by_case.items():
        timeline(
            session,
            None,
            case_id,
            "observable.sighted",
            f"sensor {sensor_name} saw {len(values)} of the case's observables: {', '.join(v[:60] for v in values[:5])}",
            {"sensor": sensor_name, "values": values[:50]},
            at,
        )
    return len(by_case)
