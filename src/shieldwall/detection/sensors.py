"""Sensors: registered principals of an organisation, managed by its org admins (site admins
manage every organisation's). A sensor reads exactly what its organisation may read, never
more: its principal carries the organisation and no permission beyond API access, so every
condition of intel/visibility.py applies to it as to a plain member of the organisation."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.audit.service import Actor, record
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import (
    KEY_LENGTH,
    get_org,
    hash_api_key,
    mark_revoked,
    new_key,
    parse_networks,
)
from shieldwall.context import Ctx
from shieldwall.detection.models import Sensor, SensorKey
from shieldwall.ids import as_id
from shieldwall.intel.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from shieldwall.intel.visibility import Principal, ReadOptions
from shieldwall.server_settings import read_options

SENSOR_KIND = "sensor"
MAX_NAME = 255
MAX_LIST = 1000


def sensor_principal(sensor: Sensor) -> Principal:
    """The reader a sensor is: its organisation's read view, and the alerts it sends."""
    return Principal(
        org_id=sensor.org_id,
        permissions=frozenset({Permission.API_ACCESS, Permission.ALERT_CREATE}),
        kind=SENSOR_KIND,
        email=sensor.name,
    )


def sensor_ctx(
    sensor: Sensor,
    opts: ReadOptions | None = None,
    *,
    ip: str | None = None,
    request_id: str | None = None,
) -> Ctx:
    actor = Actor(
        org_id=sensor.org_id,
        ip=ip,
        request_id=request_id,
        label=f"sensor {sensor.name}",
        extra={"sensor_id": sensor.id},
    )
    return Ctx(sensor_principal(sensor), actor, opts or read_options())


def _may_manage(ctx: Ctx, org_id: int) -> bool:
    return ctx.principal.is_site_admin or (
        ctx.principal.can(Permission.ORG_ADMIN) and ctx.org_id == org_id
    )


def _networks(values: Sequence[str] | None) -> list[str]:
    return list(dict.fromkeys(parse_networks(values, "networks")))


def _paths(values: Sequence[str] | None) -> list[str]:
    out: list[str] = []
    for i, raw in enumerate(values or []):
        text = str(raw).strip()
        if not text or "\x00" in text:
            raise InvalidInput("a retained path is a non-empty path", field=f"retained_paths[{i}]")
        out.append(text)
    return out


def _name(value: Any) -> str:
    name = str(value or "").strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(f"a sensor has a name of 1 to {MAX_NAME} characters", field="name")
    if any(ord(c) < 32 for c in name):
        raise InvalidInput("a sensor name has no control characters", field="name")
    return name


def _name_free(session: Session, org_id: int, name: str) -> None:
    taken = session.execute(
        sa.select(Sensor.id).where(Sensor.org_id == org_id, Sensor.name == name)
    ).first()
    if taken is not None:
        raise Conflict(f"the organisation already has a sensor named {name!r}", field="name")


def _out(sensor: Sensor) -> dict[str, Any]:
    return {
        "name": sensor.name,
        "org_id": sensor.org_id,
        "networks": list(sensor.networks),
        "retained_paths": list(sensor.retained_paths),
        "disabled": sensor.disabled,
    }


def create_sensor(
    session: Session,
    ctx: Ctx,
    *,
    name: str,
    org_ref: str | int | None = None,
    networks: Sequence[str] | None = None,
    retained_paths: Sequence[str] | None = None,
    description: str = "",
) -> Sensor:
    org_id = ctx.org_id if org_ref in (None, "") else get_org(session, org_ref).id
    if not _may_manage(ctx, org_id):
        raise Forbidden("only the organisation's admins and site admins manage its sensors")
    sensor = Sensor(
        org_id=org_id,
        name=_name(name),
        networks=_networks(networks),
        retained_paths=_paths(retained_paths),
        description=description,
        # A new sensor's retained telemetry has seen nothing yet: its first retro-hunt
        # covers every indicator published so far.
        retro_hunted_to=None,
    )
    _name_free(session, org_id, sensor.name)
    session.add(sensor)
    session.flush()
    record(
        session,
        ctx.actor,
        "create",
        "Sensor",
        model_id=sensor.id,
        model_uuid=sensor.uuid,
        title=sensor.name,
        change=_out(sensor),
    )
    return sensor


def get_sensor(
    session: Session, ctx: Ctx, ref: str | int, org_ref: str | int | None = None
) -> Sensor:
    """A sensor by id, uuid or name (a name within `org_ref`, else the caller's
    organisation); only to those who manage its organisation."""
    q = sa.select(Sensor)
    if as_id(ref) is not None:
        q = q.where(Sensor.id == as_id(ref))
    else:
        org_id = ctx.org_id if org_ref in (None, "") else get_org(session, org_ref).id
        q = q.where(
            sa.or_(
                Sensor.uuid == str(ref), sa.and_(Sensor.name == str(ref), Sensor.org_id == org_id)
            )
        )
    sensor = session.execute(q).scalars().first()
    if sensor is None or not _may_manage(ctx, sensor.org_id):
        raise NotFound(f"sensor {ref!r} not found", field="sensor")
    return sensor


def list_sensors(session: Session, ctx: Ctx, org_ref: str | int | None = None) -> list[Sensor]:
    q = sa.select(Sensor).order_by(Sensor.org_id, Sensor.name).limit(MAX_LIST)
    if org_ref not in (None, ""):
        q = q.where(Sensor.org_id == get_org(session, org_ref).id)
    if not ctx.principal.is_site_admin:
        if not ctx.principal.can(Permission.ORG_ADMIN):
            raise Forbidden("only org admins and site admins manage sensors")
        q = q.where(Sensor.org_id == ctx.org_id)
    return list(session.execute(q).scalars())


