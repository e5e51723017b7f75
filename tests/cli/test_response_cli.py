"""The incident-response commands (`response run`, `alert`, `case`, `constituency`, `sla`,
`team`, `roster`, `oncall`, `webhook`), run in-process against the test database: the rows
they write, what they print, their audit entries, and bad input ending in one `error:`
line naming the field with exit status 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from shieldwall.audit.models import AuditEntry
from shieldwall.auth.models import Organisation
from shieldwall.cli.main import app as cli
from shieldwall.clock import set_clock
from shieldwall.db.engine import get_database
from shieldwall.response.models import (
    Alert,
    AlertObservable,
    ConstituencyEntry,
    Roster,
    RosterShift,
    SlaPolicy,
    Team,
    TeamMember,
    Webhook,
)
from shieldwall.response.notify import open_secret


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "250"})


def flat(text: str) -> str:
    return " ".join(text.split())


def refused(r: Result, field: str) -> str:
    """Bad input: exit status 2 and one `error:` line ending with the field."""
    assert r.exit_code == 2, r.output
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].endswith(f"({field})"), r.output
    return errors[0]


def cells(r: Result) -> list[list[str]]:
    """The rows of the table printed, each a list of its cells (lines of a wrapped cell
    are separate rows)."""
    assert r.exit_code == 0, r.output
    return [
        [c.strip() for c in line.strip().strip("│").split("│")]
        for line in r.stdout.splitlines()
        if line.startswith("│")
    ]


def json_lines(r: Result) -> list[dict[str, Any]]:
    assert r.exit_code == 0, r.output
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def move(self, **kw: float) -> None:
        self.at += timedelta(**kw)


@pytest.fixture
def cli_db(instance) -> Any:  # type: ignore[no-untyped-def]
    assert get_database() is instance.db
    return instance


@pytest.fixture
def clock() -> Iterator[Clock]:
    c = Clock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    set_clock(c)
    yield c
    set_clock(None)


def _count(db: Any, model: Any) -> int:
    with db.reading() as s:
        return int(s.execute(sa.select(sa.func.count()).select_from(model)).scalar_one())


def _audit(db: Any, model: str) -> list[tuple[str, int | None, int | None]]:
    """(action, actor user id, actor organisation id) of a model's audit entries."""
    with db.reading() as s:
        return [
            (a, u, o)
            for a, u, o in s.execute(
                sa.select(AuditEntry.action, AuditEntry.user_id, AuditEntry.org_id)
                .where(AuditEntry.model == model)
                .order_by(AuditEntry.id)
            ).all()
        ]


def _org_id(db: Any, name: str) -> int:
    with db.reading() as s:
        return int(
            s.execute(sa.select(Organisation.id).where(Organisation.name == name)).scalar_one()
        )


# ---------------------------------------------------------------- alerts


