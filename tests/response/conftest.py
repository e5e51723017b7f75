"""Fixtures of response tests: a clock the test moves, and the hunt world (two
organisations with a sensor each)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from shieldwall.clock import set_clock
from tests.detection.conftest import world  # noqa: F401


class Clock:
    """Every service reads the time through shieldwall.clock.now(): this one stands still
    until the test moves it."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def move(self, **kw: float) -> None:
        self.at += timedelta(**kw)


@pytest.fixture
def clock() -> Iterator[Clock]:
    c = Clock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    set_clock(c)
    yield c
    set_clock(None)
