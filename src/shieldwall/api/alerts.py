"""Alerts in the native API: read, filtered, by the owning organisation and site admins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from shieldwall.api.deps import CurrentCtx, ReadDB
from shieldwall.api.search import MAX_AFTER
from shieldwall.response.alerts import AlertFilter, alert_out, get_alert, list_alerts

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
    after: Annotated[int, Query(ge=0, le=MAX_AFTER)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Alerts of the caller's organisation (every organisation's for site admins), oldest
    first; page with `after` = the last id seen."""
    items = list_alerts(
        db,
        ctx,
        AlertFilter(sensor, status, severity, attribute_id, event_id, org_id, after, limit),
    )
    return {
        "items": [alert_out(a) for a in items],
        "next_after": items[-1].id if len(items) == limit else None,
    }


@router.get("/{ref}")
def alert(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return alert_out(get_alert(db, ctx, ref))