def test_alert_send_as_host_and_as_a_user_and_the_queue(cli_db, make_user) -> None:  # type: ignore[no-untyped-def]
    db = cli_db.db
    member = make_user("CERT-A", "user")
    reader = make_user("CERT-A", "read_only")

    r = run(
        "alert",
        "send",
        "--source",
        "siem",
        "--ref",
        "42",
        "--title",
        "[/x] worm seen",
        "--severity",
        "high",
        "--tag",
        "worm",
        "--observable",
        "ip-dst=192.0.2.1",
        "--observable",
        "domain=Evil.Example",
    )
    assert r.exit_code == 0, r.output
    # A title with Rich's markup in it prints as it is.
    assert "created" in r.stdout and "[/x] worm seen" in r.stdout
    with db.reading() as s:
        alert = s.execute(sa.select(Alert)).scalar_one()
        assert (alert.org_id, alert.source, alert.source_ref, alert.severity, alert.count) == (
            cli_db.host_org_id,
            "siem",
            "42",
            "high",
            1,
        )
        assert alert.tags == ["worm"]
        observed = sorted(
            (o.type, o.value)
            for o in s.execute(
                sa.select(AlertObservable).where(AlertObservable.alert_id == alert.id)
            ).scalars()
        )
    assert observed == [("domain", "evil.example"), ("ip-dst", "192.0.2.1")]
    host_alert = alert.id

    again = run("alert", "send", "--source", "siem", "--ref", "42", "--title", "worm seen")
    assert again.exit_code == 0 and f"alert {host_alert} seen again: count 2" in again.stdout
    assert _count(db, Alert) == 1

    mine = json_lines(
        run(
            "alert",
            "send",
            "--source",
            "edr",
            "--ref",
            "7",
            "--title",
            "phish",
            "--as",
            member.email,
            "--json",
        )
    )[0]
    assert mine["org_id"] == member.org_id and mine["severity"] == "medium"
    assert _audit(db, "Alert") == [
        ("create", None, cli_db.host_org_id),
        ("repeat", None, cli_db.host_org_id),
        ("create", member.user_id, member.org_id),
    ]

    # Refusals: nothing written, one line naming the field.
    before = _count(db, Alert)
    r = run("alert", "send", "--source", "x", "--ref", "1", "--title", "t", "--as", reader.email)
    assert r.exit_code == 2
    assert r.output.strip() == "error: this needs the permission response:alert:create"
    refused(
        run("alert", "send", "--source", "x", "--ref", "1", "--title", "t", "--as", "no@one.test"),
        "user",
    )
    refused(
        run("alert", "send", "--source", "x", "--ref", "1", "--title", "t", "--severity", "huge"),
        "severity",
    )
    refused(
        run("alert", "send", "--source", "x", "--ref", "1", "--title", "t", "--observable", "x"),
        "observables[0]",
    )
    refused(
        run(
            "alert",
            "send",
            "--source",
            "x",
            "--ref",
            "1",
            "--title",
            "t",
            "--observable",
            "ip-dst=192.0.2.1",
            "--observable",
            "ip-dst=not-an-ip",
        ),
        "observables[1].value",
    )
    refused(
        run(
            "alert",
            "send",
            "--source",
            "x",
            "--ref",
            "1",
            "--title",
            "t",
            "--observable",
            "no-such-type=1",
        ),
        "observables[0].type",
    )
    assert _count(db, Alert) == before

    listed = run("alert", "list")
    assert listed.exit_code == 0, listed.output
    assert "2 alerts" in listed.stdout
    assert [row[:4] + row[5:] for row in cells(listed)] == [
        [str(mine["id"]), "CERT-A", "medium", "new", "phish", "1", "-"],
        [str(host_alert), "HOST-CERT", "high", "new", "[/x] worm seen", "2", "-"],
    ]
    rows = json_lines(run("alert", "list", "--json"))
    assert [a["id"] for a in rows] == [mine["id"], host_alert]  # newest first
    assert [a["id"] for a in json_lines(run("alert", "list", "--org", "CERT-A", "--json"))] == [
        mine["id"]
    ]
    assert [a["id"] for a in json_lines(run("alert", "list", "--severity", "high", "--json"))] == [
        host_alert
    ]
    assert [a["id"] for a in json_lines(run("alert", "list", "--q", "PHI", "--json"))] == [
        mine["id"]
    ]
    assert len(json_lines(run("alert", "list", "--limit", "1", "--json"))) == 1
    assert json_lines(run("alert", "list", "--status", "ignored", "--json")) == []
    refused(run("alert", "list", "--status", "bogus"), "status")
    refused(run("alert", "list", "--severity", "bogus"), "severity")
    refused(run("alert", "list", "--org", "NO-SUCH-ORG"), "org")


