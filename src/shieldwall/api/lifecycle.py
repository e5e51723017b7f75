"""The indicator lifecycle in the native API: settings per type, expired and expiring
indicators, and an expiry pass on demand."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.api.search import MAX_AFTER
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.intel.serialize import attributes_with_tags
from shieldwall.lifecycle import service as lifecycle
from shieldwall.lifecycle.service import SettingChange

router = APIRouter(prefix="/lifecycle", tags=["lifecycle"])

After = Annotated[int, Query(ge=0, le=MAX_AFTER)]
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/settings")
def list_settings(ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    """The default settings, then every type with settings of its own; `source` says
    whether a value is built in or the site's."""
    return {"items": lifecycle.list_settings(db)}


@router.get("/settings/{attribute_type:path}")
def get_setting(attribute_type: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    lifecycle.require_known(attribute_type)
    return lifecycle.get_setting(db, attribute_type)


@router.patch("/settings")
def change_settings(
    ctx: CurrentCtx,
    db: WriteDB,
    changes: Annotated[
        dict[str, SettingChange | None],
        Body(description="attribute type (or 'default') -> new values; null resets the type"),
    ],
) -> dict[str, Any]:
    """Change the settings of several types at once: all land or none does. Site admins."""
    items = lifecycle.change_settings(db, ctx, changes)
    db.commit()
    return {"items": items}


@router.delete("/settings/{attribute_type:path}")
def reset_setting(attribute_type: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """Put a type back on its built-in settings. Site admins."""
    lifecycle.change_settings(db, ctx, {attribute_type: None})
    out = lifecycle.get_setting(db, attribute_type)
    db.commit()
    return out


def _page(db: Any, ctx: Any, rows: list[Any], limit: int) -> dict[str, Any]:
    uuids = {a.event_id: u for a, u in rows}
    items = attributes_with_tags(db, ctx, [a for a, _ in rows], uuids)
    return {"items": items, "next": items[-1]["id"] if len(items) == limit else None}


@router.get("/expired")
def list_expired(ctx: CurrentCtx, db: ReadDB, after: After = 0, limit: Limit = 100) -> Any:
    """Attributes the lifecycle marked expired that the caller may read (keyset by id)."""
    return _page(db, ctx, lifecycle.list_expired(db, ctx, after=after, limit=limit), limit)


@router.get("/expiring")
def list_expiring(
    ctx: CurrentCtx,
    db: ReadDB,
    within_days: Annotated[float, Query(gt=0, le=36500)] = 7,
    to_ids: bool = False,
    after: After = 0,
    limit: Limit = 100,
) -> Any:
    """Live attributes the caller may read whose lifetime ends within `within_days`."""
    rows = lifecycle.list_expiring(
        db,
        ctx,
        within=timedelta(days=within_days),
        to_ids_only=to_ids,
        after=after,
        limit=limit,
    )
    return _page(db, ctx, rows, limit)


@router.post("/expire")
def expire(ctx: CurrentCtx, db: WriteDB, dry_run: bool = False) -> dict[str, Any]:
    """Run the expiry pass now (the scheduled job does the same). Site admins."""
    require(ctx, Permission.SITE_ADMIN)
    report = lifecycle.run_expiry(db, ctx.actor, dry_run=dry_run)
    if dry_run:
        db.rollback()
    else:
        db.commit()
    return {"expired": report.expired, "revived": report.revived, "dry_run": report.dry_run}
