"""Alerts: raised by hunts, sent by sensors, SIEMs and scripts through the API, or routed
to an organisation whose networks intel touches. Unique per organisation by (source,
source_ref): a repeat counts up and moves last_seen. Statuses new, acknowledged, ignored,
merged (into a case). Read by the owning organisation and site admins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.audit.service import Actor, record
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.ids import as_id
from shieldwall.intel.errors import Conflict, InvalidInput, NotFound
from shieldwall.intel.models import VALUE_KEY_LEN
from shieldwall.intel.visibility import alert_condition
from shieldwall.response import sla
from shieldwall.response.common import escape_like, iso, normalise_observable, page_limit
from shieldwall.response.models import ALERT_STATUSES, SEVERITIES, Alert, AlertObservable
from shieldwall.response.notify import Message, notify
from shieldwall.response.rosters import on_call_users
from shieldwall.response.schemas import AlertBulk, AlertIn, AlertUpdate

KEY_LEN = 200
# MISP's threat levels (1 high, 2 medium, 3 low, 4 undefined) as alert severities.
THREAT_SEVERITY = {1: "high", 2: "medium", 3: "low", 4: "low"}
# Severities that reach whoever is on call, not only the inbox of the handlers.
URGENT = ("high", "critical")


@dataclass(frozen=True)
class NewAlert:
    """An alert as a service raises it (hunts, routing): its identity, content and the
    intel behind it."""

    org_id: int
    type: str
    source: str
    source_ref: str
    title: str
    severity: str = "medium"
    description: str = ""
    tlp: str = "amber"
    tags: tuple[str, ...] = ()
    attribute_id: int | None = None
    event_id: int | None = None
    observable: str = ""
    observable_type: str = ""
    field: str = ""
    sensor_id: int | None = None
    sensor_name: str = ""
    count: int = 1


def _existing(session: Session, items: Sequence[NewAlert]) -> dict[tuple[int, str, str], Alert]:
    found: dict[tuple[int, str, str], Alert] = {}
    keys = sorted({(i.org_id, i.source, i.source_ref) for i in items})
    for start in range(0, len(keys), 500):
        part = keys[start : start + 500]
        rows = session.execute(
            sa.select(Alert).where(
                Alert.org_id.in_(sorted({k[0] for k in part})),
                Alert.source.in_(sorted({k[1] for k in part})),
                Alert.source_ref.in_(sorted({k[2] for k in part})),
            )
        ).scalars()
        for row in rows:
            found[(row.org_id, row.source, row.source_ref)] = row
    return found


def upsert_alerts(
    session: Session, items: Sequence[NewAlert], at: datetime | None = None
) -> tuple[list[Alert], int]:
    """Raise alerts in the caller's transaction; a repeat of (org, source, source_ref)
    counts up instead. Returns (the new alerts, how many were repeats)."""
    at = at or now()
    merged: dict[tuple[int, str, str], NewAlert] = {}
    counts: dict[tuple[int, str, str], int] = {}
    for item in items:
        key = (item.org_id, item.source, item.source_ref[:512])
        counts[key] = counts.get(key, 0) + item.count
        merged.setdefault(key, item)
    existing = _existing(session, list(merged.values()))
    new: list[Alert] = []
    repeats = 0
    for key in sorted(merged):
        item = merged[key]
        alert = existing.get(key)
        if alert is not None:
            alert.count += counts[key]
            alert.last_seen = max(alert.last_seen, at)
            repeats += 1
            continue
        alert = Alert(
            org_id=item.org_id,
            type=item.type,
            source=item.source,
            source_ref=key[2],
            sensor_id=item.sensor_id,
            sensor_name=item.sensor_name,
            title=item.title[:1000],
            description=item.description,
            severity=item.severity,
            tlp=item.tlp,
            tags=list(item.tags),
            status="new",
            attribute_id=item.attribute_id,
            event_id=item.event_id,
            observable=item.observable,
            observable_key=item.observable[:KEY_LEN],
            field=item.field[:255],
            first_seen=at,
            last_seen=at,
            count=counts[key],
            created_at=at,
            modified_at=at,
        )
        session.add(alert)
        new.append(alert)
    session.flush()
    for alert, item in ((a, merged[(a.org_id, a.source, a.source_ref)]) for a in new):
        sla.stamp_alert(session, alert)
        if item.observable and item.observable_type:
            session.add(
                AlertObservable(
                    alert_id=alert.id,
                    type=item.observable_type,
                    value=item.observable,
                    value_key=item.observable[:VALUE_KEY_LEN],
                    tlp=item.tlp,
                    ioc=True,
                    sighted=item.type == "hunt",
                )
            )
    session.flush()
    return new, repeats


def announce(session: Session, alerts: Sequence[Alert], topic: str = "alert.created") -> None:
    """Tell each organisation's handlers (and, for urgent ones, whoever is on call)."""
    by_org: dict[int, list[Alert]] = {}
    for a in alerts:
        by_org.setdefault(a.org_id, []).append(a)
    at = now()
    for org_id, items in by_org.items():
        urgent = [a for a in items if a.severity in URGENT]
        top = max(items, key=lambda a: SEVERITIES.index(a.severity))
        title = (
            f"{top.severity} alert: {top.title[:200]}"
            if len(items) == 1
            else f"{len(items)} new alerts, the most severe {top.severity}: {top.title[:150]}"
        )
        notify(
            session,
            Message(
                topic,
                title,
                link=f"/api/v1/alerts/{top.id}" if len(items) == 1 else "/api/v1/alerts?status=new",
                payload={"alert_ids": [a.id for a in items[:100]], "count": len(items)},
            ),
            users=on_call_users(session, org_id, at) if urgent else [],
            orgs=[org_id],
            org_permission=Permission.ALERT_MANAGE,
        )