def test_sla_breaches_listed_and_flagged_by_response_run(cli_db, clock) -> None:  # type: ignore[no-untyped-def]
    db = cli_db.db
    r = run("sla", "set", "alert", "high", "--acknowledge", "15")
    assert r.exit_code == 0, r.output
    late = json_lines(
        run(
            "alert",
            "send",
            "--source",
            "ids",
            "--ref",
            "1",
            "--title",
            "late",
            "--severity",
            "high",
            "--json",
        )
    )[0]
    calm = json_lines(
        run("alert", "send", "--source", "ids", "--ref", "2", "--title", "calm", "--json")
    )[0]
    assert late["sla"]["acknowledge_by"] == (clock.at + timedelta(minutes=15)).isoformat()
    assert calm["sla"]["acknowledge_by"] is None

    clock.move(minutes=14)
    assert json_lines(run("alert", "list", "--breached", "--json")) == []
    assert json_lines(run("response", "run", "--json"))[0]["sla_breaches"]["alerts"] == 0

    clock.move(minutes=2)
    assert [a["id"] for a in json_lines(run("alert", "list", "--breached", "--json"))] == [
        late["id"]
    ]
    assert [(row[0], row[-1]) for row in cells(run("alert", "list"))] == [
        (str(calm["id"]), "-"),
        (str(late["id"]), "acknowledge BREACHED"),
    ]
    done = run("response", "run")
    assert done.exit_code == 0, done.output
    assert "SLA breaches: 1 alerts not acknowledged" in flat(done.stdout)
    with db.reading() as s:
        assert s.get(Alert, late["id"]).ack_breached_at == clock.at  # type: ignore[union-attr]
        assert s.get(Alert, calm["id"]).ack_breached_at is None  # type: ignore[union-attr]
    # Flagged once: the next pass finds nothing new.
    report = json_lines(run("response", "run", "--json"))[0]
    assert report["sla_breaches"] == {"alerts": 0, "cases_acknowledge": 0, "cases_resolve": 0}
    assert [a for a, _, _ in _audit(db, "Sla")] == ["sla_breach"]


def test_response_run_routes_published_intel_to_a_constituency(cli_db, admin, make_user) -> None:  # type: ignore[no-untyped-def]
    make_user("CERT-A", "org_admin")
    assert run("constituency", "add", "cidr", "198.51.100.0/24", "--org", "CERT-A").exit_code == 0
    ev = admin.post(
        "/api/v1/events",
        json={
            "info": "scanner",
            "distribution": 1,
            "threat_level_id": 1,
            "attributes": [{"type": "ip-dst", "value": "198.51.100.9"}],
        },
    )
    assert ev.status_code == 201, ev.text
    assert admin.post(f"/api/v1/events/{ev.json()['id']}/publish").status_code == 200

    r = run("response", "run")
    assert r.exit_code == 0, r.output
    assert "constituency: 1 published events looked at, 1 alerts routed" in flat(r.stdout)
    routed = json_lines(run("alert", "list", "--org", "CERT-A", "--json"))
    assert [(a["type"], a["severity"], a["observable"]) for a in routed] == [
        ("constituency", "high", "198.51.100.9")
    ]
    again = json_lines(run("response", "run", "--json"))[0]
    assert (again["events_routed"], again["alerts_routed"]) == (0, 0)


# ---------------------------------------------------------------- cases


