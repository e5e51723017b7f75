"""TAXII's stored state: collections (saved searches with per-organisation rights), the STIX
objects rendered from events or posted by clients, and the status of each POST."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shieldwall.auth.models import Organisation
from shieldwall.clock import now
from shieldwall.db.base import Base, UTCDateTime, new_uuid
from shieldwall.intel.models import SharingGroup

STATUSES = ("pending", "complete")


class TaxiiCollection(Base):
    """A collection is a saved search over the intel store: events by tag, creator
    organisation, sharing group, attribute type and published flag (each empty = any)."""

    __tablename__ = "taxii_collections"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    title: Mapped[str] = mapped_column(sa.String(255), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    alias: Mapped[str | None] = mapped_column(sa.String(255), unique=True, default=None)
    tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    org_ids: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    sharing_group_ids: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    types: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    published_only: Mapped[bool] = mapped_column(default=False)
    # The distribution (and sharing group, for 4) of the events made from objects posted to
    # the collection.
    distribution: Mapped[int] = mapped_column(sa.SmallInteger, default=1, server_default="1")
    sharing_group_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sharing_groups.id", ondelete="SET NULL"), default=None
    )
    sharing_group: Mapped[SharingGroup | None] = relationship(lazy="select")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    rights: Mapped[list[TaxiiCollectionOrg]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )


class TaxiiCollectionOrg(Base):
    """What one organisation's users may do with a collection."""

    __tablename__ = "taxii_collection_orgs"
    __table_args__ = (sa.UniqueConstraint("collection_id", "org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    collection_id: Mapped[int] = mapped_column(
        sa.ForeignKey("taxii_collections.id", ondelete="CASCADE")
    )
    org_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    can_read: Mapped[bool] = mapped_column(default=True)
    can_write: Mapped[bool] = mapped_column(default=False)

    org: Mapped[Organisation] = relationship(lazy="joined", innerjoin=True)


class StixObject(Base):
    """One version of one STIX object, its JSON body stored as served.

    Rendered objects are tied to what they come from, and readers see them through that:
    event_id (None for objects shared by several events: identities, markings, galaxy
    clusters; see StixObjectEvent), attribute_id or object_id (the attribute or MISP object
    rendered), ref_attribute_id or ref_object_id (a relationship's target). Posted objects are
    tied to the event their bundle was imported as, and to the collection they were posted
    to (collection_id). `container` marks reports and groupings, whose object_refs are cut
    to what the reader may see when served."""

    __tablename__ = "taxii_objects"
    __table_args__ = (
        sa.Index("ix_taxii_objects_date_added_id", "date_added", "id"),
        sa.Index("ix_taxii_objects_stix_id_version", "stix_id", "version"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    stix_id: Mapped[str] = mapped_column(sa.String(300))
    type: Mapped[str] = mapped_column(sa.String(250))
    spec_version: Mapped[str] = mapped_column(sa.String(10), default="2.1")
    version: Mapped[datetime] = mapped_column(UTCDateTime)
    date_added: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(sa.Text)
    is_latest: Mapped[bool] = mapped_column(default=True)
    is_first: Mapped[bool] = mapped_column(default=True)
    container: Mapped[bool] = mapped_column(default=False)
    event_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("events.id", ondelete="CASCADE"), index=True, default=None
    )
    attribute_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("attributes.id", ondelete="CASCADE"), index=True, default=None
    )
    object_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("objects.id", ondelete="CASCADE"), index=True, default=None
    )
    ref_attribute_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("attributes.id", ondelete="CASCADE"), index=True, default=None
    )
    ref_object_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("objects.id", ondelete="CASCADE"), index=True, default=None
    )
    collection_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("taxii_collections.id", ondelete="CASCADE"), index=True, default=None
    )


class StixObjectEvent(Base):
    """A shared object (event_id None) is readable by whoever may read one of these events."""

    __tablename__ = "taxii_object_events"

    object_row_id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        sa.ForeignKey("taxii_objects.id", ondelete="CASCADE"),
        primary_key=True,
    )
    event_id: Mapped[int] = mapped_column(
        sa.ForeignKey("events.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class StixEventState(Base):
    """The event timestamp (and publish timestamp) the stored objects were rendered from.

    A `posted` event was imported from a TAXII POST to `collection_id`: its posted objects
    stand for it, and for each attribute and MISP object no later than `posted_mark`; what
    is edited or added after that is rendered as for any event, into the same collection."""

    __tablename__ = "taxii_event_state"

    event_id: Mapped[int] = mapped_column(
        sa.ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    rendered_timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Publishing does not move the event's timestamp but turns its grouping into a report.
    rendered_publish_timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    posted: Mapped[bool] = mapped_column(default=False)
    collection_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("taxii_collections.id", ondelete="SET NULL"), index=True, default=None
    )
    posted_mark: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class TaxiiStatus(Base):
    """A POST to a collection's objects, completed in the background."""

    __tablename__ = "taxii_statuses"
    __table_args__ = (sa.CheckConstraint("status IN ('pending', 'complete')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    collection_id: Mapped[int] = mapped_column(
        sa.ForeignKey("taxii_collections.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    request_timestamp: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    total_count: Mapped[int] = mapped_column(default=0)
    success_count: Mapped[int] = mapped_column(default=0)
    failure_count: Mapped[int] = mapped_column(default=0)
    pending_count: Mapped[int] = mapped_column(default=0)
    successes: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    failures: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    pendings: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    # The envelope as posted, dropped once the status is complete.
    envelope: Mapped[str | None] = mapped_column(sa.Text, default=None)
    # When a worker took the status: a claim older than a few minutes is free again.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
