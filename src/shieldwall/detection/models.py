"""Sensors: principals of an organisation that hunt with its read view, and their keys."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shieldwall.auth.models import Organisation
from shieldwall.clock import now
from shieldwall.db.base import Base, UTCDateTime, new_uuid


class Sensor(Base):
    """A sensor of an organisation: its name goes on the sightings and alerts it causes."""

    __tablename__ = "sensors"
    __table_args__ = (sa.UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    org_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    # The networks the sensor watches, as CIDR blocks.
    networks: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # Directories (or files) of telemetry the sensor keeps, hunted again by retro-hunts.
    retained_paths: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    disabled: Mapped[bool] = mapped_column(default=False)
    # Indicators published up to this time have been hunted in the retained telemetry.
    retro_hunted_to: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    org: Mapped[Organisation] = relationship(lazy="joined", innerjoin=True)


class SensorKey(Base):
    """An API key of a sensor: 40 characters, shown once, stored as a SHA-256 hash."""

    __tablename__ = "sensor_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    sensor_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sensors.id", ondelete="CASCADE"), index=True
    )
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    key_start: Mapped[str] = mapped_column(sa.String(4))
    key_end: Mapped[str] = mapped_column(sa.String(4))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    sensor: Mapped[Sensor] = relationship(lazy="joined", innerjoin=True)
