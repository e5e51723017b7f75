"""MISP's collaboration records on an event: proposals (shadow attributes) and event reports."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from shieldwall.clock import now
from shieldwall.db.base import Base, UTCDateTime, ValueText, new_uuid


class ShadowAttribute(Base):
    """A proposal by another organisation: a new attribute (old_id None), a change to the
    attribute old_id, or its deletion (proposal_to_delete). Applied only when the event's
    owner accepts it."""

    __tablename__ = "shadow_attributes"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    event_id: Mapped[int] = mapped_column(
        sa.ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    # The proposal goes with the attribute it would change.
    old_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("attributes.id", ondelete="CASCADE"), index=True, default=None
    )
    org_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(sa.String(255), default="")
    category: Mapped[str] = mapped_column(sa.String(255))
    type: Mapped[str] = mapped_column(sa.String(100))
    value1: Mapped[str] = mapped_column(ValueText)
    value2: Mapped[str] = mapped_column(ValueText, default="")
    to_ids: Mapped[bool] = mapped_column(default=False)
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    first_seen: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    proposal_to_delete: Mapped[bool] = mapped_column(default=False)
    deleted: Mapped[bool] = mapped_column(default=False)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    disable_correlation: Mapped[bool] = mapped_column(default=False)

    @property
    def value(self) -> str:
        return f"{self.value1}|{self.value2}" if self.value2 else self.value1


class EventReport(Base):
    """A markdown report attached to an event, with its own distribution (5 = the event's)."""

    __tablename__ = "event_reports"
    __table_args__ = (sa.CheckConstraint("distribution BETWEEN 0 AND 5", name="distribution"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    event_id: Mapped[int] = mapped_column(
        sa.ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(255))
    content: Mapped[str] = mapped_column(sa.Text, default="")
    distribution: Mapped[int] = mapped_column(sa.SmallInteger, default=5)
    sharing_group_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sharing_groups.id"), index=True, default=None
    )
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    deleted: Mapped[bool] = mapped_column(default=False)
