"""MISP's intel model: events, attributes, objects, references, tags, sightings, sharing groups."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shieldwall.auth.models import Organisation
from shieldwall.clock import now
from shieldwall.db.base import Base, UTCDateTime, ValueText, new_uuid

# Indexed prefix of a value: long values (YARA rules, text) exceed PostgreSQL's b-tree row
# limit, so the index holds the first VALUE_KEY_LEN characters and queries re-check the value.
VALUE_KEY_LEN = 200


class SharingGroup(Base):
    __tablename__ = "sharing_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(sa.String(255), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    releasability: Mapped[str] = mapped_column(sa.Text, default="")
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    roaming: Mapped[bool] = mapped_column(default=False)
    local: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    org: Mapped[Organisation] = relationship(lazy="joined", innerjoin=True)
    members: Mapped[list[SharingGroupOrg]] = relationship(
        back_populates="sharing_group", cascade="all, delete-orphan", lazy="selectin"
    )
    servers: Mapped[list[SharingGroupServer]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )


class SharingGroupOrg(Base):
    __tablename__ = "sharing_group_orgs"
    __table_args__ = (sa.UniqueConstraint("sharing_group_id", "org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sharing_group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sharing_groups.id", ondelete="CASCADE")
    )
    org_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    extend: Mapped[bool] = mapped_column(default=False)

    sharing_group: Mapped[SharingGroup] = relationship(back_populates="members")
    org: Mapped[Organisation] = relationship(lazy="joined", innerjoin=True)


class SharingGroupServer(Base):
    """A server entry of a sharing group. server_url None is this instance; all_orgs on this
    instance's entry opens the group to every local organisation, as in MISP."""

    __tablename__ = "sharing_group_servers"

    id: Mapped[int] = mapped_column(primary_key=True)
    sharing_group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sharing_groups.id", ondelete="CASCADE"), index=True
    )
    server_url: Mapped[str | None] = mapped_column(sa.String(1024), default=None)
    server_name: Mapped[str] = mapped_column(sa.String(255), default="")
    all_orgs: Mapped[bool] = mapped_column(default=False)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        sa.CheckConstraint("threat_level_id BETWEEN 1 AND 4", name="threat_level"),
        sa.CheckConstraint("analysis BETWEEN 0 AND 2", name="analysis"),
        sa.CheckConstraint("distribution BETWEEN 0 AND 4", name="distribution"),
        sa.Index("ix_events_timestamp_id", "timestamp", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    info: Mapped[str] = mapped_column(sa.Text)
    date: Mapped[date]
    threat_level_id: Mapped[int] = mapped_column(sa.SmallInteger, default=4)
    analysis: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    distribution: Mapped[int] = mapped_column(sa.SmallInteger, default=1)
    sharing_group_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sharing_groups.id"), index=True, default=None
    )
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    orgc_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    published: Mapped[bool] = mapped_column(default=False)
    publish_timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    locked: Mapped[bool] = mapped_column(default=False)
    extends_uuid: Mapped[str | None] = mapped_column(sa.String(36), default=None, index=True)
    disable_correlation: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    org: Mapped[Organisation] = relationship(foreign_keys=[org_id], lazy="joined", innerjoin=True)
    orgc: Mapped[Organisation] = relationship(foreign_keys=[orgc_id], lazy="joined", innerjoin=True)
    sharing_group: Mapped[SharingGroup | None] = relationship(lazy="joined")


