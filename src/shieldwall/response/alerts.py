"""Alerts: raised by hunts, one per (sensor, attribute, observable); a repeat sighting of
the same observable counts up and moves last_seen. Visible to the owning organisation and
to site admins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.audit.service import Actor, record
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.ids import as_id
from shieldwall.intel.errors import InvalidInput, NotFound
from shieldwall.response.models import ALERT_STATUSES, SEVERITIES, Alert

KEY_LEN = 200
MAX_PAGE = 1000
# MISP's threat levels (1 high, 2 medium, 3 low, 4 undefined) as alert severities.
THREAT_SEVERITY = {1: "high", 2: "medium", 3: "low", 4: "low"}


@dataclass(frozen=True)
class Sighted:
    """One observable a sensor saw that matched an attribute."""

    attribute_id: int
    event_id: int
    observable: str
    field: str
    title: str
    threat_level_id: int


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
    """Raise alerts for what a sensor saw, in the caller's transaction; returns (new,
    updated). The same (sensor, attribute, observable) updates its alert's count."""
    at = when or now()
    counts: dict[tuple[int, str], int] = {}
    first: dict[tuple[int, str], Sighted] = {}
    for item in items:
        key = (item.attribute_id, item.observable[:KEY_LEN])
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, item)
    if not counts:
        return 0, 0
    existing: dict[tuple[int, str], Alert] = {}
    keys = sorted(counts)
    for i in range(0, len(keys), 500):
        part = keys[i : i + 500]
        rows = session.execute(
            sa.select(Alert).where(
                Alert.sensor_id == sensor_id,
                Alert.attribute_id.in_(sorted({a for a, _ in part})),
                Alert.observable_key.in_(sorted({o for _, o in part})),
            )
        ).scalars()
        for row in rows:
            existing[(row.attribute_id, row.observable_key)] = row
    new = updated = 0
    for key in keys:
        alert = existing.get(key)
        if alert is not None:
            alert.count += counts[key]
            alert.last_seen = max(alert.last_seen, at)
            updated += 1
            continue
        item = first[key]
        session.add(
            Alert(
                org_id=org_id,
                sensor_id=sensor_id,
                sensor_name=sensor_name,
                title=item.title[:1000],
                severity=THREAT_SEVERITY.get(item.threat_level_id, "medium"),
                status="new",
                attribute_id=item.attribute_id,
                event_id=item.event_id,
                observable=item.observable,
                observable_key=key[1],
                field=item.field[:255],
                first_seen=at,
                last_seen=at,
                count=counts[key],
            )
        )
        new += 1
    session.flush()
    record(
        session,
        actor,
        "create",
        "Alert",
        title=f"{new} alerts raised, {updated} seen again, by sensor {sensor_name}",
        change={"sensor_id": sensor_id, "new": new, "updated": updated},
    )
    return new, updated


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


def _visible(ctx: Ctx) -> Any:
    if ctx.principal.is_site_admin:
        return sa.true()
    return Alert.org_id == ctx.org_id


def list_alerts(session: Session, ctx: Ctx, f: AlertFilter) -> list[Alert]:
    """Alerts the caller may see (its organisation's; all for site admins), by id after
    `after` (keyset paging)."""
    if f.status is not None and f.status not in ALERT_STATUSES:
        raise InvalidInput(f"status is one of {', '.join(ALERT_STATUSES)}", field="status")
    if f.severity is not None and f.severity not in SEVERITIES:
        raise InvalidInput(f"severity is one of {', '.join(SEVERITIES)}", field="severity")
    q = sa.select(Alert).where(_visible(ctx), Alert.id > f.after)
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
    limit = max(1, min(f.limit, MAX_PAGE))
    return list(session.execute(q.order_by(Alert.id).limit(limit)).scalars())


def get_alert(session: Session, ctx: Ctx, ref: str | int) -> Alert:
    q = sa.select(Alert).where(_visible(ctx))
    q = (
        q.where(Alert.id == as_id(ref))
        if as_id(ref) is not None
        else q.where(Alert.uuid == str(ref))
    )
    alert = session.execute(q).scalar_one_or_none()
    if alert is None:
        raise NotFound(f"alert {ref!r} not found", field="alert")
    return alert


def alert_out(a: Alert) -> dict[str, Any]:
    return {
        "id": a.id,
        "uuid": a.uuid,
        "org_id": a.org_id,
        "sensor": a.sensor_name,
        "sensor_id": a.sensor_id,
        "title": a.title,
        "severity": a.severity,
        "status": a.status,
        "attribute_id": a.attribute_id,
        "event_id": a.event_id,
        "observable": a.observable,
        "field": a.field,
        "first_seen": a.first_seen.isoformat(),
        "last_seen": a.last_seen.isoformat(),
        "count": a.count,
    }
