"""Audit log reading and chain verification, server settings, health and readiness."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from shieldwall import server_settings
from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.api.responses import OrjsonResponse
from shieldwall.api.search import MAX_AFTER
from shieldwall.audit.models import AuditEntry
from shieldwall.audit.service import list_entries, verify
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.db.engine import get_database
from shieldwall.db.migrate import is_current
from shieldwall.intel.errors import Forbidden
from shieldwall.intel.serialize import iso

router = APIRouter()
health = APIRouter()


def entry_out(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "created_at": iso(e.created_at),
        "user_id": e.user_id,
        "org_id": e.org_id,
        "api_key_id": e.api_key_id,
        "ip": e.ip,
        "request_id": e.request_id,
        "action": e.action,
        "model": e.model,
        "model_id": e.model_id,
        "model_uuid": e.model_uuid,
        "title": e.title,
        "change": e.change,
        "hash": e.hash,
        "prev_hash": e.prev_hash,
    }


@router.get("/audit", tags=["audit"])
def list_audit(
    ctx: CurrentCtx,
    db: ReadDB,
    after: int = Query(0, ge=0, le=MAX_AFTER),
    limit: int = Query(100, ge=1, le=1000),
    model: str | None = None,
    action: str | None = None,
    user_id: int | None = None,
) -> dict[str, Any]:
    entries = list_entries(
        db, ctx.principal, after=after, limit=limit, model=model, action=action, user_id=user_id
    )
    items = [entry_out(e) for e in entries]
    return {"items": items, "next": items[-1]["id"] if len(items) == limit else None}


@router.get("/audit/verify", tags=["audit"])
def verify_audit(ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    if not ctx.principal.is_site_admin:
        raise Forbidden("verifying the audit chain needs admin:site:manage")
    r = verify(db)
    return {"ok": r.ok, "checked": r.checked, "first_bad_id": r.first_bad_id, "reason": r.reason}


def setting_out(i: server_settings.SettingInfo) -> dict[str, Any]:
    return {
        "name": i.name,
        "environment_variable": i.env,
        "value": i.value,
        "source": i.source,
        "runtime": i.runtime,
        "restart_reason": i.reason,
    }


class SettingValue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: Any = Field(description="the new value, as the setting's type")


@router.get("/settings", tags=["settings"])
def list_settings(ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    """Every setting: the value in force and where it comes from (default, environment,
    database), and whether it changes at runtime."""
    require(ctx, Permission.SITE_ADMIN)
    return {"items": [setting_out(i) for i in server_settings.describe(db)]}


@router.get("/settings/{name}", tags=["settings"])
def get_setting(name: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    require(ctx, Permission.SITE_ADMIN)
    return setting_out(server_settings.info(db, name))


@router.put("/settings/{name}", tags=["settings"])
def put_setting(name: str, body: SettingValue, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """Change a runtime setting (stored in the database, audited, in force at once here and
    within a few seconds in every other process); others answer 409 with the reason."""
    server_settings.set_value(db, ctx, name, body.value)
    db.commit()
    return setting_out(server_settings.info(db, name))


@router.delete("/settings/{name}", tags=["settings"])
def reset_setting(name: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """Drop the runtime value: the environment's value (or the default) applies again."""
    server_settings.reset_value(db, ctx, name)
    db.commit()
    return setting_out(server_settings.info(db, name))


@health.get("/healthz", tags=["operations"], include_in_schema=True)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@health.get("/readyz", tags=["operations"])
def readyz() -> OrjsonResponse:
    try:
        engine = get_database().engine
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        current = is_current(engine)
    except Exception as exc:  # readiness reports any database failure as not ready
        return OrjsonResponse(
            {"status": "unavailable", "detail": type(exc).__name__}, status_code=503
        )
    if not current:
        return OrjsonResponse({"status": "migrations pending"}, status_code=503)
    return OrjsonResponse({"status": "ready"})
