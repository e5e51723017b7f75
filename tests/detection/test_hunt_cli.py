"""`shieldwall hunt` and `shieldwall sensor`: JSON lines out, summary, stdin, sightings and
alerts recorded with the sensor's name, access rules, retro-hunts, follow mode."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import orjson
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from shieldwall.cli.main import app as cli
from shieldwall.detection import service
from shieldwall.detection.models import Sensor, SensorKey
from shieldwall.intel.models import Sighting
from shieldwall.response.models import Alert

CONN = (
    b'{"ts":1.0,"uid":"C1","id.orig_h":"10.1.0.5","id.orig_p":5,"id.resp_h":"203.0.113.9",'
    b'"id.resp_p":443,"conn_state":"SF"}\n'
)
KEY_RE = re.compile(r"^[A-Za-z0-9]{40}$")


def run(*args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin, env={"COLUMNS": "250"})


def _lines(result: Result) -> list[dict]:
    return [orjson.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_hunt_writes_json_lines_and_a_summary(world, tmp_path: Path) -> None:
    ev = world.publish(world.org_a, [("ip-dst", "203.0.113.9")], tags=["tlp:green"])
    log = tmp_path / "conn.log"
    log.write_bytes(CONN * 3 + b"not json\n")
    r = run("hunt", str(log), "--sensor", "zeek-a", "--org", "ORG-A")
    assert r.exit_code == 0, r.output
    out = _lines(r)
    assert [m["line"] for m in out] == [1, 2, 3]
    assert out[0]["field"] == "id.resp_h" and out[0]["event_uuid"] == ev["uuid"]
    assert out[0]["indicator"]["type"] == "ip-dst" and out[0]["tags"] == ["tlp:green"]
    assert out[0]["sensor"] == "zeek-a"
    assert "malformed lines" in r.stderr and "matches" in r.stderr
    assert f"malformed: {log}:4: not a JSON object" in " ".join(r.stderr.split())


def test_stdin_and_record_sightings_and_alerts(world) -> None:
    world.publish(world.org_a, [("ip-dst", "203.0.113.9")], threat_level_id=1)
    r = run("hunt", "-", "--sensor", "zeek-a", "--org", "ORG-A", "--record", stdin=CONN * 2)
    assert r.exit_code == 0, r.output
    assert len(_lines(r)) == 2
    with world.instance.db.reading() as s:
        sightings = s.execute(sa.select(Sighting)).scalars().all()
        alerts = s.execute(sa.select(Alert)).scalars().all()
    # Sightings in bulk: one per attribute a hunt saw, type 0, the sensor as source.
    assert [(x.type, x.source, x.org_id) for x in sightings] == [(0, "zeek-a", world.org_a)]
    assert len(alerts) == 1
    a = alerts[0]
    assert (a.sensor_name, a.org_id, a.count, a.severity, a.status) == (
        "zeek-a",
        world.org_a,
        2,
        "high",
        "new",
    )
    assert a.observable == "203.0.113.9" and a.field == "id.resp_h"
    # The same observable again: the alert counts up instead of a new one.
    r = run("hunt", "-", "--sensor", "zeek-a", "--org", "ORG-A", "--record", stdin=CONN)
    assert r.exit_code == 0, r.output
    with world.instance.db.reading() as s:
        alerts = s.execute(sa.select(Alert)).scalars().all()
        assert s.scalar(sa.select(sa.func.count()).select_from(Sighting)) == 2
    assert [(x.count, x.last_seen >= x.first_seen) for x in alerts] == [(3, True)]


def test_record_needs_a_sensor(world) -> None:
    r = run("hunt", "-", "--record", stdin=CONN)
    assert r.exit_code == 1 and "--record needs --sensor" in r.stderr


def test_a_sensor_never_matches_what_its_organisation_may_not_see(world, tmp_path: Path) -> None:
    world.publish(world.org_a, [("ip-dst", "203.0.113.9")], distribution=0)
    # A community event whose attribute is the organisation's only.
    world.publish(
        world.org_a, [{"type": "ip-dst", "value": "203.0.113.9", "to_ids": True, "distribution": 0}]
    )
    log = tmp_path / "conn.log"
    log.write_bytes(CONN)
    r = run("hunt", str(log), "--sensor", "suricata-b", "--org", "ORG-B", "--record")
    assert r.exit_code == 0, r.output
    assert _lines(r) == []
    r = run("hunt", str(log), "--sensor", "zeek-a", "--org", "ORG-A")
    assert len(_lines(r)) == 2
    with world.instance.db.reading() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Alert)) == 0


def test_sensor_commands(world, tmp_path: Path) -> None:
    r = run(
        "sensor",
        "add",
        "edge-1",
        "--org",
        "ORG-B",
        "--network",
        "10.9.0.0/16",
        "--retain",
        str(tmp_path),
    )
    assert r.exit_code == 0, r.output
    key = [x.strip() for x in r.stdout.splitlines() if KEY_RE.match(x.strip())]
    assert len(key) == 1
    r = run("sensor", "list", "--org", "ORG-B")
    assert "edge-1" in r.stdout and "10.9.0.0/16" in r.stdout
    r = run("sensor", "add", "edge-1", "--org", "ORG-B")
    assert r.exit_code == 2 and "(name)" in r.stderr
    r = run("sensor", "add", "edge-2", "--org", "ORG-B", "--network", "10.9.0.300/16")
    assert r.exit_code == 2 and "networks[0]" in r.stderr
    r = run("sensor", "key", "edge-1", "--org", "ORG-B")
    assert r.exit_code == 0
    with world.instance.db.reading() as s:
        ids = (
            s.execute(
                sa.select(SensorKey.id)
                .join(Sensor)
                .where(Sensor.name == "edge-1")
                .order_by(SensorKey.id)
            )
            .scalars()
            .all()
        )
    assert len(ids) == 2
    r = run("sensor", "key", "edge-1", "--org", "ORG-B", "--revoke", str(ids[0]))
    assert r.exit_code == 0 and "revoked" in r.stdout
    r = run("sensor", "rm", "edge-1", "--org", "ORG-B")
    assert r.exit_code == 0
    with world.instance.db.reading() as s:
        assert (
            s.scalar(sa.select(sa.func.count()).select_from(SensorKey).where(SensorKey.id.in_(ids)))
            == 0
        )


def test_retro_hunt_finds_yesterdays_logs_with_todays_indicators(world, tmp_path: Path) -> None:
    retained = tmp_path / "retained"
    retained.mkdir()
    (retained / "conn.log").write_bytes(CONN)
    with world.instance.db.writing() as s:
        sensor = s.get(Sensor, world.sensor_a.id)
        sensor.retained_paths = [str(retained)]
    # Nothing published yet: the retro-hunt finds nothing and moves its mark.
    r = run("hunt", "--retro", "--sensor", "zeek-a", "--org", "ORG-A", "--record")
    assert r.exit_code == 0, r.output
    assert _lines(r) == [] and "0 new indicators" in r.stderr
    world.publish(world.org_a, [("ip-dst", "203.0.113.9"), ("ip-dst", "203.0.113.77")])
    r = run("hunt", "--retro", "--sensor", "zeek-a", "--org", "ORG-A", "--record")
    assert r.exit_code == 0, r.output
    assert [m["observable"] for m in _lines(r)] == ["203.0.113.9"]
    assert "2 new indicators" in r.stderr
    # Only newly published indicators: the same logs are not hunted again for old ones.
    r = run("hunt", "--retro", "--sensor", "zeek-a", "--org", "ORG-A", "--record")
    assert _lines(r) == []
    with world.instance.db.reading() as s:
        assert s.execute(sa.select(Sighting.source)).scalars().all() == ["zeek-a"]


def test_retro_job_runs_every_sensor_with_retained_telemetry(world, tmp_path: Path) -> None:
    for name, sensor in (("a", world.sensor_a), ("b", world.sensor_b)):
        d = tmp_path / name
        d.mkdir()
        (d / "conn.log").write_bytes(CONN)
        with world.instance.db.writing() as s:
            s.get(Sensor, sensor.id).retained_paths = [str(d)]
    world.publish(world.org_a, [("ip-dst", "203.0.113.9")], distribution=0)
    reports = service.retro_hunt_all(world.instance.db)
    assert {r.sensor: len(r.matches) for r in reports} == {"zeek-a": 1, "suricata-b": 0}
    with world.instance.db.reading() as s:
        assert s.execute(sa.select(Alert.sensor_name)).scalars().all() == ["zeek-a"]


def test_follow_tails_rotation_and_truncation_and_refreshes_the_index(
    world, tmp_path: Path
) -> None:
    world.publish(world.org_a, [("ip-dst", "203.0.113.9")])
    log = tmp_path / "conn.log"
    log.write_bytes(CONN)
    db = world.instance.db
    ctx = world.ctx(world.sensor_a)
    from shieldwall.detection.index import Scope

    hunter = service.make_hunter(db, ctx, Scope())
    stop = threading.Event()
    seen: list[tuple[int, str]] = []
    opts = service.FollowOptions(poll_seconds=0.05, refresh_seconds=0.1, stop=stop.is_set)

    def consume() -> None:
        for m in service.follow(db, ctx, hunter, [str(log)], opts):
            seen.append((m.line, m.observable))

    t = threading.Thread(target=consume)
    t.start()

    def wait_for(n: int) -> None:
        deadline = time.monotonic() + 20
        while len(seen) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(seen) >= n, seen

    try:
        wait_for(1)
        with log.open("ab") as f:  # a line written in two parts
            f.write(CONN[:20])
            f.flush()
            time.sleep(0.2)
            f.write(CONN[20:])
        wait_for(2)
        log.rename(tmp_path / "conn.log.1")  # rotation: a new file under the name
        log.write_bytes(b"\n" + CONN.replace(b"203.0.113.9", b"203.0.113.66"))
        # Intel published while following reaches the index without a restart.
        world.publish(world.org_a, [("ip-dst", "203.0.113.66")])
        deadline = time.monotonic() + 20
        while not any(o == "203.0.113.66" for _, o in seen) and time.monotonic() < deadline:
            with log.open("ab") as f:
                f.write(CONN.replace(b"203.0.113.9", b"203.0.113.66"))
            time.sleep(0.3)
        assert any(o == "203.0.113.66" for _, o in seen), seen
        count = len(seen)
        log.write_bytes(CONN)  # truncated and written again
        wait_for(count + 1)
    finally:
        stop.set()
        t.join(10)
    assert seen[:2] == [(1, "203.0.113.9"), (2, "203.0.113.9")]
    assert seen[-1] == (1, "203.0.113.9")


def test_unpublished_private_holds_for_a_sensors_hunt(world, tmp_path: Path) -> None:
    """With unpublished events private to their organisation, another organisation's sensor
    never matches them, even when asked for unpublished intel; the owner's sensor does."""
    from shieldwall import server_settings
    from shieldwall.context import system_ctx

    world.publish(world.org_a, [("ip-dst", "203.0.113.9")], published=False)
    log = tmp_path / "conn.log"
    log.write_bytes(CONN)
    b = ("hunt", str(log), "--sensor", "suricata-b", "--org", "ORG-B", "--include-unpublished")
    assert len(_lines(run(*b))) == 1  # MISP's default: readable per distribution
    with world.instance.db.writing() as session:
        server_settings.set_value(
            session, system_ctx(world.instance.host_org_id), "unpublished_private", True
        )
    try:
        assert _lines(run(*b)) == []
        a = ("hunt", str(log), "--sensor", "zeek-a", "--org", "ORG-A", "--include-unpublished")
        assert len(_lines(run(*a))) == 1
    finally:
        with world.instance.db.writing() as session:
            server_settings.reset_value(
                session, system_ctx(world.instance.host_org_id), "unpublished_private"
            )
