"""`shieldwall hunt` (match telemetry against indicators) and `shieldwall sensor`."""

from __future__ import annotations

import signal
import sys
import time
from typing import Annotated

import orjson
import typer
from rich.table import Table

from shieldwall.cli.common import admin_ctx, console, database, domain_errors, err, fail
from shieldwall.context import Ctx
from shieldwall.db.engine import Database
from shieldwall.detection import sensors as sensor_service
from shieldwall.detection import service
from shieldwall.detection.index import Scope
from shieldwall.detection.models import Sensor
from shieldwall.detection.readers import FORMATS, parse_mapping
from shieldwall.detection.sensors import sensor_ctx

sensor_app = typer.Typer(
    help="Sensors: principals of an organisation that hunt.", no_args_is_help=True
)


def _sensor(db: Database, name: str, org: str | None) -> Sensor:
    ctx = admin_ctx(db)
    with domain_errors(), db.reading() as session:
        sensor = sensor_service.get_sensor(session, ctx, name, org)
        session.expunge(sensor)
    if sensor.disabled:
        fail(f"sensor {sensor.name} is disabled")
    return sensor


def _summary_table(
    summary: dict[str, object], seconds: float, recorded: dict[str, int] | None
) -> Table:
    table = Table("figure", "value", title="hunt summary")
    lines = int(summary["lines"])  # type: ignore[call-overload]
    rows: list[tuple[str, object]] = [
        ("sources", summary["sources"]),
        ("lines", lines),
        ("records", summary["records"]),
        ("malformed lines", summary["malformed"]),
        ("matches", summary["matches"]),
        ("seconds", f"{seconds:.2f}"),
        ("lines/s", f"{lines / seconds:,.0f}" if seconds > 0 else "-"),
    ]
    for t, n in summary["by_type"].items():  # type: ignore[attr-defined]
        rows.append((f"matches: {t}", n))
    if recorded is not None:
        rows += [(k.replace("_", " "), v) for k, v in recorded.items()]
    for k, v in rows:
        table.add_row(k, str(v))
    return table


def hunt(
    paths: Annotated[
        list[str] | None, typer.Argument(help="files, directories, or - for stdin")
    ] = None,
    sensor: Annotated[
        str | None, typer.Option(help="hunt as this sensor (its organisation's view)")
    ] = None,
    org: Annotated[str | None, typer.Option(help="the sensor's organisation")] = None,
    fmt: Annotated[str, typer.Option("--format", help=f"one of {', '.join(FORMATS)}")] = "auto",
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="field=kind for generic JSON or CSV (repeatable)"),
    ] = None,
    record: Annotated[
        bool, typer.Option(help="record sightings and raise alerts (needs --sensor)")
    ] = False,
    include_expired: Annotated[bool, typer.Option(help="expired indicators too")] = False,
    include_warninglisted: Annotated[bool, typer.Option(help="values on warninglists too")] = False,
    all_attributes: Annotated[bool, typer.Option(help="not only to_ids attributes")] = False,
    include_unpublished: Annotated[bool, typer.Option(help="unpublished events too")] = False,
    follow: Annotated[bool, typer.Option(help="tail growing files until interrupted")] = False,
    refresh: Annotated[
        float, typer.Option(help="seconds between index refreshes (--follow)")
    ] = 60.0,
    poll: Annotated[
        float, typer.Option(help="seconds between reads of quiet files (--follow)")
    ] = 1.0,
    retro: Annotated[bool, typer.Option(help="retro-hunt retained telemetry of sensors")] = False,
    quiet: Annotated[bool, typer.Option(help="no summary table")] = False,
) -> None:
    """Match telemetry (Zeek, Suricata eve.json, JSON lines, CSV, pcap; gzip too) against
    the indicators the hunter may see: one JSON line per match on stdout, a summary on
    stderr."""
    db = database()
    scope = Scope(
        include_expired=include_expired,
        include_warninglisted=include_warninglisted,
        all_attributes=all_attributes,
        include_unpublished=include_unpublished,
    )
    if retro:
        _retro(db, sensor, org, record, scope)
        return
    if not paths:
        fail("name files or directories to hunt, or - for stdin")
    if record and sensor is None:
        fail("--record needs --sensor: sightings and alerts carry a sensor's name")
    s = _sensor(db, sensor, org) if sensor else None
    ctx: Ctx = sensor_ctx(s) if s else admin_ctx(db)
    out = sys.stdout.buffer
    recorded = service.Recorded()
    started = time.perf_counter()
    with domain_errors():
        hunter = service.make_hunter(
            db, ctx, scope, sensor=s, fmt=fmt, mapping=parse_mapping(mapping or [])
        )
        if follow:
            stopping = {"now": False}

            def on_signal(*_: object) -> None:
                stopping["now"] = True

            signal.signal(signal.SIGTERM, on_signal)
            opts = service.FollowOptions(
                poll_seconds=poll, refresh_seconds=refresh, stop=lambda: stopping["now"]
            )
            stream = service.follow(db, ctx, hunter, paths, opts)
        else:
            stream = hunter.hunt_paths(paths)
        try:
            for m in service.recording(db, s if record else None, stream, recorded):
                out.write(orjson.dumps(m.as_dict()) + b"\n")
                if follow:
                    out.flush()
        except KeyboardInterrupt:
            pass
    out.flush()
    seconds = time.perf_counter() - started
    summary = hunter.summary.as_dict()
    if not quiet:
        err.print(_summary_table(summary, seconds, recorded.as_dict() if record else None))
        for sample in summary["malformed_samples"]:
            err.print(f"malformed: {sample['source']}:{sample['line']}: {sample['reason']}")


