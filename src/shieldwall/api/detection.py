"""Detection in the native API: sensors (CRUD, keys) and hunts shipped in batches."""

from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.api.responses import OrjsonResponse
from shieldwall.db.engine import get_database
from shieldwall.detection import sensors as sensor_service
from shieldwall.detection import service
from shieldwall.detection.hunt import Hunter
from shieldwall.detection.index import Scope
from shieldwall.detection.models import Sensor
from shieldwall.detection.readers import FORMATS, binary_stream, parse_mapping
from shieldwall.intel.errors import Forbidden, InvalidInput
from shieldwall.text import Text

router = APIRouter(tags=["detection"])

# Matches one answer lists; the summary counts them all.
MAX_MATCHES = 10_000


class SensorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=255)
    org: str | int | None = None
    description: Text = ""
    networks: list[str] = Field(default_factory=list, max_length=1000)
    retained_paths: list[str] = Field(default_factory=list, max_length=100)


class SensorUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text | None = Field(default=None, min_length=1, max_length=255)
    description: Text | None = None
    networks: list[str] | None = Field(default=None, max_length=1000)
    retained_paths: list[str] | None = Field(default=None, max_length=100)
    disabled: bool | None = None


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: Text = ""


@router.get("/sensors")
def list_sensors(ctx: CurrentCtx, db: ReadDB, org: str | None = None) -> dict[str, Any]:
    """Sensors of the caller's organisation (org admins), or of any (site admins)."""
    return {
        "items": [sensor_service.sensor_out(s) for s in sensor_service.list_sensors(db, ctx, org)]
    }


@router.post("/sensors", status_code=201)
def create_sensor(body: SensorIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """Register a sensor; the answer holds its first key, shown once."""
    s = sensor_service.create_sensor(
        db,
        ctx,
        name=body.name,
        org_ref=body.org,
        networks=body.networks,
        retained_paths=body.retained_paths,
        description=body.description,
    )
    key, raw = sensor_service.issue_key(db, ctx, s, "created with the sensor")
    out = sensor_service.sensor_out(s, [key])
    db.commit()
    out["key"] = raw
    return out


@router.get("/sensors/{ref}")
def get_sensor(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    s = sensor_service.get_sensor(db, ctx, ref)
    return sensor_service.sensor_out(s, sensor_service.list_keys(db, ctx, s))


@router.patch("/sensors/{ref}")
def update_sensor(ref: str, body: SensorUpdate, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    s = sensor_service.get_sensor(db, ctx, ref)
    sensor_service.update_sensor(db, ctx, s, body.model_dump(exclude_unset=True))
    out = sensor_service.sensor_out(s, sensor_service.list_keys(db, ctx, s))
    db.commit()
    return out


@router.delete("/sensors/{ref}", status_code=204)
def delete_sensor(ref: str, ctx: CurrentCtx, db: WriteDB) -> None:
    s = sensor_service.get_sensor(db, ctx, ref)
    sensor_service.delete_sensor(db, ctx, s)
    db.commit()


@router.post("/sensors/{ref}/keys", status_code=201)
def issue_key(ref: str, ctx: CurrentCtx, db: WriteDB, body: KeyIn | None = None) -> dict[str, Any]:
    """A new key for the sensor, shown once."""
    s = sensor_service.get_sensor(db, ctx, ref)
    key, raw = sensor_service.issue_key(db, ctx, s, body.comment if body else "")
    out = sensor_service.key_out(key)
    db.commit()
    out["key"] = raw
    return out


@router.delete("/sensors/{ref}/keys/{key_ref}")
def revoke_key(ref: str, key_ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    s = sensor_service.get_sensor(db, ctx, ref)
    key = sensor_service.revoke_key(db, ctx, s, key_ref)
    out = sensor_service.key_out(key)
    db.commit()
    return out


@router.post("/hunt", response_model=None)
async def hunt(
    request: Request,
    ctx: CurrentCtx,
    fmt: Annotated[str, Query(alias="format")] = "auto",
    mapping: Annotated[list[str] | None, Query(alias="map", max_length=100)] = None,
    record: bool = True,
    sensor: Annotated[str | None, Query(max_length=255)] = None,
    include_expired: bool = False,
    include_warninglisted: bool = False,
    all_attributes: bool = False,
) -> OrjsonResponse:
    """Match a batch of telemetry (the body: Zeek TSV or JSON lines, eve.json, JSON lines or
    CSV with `map=field=kind`; gzip accepted) against the indicators the caller may see.
    With a sensor key (or `sensor=` naming one of the caller's organisation's sensors) the
    matches are recorded as sightings and alerts unless `record=false`."""
    if fmt not in FORMATS or fmt == "pcap":
        raise InvalidInput(
            f"format is one of {', '.join(f for f in FORMATS if f != 'pcap')}", field="format"
        )
    body = await request.body()
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(
        _hunt_batch,
        ctx,
        body,
        fmt,
        parse_mapping(mapping or []),
        record,
        sensor,
        Scope(
            include_expired=include_expired,
            include_warninglisted=include_warninglisted,
            all_attributes=all_attributes,
        ),
    )


def _hunt_batch(
    ctx: Any,
    body: bytes,
    fmt: str,
    mapping: dict[str, str],
    record: bool,
    sensor_ref: str | None,
    scope: Scope,
) -> OrjsonResponse:
    db = get_database()
    sensor: Sensor | None = None
    if ctx.principal.kind == sensor_service.SENSOR_KIND:
        if sensor_ref is not None:
            raise InvalidInput("a sensor key hunts as its own sensor", field="sensor")
        with db.reading() as session:
            sensor = session.get(Sensor, ctx.actor.extra["sensor_id"])
            if sensor is not None:
                session.expunge(sensor)
        if sensor is None or sensor.disabled:
            raise Forbidden("the sensor is gone or disabled")
    elif sensor_ref is not None:
        with db.reading() as session:
            sensor = sensor_service.get_sensor(session, ctx, sensor_ref)
            session.expunge(sensor)
        # The hunt reads with the sensor's view, never the caller's wider one.
        ctx = sensor_service.sensor_ctx(sensor, ctx.opts, ip=ctx.actor.ip)
    index = service.INDEXES.get(db, ctx, scope)
    hunter = Hunter(
        index,
        service.db_resolver(db, ctx, scope),
        sensor=sensor.name if sensor else None,
        fmt=fmt,
        mapping=mapping,
    )
    recorded = service.Recorded()
    matches: list[dict[str, Any]] = []
    stream = hunter.hunt_stream("request", binary_stream(io.BytesIO(body)))
    for m in service.recording(db, sensor if record else None, stream, recorded, ctx.actor):
        if len(matches) < MAX_MATCHES:
            matches.append(m.as_dict())
    out: dict[str, Any] = {"matches": matches, "summary": hunter.summary.as_dict()}
    if sensor is not None and record:
        out["recorded"] = recorded.as_dict()
    return OrjsonResponse(out)
