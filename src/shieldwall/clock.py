"""The one place that reads the time, so tests can move it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    """Current time, UTC, timezone-aware, whole microseconds."""
    return _now()


def set_clock(fn: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests); None restores the real one."""
    global _now
    _now = fn if fn is not None else (lambda: datetime.now(UTC))


def to_epoch(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())