def update_sensor(session: Session, ctx: Ctx, sensor: Sensor, data: dict[str, Any]) -> Sensor:
    if not _may_manage(ctx, sensor.org_id):
        raise Forbidden("only the organisation's admins and site admins manage its sensors")
    before = _out(sensor)
    if "name" in data and data["name"] is not None:
        name = _name(data["name"])
        if name != sensor.name:
            taken = session.execute(
                sa.select(Sensor.id).where(Sensor.org_id == sensor.org_id, Sensor.name == name)
            ).first()
            if taken is not None:
                raise Conflict(
                    f"the organisation already has a sensor named {name!r}", field="name"
                )
            sensor.name = name
    if data.get("networks") is not None:
        sensor.networks = _networks(data["networks"])
    if data.get("retained_paths") is not None:
        sensor.retained_paths = _paths(data["retained_paths"])
    if data.get("description") is not None:
        sensor.description = str(data["description"])
    if data.get("disabled") is not None:
        sensor.disabled = bool(data["disabled"])
    session.flush()
    after = _out(sensor)
    record(
        session,
        ctx.actor,
        "update",
        "Sensor",
        model_id=sensor.id,
        model_uuid=sensor.uuid,
        title=sensor.name,
        change={k: v for k, v in after.items() if before[k] != v},
    )
    return sensor


def delete_sensor(session: Session, ctx: Ctx, sensor: Sensor) -> None:
    if not _may_manage(ctx, sensor.org_id):
        raise Forbidden("only the organisation's admins and site admins manage its sensors")
    record(
        session,
        ctx.actor,
        "delete",
        "Sensor",
        model_id=sensor.id,
        model_uuid=sensor.uuid,
        title=sensor.name,
        change=_out(sensor),
    )
    session.delete(sensor)
    session.flush()


# ---------------------------------------------------------------- keys


def issue_key(
    session: Session, ctx: Ctx, sensor: Sensor, comment: str = ""
) -> tuple[SensorKey, str]:
    """A new key for the sensor; returns (row, clear key). The clear key is never stored."""
    if not _may_manage(ctx, sensor.org_id):
        raise Forbidden("only the organisation's admins and site admins manage its sensors")
    raw, stored = new_key()
    key = SensorKey(sensor_id=sensor.id, **stored, comment=comment)
    session.add(key)
    session.flush()
    record(
        session,
        ctx.actor,
        "key_create",
        "SensorKey",
        model_id=key.id,
        model_uuid=key.uuid,
        title=f"{raw[:4]}...{raw[-4:]} for sensor {sensor.name}",
        change={"sensor_id": sensor.id},
    )
    return key, raw


def list_keys(session: Session, ctx: Ctx, sensor: Sensor) -> list[SensorKey]:
    if not _may_manage(ctx, sensor.org_id):
        raise Forbidden("only the organisation's admins and site admins manage its sensors")
    return list(
        session.execute(
            sa.select(SensorKey).where(SensorKey.sensor_id == sensor.id).order_by(SensorKey.id)
        ).scalars()
    )


def revoke_key(session: Session, ctx: Ctx, sensor: Sensor, key_ref: str | int) -> SensorKey:
    q = sa.select(SensorKey).where(SensorKey.sensor_id == sensor.id)
    if as_id(key_ref) is not None:
        q = q.where(SensorKey.id == as_id(key_ref))
    else:
        q = q.where(SensorKey.uuid == str(key_ref))
    key = session.execute(q).scalars().first()
    if key is None or not _may_manage(ctx, sensor.org_id):
        raise NotFound(f"sensor key {key_ref!r} not found", field="key")
    mark_revoked(
        session, ctx.actor, key, "SensorKey", f" of sensor {sensor.name}", {"sensor_id": sensor.id}
    )
    return key


def find_key(session: Session, raw: str) -> SensorKey | None:
    """The sensor key with this clear text, or None when it is no sensor's key."""
    raw = raw.strip()
    if len(raw) != KEY_LENGTH:
        return None
    digest = hash_api_key(raw)
    key = session.execute(
        sa.select(SensorKey).where(SensorKey.key_hash == digest)
    ).scalar_one_or_none()
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        return None
    return key


def authenticate(key: SensorKey) -> Sensor:
    """The sensor a found key speaks for, once the key and the sensor are checked."""
    if key.revoked_at is not None:
        raise Unauthorized("the sensor key has been revoked")
    if key.sensor.disabled:
        raise Unauthorized("the sensor is disabled")
    return key.sensor


def sensor_out(sensor: Sensor, keys: Sequence[SensorKey] = ()) -> dict[str, Any]:
    return {
        "id": sensor.id,
        "uuid": sensor.uuid,
        "org_id": sensor.org_id,
        "org": sensor.org.name,
        "name": sensor.name,
        "description": sensor.description,
        "networks": list(sensor.networks),
        "retained_paths": list(sensor.retained_paths),
        "disabled": sensor.disabled,
        "retro_hunted_to": sensor.retro_hunted_to.isoformat() if sensor.retro_hunted_to else None,
        "created_at": sensor.created_at.isoformat(),
        "modified_at": sensor.modified_at.isoformat(),
        "keys": [key_out(k) for k in keys],
    }


def key_out(key: SensorKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "uuid": key.uuid,
        "key": f"{key.key_start}...{key.key_end}",
        "comment": key.comment,
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }
