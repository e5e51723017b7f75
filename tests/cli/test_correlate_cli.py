"""`shieldwall correlate`, run in-process against the test database: rebuild (counts that
match the data, a stale index made whole), stats (--json figures), exclude / include /
exclusions and their effect on the next read."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from typing import Any

import ppdeep
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from shieldwall.audit.models import AuditEntry
from shieldwall.cli.main import app as cli
from shieldwall.config import get_settings
from shieldwall.correlation.models import (
    CorrelationExclusion,
    CorrelationNetwork,
    CorrelationSsdeep,
)
from shieldwall.db.engine import get_database

REBUILT = re.compile(
    r"indexed (\d+) IP attributes and (\d+) ssdeep hashes \((\d+) chunks\) in [\d.]+ s"
)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "250"})


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def cli_db(instance) -> Any:
    assert get_database() is instance.db
    return instance


def _ssdeeps(seed: int) -> tuple[str, str]:
    rng = random.Random(seed)
    base = bytearray(rng.getrandbits(8) for _ in range(8000))
    first = ppdeep.hash(bytes(base))
    for _ in range(5):
        base[rng.randrange(len(base))] = rng.getrandbits(8)
    return first, ppdeep.hash(bytes(base))


def _event(api: Any, info: str, *attrs: Any, **fields: Any) -> dict[str, Any]:
    attributes = [a if isinstance(a, dict) else {"type": a[0], "value": a[1]} for a in attrs]
    r = api.post("/api/v1/events", json={"info": info, **fields, "attributes": attributes})
    assert r.status_code == 201, r.text
    return r.json()


def _pairs(api: Any, event: dict[str, Any]) -> set[tuple[str, str, int]]:
    r = api.get(f"/api/v1/events/{event['id']}/correlations")
    assert r.status_code == 200, r.text
    return {
        (c["attribute"]["value"], c["kind"], c["related"]["event"]["id"])
        for c in r.json()["correlations"]
    }


def _count(instance: Any, model: Any) -> int:
    with instance.db.reading() as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


# ---------------------------------------------------------------- rebuild


def test_rebuild_counts_match_the_data_and_restore_a_stale_index(cli_db, admin) -> None:
    h1, h2 = _ssdeeps(3)
    first = _event(
        admin,
        "first",
        ("ip-dst", "10.1.2.3"),
        ("ip-src", "2001:db8::5"),
        ("ip-dst|port", "10.1.2.4|443"),
        ("ssdeep", h1),
        ("domain", "not-indexed.example"),
        ("md5", "d41d8cd98f00b204e9800998ecf8427e"),
    )
    second = _event(
        admin,
        "second",
        ("ip-dst", "10.1.2.0/24"),
        ("ip-src", "2001:db8::/32"),
        ("ssdeep", h2),
        # Indexed whatever its flags: the flags are applied when reading.
        {"type": "ip-dst", "value": "172.16.0.1", "disable_correlation": True},
    )
    networks = _count(cli_db, CorrelationNetwork)
    chunks = _count(cli_db, CorrelationSsdeep)
    assert networks == 6  # every IP attribute, as written
    assert chunks > 0
    expected = {
        ("10.1.2.3", "cidr", second["id"]),
        ("10.1.2.4", "cidr", second["id"]),
        ("2001:db8::5", "cidr", second["id"]),
        (h1, "ssdeep", second["id"]),
    }
    assert _pairs(admin, first) == expected

    # A stale index (emptied behind the application's back) loses the advanced correlations.
    with cli_db.db.writing() as s:
        s.execute(sa.delete(CorrelationNetwork))
        s.execute(sa.delete(CorrelationSsdeep))
    assert _pairs(admin, first) == set()

    r = run("correlate", "rebuild")
    assert r.exit_code == 0, r.output
    m = REBUILT.search(flat(r.stdout))
    assert m is not None, r.stdout
    assert (int(m.group(1)), int(m.group(2)), int(m.group(3))) == (6, 2, chunks)
    assert _count(cli_db, CorrelationNetwork) == networks
    assert _count(cli_db, CorrelationSsdeep) == chunks
    with cli_db.db.reading() as s:
        hashes = s.scalar(sa.select(sa.func.count(sa.distinct(CorrelationSsdeep.attribute_id))))
    assert hashes == 2
    assert _pairs(admin, first) == expected

    # Rebuilding again changes nothing.
    again = run("correlate", "rebuild")
    assert again.exit_code == 0, again.output
    m2 = REBUILT.search(flat(again.stdout))
    assert m2 is not None and m2.groups()[:3] == m.groups()[:3]
    assert _count(cli_db, CorrelationNetwork) == networks


def test_rebuild_on_an_empty_instance(cli_db) -> None:
    r = run("correlate", "rebuild")
    assert r.exit_code == 0, r.output
    m = REBUILT.search(flat(r.stdout))
    assert m is not None and m.groups()[:3] == ("0", "0", "0"), r.stdout


# ---------------------------------------------------------------- stats


def _stats(*extra: str) -> dict[str, Any]:
    r = run("correlate", "stats", "--json", *extra)
    assert r.exit_code == 0, r.output
    return dict(json.loads(r.stdout))


def test_stats_json_figures(cli_db, admin) -> None:
    h1, _ = _ssdeeps(5)
    _event(
        admin,
        "one",
        ("domain", "top.example"),
        ("domain", "mid.example"),
        ("ip-dst", "192.0.2.1"),
        ("ssdeep", h1),
        ("comment", "top.example"),  # never correlates: not counted
    )
    _event(admin, "two", ("domain", "top.example"), ("domain", "mid.example"))
    three = _event(
        admin,
        "three",
        ("domain", "top.example"),
        ("ip-dst", "192.0.2.0/24"),
        {"type": "domain", "value": "mid.example", "disable_correlation": True},
        ("domain", "gone.example"),
    )
    gone = next(a for a in three["attributes"] if a["value"] == "gone.example")
    assert admin.delete(f"/api/v1/attributes/{gone['id']}").status_code == 204
    for value in ("ignored.example", "%.ignored.example"):
        r = run("correlate", "exclude", value)
        assert r.exit_code == 0, r.output

    figures = _stats()
    assert set(figures) == {
        "correlating_attributes",
        "network_index_rows",
        "ssdeep_index_rows",
        "exclusions",
        "cap",
        "over_correlating_values",
        "most_shared",
    }
    # one: 4 (the comment does not correlate); two: 2; three: 2 (one flagged, one deleted).
    assert figures["correlating_attributes"] == 8
    assert figures["network_index_rows"] == 2
    assert figures["ssdeep_index_rows"] == _count(cli_db, CorrelationSsdeep) > 0
    assert figures["exclusions"] == 2
    assert figures["cap"] == get_settings().correlation_cap
    assert figures["over_correlating_values"] == 0
    assert figures["most_shared"] == [
        {"value": "top.example", "attributes": 3},
        {"value": "mid.example", "attributes": 2},
    ]
    assert _stats("--top", "1")["most_shared"] == [{"value": "top.example", "attributes": 3}]

    table = run("correlate", "stats")
    assert table.exit_code == 0, table.output
    text = flat(re.sub(r"[│┃]", " ", table.stdout))
    assert "correlating attributes 8" in text and "network index rows 2" in text
    assert "most shared values" in text and "top.example 3" in text


def test_stats_does_not_count_attributes_of_events_that_do_not_correlate(cli_db, admin) -> None:
    """An event with disable_correlation correlates with nothing (the engine's rule), so its
    attributes are no correlating attributes and share no value."""
    _event(admin, "correlates", ("domain", "twice.example"), ("domain", "once.example"))
    quiet = _event(
        admin, "quiet", ("domain", "twice.example"), ("ip-dst", "192.0.2.9"),
        disable_correlation=True,
    )  # fmt: skip
    assert quiet["disable_correlation"] is True
    assert _pairs(admin, quiet) == set()
    figures = _stats()
    assert figures["correlating_attributes"] == 2
    assert figures["most_shared"] == []


@pytest.fixture
def low_cap(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("SHIELDWALL_CORRELATION_CAP", "2")
    get_settings.cache_clear()
    yield 2
    monkeypatch.undo()
    get_settings.cache_clear()


def test_stats_counts_over_correlating_values(cli_db, admin, low_cap) -> None:
    for i in range(3):
        _event(admin, f"e{i}", ("domain", "popular.example"), ("domain", f"pair{i // 2}.example"))
    figures = _stats()
    assert figures["cap"] == low_cap
    # popular.example: 3 attributes > 2; pair0.example: exactly 2, not over.
    assert figures["over_correlating_values"] == 1
    assert figures["most_shared"][0] == {"value": "popular.example", "attributes": 3}


# ---------------------------------------------------------------- exclusions


def test_exclude_include_and_list(cli_db, admin) -> None:
    a = _event(admin, "a", ("domain", "cli-noise.example"), ("domain", "x.cdn.example"))
    b = _event(admin, "b", ("domain", "cli-noise.example"), ("domain", "x.cdn.example"))
    assert _pairs(admin, a) == {
        ("cli-noise.example", "exact", b["id"]),
        ("x.cdn.example", "exact", b["id"]),
    }

    r = run("correlate", "exclude", "cli-noise.example", "--comment", "scanner")
    assert r.exit_code == 0, r.output
    m = re.search(r"exclusion (\d+): cli-noise\.example", r.stdout)
    assert m is not None, r.stdout
    first = int(m.group(1))
    r = run("correlate", "exclude", "%.cdn.example")
    assert r.exit_code == 0, r.output
    second = int(re.search(r"exclusion (\d+):", r.stdout).group(1))  # type: ignore[union-attr]
    assert _pairs(admin, a) == set()
    assert _pairs(admin, b) == set()
    with cli_db.db.reading() as s:
        rows = s.execute(
            sa.select(
                CorrelationExclusion.id, CorrelationExclusion.value, CorrelationExclusion.comment
            ).order_by(CorrelationExclusion.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        (first, "cli-noise.example", "scanner"),
        (second, "%.cdn.example", ""),
    ]

    listed = run("correlate", "exclusions")
    assert listed.exit_code == 0, listed.output
    lines = [line for line in listed.stdout.splitlines() if "example" in line]
    assert len(lines) == 2
    assert re.search(rf"\b{first}\b.*cli-noise\.example.*scanner", lines[0])
    assert re.search(rf"\b{second}\b.*%\.cdn\.example", lines[1])
    # The native API lists the same exclusions.
    assert [x["id"] for x in admin.get("/api/v1/correlation-exclusions").json()] == [first, second]

    # Refused: a duplicate, only '%', blank; named by field, exit status 2.
    for bad in ("cli-noise.example", "%", "%%", "   "):
        r = run("correlate", "exclude", bad)
        assert r.exit_code == 2, (bad, r.output)
        assert "(value)" in flat(r.output), r.output
    r = run("correlate", "exclude", "y" * 1025)
    assert r.exit_code == 2 and "(value)" in flat(r.output), r.output
    assert _count(cli_db, CorrelationExclusion) == 2

    r = run("correlate", "include", str(first))
    assert r.exit_code == 0, r.output
    assert f"exclusion {first} removed" in r.stdout
    assert _pairs(admin, a) == {("cli-noise.example", "exact", b["id"])}
    r = run("correlate", "include", str(first))
    assert r.exit_code == 2 and "(id)" in flat(r.output), r.output
    r = run("correlate", "include", str(second))
    assert r.exit_code == 0, r.output
    assert _pairs(admin, a) == {
        ("cli-noise.example", "exact", b["id"]),
        ("x.cdn.example", "exact", b["id"]),
    }
    empty = run("correlate", "exclusions")
    assert empty.exit_code == 0 and "example" not in empty.stdout

    with cli_db.db.reading() as s:
        audit = s.execute(
            sa.select(AuditEntry.action, AuditEntry.model_id, AuditEntry.title)
            .where(AuditEntry.model == "CorrelationExclusion")
            .order_by(AuditEntry.id)
        ).all()
    assert [tuple(r) for r in audit] == [
        ("create", first, "cli-noise.example"),
        ("create", second, "%.cdn.example"),
        ("delete", first, "cli-noise.example"),
        ("delete", second, "%.cdn.example"),
    ]