def test_case_list_and_show(cli_db, admin, make_user) -> None:  # type: ignore[no-untyped-def]
    member = make_user("CERT-A", "org_admin")
    first = admin.post("/api/v1/cases", json={"title": "ransomware at HQ", "severity": "critical"})
    assert first.status_code == 201, first.text
    case = first.json()
    task = admin.post(
        f"/api/v1/cases/{case['id']}/tasks",
        json={"title": "isolate hosts", "group": "containment", "assignee": "admin@host.test"},
    )
    assert task.status_code == 201, task.text
    moved = admin.patch(f"/api/v1/cases/{case['id']}", json={"status": "in_progress"})
    assert moved.status_code == 200, moved.text
    other = member.api.post("/api/v1/cases", json={"title": "phishing wave", "severity": "low"})
    assert other.status_code == 201, other.text

    listed = run("case", "list")
    assert listed.exit_code == 0, listed.output
    assert "2 cases" in listed.stdout
    assert [row[1:5] for row in cells(listed)] == [
        ["#1 CERT-A", "low", "new", "phishing wave"],
        ["#1 HOST-CERT", "critical", "in_progress", "ransomware at HQ"],
    ]
    rows = json_lines(run("case", "list", "--json"))
    assert [c["title"] for c in rows] == ["phishing wave", "ransomware at HQ"]
    assert [
        c["id"] for c in json_lines(run("case", "list", "--status", "in_progress", "--json"))
    ] == [case["id"]]
    assert [
        c["title"]
        for c in json_lines(
            run("case", "list", "--severity", "low", "--severity", "critical", "--json")
        )
    ] == ["phishing wave", "ransomware at HQ"]
    assert [c["org"] for c in json_lines(run("case", "list", "--org", "CERT-A", "--json"))] == [
        "CERT-A"
    ]
    assert [c["id"] for c in json_lines(run("case", "list", "--q", "RANSOM", "--json"))] == [
        case["id"]
    ]
    refused(run("case", "list", "--status", "bogus"), "status")
    refused(run("case", "list", "--assignee", "no@one.test"), "assignee")

    shown = run("case", "show", str(case["id"]))
    assert shown.exit_code == 0, shown.output
    text = flat(shown.stdout)
    assert f"case {case['id']} (#1 of HOST-CERT): ransomware at HQ" in text
    assert "status: in_progress" in text and "severity: critical" in text
    rows = cells(shown)
    assert [
        str(task.json()["id"]),
        "containment",
        "isolate hosts",
        "waiting",
        "admin@host.test",
        "-",
    ] in rows
    timeline = [row[1:] for row in rows if len(row) == 4]
    assert ["case.created", "admin@host.test", "case #1 opened: ransomware at HQ"] in timeline
    assert ["case.status", "admin@host.test", "status new -> in_progress"] in timeline
    whole = json_lines(run("case", "show", case["uuid"], "--json"))[0]
    assert (whole["id"], whole["status"], whole["right"]) == (case["id"], "in_progress", "full")
    assert [t["title"] for t in whole["tasks"]] == ["isolate hosts"]
    assert [line["kind"] for line in whole["timeline"]][:3] == [
        "case.created",
        "task.created",
        "case.status",
    ]
    refused(run("case", "show", "999999"), "case")


# ---------------------------------------------------------------- constituency


def test_constituency_add_list_rm(cli_db, make_user) -> None:  # type: ignore[no-untyped-def]
    db = cli_db.db
    make_user("CERT-A")
    r = run("constituency", "add", "cidr", "10.1.2.3/16", "--org", "CERT-A", "--comment", "HQ")
    assert r.exit_code == 0, r.output
    assert "cidr 10.1.0.0/16 of CERT-A" in r.stdout
    assert run("constituency", "add", "asn", "as64500", "--org", "HOST-CERT").exit_code == 0
    with db.reading() as s:
        rows = {
            (e.org_id, e.kind, e.value, e.comment)
            for e in s.execute(sa.select(ConstituencyEntry)).scalars()
        }
    a = _org_id(db, "CERT-A")
    assert rows == {(a, "cidr", "10.1.0.0/16", "HQ"), (cli_db.host_org_id, "asn", "64500", "")}

    refused(run("constituency", "add", "cidr", "10.1.0.0/16", "--org", "CERT-A"), "value")
    refused(run("constituency", "add", "cidr", "300.1.1.0/24", "--org", "CERT-A"), "value")
    refused(run("constituency", "add", "subnet", "10.0.0.0/8", "--org", "CERT-A"), "kind")
    refused(run("constituency", "add", "domain", "example.org", "--org", "NO-SUCH-ORG"), "org")
    missing = run("constituency", "add", "domain", "example.org")
    assert missing.exit_code == 2 and "--org" in missing.output
    assert _count(db, ConstituencyEntry) == 2

    assert sorted(row[1:] for row in cells(run("constituency", "list"))) == [
        ["CERT-A", "cidr", "10.1.0.0/16", "HQ"],
        ["HOST-CERT", "asn", "64500", ""],
    ]
    only = json.loads(run("constituency", "list", "--org", "CERT-A", "--json").stdout)
    assert [(e["kind"], e["value"]) for e in only] == [("cidr", "10.1.0.0/16")]

    r = run("constituency", "rm", str(only[0]["id"]))
    assert r.exit_code == 0 and "removed" in r.stdout
    refused(run("constituency", "rm", str(only[0]["id"])), "entry")
    assert _count(db, ConstituencyEntry) == 1
    assert [x for x, _, _ in _audit(db, "ConstituencyEntry")] == ["create", "create", "delete"]


