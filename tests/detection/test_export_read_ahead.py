"""Sensor exports on PostgreSQL read their keyset pages one ahead in a thread: the pages
come out as a plain keyset read gives them, an error in the thread reaches the reader, and
closing the stream early ends the thread. SQLite reads them in the caller's thread."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from shieldwall.cli.common import admin_ctx
from shieldwall.detection.exports import indicators
from shieldwall.detection.exports.indicators import Indicator, Selection, stream_indicators
from shieldwall.intel.search import SearchFilter
from tests.conftest import Api


def _readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "export-read-ahead"]


@pytest.fixture
def many(admin: Api, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    values = [f"host{n}.read-ahead.example" for n in range(23)]
    attrs = [{"type": "domain", "value": v, "to_ids": True} for v in values]
    r = admin.post(
        "/api/v1/events", json={"info": "read ahead", "distribution": 1, "attributes": attrs}
    )
    assert r.status_code == 201, r.text
    assert admin.post(f"/api/v1/events/{r.json()['id']}/publish").status_code == 200
    monkeypatch.setattr(indicators, "BATCH", 5)  # 23 indicators: pages of 5, 5, 5, 5, 3
    return values


def _stream(instance: Any) -> tuple[Any, Any]:
    db = instance.db
    session = db.read_session()
    return session, stream_indicators(session, admin_ctx(db), Selection(SearchFilter()))


def test_pages_come_in_keyset_order(instance: Any, many: list[str]) -> None:
    session, pages = _stream(instance)
    try:
        got = list(pages)
    finally:
        session.close()
    assert [len(p) for p in got] == [5, 5, 5, 5, 3]
    flat: list[Indicator] = [i for p in got for i in p]
    assert [i.value1 for i in flat] == many
    assert [i.id for i in flat] == sorted(i.id for i in flat)
    assert not _readers()


def test_closing_early_ends_the_thread(instance: Any, many: list[str]) -> None:
    session, pages = _stream(instance)
    try:
        first = next(pages)
        assert [i.value1 for i in first] == many[:5]
        # PostgreSQL: the next page is being read by the thread; SQLite uses none.
        assert bool(_readers()) is (instance.db.dialect == "postgresql")
        pages.close()
    finally:
        session.close()
    assert not _readers()


def test_an_error_in_the_thread_reaches_the_reader(
    instance: Any, many: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = indicators.keyset_pages

    def failing(run: Any, query: Any, *args: Any) -> Any:
        pages = real(run, query, *args)
        yield next(pages)
        run(sa.select(sa.text("no_such_column FROM attributes")))

    monkeypatch.setattr(indicators, "keyset_pages", failing)
    session, pages = _stream(instance)
    try:
        assert len(next(pages)) == 5
        with pytest.raises(sa.exc.DBAPIError):
            next(pages)
    finally:
        session.close()
    assert not _readers()
