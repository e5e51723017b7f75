"""Property test: a sensor reads exactly what its organisation may read. Hypothesis builds
worlds of organisations, sharing groups, events, objects and attributes (the access-rule
property test's generator); a hunt over telemetry holding every value, by a sensor of each
organisation, matches exactly the attributes the plain-Python reference model lets a
member of that organisation read: nothing more, nothing less."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from hypothesis import HealthCheck, given, note, settings

from shieldwall.detection.hunt import Hunter, db_resolver
from shieldwall.detection.index import Scope, build
from shieldwall.detection.models import Sensor
from shieldwall.detection.sensors import sensor_ctx
from shieldwall.intel.models import Attribute
from shieldwall.intel.visibility import ReadOptions
from tests import reference_model as ref
from tests.intel.test_access_rules_property import WorldSpec, _insert, _reset, worlds

# Every attribute counts: the world's attributes are not marked to_ids, and unpublished
# events are part of the rules under test.
SCOPE = Scope(all_attributes=True, include_unpublished=True)


def _telemetry(instance: Any, tmp: Path) -> list[str]:
    """A Zeek conn log and a dns log holding every stored value."""
    with instance.db.reading() as s:
        rows = s.execute(sa.select(Attribute.type, Attribute.value1)).all()
    conn = [
        {"ts": 1.0, "uid": "C", "id.orig_h": "10.200.0.1", "id.resp_h": v, "conn_state": "SF"}
        for t, v in rows
        if t == "ip-dst"
    ]
    dns = [
        {"ts": 1.0, "uid": "C", "id.orig_h": "10.200.0.1", "query": v, "qtype_name": "A"}
        for t, v in rows
        if t == "domain"
    ]
    paths = []
    for name, lines in (("conn.log", conn), ("dns.log", dns)):
        (tmp / name).write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
        paths.append(str(tmp / name))
    return paths


def _check(instance: Any, spec: WorldSpec, tmp: Path) -> None:
    with instance.db.engine.begin() as conn:
        conn.execute(sa.delete(Sensor))
    _reset(instance)
    world, _ = _insert(instance, spec)
    note(f"world: {world}")
    opts = ReadOptions(spec.unpublished_private, spec.sighting_policy)
    ref_opts = ref.Options(spec.unpublished_private, spec.sighting_policy)
    logs = _telemetry(instance, tmp)
    with instance.db.writing() as s:
        org_ids = sorted({e.org_id for e in world.events.values()} | {instance.host_org_id})
        org_ids += [
            o for (o,) in s.execute(sa.text("SELECT id FROM organisations")) if o not in org_ids
        ]
        sensors = [Sensor(org_id=o, name=f"s{o}") for o in org_ids]
        s.add_all(sensors)
        s.flush()
        for sensor in sensors:
            s.refresh(sensor)
        s.expunge_all()
    for sensor in sensors:
        ctx = sensor_ctx(sensor, opts)
        with instance.db.reading() as s:
            index = build(s, ctx, SCOPE)
        hunter = Hunter(index, db_resolver(instance.db, ctx, SCOPE), sensor=sensor.name)
        got = {m.indicator.attribute_id for m in hunter.hunt_paths(logs)}
        want = world.readable_attributes(ref.Reader(sensor.org_id, False), ref_opts)
        assert got == want, (sensor.org_id, sorted(got ^ want))


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=worlds())
def test_a_sensor_hunts_with_exactly_its_organisations_view(
    instance, tmp_path: Path, spec: WorldSpec
) -> None:
    _check(instance, spec, tmp_path)