@dataclass(frozen=True)
class Sighted:
    """One observable a sensor saw that matched an attribute."""

    attribute_id: int
    event_id: int
    observable: str
    field: str
    title: str
    threat_level_id: int
    attribute_type: str = ""
    tags: tuple[str, ...] = ()


def raise_alerts(
    session: Session,
    actor: Actor,
    *,
    org_id: int,
    sensor_id: int,
    sensor_name: str,
    items: Sequence[Sighted],
    when: datetime | None = None,
) -> tuple[int, int]:
    """Alerts for what a sensor saw, in the caller's transaction; returns (new, updated).
    The same (sensor, attribute, observable) counts up its alert."""
    if not items:
        return 0, 0
    new, repeats = upsert_alerts(
        session,
        [
            NewAlert(
                org_id=org_id,
                type="hunt",
                source=f"sensor:{sensor_name}",
                source_ref=f"sensor-{sensor_id}/attribute-{i.attribute_id}/{i.observable[:KEY_LEN]}",
                title=i.title,
                severity=THREAT_SEVERITY.get(i.threat_level_id, "medium"),
                tlp=_tlp_of(i.tags),
                tags=i.tags,
                attribute_id=i.attribute_id,
                event_id=i.event_id,
                observable=i.observable,
                observable_type=i.attribute_type,
                field=i.field,
                sensor_id=sensor_id,
                sensor_name=sensor_name,
            )
            for i in items
        ],
        when,
    )
    record(
        session,
        actor,
        "create",
        "Alert",
        title=f"{len(new)} alerts raised, {repeats} seen again, by sensor {sensor_name}",
        change={"sensor_id": sensor_id, "new": len(new), "updated": repeats},
    )
    if new:
        announce(session, new)
    return len(new), repeats