# ---------------------------------------------------------------- SLA policies


def test_sla_set_and_list(cli_db, make_user) -> None:  # type: ignore[no-untyped-def]
    db = cli_db.db
    make_user("CERT-A")
    r = run(
        "sla", "set", "case", "high", "--acknowledge", "30", "--resolve", "480", "--org", "CERT-A"
    )
    assert r.exit_code == 0, r.output
    assert "for CERT-A: case high, acknowledge 30 min, resolve 480 min" in flat(r.stdout)
    r = run("sla", "set", "case", "low", "--acknowledge", "60", "--instance")
    assert r.exit_code == 0 and "for the instance" in r.stdout
    assert run("sla", "set", "alert", "critical", "--acknowledge", "10").exit_code == 0
    # The same target and severity again replaces the policy.
    assert run("sla", "set", "alert", "critical", "--acknowledge", "5").exit_code == 0

    refused(run("sla", "set", "alert", "high", "--resolve", "5"), "resolve_minutes")
    refused(run("sla", "set", "alert", "high"), "acknowledge_minutes")
    refused(
        run("sla", "set", "case", "high", "--acknowledge", "60", "--resolve", "30"),
        "resolve_minutes",
    )
    refused(run("sla", "set", "ticket", "high", "--acknowledge", "5"), "target")
    refused(run("sla", "set", "alert", "severe", "--acknowledge", "5"), "severity")
    refused(run("sla", "set", "alert", "high", "--acknowledge", "0"), "acknowledge_minutes")
    refused(
        run("sla", "set", "alert", "high", "--acknowledge", "5", "--org", "CERT-A", "--instance"),
        "instance",
    )
    refused(run("sla", "set", "alert", "high", "--acknowledge", "5", "--org", "NOPE"), "org")

    with db.reading() as s:
        rows = {
            (p.org_id, p.target, p.severity, p.acknowledge_minutes, p.resolve_minutes)
            for p in s.execute(sa.select(SlaPolicy)).scalars()
        }
    assert rows == {
        (_org_id(db, "CERT-A"), "case", "high", 30, 480),
        (None, "case", "low", 60, None),
        (cli_db.host_org_id, "alert", "critical", 5, None),
    }
    rows = {tuple(row[1:]) for row in cells(run("sla", "list"))}
    assert rows == {
        ("instance", "case", "low", "60 min", "-"),
        ("CERT-A", "case", "high", "30 min", "480 min"),
        ("HOST-CERT", "alert", "critical", "5 min", "-"),
    }
    assert len(json.loads(run("sla", "list", "--json").stdout)) == 3
    assert [x for x, _, _ in _audit(db, "SlaPolicy")] == ["update"] * 4


# ---------------------------------------------------------------- teams