class MispObject(Base):
    __tablename__ = "objects"
    __table_args__ = (sa.CheckConstraint("distribution BETWEEN 0 AND 5", name="distribution"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    event_id: Mapped[int] = mapped_column(
        sa.ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(255))
    meta_category: Mapped[str] = mapped_column(sa.String(255), default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    template_uuid: Mapped[str | None] = mapped_column(sa.String(36), default=None)
    template_version: Mapped[int | None] = mapped_column(default=None)
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    distribution: Mapped[int] = mapped_column(sa.SmallInteger, default=5)
    sharing_group_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sharing_groups.id"), default=None
    )
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    first_seen: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    deleted: Mapped[bool] = mapped_column(default=False)


def unplain_sql(table: str = "") -> str:
    """The condition of ix_attributes_event_unplain: attributes that are not plain (deleted,
    in an object, with a distribution of their own). Queries repeat it word for word, their
    columns named with `table` (SQLite reads a partial index only for a query that repeats
    its condition); migration 0018 holds the same text."""
    t = f"{table}." if table else ""
    return f"{t}deleted OR {t}object_id IS NOT NULL OR {t}distribution <> 5"


class Attribute(Base):
    __tablename__ = "attributes"
    __table_args__ = (
        sa.CheckConstraint("distribution BETWEEN 0 AND 5", name="distribution"),
        sa.Index("ix_attributes_value1_key", sa.func.substr(sa.text("value1"), 1, VALUE_KEY_LEN)),
        sa.Index("ix_attributes_value2_key", sa.func.substr(sa.text("value2"), 1, VALUE_KEY_LEN)),
        sa.Index("ix_attributes_event_id_id", "event_id", "id"),
        # The attributes that are not plain (deleted, in an object or with their own
        # distribution): the only ones whose own rules can hide them in a readable event
        # (with those carrying TLP tags), so counts over many events read just these rows.
        sa.Index(
            "ix_attributes_event_unplain",
            "event_id",
            sqlite_where=sa.text(unplain_sql()),
            postgresql_where=sa.text(unplain_sql()),
        ),
        # Expired indicators only: almost every attribute is live, so an index of the live
        # ones is never worth reading, yet without statistics (a table just filled) the
        # planner may take `expired_at IS NULL` for a selective condition and scan it for
        # every event; and each new attribute would add an entry to it.
        sa.Index(
            "ix_attributes_expired_at",
            "expired_at",
            sqlite_where=sa.text("expired_at IS NOT NULL"),
            postgresql_where=sa.text("expired_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"))
    object_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("objects.id", ondelete="CASCADE"), index=True, default=None
    )
    object_relation: Mapped[str | None] = mapped_column(sa.String(255), default=None)
    category: Mapped[str] = mapped_column(sa.String(255))
    type: Mapped[str] = mapped_column(sa.String(100))
    value1: Mapped[str] = mapped_column(ValueText)
    value2: Mapped[str] = mapped_column(ValueText, default="")
    to_ids: Mapped[bool] = mapped_column(default=False)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    distribution: Mapped[int] = mapped_column(sa.SmallInteger, default=5)
    sharing_group_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sharing_groups.id"), default=None
    )
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    first_seen: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    deleted: Mapped[bool] = mapped_column(default=False)
    disable_correlation: Mapped[bool] = mapped_column(default=False)
    # When the lifecycle marked the indicator expired (shieldwall.lifecycle); None while live.
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    @property
    def value(self) -> str:
        return f"{self.value1}|{self.value2}" if self.value2 else self.value1


class AttributeAttachment(Base):
    """The file an attachment or malware-sample attribute carries. A malware sample is kept
    as MISP keeps it: a zip encrypted with the password "infected" holding the file (named
    by its md5) and `<md5>.filename.txt`."""

    __tablename__ = "attribute_attachments"

    attribute_id: Mapped[int] = mapped_column(
        sa.ForeignKey("attributes.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    size: Mapped[int]


class ObjectReference(Base):
    __tablename__ = "object_references"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    object_id: Mapped[int] = mapped_column(
        sa.ForeignKey("objects.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int] = mapped_column(
        sa.ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    referenced_uuid: Mapped[str] = mapped_column(sa.String(36))
    referenced_type: Mapped[str] = mapped_column(sa.String(20))  # "Attribute" or "Object"
    relationship_type: Mapped[str] = mapped_column(sa.String(255))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    deleted: Mapped[bool] = mapped_column(default=False)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255), unique=True)
    colour: Mapped[str] = mapped_column(sa.String(7), default="#808080")
    exportable: Mapped[bool] = mapped_column(default=True)
    hide_tag: Mapped[bool] = mapped_column(default=False)
    local_only: Mapped[bool] = mapped_column(default=False)
    numerical_value: Mapped[int | None] = mapped_column(default=None)
    # When set, only this organisation's users see and use the tag (MISP's org restriction).
    org_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="CASCADE"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class EventTag(Base):
    __tablename__ = "event_tags"
    __table_args__ = (sa.UniqueConstraint("event_id", "tag_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"))
    tag_id: Mapped[int] = mapped_column(sa.ForeignKey("tags.id", ondelete="CASCADE"), index=True)
    local: Mapped[bool] = mapped_column(default=False)

    tag: Mapped[Tag] = relationship(lazy="joined", innerjoin=True)


class AttributeTag(Base):
    __tablename__ = "attribute_tags"
    __table_args__ = (sa.UniqueConstraint("attribute_id", "tag_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attribute_id: Mapped[int] = mapped_column(sa.ForeignKey("attributes.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(
        sa.ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    tag_id: Mapped[int] = mapped_column(sa.ForeignKey("tags.id", ondelete="CASCADE"), index=True)
    local: Mapped[bool] = mapped_column(default=False)

    tag: Mapped[Tag] = relationship(lazy="joined", innerjoin=True)


class Sighting(Base):
    __tablename__ = "sightings"
    __table_args__ = (
        sa.CheckConstraint("type BETWEEN 0 AND 2", name="type"),
        sa.Index("ix_sightings_attribute_id_date", "attribute_id", "date_sighting"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    attribute_id: Mapped[int] = mapped_column(sa.ForeignKey("attributes.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(
        sa.ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    type: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    source: Mapped[str] = mapped_column(sa.String(255), default="")
    date_sighting: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
