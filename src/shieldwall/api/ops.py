"""Audit log reading and chain verification, health and readiness."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Query

from shieldwall.api.deps import CurrentCtx, ReadDB
from shieldwall.api.responses import OrjsonResponse
from shieldwall.api.search import MAX_AFTER
from shieldwall.audit.models import AuditEntry
from shieldwall.audit.service import list_entries, verify
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