def test_team_add_member_list(cli_db, make_user) -> None:  # type: ignore[no-untyped-def]
    db = cli_db.db
    alice = make_user("CERT-A")
    bob = make_user("CERT-B")
    r = run("team", "add", "RRT-North", "--description", "first responders")
    assert r.exit_code == 0 and "team" in r.stdout and "RRT-North" in r.stdout
    refused(run("team", "add", "RRT-North"), "name")

    r = run(
        "team",
        "member",
        "RRT-North",
        alice.email,
        "--skill",
        "Forensics",
        "--skill",
        "malware",
        "--lead",
    )
    assert r.exit_code == 0, r.output
    assert f"{alice.email} in team RRT-North: skills forensics, malware; lead" in r.stdout
    assert run("team", "member", "RRT-North", bob.email, "--unavailable").exit_code == 0
    # Again: the member's skills and flags are replaced.
    assert run("team", "member", "RRT-North", alice.email, "--skill", "network").exit_code == 0
    refused(run("team", "member", "RRT-North", "no@one.test"), "user")
    refused(run("team", "member", "RRT-South", alice.email), "team")

    with db.reading() as s:
        team = s.execute(sa.select(Team)).scalar_one()
        members = {
            (m.user_id, tuple(m.skills), m.lead, m.available)
            for m in s.execute(sa.select(TeamMember)).scalars()
        }
    assert team.description == "first responders"
    assert members == {(alice.user_id, ("network",), False, True), (bob.user_id, (), False, False)}

    rows = cells(run("team", "list"))
    assert rows[0][1:3] == ["RRT-North", "yes"]
    assert sorted(row[3] for row in rows) == sorted(
        [f"{alice.email} (CERT-A) [network]", f"{bob.email} (CERT-B) unavailable"]
    )
    (out,) = json.loads(run("team", "list", "--json").stdout)
    assert out["skills"] == ["network"] and len(out["members"]) == 2
    assert [x for x, _, _ in _audit(db, "Team")] == ["create"]
    assert [x for x, _, _ in _audit(db, "TeamMember")] == ["update"] * 3


# ---------------------------------------------------------------- rosters and on call


def test_roster_shift_and_oncall(cli_db, make_user) -> None:  # type: ignore[no-untyped-def]
    db = cli_db.db
    night = make_user("CERT-A")
    day = make_user("CERT-A")
    stranger = make_user("CERT-B")
    r = run("roster", "add", "duty", "--org", "CERT-A")
    assert r.exit_code == 0 and "duty of CERT-A" in r.stdout, r.output
    refused(run("roster", "add", "duty", "--org", "CERT-A"), "name")
    refused(run("roster", "add", "duty", "--org", "NOPE"), "org")
    with db.reading() as s:
        roster = s.execute(sa.select(Roster)).scalar_one()
    assert roster.org_id == night.org_id
    rid = str(roster.id)

    start = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)
    mid = (start + timedelta(hours=8)).isoformat()
    r = run("roster", "shift", rid, night.email, "--from", start.isoformat(), "--to", mid)
    assert r.exit_code == 0 and f"{night.email} on call from" in r.stdout, r.output
    end = (start + timedelta(hours=16)).isoformat()
    assert run("roster", "shift", roster.uuid, day.email, "--from", mid, "--to", end).exit_code == 0
    r = run(
        "roster",
        "shift",
        rid,
        day.email,
        "--from",
        start.isoformat(),
        "--to",
        mid,
        "--position",
        "backup",
    )
    assert r.exit_code == 0, r.output

    refused(run("roster", "shift", rid, stranger.email, "--from", mid, "--to", end), "user")
    refused(
        run("roster", "shift", rid, night.email, "--from", "2030-01-01T00:00", "--to", end),
        "starts_at",
    )
    refused(run("roster", "shift", rid, night.email, "--from", end, "--to", mid), "ends_at")
    refused(run("roster", "shift", rid, night.email, "--from", "noon", "--to", end), "starts_at")
    refused(
        run("roster", "shift", rid, night.email, "--from", mid, "--to", end, "--position", "boss"),
        "position",
    )
    refused(run("roster", "shift", "999999", night.email, "--from", mid, "--to", end), "roster")
    with db.reading() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(RosterShift)).scalar_one() == 3

    at = (start + timedelta(hours=1)).isoformat()
    r = run("oncall", "--org", "CERT-A", "--at", at)
    assert r.exit_code == 0, r.output
    lines = [line for line in r.stdout.splitlines() if "@" in line]
    assert night.email in lines[0] and "primary" in lines[0]  # primaries first
    assert day.email in lines[1] and "backup" in lines[1]
    got = json.loads(run("oncall", "--org", "CERT-A", "--at", mid, "--json").stdout)
    assert [(i["email"], [s["position"] for s in i["shifts"]]) for i in got["items"]] == [
        (day.email, ["primary"])
    ]
    assert got["items"][0]["shifts"][0]["until"] == end
    late = run("oncall", "--org", "CERT-A", "--at", end)
    assert "nobody is on call" in late.stdout
    # Without --org: the host organisation's, which has no roster.
    assert "nobody is on call" in run("oncall", "--at", at).stdout
    refused(run("oncall", "--at", "tomorrow"), "at")
    refused(run("oncall", "--org", "NOPE"), "org")

    rows = cells(run("roster", "list"))  # shifts from now on: every one of them, in 2030
    assert rows[0][:3] == [rid, "CERT-A", "duty"] and len(rows) == 3
    assert {row[3].split()[0] for row in rows} == {night.email, day.email}
    assert [x for x, _, _ in _audit(db, "Roster")] == ["create"]
    assert _audit(db, "RosterShift") == [("create", None, cli_db.host_org_id)] * 3


