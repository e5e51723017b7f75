"""Feeds this instance fetches: where from, in which format, what the events become, and
what has been seen of each MISP feed's manifest so the next fetch is incremental."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shieldwall.auth.models import Organisation
from shieldwall.clock import now
from shieldwall.db.base import Base, UTCDateTime
from shieldwall.intel.models import SharingGroup, Tag

SOURCE_FORMATS = ("misp", "csv", "freetext", "taxii")
# never: not fetched yet; ok: the last fetch imported everything; partial: some events
# failed (retried next time); failed: nothing could be read; fetching: a fetch holds the feed.
STATUSES = ("never", "ok", "partial", "failed", "fetching")


class Feed(Base):
    __tablename__ = "feeds"
    __table_args__ = (
        sa.CheckConstraint(
            "source_format IN ('misp', 'csv', 'freetext', 'taxii')", name="source_format"
        ),
        sa.CheckConstraint("distribution BETWEEN 0 AND 5", name="distribution"),
        sa.CheckConstraint("schedule_minutes >= 0", name="schedule"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255), unique=True)
    provider: Mapped[str] = mapped_column(sa.String(255), default="")
    # An http(s) URL, or a directory (MISP feeds) or file (CSV, freetext) on this machine;
    # for TAXII feeds, the API root's URL.
    url: Mapped[str] = mapped_column(sa.String(2048))
    source_format: Mapped[str] = mapped_column(sa.String(16), default="misp")
    enabled: Mapped[bool] = mapped_column(default=False)
    # What created events get; 5 (MISP feeds only) keeps the distributions the feed carries.
    distribution: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    sharing_group_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sharing_groups.id", ondelete="SET NULL"), default=None
    )
    # The organisation that owns (org) the events the feed creates.
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    tag_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("tags.id", ondelete="SET NULL"), default=None
    )
    # Publish events after each fetch; make every attribute not for IDS (CSV, freetext).
    publish: Mapped[bool] = mapped_column(default=False)
    override_ids: Mapped[bool] = mapped_column(default=False)
    # CSV and freetext: one event kept up to date by every fetch (fixed_event) or a new
    # event per fetch; delta_merge soft-deletes values the source no longer lists.
    fixed_event: Mapped[bool] = mapped_column(default=True)
    delta_merge: Mapped[bool] = mapped_column(default=False)
    event_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("events.id", ondelete="SET NULL"), default=None
    )
    # CSV column mapping: 1-based columns, as MISP numbers them.
    csv_value_column: Mapped[int] = mapped_column(sa.SmallInteger, default=1)
    csv_type_column: Mapped[int | None] = mapped_column(sa.SmallInteger, default=None)
    default_type: Mapped[str | None] = mapped_column(sa.String(100), default=None)
    csv_delimiter: Mapped[str] = mapped_column(sa.String(4), default=",")
    csv_skip_lines: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    # Minutes between scheduled fetches; 0 fetches only when asked.
    schedule_minutes: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(sa.String(16), default="never")
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    last_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # When the running fetch took the feed: a claim older than the stale limit is free again.
    fetch_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    org: Mapped[Organisation] = relationship(lazy="joined", innerjoin=True)
    tag: Mapped[Tag | None] = relationship(lazy="joined")
    sharing_group: Mapped[SharingGroup | None] = relationship(lazy="joined")


class FeedEventState(Base):
    """A MISP feed's manifest entry as last imported: its timestamp, and the event it is."""

    __tablename__ = "feed_events"
    __table_args__ = (sa.UniqueConstraint("feed_id", "event_uuid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    feed_id: Mapped[int] = mapped_column(sa.ForeignKey("feeds.id", ondelete="CASCADE"))
    event_uuid: Mapped[str] = mapped_column(sa.String(36))
    # The manifest's timestamp (epoch seconds) of the copy imported.
    timestamp: Mapped[int] = mapped_column(sa.BigInteger)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class TaxiiFeedSource(Base):
    """A TAXII 2.1 feed's collection, credentials and filters, and how far it has been read:
    the X-TAXII-Date-Added-Last of the last page imported, sent as added_after next time.
    The credentials are kept as given (they are sent to the server) and never shown."""

    __tablename__ = "feed_taxii"

    feed_id: Mapped[int] = mapped_column(
        sa.ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True
    )
    collection: Mapped[str] = mapped_column(sa.String(255))
    username: Mapped[str] = mapped_column(sa.String(255), default="")
    password: Mapped[str] = mapped_column(sa.Text, default="")
    types: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    added_after: Mapped[str | None] = mapped_column(sa.String(40), default=None)
