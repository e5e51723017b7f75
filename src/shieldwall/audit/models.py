"""The audit entry table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from shieldwall.db.base import Base, UTCDateTime


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_model_model_id", "model", "model_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    user_id: Mapped[int | None] = mapped_column(default=None, index=True)
    org_id: Mapped[int | None] = mapped_column(default=None, index=True)
    api_key_id: Mapped[int | None] = mapped_column(default=None)
    ip: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    request_id: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    action: Mapped[str] = mapped_column(sa.String(64))
    model: Mapped[str] = mapped_column(sa.String(64))
    model_id: Mapped[int | None] = mapped_column(default=None)
    model_uuid: Mapped[str | None] = mapped_column(sa.String(36), default=None)
    title: Mapped[str] = mapped_column(sa.Text, default="")
    change: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


class AuditHead(Base):
    """The chain's newest entry, sealed with a MAC keyed by the instance secret: removing the
    newest entries (which no later hash covers) is detected, and a database-only attacker
    cannot move the seal."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_id: Mapped[int]
    last_hash: Mapped[str] = mapped_column(sa.String(64))
    mac: Mapped[str] = mapped_column(sa.String(64))