# ---------------------------------------------------------------- webhooks


def test_webhook_add_list_rm(cli_db, make_user) -> None:  # type: ignore[no-untyped-def]
    db = cli_db.db
    make_user("CERT-A")
    r = run(
        "webhook",
        "add",
        "soc",
        "https://hooks.cert-a.test/in",
        "--org",
        "CERT-A",
        "--topic",
        "alert.*",
        "--topic",
        "case.created",
    )
    assert r.exit_code == 0, r.output
    # The secret alone on stdout, this once; what it is for on stderr.
    (secret,) = r.stdout.split()
    assert "soc of CERT-A" in r.output
    with db.reading() as s:
        hook = s.execute(sa.select(Webhook)).scalar_one()
        assert (hook.org_id, hook.url, hook.topics, hook.enabled) == (
            _org_id(db, "CERT-A"),
            "https://hooks.cert-a.test/in",
            ["alert.*", "case.created"],
            True,
        )
        assert open_secret(hook.secret_enc) == secret and secret not in hook.secret_enc
    r = run("webhook", "add", "siem", "http://127.0.0.1:9/x", "--secret", "s" * 20, "--disabled")
    assert r.exit_code == 0 and r.stdout.strip() == "s" * 20

    refused(run("webhook", "add", "bad", "ftp://example.test/"), "url")
    refused(run("webhook", "add", "bad", "https://example.test/", "--topic", "bogus"), "topics")
    refused(run("webhook", "add", "bad", "https://example.test/", "--secret", "short"), "secret")
    refused(run("webhook", "add", "bad", "https://example.test/", "--org", "NOPE"), "org")
    assert _count(db, Webhook) == 2

    listed = run("webhook", "list")
    assert listed.exit_code == 0
    assert [row[1:] for row in cells(listed)] == [
        ["CERT-A", "soc", "https://hooks.cert-a.test/in", "alert.*, case.created", "yes"],
        ["HOST-CERT", "siem", "http://127.0.0.1:9/x", "*", "no"],
    ]
    assert secret not in listed.output
    only = json.loads(run("webhook", "list", "--org", "CERT-A", "--json").stdout)
    assert [(h["name"], h["enabled"]) for h in only] == [("soc", True)]
    assert "secret" not in only[0]
    host = json.loads(run("webhook", "list", "--org", "HOST-CERT", "--json").stdout)
    assert [(h["name"], h["enabled"]) for h in host] == [("siem", False)]

    r = run("webhook", "rm", only[0]["uuid"])
    assert r.exit_code == 0 and "removed" in r.stdout
    refused(run("webhook", "rm", only[0]["uuid"]), "webhook")
    assert _count(db, Webhook) == 1
    assert [x for x, _, _ in _audit(db, "Webhook")] == ["create", "create", "delete"]
