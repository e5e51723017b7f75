"""Hunts as services: build the reader's index, run the hunter over files, streams or a
shipped batch, and record what a sensor saw (sightings in bulk, alerts), each recording in
one transaction."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from shieldwall.audit.service import Actor
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.db.engine import Database
from shieldwall.detection import index as indicator_index
from shieldwall.detection.follow import follow_chunks
from shieldwall.detection.hunt import Hunter, Match, db_resolver
from shieldwall.detection.index import IndicatorIndex, Scope
from shieldwall.detection.models import Sensor
from shieldwall.detection.readers import expand
from shieldwall.detection.sensors import sensor_ctx
from shieldwall.intel import sightings
from shieldwall.response import constituency, observables
from shieldwall.response.alerts import Sighted, raise_alerts
from shieldwall.server_settings import read_options

log = logging.getLogger("shieldwall.detection")

# Matches recorded per transaction while a long hunt streams.
RECORD_BATCH = 10_000


def build_index(db: Database, ctx: Ctx, scope: Scope) -> IndicatorIndex:
    with db.reading() as session:
        return indicator_index.build(session, ctx, scope)


def make_hunter(
    db: Database,
    ctx: Ctx,
    scope: Scope,
    *,
    sensor: Sensor | None = None,
    fmt: str = "auto",
    mapping: dict[str, str] | None = None,
    index: IndicatorIndex | None = None,
) -> Hunter:
    idx = index if index is not None else build_index(db, ctx, scope)
    return Hunter(
        idx,
        db_resolver(db, ctx, scope),
        sensor=sensor.name if sensor else None,
        fmt=fmt,
        mapping=mapping,
    )


@dataclass
class Recorded:
    sightings: int = 0
    alerts_new: int = 0
    alerts_updated: int = 0
    alerts_routed: int = 0

    def add(self, other: Recorded) -> None:
        self.sightings += other.sightings
        self.alerts_new += other.alerts_new
        self.alerts_updated += other.alerts_updated
        self.alerts_routed += other.alerts_routed

    def as_dict(self) -> dict[str, int]:
        return {
            "sightings": self.sightings,
            "alerts_new": self.alerts_new,
            "alerts_updated": self.alerts_updated,
            "alerts_routed": self.alerts_routed,
        }


def record_matches(
    db: Database, sensor: Sensor, matches: Iterable[Match], actor: Actor | None = None
) -> Recorded:
    """Sightings (type 0, source = the sensor's name, one per attribute) and alerts for
    what a sensor saw: one transaction."""
    items = list(matches)
    if not items:
        return Recorded()
    actor = actor or sensor_ctx(sensor).actor
    at = now()
    with db.writing() as session:
        n = sightings.record_bulk(
            session,
            actor,
            sensor.org_id,
            [(m.indicator.attribute_id, m.indicator.event_id) for m in items],
            sensor.name,
            at,
        )
        new, updated = raise_alerts(
            session,
            actor,
            org_id=sensor.org_id,
            sensor_id=sensor.id,
            sensor_name=sensor.name,
            items=[
                Sighted(
                    attribute_id=m.indicator.attribute_id,
                    event_id=m.indicator.event_id,
                    observable=m.observable,
                    field=m.field,
                    title=f"{m.indicator.type} {m.indicator.value} seen by {sensor.name}: "
                    f"{m.indicator.event_info}",
                    threat_level_id=m.indicator.threat_level_id,
                    attribute_type=m.indicator.type,
                    tags=m.indicator.tags,
                )
                for m in items
            ],
            when=at,
        )
        # Organisations whose networks the matches touch get alerts of their own, and
        # open cases holding the sighted attributes note it on their timelines.
        routed = constituency.route_hunt_matches(
            session, sensor.org_id, sensor.name, items, read_options(), at
        )
        observables.sightings_flow_back(
            session, [m.indicator.attribute_id for m in items], sensor.name, at
        )
    return Recorded(n, new, updated, routed)


def recording(
    db: Database,
    sensor: Sensor | None,
    matches: Iterator[Match],
    recorded: Recorded,
    actor: Actor | None = None,
) -> Iterator[Match]:
    """Pass matches through, recording them for the sensor in batches (nothing without
    a sensor)."""
    if sensor is None:
        yield from matches
        return
    batch: list[Match] = []
    for m in matches:
        batch.append(m)
        yield m
        if len(batch) >= RECORD_BATCH:
            recorded.add(record_matches(db, sensor, batch, actor))
            batch = []
    if batch:
        recorded.add(record_matches(db, sensor, batch, actor))


# ---------------------------------------------------------------- follow mode


@dataclass
class FollowOptions:
    poll_seconds: float = 1.0
    refresh_seconds: float = 60.0
    stop: Callable[[], bool] = field(default=lambda: False)


def follow(
    db: Database,
    ctx: Ctx,
    hunter: Hunter,
    paths: list[str],
    opts: FollowOptions,
) -> Iterator[Match]:
    """Tail growing files (rotation and truncation handled), hunting new lines as they
    come, and refresh the index with newly published indicators every refresh_seconds."""
    names = expand(paths)
    last_refresh = time.monotonic()

    def refresh() -> bool:
        nonlocal last_refresh
        if time.monotonic() - last_refresh >= opts.refresh_seconds:
            last_refresh = time.monotonic()
            with db.reading() as session:
                n = indicator_index.refresh(session, ctx, hunter.index)
            if n:
                log.info("hunt index refreshed: %d indicators read", n)
        return opts.stop()

    for name, chunk, line in follow_chunks(names, opts.poll_seconds, refresh):
        yield from hunter.hunt_chunks(name, [chunk], first_line=line)


# ---------------------------------------------------------------- retro-hunts


@dataclass
class RetroReport:
    sensor: str
    indicators: int
    files: int
    matches: list[dict[str, Any]]
    recorded: Recorded
    hunted_to: datetime


def retro_hunt(
    db: Database, sensor: Sensor, *, record: bool = True, scope: Scope | None = None
) -> RetroReport:
    """Hunt the sensor's retained telemetry for the indicators published since its last
    retro-hunt (every published one the first time), then move its mark."""
    scope = scope or Scope()
    ctx = sensor_ctx(sensor)
    started = now()
    with db.reading() as session:
        idx = indicator_index.build_published_since(session, ctx, sensor.retro_hunted_to, scope)
    files = [p for p in sensor.retained_paths if _exists(p)]
    matches: list[dict[str, Any]] = []
    recorded = Recorded()
    if len(idx) and files:
        hunter = make_hunter(db, ctx, scope, sensor=sensor, index=idx)
        stream = hunter.hunt_paths(files)
        for m in recording(db, sensor if record else None, stream, recorded):
            matches.append(m.as_dict())
    with db.writing() as session:
        row = session.get(Sensor, sensor.id)
        if row is not None:
            row.retro_hunted_to = started
    return RetroReport(
        sensor.name, len(idx), len(expand(files)) if files else 0, matches, recorded, started
    )


def _exists(path: str) -> bool:
    return Path(path).exists()


def due_sensors(db: Database) -> list[Sensor]:
    """Enabled sensors with retained telemetry."""
    with db.reading() as session:
        rows = list(
            session.execute(sa.select(Sensor).where(Sensor.disabled.is_(False)).order_by(Sensor.id))
            .unique()
            .scalars()
        )
        session.expunge_all()
    return [s for s in rows if s.retained_paths]


# ---------------------------------------------------------------- indexes kept by the server


class IndexCache:
    """Indexes kept per reader view and scope for hunts shipped to the API: built once,
    then refreshed with what changed when older than `max_age` seconds (resolution checks
    every match in the database, so an entry gone stale never matches)."""

    def __init__(self, max_age: float = 60.0) -> None:
        self.max_age = max_age
        self._lock = threading.Lock()
        self._items: dict[tuple[Any, Scope], tuple[float, IndicatorIndex]] = {}

    def get(self, db: Database, ctx: Ctx, scope: Scope) -> IndicatorIndex:
        who = "site-admin" if ctx.principal.is_site_admin else ctx.org_id
        key = (who, scope)
        with self._lock:
            item = self._items.get(key)
            if item is None:
                idx = build_index(db, ctx, scope)
                self._items[key] = (time.monotonic(), idx)
                return idx
            at, idx = item
            if time.monotonic() - at > self.max_age:
                with db.reading() as session:
                    indicator_index.refresh(session, ctx, idx)
                self._items[key] = (time.monotonic(), idx)
            return idx

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


INDEXES = IndexCache()


def retro_hunt_all(db: Database, *, record: bool = True) -> list[RetroReport]:
    """A retro-hunt for every enabled sensor with retained telemetry (the periodic job)."""
    reports: list[RetroReport] = []
    for sensor in due_sensors(db):
        try:
            reports.append(retro_hunt(db, sensor, record=record))
        except Exception:
            log.exception("retro-hunt of sensor %s failed", sensor.name)
    return reports
