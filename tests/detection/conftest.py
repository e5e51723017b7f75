"""Fixtures for hunts: organisations A and B with a sensor each, and published intel."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from shieldwall.auth import service as auth
from shieldwall.context import Ctx, system_ctx
from shieldwall.detection import sensors as sensor_service
from shieldwall.detection.hunt import Hunter, Match, db_resolver
from shieldwall.detection.index import Scope, build
from shieldwall.detection.models import Sensor
from shieldwall.detection.service import INDEXES
from shieldwall.intel import events as event_service
from shieldwall.intel.schemas import EventIn


@dataclass
class SensorInfo:
    id: int
    name: str
    org_id: int
    key: str


@dataclass
class World:
    instance: Any
    org_a: int
    org_b: int
    sensor_a: SensorInfo
    sensor_b: SensorInfo

    def publish(
        self,
        org_id: int,
        attributes: Sequence[tuple[str, str] | dict[str, Any]],
        *,
        distribution: int = 1,
        published: bool = True,
        info: str = "hunt intel",
        threat_level_id: int = 2,
        tags: Sequence[str] = (),
        sharing_group_id: int | None = None,
    ) -> dict[str, Any]:
        """An event of the organisation with these attributes (to_ids unless said)."""
        attrs = [
            {"type": a[0], "value": a[1], "to_ids": True} if isinstance(a, tuple) else a
            for a in attributes
        ]
        ctx = system_ctx(org_id)
        with self.instance.db.writing() as session:
            ev = event_service.create_event(
                session,
                ctx,
                EventIn.model_validate(
                    {
                        "info": info,
                        "distribution": distribution,
                        "threat_level_id": threat_level_id,
                        "sharing_group_id": sharing_group_id,
                        "attributes": attrs,
                        "tags": [{"name": t} for t in tags],
                    }
                ),
            )
            if published:
                event_service.publish_event(session, ctx, ev.id)
            out = {"id": ev.id, "uuid": ev.uuid}
        INDEXES.clear()
        return out

    def ctx(self, sensor: SensorInfo) -> Ctx:
        with self.instance.db.reading() as session:
            s = session.get(Sensor, sensor.id)
            assert s is not None
            return sensor_service.sensor_ctx(s)

    def hunter(
        self, sensor: SensorInfo | None = None, scope: Scope | None = None, **kw: Any
    ) -> Hunter:
        scope = scope or Scope()
        ctx = self.ctx(sensor) if sensor else system_ctx(self.instance.host_org_id)
        with self.instance.db.reading() as session:
            index = build(session, ctx, scope)
        return Hunter(
            index,
            db_resolver(self.instance.db, ctx, scope),
            sensor=sensor.name if sensor else None,
            **kw,
        )

    def hunt(self, paths: list[str], sensor: SensorInfo | None = None, **kw: Any) -> list[Match]:
        return list(self.hunter(sensor, **kw).hunt_paths(paths))


def _sensor(instance: Any, org_id: int, name: str) -> SensorInfo:
    ctx = system_ctx(instance.host_org_id)
    with instance.db.writing() as session:
        s = sensor_service.create_sensor(
            session, ctx, name=name, org_ref=org_id, networks=["10.1.0.0/16"]
        )
        _, raw = sensor_service.issue_key(session, ctx, s)
        return SensorInfo(s.id, s.name, s.org_id, raw)


@pytest.fixture
def world(instance: Any) -> World:
    ctx = system_ctx(instance.host_org_id)
    with instance.db.writing() as session:
        a = auth.create_org(session, ctx, {"name": "ORG-A"}).id
        b = auth.create_org(session, ctx, {"name": "ORG-B"}).id
    INDEXES.clear()
    return World(instance, a, b, _sensor(instance, a, "zeek-a"), _sensor(instance, b, "suricata-b"))
