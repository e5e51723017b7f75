"""Correlation tables: exclusions, and the two per-attribute indexes that the attribute value
indexes cannot answer (IP containment, ssdeep similarity)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from shieldwall.clock import now
from shieldwall.db.base import Base, UTCDateTime


class CorrelationExclusion(Base):
    """A value that never correlates; `%` matches any run of characters (MISP's rule)."""

    __tablename__ = "correlation_exclusions"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(1024), unique=True)
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class CorrelationNetwork(Base):
    """The address or network of an IP attribute (value1 of ip-src, ip-dst and their |port
    forms): `lo` is the first address as big-endian bytes (4 or 16), `hi` the last one for a
    network written as a CIDR and NULL for a single address."""

    __tablename__ = "correlation_networks"
    __table_args__ = (
        sa.Index("ix_correlation_networks_family_lo", "family", "lo"),
        sa.Index(
            "ix_correlation_networks_ranges",
            "family",
            "plen",
            sqlite_where=sa.text("hi IS NOT NULL"),
            postgresql_where=sa.text("hi IS NOT NULL"),
        ),
    )

    attribute_id: Mapped[int] = mapped_column(
        sa.ForeignKey("attributes.id", ondelete="CASCADE"), primary_key=True
    )
    family: Mapped[int] = mapped_column(sa.SmallInteger)
    plen: Mapped[int] = mapped_column(sa.SmallInteger)
    lo: Mapped[bytes] = mapped_column(sa.LargeBinary(16))
    hi: Mapped[bytes | None] = mapped_column(sa.LargeBinary(16), default=None)


class CorrelationSsdeep(Base):
    """The seven-character chunks of an ssdeep hash at the block sizes it can be compared
    at: two hashes score above zero only when they share one."""

    __tablename__ = "correlation_ssdeep"
    __table_args__ = (sa.Index("ix_correlation_ssdeep_chunk", "block_size", "chunk"),)

    attribute_id: Mapped[int] = mapped_column(
        sa.ForeignKey("attributes.id", ondelete="CASCADE"), primary_key=True
    )
    block_size: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    chunk: Mapped[str] = mapped_column(sa.String(7), primary_key=True)
