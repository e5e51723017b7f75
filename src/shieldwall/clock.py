"""The one place that reads the time, so tests can move it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from shieldwall.intel.errors import InvalidInput

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


_RELATIVE = re.compile(r"^([0-9]+)([smhdw])$")
_EPOCH = re.compile(r"^[0-9]+$")


def parse_time(value: str | int | float | None, field: str) -> datetime | None:
    """ISO 8601, epoch seconds, or a relative time like 7d / 12h / 30m (before now)."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    if isinstance(value, (int, float)) or _EPOCH.match(text):
        try:
            return datetime.fromtimestamp(int(value), UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidInput(f"{text!r} is out of range for a time", field=field) from None
    m = _RELATIVE.match(text)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
        try:
            return now() - timedelta(seconds=n * seconds)
        except OverflowError:
            raise InvalidInput(f"{text!r} reaches too far back", field=field) from None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not a time (ISO 8601, epoch seconds or 7d/12h/30m)", field=field
        ) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
