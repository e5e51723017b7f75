"""Feeds in: CSV, freetext and MISP feeds from local files and a real HTTP server; their
management, status, schedule and the CLI."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from shieldwall.audit.models import AuditEntry
from shieldwall.cli.main import app as cli
from shieldwall.clock import set_clock
from shieldwall.context import system_ctx
from shieldwall.exchange import feeds as fs
from shieldwall.exchange.feed_models import Feed, FeedEventState
from shieldwall.intel.errors import Conflict, InvalidInput
from shieldwall.intel.models import Attribute, Event, EventTag, Tag
from shieldwall.jobs.feeds import feed_scheduler, run_due_feeds
from tests.feed_server import serve_directory


def _ctx(instance: Any) -> Any:
    return system_ctx(instance.host_org_id)


def _add(instance: Any, **kw: Any) -> int:
    kw.setdefault("enabled", True)
    with instance.db.writing() as s:
        return fs.create_feed(s, _ctx(instance), fs.FeedIn(**kw)).id


def _feed(instance: Any, feed_id: int) -> Feed:
    with instance.db.reading() as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None
        s.expunge(feed)
        return feed


def _live(instance: Any, event_id: int) -> dict[str, str]:
    with instance.db.reading() as s:
        rows = s.execute(
            sa.select(Attribute.value1, Attribute.type).where(
                Attribute.event_id == event_id, Attribute.deleted.is_(False)
            )
        ).all()
    return {v: t for v, t in rows}


def _events(instance: Any) -> list[Event]:
    with instance.db.reading() as s:
        return list(s.execute(sa.select(Event).order_by(Event.id)).scalars())


# ---------------------------------------------------------------- CSV and freetext


def test_csv_feed_columns_and_delta_merge(instance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "blocklist.csv"
    source.write_text(
        "indicator;kind;note\n"
        "203.0.113.1;ip-dst;c2\n"
        "evil.example.com;hostname;phishing\n"
        "not-an-ip;ip-dst;broken row\n"
        "# a comment line\n"
        "D41D8CD98F00B204E9800998ECF8427E;md5;dropper\n"
    )
    feed_id = _add(
        instance,
        name="csv blocklist",
        url=str(source),
        source_format="csv",
        csv_delimiter=";",
        csv_type_column=2,
        csv_skip_lines=1,
        delta_merge=True,
        distribution=1,
        tag="feed:blocklist",
    )
    first = fs.fetch_feed(instance.db, _ctx(instance), feed_id)
    assert (first.created, first.attributes_added, first.values_skipped) == (1, 3, 1), first
    feed = _feed(instance, feed_id)
    assert (feed.status, feed.last_error) == ("ok", "")
    assert feed.event_id is not None and feed.last_fetched_at is not None
    assert _live(instance, feed.event_id) == {
        "203.0.113.1": "ip-dst",
        "evil.example.com": "hostname",
        "d41d8cd98f00b204e9800998ecf8427e": "md5",
    }
    with instance.db.reading() as s:
        event = s.get(Event, feed.event_id)
        assert event is not None
        assert (event.info, event.distribution, event.org_id) == (
            "csv blocklist feed",
            1,
            instance.host_org_id,
        )
        tags = s.execute(
            sa.select(Tag.name).join(EventTag).where(EventTag.event_id == event.id)
        ).scalars()
        assert list(tags) == ["feed:blocklist"]

    # The source drops one value and adds one: the same event follows it.
    source.write_text(
        "indicator;kind;note\n203.0.113.1;ip-dst;c2\n203.0.113.2;ip-dst;new\n"
        "d41d8cd98f00b204e9800998ecf8427e;md5;dropper\n"
    )
    second = fs.fetch_feed(instance.db, _ctx(instance), feed_id)
    assert (second.created, second.updated) == (0, 1)
    assert (second.attributes_added, second.attributes_removed) == (1, 1)
    assert _feed(instance, feed_id).event_id == feed.event_id
    assert _live(instance, feed.event_id) == {
        "203.0.113.1": "ip-dst",
        "203.0.113.2": "ip-dst",
        "d41d8cd98f00b204e9800998ecf8427e": "md5",
    }
    third = fs.fetch_feed(instance.db, _ctx(instance), feed_id)
    assert (third.unchanged, third.attributes_added, third.attributes_removed) == (1, 0, 0)
    assert len(_events(instance)) == 1


def test_csv_feed_types_detected_or_given(instance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "mixed.csv"
    source.write_text(
        "first_seen,value\n2026-01-01,hxxp://bad[.]example[.]net/x\n2026-01-02,198.51.100.4\n"
        "2026-01-03,bad.example.org\n"
    )
    detected = _add(
        instance, name="detected", url=str(source), source_format="csv", csv_value_column=2
    )
    report = fs.fetch_feed(instance.db, _ctx(instance), detected)
    assert report.attributes_added == 3, report
    event_id = _feed(instance, detected).event_id
    assert event_id is not None
    assert _live(instance, event_id) == {
        "http://bad.example.net/x": "url",
        "198.51.100.4": "ip-dst",
        "bad.example.org": "hostname",
    }
    fixed = _add(
        instance,
        name="given",
        url=str(source),
        source_format="csv",
        csv_value_column=2,
        csv_skip_lines=1,
        default_type="text",
        override_ids=True,
    )
    fs.fetch_feed(instance.db, _ctx(instance), fixed)
    event_id = _feed(instance, fixed).event_id
    assert event_id is not None
    with instance.db.reading() as s:
        rows = s.execute(
            sa.select(Attribute.type, Attribute.to_ids).where(Attribute.event_id == event_id)
        ).all()
    assert sorted(rows) == [("text", False)] * 3


def test_freetext_feed_over_http_new_event_each_fetch(instance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "www"
    root.mkdir()
    (root / "iocs.txt").write_text(
        "Today's campaign: 203.0.113.80, hxxp://dl[.]example[.]com/a.exe\nand bad@example.net\n"
    )
    with serve_directory(root) as (base, requested):
        feed_id = _add(
            instance,
            name="freetext over http",
            url=f"{base}/iocs.txt",
            source_format="freetext",
            fixed_event=False,
            publish=True,
        )
        first = fs.fetch_feed(instance.db, _ctx(instance), feed_id)
        second = fs.fetch_feed(instance.db, _ctx(instance), feed_id)
    assert requested == ["/iocs.txt", "/iocs.txt"]
    assert (first.created, first.attributes_added) == (1, 3)
    assert (second.created, second.attributes_added) == (1, 3)
    events = _events(instance)
    assert len(events) == 2 and all(e.published for e in events)
    assert _live(instance, events[1].id) == {
        "203.0.113.80": "ip-dst",
        "http://dl.example.com/a.exe": "url",
        "bad@example.net": "email-src",
    }
    assert _feed(instance, feed_id).event_id is None


# ---------------------------------------------------------------- MISP feeds


def _misp_event(event_uuid: str, info: str, values: list[tuple[str, str]], ts: int) -> dict:  # type: ignore[type-arg]
    return {
        "Event": {
            "uuid": event_uuid,
            "info": info,
            "date": "2026-11-01",
            "threat_level_id": "2",
            "analysis": "1",
            "published": True,
            "timestamp": str(ts),
            "Orgc": {"name": "FEED-SOURCE-ORG", "uuid": "7f4c3c7e-58e9-4d30-9e7b-0b3c2b5d3a11"},
            "Tag": [{"name": "tlp:green", "colour": "#339900"}],
            "Attribute": [
                {
                    "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{event_uuid}/{v}")),
                    "type": t,
                    "category": "Network activity",
                    "value": v,
                    "to_ids": True,
                    "timestamp": str(ts),
                }
                for t, v in values
            ],
        }
    }


def _write_misp_feed(root: Path, events: list[dict]) -> None:  # type: ignore[type-arg]
    manifest = {}
    for doc in events:
        e = doc["Event"]
        (root / f"{e['uuid']}.json").write_bytes(orjson.dumps(doc))
        manifest[e["uuid"]] = {"info": e["info"], "timestamp": int(e["timestamp"])}
    (root / "manifest.json").write_bytes(orjson.dumps(manifest))


def test_misp_feed_failed_event_is_rolled_back_and_retried(instance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "misp-feed"
    root.mkdir()
    good, bad = str(uuid.uuid4()), str(uuid.uuid4())
    broken = _misp_event(bad, "bad", [("domain", "fine.example.com"), ("ip-dst", "nope")], 1000)
    _write_misp_feed(root, [_misp_event(good, "good", [("domain", "a.example.com")], 1000), broken])
    feed_id = _add(instance, name="local misp", url=str(root), distribution=1)
    report = fs.fetch_feed(instance.db, _ctx(instance), feed_id)
    assert (report.created, report.failed) == (1, 1), report
    assert bad in report.errors[0] and "value" in report.errors[0]
    feed = _feed(instance, feed_id)
    assert feed.status == "partial" and bad in feed.last_error
    # Nothing of the failed event was kept: no event, no attribute.
    assert [e.uuid for e in _events(instance)] == [good]
    with instance.db.reading() as s:
        assert (
            s.execute(sa.select(Attribute.id).where(Attribute.value1 == "fine.example.com")).first()
            is None
        )
        orgc = s.execute(sa.select(Event).where(Event.uuid == good)).scalar_one().orgc
        assert orgc.name == "FEED-SOURCE-ORG" and orgc.local is False
    # The source fixes the event (newer timestamp): only that one is read again.
    fixed = _misp_event(bad, "bad, fixed", [("domain", "fine.example.com")], 2000)
    _write_misp_feed(root, [_misp_event(good, "good", [("domain", "a.example.com")], 1000), fixed])
    (root / f"{good}.json").write_text("not read again")
    again = fs.fetch_feed(instance.db, _ctx(instance), feed_id)
    assert (again.created, again.updated, again.unchanged, again.failed) == (1, 0, 1, 0), again
    assert _feed(instance, feed_id).status == "ok"
    with instance.db.reading() as s:
        states = dict(
            s.execute(
                sa.select(FeedEventState.event_uuid, FeedEventState.timestamp).where(
                    FeedEventState.feed_id == feed_id
                )
            ).all()
        )
    assert states == {good: 1000, bad: 2000}


def test_unreadable_feed_is_recorded_not_raised(instance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "empty"
    root.mkdir()
    with serve_directory(root) as (base, _):
        feed_id = _add(instance, name="nothing there", url=base, source_format="misp")
        report = fs.fetch_feed(instance.db, _ctx(instance), feed_id)
    assert report.created == 0 and "manifest.json: HTTP 404" in report.errors[0]
    feed = _feed(instance, feed_id)
    assert feed.status == "failed" and "HTTP 404" in feed.last_error
    assert feed.fetch_started_at is None
    (root / "manifest.json").write_text("[1, 2]")
    local = _add(instance, name="bad manifest", url=str(root))
    fs.fetch_feed(instance.db, _ctx(instance), local)
    assert "not a JSON object" in _feed(instance, local).last_error


def test_disabled_and_busy_feeds_are_refused(instance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "list.txt"
    source.write_text("203.0.113.3\n")
    feed_id = _add(instance, name="refused", url=str(source), source_format="freetext")
    with instance.db.writing() as s:
        fs.set_enabled(s, _ctx(instance), feed_id, False)
    with pytest.raises(Conflict, match="disabled"):
        fs.fetch_feed(instance.db, _ctx(instance), feed_id)
    started = datetime.now(UTC) - timedelta(minutes=5)
    with instance.db.writing() as s:
        fs.set_enabled(s, _ctx(instance), feed_id, True)
        s.execute(
            sa.update(Feed)
            .where(Feed.id == feed_id)
            .values(status="fetching", fetch_started_at=started)
        )
    with pytest.raises(Conflict, match="being fetched"):
        fs.fetch_feed(instance.db, _ctx(instance), feed_id)
    # A fetch that died long ago no longer holds the feed.
    with instance.db.writing() as s:
        s.execute(
            sa.update(Feed)
            .where(Feed.id == feed_id)
            .values(fetch_started_at=started - timedelta(hours=3))
        )
    assert fs.fetch_feed(instance.db, _ctx(instance), feed_id).attributes_added == 1


def test_scheduled_feeds_are_fetched_when_due(instance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "scheduled.txt"
    source.write_text("203.0.113.4\n")
    every_ten = _add(
        instance, name="every ten", url=str(source), source_format="freetext", schedule_minutes=10
    )
    _add(instance, name="by hand", url=str(source), source_format="freetext")
    _add(
        instance,
        name="off",
        url=str(source),
        source_format="freetext",
        schedule_minutes=1,
        enabled=False,
    )
    t0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    clock = {"now": t0}
    set_clock(lambda: clock["now"])
    try:
        assert [r.name for r in run_due_feeds(instance.db)] == ["every ten"]
        assert run_due_feeds(instance.db) == []
        clock["now"] = t0 + timedelta(minutes=9)
        assert run_due_feeds(instance.db) == []
        clock["now"] = t0 + timedelta(minutes=10)
        # The server's scheduler task runs the same in a worker thread.
        stop = threading.Event()

        async def run_once() -> None:
            task = asyncio.create_task(feed_scheduler(interval=0.01, stop=stop))
            for _ in range(500):
                await asyncio.sleep(0.01)
                if _feed(instance, every_ten).last_fetched_at == clock["now"]:
                    break
            stop.set()
            await asyncio.wait_for(task, timeout=10)

        asyncio.run(run_once())
        assert _feed(instance, every_ten).last_fetched_at == clock["now"]
    finally:
        set_clock(None)
    with instance.db.reading() as s:
        fetched_by = s.execute(
            sa.select(AuditEntry.title).where(
                AuditEntry.model == "Feed", AuditEntry.action == "fetch"
            )
        ).scalars()
        assert list(fetched_by) == ["every ten", "every ten"]
        # A second scheduler that found the feed due before the first fetched it does not
        # fetch it again.
        seen_before = fs._conf(fs.get_feed(s, _ctx(instance), every_ten))
    assert fs._claim(instance.db, seen_before, unchanged_since_read=True) is True
    with instance.db.writing() as s:
        s.execute(
            sa.update(Feed)
            .where(Feed.id == every_ten)
            .values(status="ok", last_fetched_at=datetime.now(UTC))
        )
    assert fs._claim(instance.db, seen_before, unchanged_since_read=True) is False


def test_the_server_runs_the_scheduler(instance, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from shieldwall.app import create_app
    from shieldwall.config import get_settings
    from shieldwall.jobs import feeds as jobs

    source = tmp_path / "served.txt"
    source.write_text("203.0.113.5\n")
    feed_id = _add(
        instance, name="scheduled", url=str(source), source_format="freetext", schedule_minutes=5
    )
    monkeypatch.setattr(jobs, "INTERVAL", 0.05)
    monkeypatch.setenv("SHIELDWALL_FEED_SCHEDULER", "true")  # the suite runs with it off
    get_settings.cache_clear()
    try:
        with TestClient(create_app()) as client:
            assert client.get("/healthz").status_code == 200
            for _ in range(200):
                if _feed(instance, feed_id).status == "ok":
                    break
                time.sleep(0.05)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert _feed(instance, feed_id).status == "ok"


def test_feed_management_checks_input_and_is_audited(instance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ctx = _ctx(instance)
    good = tmp_path / "f.csv"
    good.write_text("x\n")

    def refused(field: str, **kw: Any) -> None:
        kw.setdefault("name", "x")
        kw.setdefault("url", str(good))
        kw.setdefault("source_format", "csv")
        with instance.db.writing() as s, pytest.raises((InvalidInput, Conflict)) as exc:
            fs.create_feed(s, ctx, fs.FeedIn(**kw))
        assert exc.value.field == field, exc.value.detail

    refused("url", url="ftp://example.com/feed")
    refused("url", url="relative/path.csv")
    refused("url", url=str(tmp_path / "missing.csv"))
    refused("url", url=str(good), source_format="misp")
    refused("distribution", distribution=5)
    refused("sharing_group", distribution=4)
    refused("default_type", default_type="no-such-type")
    feed_id = _add(instance, name="managed", url=str(good), source_format="csv")
    refused("name", name="managed")
    with instance.db.writing() as s:
        fs.update_feed(
            s, ctx, "managed", fs.FeedUpdate(provider="CERT-X", schedule_minutes=60, tag="osint")
        )
    feed = _feed(instance, feed_id)
    assert (feed.provider, feed.schedule_minutes, feed.enabled) == ("CERT-X", 60, True)
    with instance.db.writing() as s:
        assert fs.delete_feed(s, ctx, feed_id) == feed_id
    with instance.db.reading() as s:
        assert s.get(Feed, feed_id) is None
        actions = s.execute(
            sa.select(AuditEntry.action).where(AuditEntry.model == "Feed").order_by(AuditEntry.id)
        ).scalars()
        assert list(actions) == ["create", "update", "delete"]


def test_cli_feed_add_list_fetch(instance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "cli.csv"
    source.write_text("value\n198.51.100.200\n198.51.100.201\n")

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, list(args), env={"COLUMNS": "250"})

    r = run(
        "feed", "add", "cli feed", str(source), "--format", "csv", "--skip-lines", "1",
        "--default-type", "ip-src", "--schedule", "30",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    r = run("feed", "list")
    assert r.exit_code == 0 and "cli feed" in r.stdout and "30 min" in r.stdout
    assert "never" in r.stdout
    r = run("feed", "fetch", "cli feed")
    assert r.exit_code == 0, r.output
    assert "1 events created" in r.stdout and "2 attributes added" in r.stdout
    r = run("feed", "fetch", "--due")
    assert r.exit_code == 0 and "none is due" in r.stdout
    r = run("feed", "fetch", "--all")
    assert r.exit_code == 0 and "1 unchanged" in r.stdout
    assert run("feed", "fetch").exit_code == 1
    r = run("feed", "fetch", "no such feed")
    assert r.exit_code == 2 and "not found" in r.output
    assert run("feed", "disable", "cli feed").exit_code == 0
    r = run("feed", "fetch", "cli feed")
    assert r.exit_code == 2 and "disabled" in r.output
    assert run("feed", "delete", "cli feed").exit_code == 0


def test_settings_turn_off_the_scheduler_and_local_feeds(
    instance, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from shieldwall.app import create_app
    from shieldwall.config import get_settings
    from shieldwall.jobs import feeds as jobs

    source = tmp_path / "served.txt"
    source.write_text("203.0.113.6\n")
    feed_id = _add(
        instance,
        name="not scheduled",
        url=str(source),
        source_format="freetext",
        schedule_minutes=5,
    )
    monkeypatch.setattr(jobs, "INTERVAL", 0.05)
    monkeypatch.setenv("SHIELDWALL_FEED_SCHEDULER", "false")
    monkeypatch.setenv("SHIELDWALL_LOCAL_FEEDS", "false")
    get_settings.cache_clear()
    try:
        with TestClient(create_app()) as client:
            assert client.get("/healthz").status_code == 200
            time.sleep(0.5)  # ten scheduler intervals: a running scheduler would have fetched
        assert _feed(instance, feed_id).status != "ok"
        with pytest.raises(InvalidInput) as refused:
            _add(instance, name="local", url=str(source), source_format="freetext")
        assert refused.value.field == "url" and "SHIELDWALL_LOCAL_FEEDS" in refused.value.detail
    finally:
        get_settings.cache_clear()