def _tlp_of(tags: Sequence[str]) -> str:
    found = "amber"
    order = ("clear", "white", "green", "amber", "amber+strict", "red")
    best = -1
    for t in tags:
        name = t.lower()
        if name.startswith("tlp:") and name[4:] in order:
            rank = order.index(name[4:])
            if rank > best:
                best = rank
                found = "clear" if name[4:] == "white" else name[4:]
    return found


def create_alert(session: Session, ctx: Ctx, data: AlertIn) -> tuple[Alert, bool]:
    """An alert of the caller's organisation from the API; returns (alert, created). The
    same (source, source_ref) again counts a repeat, adds new observables and tags, and
    raises the severity if the repeat is more severe."""
    require(ctx, Permission.ALERT_CREATE)
    normalised = [
        normalise_observable(o, f"observables[{i}]") for i, o in enumerate(data.observables)
    ]
    at = data.date or now()
    existing = session.execute(
        sa.select(Alert).where(
            Alert.org_id == ctx.org_id,
            Alert.source == data.source,
            Alert.source_ref == data.source_ref,
        )
    ).scalar_one_or_none()
    created = existing is None
    # A sensor's own key: the alert carries the sensor, as a hunt's alerts do.
    sensor_id = ctx.actor.extra.get("sensor_id") if ctx.principal.kind == "sensor" else None
    if existing is None:
        alert = Alert(
            org_id=ctx.org_id,
            sensor_id=sensor_id,
            sensor_name=ctx.principal.email if sensor_id else "",
            type=data.type,
            source=data.source,
            source_ref=data.source_ref,
            title=data.title,
            description=data.description,
            severity=data.severity,
            tlp=data.tlp,
            pap=data.pap,
            tags=sorted(set(data.tags)),
            status="new",
            first_seen=at,
            last_seen=at,
            created_by_id=ctx.principal.user_id,
            created_at=now(),
            modified_at=now(),
        )
        session.add(alert)
        session.flush()
        sla.stamp_alert(session, alert)
    else:
        alert = existing
        alert.count += 1
        alert.last_seen = max(alert.last_seen, at)
        alert.tags = sorted(set(alert.tags) | set(data.tags))
        if SEVERITIES.index(data.severity) > SEVERITIES.index(alert.severity):
            alert.severity = data.severity
        if alert.status == "ignored":
            pass  # ignored stays ignored: the sender repeating itself changes nothing
    have = {
        (t, k)
        for t, k in session.execute(
            sa.select(AlertObservable.type, AlertObservable.value_key).where(
                AlertObservable.alert_id == alert.id
            )
        ).all()
    }
    for n, o in zip(normalised, data.observables, strict=True):
        if (n.type, n.key) in have:
            continue
        have.add((n.type, n.key))
        session.add(
            AlertObservable(
                alert_id=alert.id,
                type=n.type,
                value=n.value,
                value_key=n.key,
                tlp=o.tlp,
                ioc=o.ioc,
                sighted=o.sighted,
                tags=o.tags,
                message=o.message,
            )
        )
    if normalised and not alert.observable:
        alert.observable = normalised[0].value
        alert.observable_key = normalised[0].value[:KEY_LEN]
    session.flush()
    record(
        session,
        ctx.actor,
        "create" if created else "repeat",
        "Alert",
        model_id=alert.id,
        model_uuid=alert.uuid,
        title=alert.title[:200],
        change={"source": alert.source, "source_ref": alert.source_ref, "count": alert.count},
    )
    if created:
        announce(session, [alert])
    return alert, created


@dataclass(frozen=True)
class AlertFilter:
    sensor: str | None = None
    status: str | None = None
    severity: str | None = None
    attribute_id: int | None = None
    event_id: int | None = None
    org_id: int | None = None
    after: int = 0
    limit: int = 100
    source: str | None = None
    type: str | None = None
    q: str | None = None  # substring of the title
    observable: str | None = None  # an observable's value (exact)
    tag: str | None = None
    breached: bool | None = None
    case_id: int | None = None
    # Newest first (the queue) or oldest first (the hunt CLI's view).
    newest_first: bool = False


