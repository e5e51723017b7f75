"""Lifecycle settings a site admin changed; types without a row use the built-in defaults."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from shieldwall.clock import now
from shieldwall.db.base import Base, UTCDateTime


class LifecycleSetting(Base):
    """The parameters of one attribute type, or of every other type (attribute_type
    "default"), as MISP's polynomial decaying model names them."""

    __tablename__ = "lifecycle_settings"
    __table_args__ = (
        sa.CheckConstraint("lifetime_days > 0", name="lifetime_days"),
        sa.CheckConstraint("decay_speed > 0", name="decay_speed"),
        sa.CheckConstraint("threshold BETWEEN 0 AND 100", name="threshold"),
        sa.CheckConstraint("default_base_score BETWEEN 0 AND 100", name="default_base_score"),
        sa.CheckConstraint("false_positive_penalty BETWEEN 0 AND 1", name="false_positive_penalty"),
    )

    attribute_type: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    lifetime_days: Mapped[float] = mapped_column(sa.Float)
    decay_speed: Mapped[float] = mapped_column(sa.Float)
    threshold: Mapped[float] = mapped_column(sa.Float)
    default_base_score: Mapped[float] = mapped_column(sa.Float)
    false_positive_penalty: Mapped[float] = mapped_column(sa.Float)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)
    modified_by: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
