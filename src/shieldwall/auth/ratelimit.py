"""Failure counters per client address, kept in the database so every process shares them:
guessing API keys or passwords from one address is refused after a limit per window."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from shieldwall.clock import now
from shieldwall.config import Settings
from shieldwall.db.base import Base, UTCDateTime
from shieldwall.db.engine import Database
from shieldwall.intel.errors import TooManyRequests


class FailureWindow(Base):
    __tablename__ = "auth_failures"

    key: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(default=0)


def record_failure(db: Database, key: str, window_seconds: int) -> None:
    """Count one failure for key, in its own short transaction."""
    t = now()
    table = FailureWindow.__table__
    assert isinstance(table, sa.Table)
    insert = (sqlite.insert if db.is_sqlite else postgresql.insert)(table)
    stale = table.c.window_start < t - timedelta(seconds=window_seconds)
    stmt = insert.values(key=key, window_start=t, count=1).on_conflict_do_update(
        index_elements=[table.c.key],
        set_={
            "count": sa.case((stale, 1), else_=table.c["count"] + 1),
            "window_start": sa.case((stale, t), else_=table.c.window_start),
        },
    )
    with db.engine.begin() as conn:
        conn.execute(stmt)


def blocked_for(db: Database, key: str, limit: int, window_seconds: int) -> int:
    """Seconds until key may try again; 0 when not blocked."""
    with db.engine.connect() as conn:
        row = conn.execute(
            sa.select(FailureWindow.window_start, FailureWindow.count).where(
                FailureWindow.key == key
            )
        ).first()
    if row is None:
        return 0
    window_start, failures = row  # by position: Row.count is tuple's method, not the column
    if failures < limit:
        return 0
    ends = window_start + timedelta(seconds=window_seconds)
    remaining = int((ends - now()).total_seconds())
    return max(remaining, 0)


def _address_key(ip: str | None) -> str:
    return f"auth:{ip or 'unknown'}"


def guard_address(db: Database, ip: str | None, settings: Settings) -> None:
    """Refuse an address that failed authentication too often in the current window."""
    wait = blocked_for(
        db, _address_key(ip), settings.auth_failure_limit, settings.auth_failure_window_seconds
    )
    if wait:
        raise TooManyRequests(
            f"too many failed authentication attempts from this address; retry in {wait} s",
            retry_after=wait,
        )


def note_failure(db: Database, ip: str | None, settings: Settings) -> None:
    """Count one failed authentication from the address."""
    record_failure(db, _address_key(ip), settings.auth_failure_window_seconds)