def alert_query(ctx: Ctx, f: AlertFilter) -> sa.Select[Any]:
    if f.status is not None and f.status not in ALERT_STATUSES:
        raise InvalidInput(f"status is one of {', '.join(ALERT_STATUSES)}", field="status")
    if f.severity is not None and f.severity not in SEVERITIES:
        raise InvalidInput(f"severity is one of {', '.join(SEVERITIES)}", field="severity")
    q = sa.select(Alert).where(alert_condition(ctx.principal))
    if f.after:
        q = q.where(Alert.id < f.after if f.newest_first else Alert.id > f.after)
    if f.sensor:
        q = q.where(Alert.sensor_name == f.sensor)
    if f.status:
        q = q.where(Alert.status == f.status)
    if f.severity:
        q = q.where(Alert.severity == f.severity)
    if f.attribute_id is not None:
        q = q.where(Alert.attribute_id == f.attribute_id)
    if f.event_id is not None:
        q = q.where(Alert.event_id == f.event_id)
    if f.org_id is not None:
        q = q.where(Alert.org_id == f.org_id)
    if f.source:
        q = q.where(Alert.source == f.source)
    if f.type:
        q = q.where(Alert.type == f.type)
    if f.case_id is not None:
        q = q.where(Alert.case_id == f.case_id)
    if f.q:
        q = q.where(Alert.title.ilike(f"%{escape_like(f.q)}%", escape="\\"))
    if f.tag:
        q = q.where(sa.cast(Alert.tags, sa.Text).like(f'%"{escape_like(f.tag)}"%', escape="\\"))
    if f.observable:
        key = f.observable.strip()[:VALUE_KEY_LEN]
        q = q.where(
            Alert.id.in_(
                sa.select(AlertObservable.alert_id).where(AlertObservable.value_key == key)
            )
        )
    if f.breached is True:
        q = q.where(sla.breached_alerts_condition(now()))
    elif f.breached is False:
        q = q.where(~sla.breached_alerts_condition(now()))
    order = Alert.id.desc() if f.newest_first else Alert.id
    return q.order_by(order).limit(page_limit(f.limit))


def list_alerts(session: Session, ctx: Ctx, f: AlertFilter) -> list[Alert]:
    """Alerts the caller may see (its organisation's; all for site admins), keyset-paged."""
    return list(session.execute(alert_query(ctx, f)).scalars())


def get_alert(session: Session, ctx: Ctx, ref: str | int) -> Alert:
    q = sa.select(Alert).where(alert_condition(ctx.principal))
    q = (
        q.where(Alert.id == as_id(ref))
        if as_id(ref) is not None
        else q.where(Alert.uuid == str(ref))
    )
    alert = session.execute(q).scalar_one_or_none()
    if alert is None:
        raise NotFound(f"alert {ref!r} not found", field="alert")
    return alert


def _set_status(alert: Alert, status: str, ctx: Ctx, at: datetime) -> None:
    if alert.status == "merged" and status != "merged":
        raise Conflict(f"alert {alert.id} is merged into case {alert.case_id}", field="status")
    if status == "merged":
        raise InvalidInput("alerts are merged by merging them into a case", field="status")
    alert.status = status
    if status != "new" and alert.acknowledged_at is None:
        alert.acknowledged_at = at
        alert.acknowledged_by_id = ctx.principal.user_id


def update_alert(session: Session, ctx: Ctx, ref: str, data: AlertUpdate) -> Alert:
    require(ctx, Permission.ALERT_MANAGE)
    alert = get_alert(session, ctx, ref)
    change = data.model_dump(exclude_unset=True)
    at = now()
    if change.get("status") and change["status"] != alert.status:
        _set_status(alert, change["status"], ctx, at)
    for name in ("severity", "tlp", "pap", "tags", "title", "description"):
        if change.get(name) is not None:
            setattr(alert, name, sorted(set(change[name])) if name == "tags" else change[name])
    if change.get("severity"):
        sla.stamp_alert(session, alert)
    alert.modified_at = at
    session.flush()
    record(
        session,
        ctx.actor,
        "update",
        "Alert",
        model_id=alert.id,
        model_uuid=alert.uuid,
        title=alert.title[:200],
        change=change,
    )
    return alert


