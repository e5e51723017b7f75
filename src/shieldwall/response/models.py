"""Alerts: an indicator seen by a sensor, one row per (sensor, attribute, observable)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from shieldwall.clock import now
from shieldwall.db.base import Base, UTCDateTime, new_uuid

ALERT_STATUSES = ("new",)
SEVERITIES = ("low", "medium", "high")


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        sa.UniqueConstraint("sensor_id", "attribute_id", "observable_key"),
        sa.Index("ix_alerts_org_id_id", "org_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    # The organisation the alert belongs to: the sensor's.
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id", ondelete="CASCADE"))
    sensor_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sensors.id", ondelete="SET NULL"), index=True, default=None
    )
    sensor_name: Mapped[str] = mapped_column(sa.String(255))
    title: Mapped[str] = mapped_column(sa.Text)
    severity: Mapped[str] = mapped_column(sa.String(16), default="medium")
    status: Mapped[str] = mapped_column(sa.String(32), default="new")
    attribute_id: Mapped[int] = mapped_column(
        sa.ForeignKey("attributes.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int] = mapped_column(
        sa.ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    observable: Mapped[str] = mapped_column(sa.Text)
    # The observable's first 200 characters: the deduplication key stays indexable.
    observable_key: Mapped[str] = mapped_column(sa.String(200))
    field: Mapped[str] = mapped_column(sa.String(255), default="")
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    count: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)
