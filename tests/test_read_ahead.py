"""read_ahead: items come in order, at most `depth` ahead, an error in the thread reaches
the caller, and closing early stops the thread and closes the source in it."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from shieldwall.read_ahead import read_ahead


def _alive(name: str) -> bool:
    return any(t.name == name for t in threading.enumerate())


def test_items_in_order_and_no_further_ahead_than_asked() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for n in range(10):
            produced.append(n)
            yield n

    items = read_ahead(source, depth=2, name="ra-order")
    assert next(items) == 0
    # The caller holds item 0: at most 2 wait in the queue and one more in the thread's hand.
    threading.Event().wait(0.3)
    assert len(produced) <= 4
    assert list(items) == list(range(1, 10))
    assert not _alive("ra-order")


def test_an_error_in_the_source_is_raised_to_the_caller() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise ValueError("broken source")

    items = read_ahead(source, depth=1, name="ra-error")
    assert next(items) == 1
    with pytest.raises(ValueError, match="broken source"):
        next(items)
    assert not _alive("ra-error")


def test_closing_early_stops_the_thread_and_closes_the_source() -> None:
    closed_in: list[str] = []

    def source() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed_in.append(threading.current_thread().name)

    items = read_ahead(source, depth=1, name="ra-close")
    assert [next(items), next(items)] == [0, 1]
    items.close()
    assert not _alive("ra-close")
    assert closed_in == ["ra-close"]