def bulk_update(session: Session, ctx: Ctx, data: AlertBulk) -> list[Alert]:
    """One change to many alerts: all of them or none (an unknown or merged alert refuses
    the whole request, naming it)."""
    require(ctx, Permission.ALERT_MANAGE)
    rows = {
        a.id: a
        for a in session.execute(
            sa.select(Alert).where(
                Alert.id.in_(sorted(set(data.ids))), alert_condition(ctx.principal)
            )
        ).scalars()
    }
    at = now()
    for i, alert_id in enumerate(data.ids):
        if alert_id not in rows:
            raise NotFound(f"alert {alert_id} not found", field=f"ids[{i}]")
    if data.status is None and data.severity is None and not data.add_tags:
        raise InvalidInput("say what to change: status, severity or add_tags", field="status")
    for i, alert_id in enumerate(data.ids):
        alert = rows[alert_id]
        if data.status and data.status != alert.status:
            try:
                _set_status(alert, data.status, ctx, at)
            except Conflict as exc:
                raise Conflict(exc.detail, field=f"ids[{i}]") from None
        if data.severity and data.severity != alert.severity:
            alert.severity = data.severity
            sla.stamp_alert(session, alert)
        if data.add_tags:
            alert.tags = sorted(set(alert.tags) | set(data.add_tags))
        alert.modified_at = at
    session.flush()
    record(
        session,
        ctx.actor,
        "bulk_update",
        "Alert",
        title=f"{len(rows)} alerts",
        change={
            "ids": sorted(rows),
            "status": data.status,
            "severity": data.severity,
            "add_tags": data.add_tags,
        },
    )
    return [rows[i] for i in sorted(rows)]


def observables_of(session: Session, alert_ids: Sequence[int]) -> dict[int, list[AlertObservable]]:
    out: dict[int, list[AlertObservable]] = {}
    ids = sorted(set(alert_ids))
    for start in range(0, len(ids), 900):
        for o in session.execute(
            sa.select(AlertObservable)
            .where(AlertObservable.alert_id.in_(ids[start : start + 900]))
            .order_by(AlertObservable.id)
        ).scalars():
            out.setdefault(o.alert_id, []).append(o)
    return out


def alert_out(a: Alert, observables: Sequence[AlertObservable] | None = None) -> dict[str, Any]:
    out = {
        "id": a.id,
        "uuid": a.uuid,
        "org_id": a.org_id,
        "type": a.type,
        "source": a.source,
        "source_ref": a.source_ref,
        "sensor": a.sensor_name or None,
        "sensor_id": a.sensor_id,
        "title": a.title,
        "description": a.description,
        "severity": a.severity,
        "tlp": a.tlp,
        "pap": a.pap,
        "tags": a.tags,
        "status": a.status,
        "case_id": a.case_id,
        "attribute_id": a.attribute_id,
        "event_id": a.event_id,
        "observable": a.observable,
        "field": a.field,
        "first_seen": a.first_seen.isoformat(),
        "last_seen": a.last_seen.isoformat(),
        "count": a.count,
        "acknowledged_at": iso(a.acknowledged_at),
        "created_at": a.created_at.isoformat(),
        "sla": sla.alert_sla(a),
    }
    if observables is not None:
        out["observables"] = [
            {
                "type": o.type,
                "value": o.value,
                "tlp": o.tlp,
                "ioc": o.ioc,
                "sighted": o.sighted,
                "tags": o.tags,
                "message": o.message,
            }
            for o in observables
        ]
    return out
