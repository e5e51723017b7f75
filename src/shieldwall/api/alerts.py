"""Alerts in the native API: sent by sensors, SIEMs and scripts, raised by hunts and
routing; the queue with filters, triage one by one or in bulk, merge into cases."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.api.search import MAX_AFTER
from shieldwall.response.alerts import (
    AlertFilter,
    alert_out,
    bulk_update,
    create_alert,
    get_alert,
    list_alerts,
    observables_of,
    update_alert,
)
from shieldwall.response.schemas import AlertBulk, AlertIn, AlertUpdate

router = APIRouter(prefix="/alerts", tags=["alerts"])


@router.get("")
def alerts(
    ctx: CurrentCtx,
    db: ReadDB,
    sensor: Annotated[str | None, Query(max_length=255)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    severity: Annotated[str | None, Query(max_length=16)] = None,
    attribute_id: Annotated[int | None, Query(ge=1, le=MAX_AFTER)] = None,
    event_id: Annotated[int | None, Query(ge=1, le=MAX_AFTER)] = None,
    org_id: Annotated[int | None, Query(ge=1, le=MAX_AFTER)] = None,
    source: Annotated[str | None, Query(max_length=255)] = None,
    type: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    observable: Annotated[str | None, Query(min_length=1, max_length=4096)] = None,
    tag: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    breached: bool | None = None,
    case_id: Annotated[int | None, Query(ge=1, le=MAX_AFTER)] = None,
    order: Literal["newest", "oldest"] = "newest",
    after: Annotated[int, Query(ge=0, le=MAX_AFTER)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Alerts of the caller's organisation (every organisation's for site admins), newest
    first unless `order=oldest`; page with `after` = the `next` of the previous page. `q`
    searches titles, `observable` finds alerts carrying a value, `breached` those past
    their SLA."""
    f = AlertFilter(
        sensor=sensor,
        status=status,
        severity=severity,
        attribute_id=attribute_id,
        event_id=event_id,
        org_id=org_id,
        after=after,
        limit=limit,
        source=source,
        type=type,
        q=q,
        observable=observable,
        tag=tag,
        breached=breached,
        case_id=case_id,
        newest_first=order == "newest",
    )
    items = list_alerts(db, ctx, f)
    return {
        "items": [alert_out(a) for a in items],
        "next": items[-1].id if len(items) == limit else None,
    }


@router.post("", status_code=201)
def send_alert(data: AlertIn, ctx: CurrentCtx, db: WriteDB, response: Response) -> dict[str, Any]:
    """An alert from a sensor, SIEM or script (needs response:alert:create). The same
    (source, source_ref) again is a repeat: 200 with the alert, its count raised."""
    alert, created = create_alert(db, ctx, data)
    out = alert_out(alert, observables_of(db, [alert.id]).get(alert.id, []))
    db.commit()
    if not created:
        response.status_code = 200
    return out


@router.post("/bulk")
def bulk(data: AlertBulk, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """One change (status, severity, tags) to many alerts: all or none."""
    changed = bulk_update(db, ctx, data)
    out = {"items": [alert_out(a) for a in changed], "count": len(changed)}
    db.commit()
    return out


@router.get("/{ref}")
def alert(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    a = get_alert(db, ctx, ref)
    return alert_out(a, observables_of(db, [a.id]).get(a.id, []))


@router.patch("/{ref}")
def change_alert(ref: str, data: AlertUpdate, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """Triage: status new, acknowledged or ignored; severity, markings, tags, text."""
    a = update_alert(db, ctx, ref, data)
    out = alert_out(a, observables_of(db, [a.id]).get(a.id, []))
    db.commit()
    return out