def _retro(db: Database, sensor: str | None, org: str | None, record: bool, scope: Scope) -> None:
    targets = [_sensor(db, sensor, org)] if sensor else service.due_sensors(db)
    if not targets:
        fail("no sensor has retained telemetry paths (sensor add --retain PATH)")
    out = sys.stdout.buffer
    with domain_errors():
        for s in targets:
            report = service.retro_hunt(db, s, record=record, scope=scope)
            for m in report.matches:
                out.write(orjson.dumps(m) + b"\n")
            err.print(
                f"retro-hunt {report.sensor}: {report.indicators} new indicators, "
                f"{report.files} files, {len(report.matches)} matches"
                + (f", {report.recorded.sightings} sightings" if record else "")
            )
    out.flush()


# ---------------------------------------------------------------- sensors


@sensor_app.command("add")
def sensor_add(
    name: str,
    org: Annotated[str | None, typer.Option(help="organisation (default: the host's)")] = None,
    network: Annotated[
        list[str] | None, typer.Option(help="a watched CIDR block (repeatable)")
    ] = None,
    retain: Annotated[
        list[str] | None, typer.Option(help="retained telemetry path (repeatable)")
    ] = None,
    description: str = "",
) -> None:
    """Register a sensor and print its first key once."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors(), db.writing() as session:
        s = sensor_service.create_sensor(
            session,
            ctx,
            name=name,
            org_ref=org,
            networks=network or [],
            retained_paths=retain or [],
            description=description,
        )
        key, raw = sensor_service.issue_key(session, ctx, s, "created with the sensor")
        err.print(f"sensor {s.id} ({s.uuid}) {s.name} of {s.org.name}; key {key.id}")
    console.print(raw)


@sensor_app.command("list")
def sensor_list(org: Annotated[str | None, typer.Option()] = None) -> None:
    """List sensors."""
    db = database()
    ctx = admin_ctx(db)
    table = Table("id", "organisation", "name", "networks", "retained", "disabled")
    with domain_errors(), db.reading() as session:
        for s in sensor_service.list_sensors(session, ctx, org):
            table.add_row(
                str(s.id),
                s.org.name,
                s.name,
                ", ".join(s.networks),
                ", ".join(s.retained_paths),
                "yes" if s.disabled else "no",
            )
    console.print(table)


@sensor_app.command("rm")
def sensor_rm(name: str, org: Annotated[str | None, typer.Option()] = None) -> None:
    """Remove a sensor (its keys with it; its alerts stay)."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors(), db.writing() as session:
        s = sensor_service.get_sensor(session, ctx, name, org)
        sensor_service.delete_sensor(session, ctx, s)
    console.print(f"sensor {name} removed")


@sensor_app.command("key")
def sensor_key(
    name: str,
    org: Annotated[str | None, typer.Option()] = None,
    revoke: Annotated[str | None, typer.Option(help="revoke this key (id or uuid)")] = None,
    comment: str = "",
) -> None:
    """Issue a new key for a sensor (printed once), or revoke one."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors(), db.writing() as session:
        s = sensor_service.get_sensor(session, ctx, name, org)
        if revoke:
            k = sensor_service.revoke_key(session, ctx, s, revoke)
            console.print(f"key {k.id} of sensor {s.name} revoked")
            return
        key, raw = sensor_service.issue_key(session, ctx, s, comment)
        err.print(f"key {key.id} ({key.uuid}) for sensor {s.name}")
    console.print(raw)
