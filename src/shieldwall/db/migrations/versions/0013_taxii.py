"""taxii: collections, stored STIX objects, their event links and render state, POST status

Revision ID: 0013_taxii
Revises: 0011_join_heads
Create Date: 2026-11-27 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shieldwall.db.base import UTCDateTime

revision: str = "0013_taxii"
down_revision: str | None = "0011_join_heads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "taxii_collections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("alias", sa.String(length=255), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("org_ids", sa.JSON(), nullable=False),
        sa.Column("sharing_group_ids", sa.JSON(), nullable=False),
        sa.Column("types", sa.JSON(), nullable=False),
        sa.Column("published_only", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxii_collections")),
        sa.UniqueConstraint("alias", name=op.f("uq_taxii_collections_alias")),
        sa.UniqueConstraint("title", name=op.f("uq_taxii_collections_title")),
        sa.UniqueConstraint("uuid", name=op.f("uq_taxii_collections_uuid")),
    )
    op.create_table(
        "taxii_collection_orgs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("can_read", sa.Boolean(), nullable=False),
        sa.Column("can_write", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["taxii_collections.id"],
            name=op.f("fk_taxii_collection_orgs_collection_id_taxii_collections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_taxii_collection_orgs_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxii_collection_orgs")),
        sa.UniqueConstraint(
            "collection_id", "org_id", name=op.f("uq_taxii_collection_orgs_collection_id_org_id")
        ),
    )
    with op.batch_alter_table("taxii_collection_orgs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_taxii_collection_orgs_org_id"), ["org_id"], unique=False
        )

    op.create_table(
        "taxii_statuses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("request_timestamp", UTCDateTime(timezone=True), nullable=False),
        sa.Column("total_count", sa.Integer(), nullable=False),
        sa.Column("success_count", sa.Integer(), nullable=False),
        sa.Column("failure_count", sa.Integer(), nullable=False),
        sa.Column("pending_count", sa.Integer(), nullable=False),
        sa.Column("successes", sa.JSON(), nullable=False),
        sa.Column("failures", sa.JSON(), nullable=False),
        sa.Column("pendings", sa.JSON(), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=True),
        sa.Column("claimed_at", UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'complete')", name=op.f("ck_taxii_statuses_status")
        ),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["taxii_collections.id"],
            name=op.f("fk_taxii_statuses_collection_id_taxii_collections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_taxii_statuses_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_taxii_statuses_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxii_statuses")),
        sa.UniqueConstraint("uuid", name=op.f("uq_taxii_statuses_uuid")),
    )
    with op.batch_alter_table("taxii_statuses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_taxii_statuses_collection_id"), ["collection_id"], unique=False
        )

    op.create_table(
        "taxii_event_state",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("rendered_timestamp", UTCDateTime(timezone=True), nullable=True),
        sa.Column("posted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_taxii_event_state_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_taxii_event_state")),
    )
    op.create_table(
        "taxii_objects",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("stix_id", sa.String(length=300), nullable=False),
        sa.Column("type", sa.String(length=250), nullable=False),
        sa.Column("spec_version", sa.String(length=10), nullable=False),
        sa.Column("version", UTCDateTime(timezone=True), nullable=False),
        sa.Column("date_added", UTCDateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("is_latest", sa.Boolean(), nullable=False),
        sa.Column("is_first", sa.Boolean(), nullable=False),
        sa.Column("container", sa.Boolean(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("attribute_id", sa.Integer(), nullable=True),
        sa.Column("object_id", sa.Integer(), nullable=True),
        sa.Column("ref_attribute_id", sa.Integer(), nullable=True),
        sa.Column("ref_object_id", sa.Integer(), nullable=True),
        sa.Column("collection_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["attribute_id"],
            ["attributes.id"],
            name=op.f("fk_taxii_objects_attribute_id_attributes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["taxii_collections.id"],
            name=op.f("fk_taxii_objects_collection_id_taxii_collections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_taxii_objects_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["object_id"],
            ["objects.id"],
            name=op.f("fk_taxii_objects_object_id_objects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ref_attribute_id"],
            ["attributes.id"],
            name=op.f("fk_taxii_objects_ref_attribute_id_attributes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ref_object_id"],
            ["objects.id"],
            name=op.f("fk_taxii_objects_ref_object_id_objects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxii_objects")),
    )
    with op.batch_alter_table("taxii_objects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_taxii_objects_attribute_id"), ["attribute_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_taxii_objects_collection_id"), ["collection_id"], unique=False
        )
        batch_op.create_index("ix_taxii_objects_date_added_id", ["date_added", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_taxii_objects_event_id"), ["event_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_taxii_objects_object_id"), ["object_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_taxii_objects_ref_attribute_id"), ["ref_attribute_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_taxii_objects_ref_object_id"), ["ref_object_id"], unique=False
        )
        batch_op.create_index(
            "ix_taxii_objects_stix_id_version", ["stix_id", "version"], unique=False
        )

    op.create_table(
        "taxii_object_events",
        sa.Column(
            "object_row_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_taxii_object_events_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["object_row_id"],
            ["taxii_objects.id"],
            name=op.f("fk_taxii_object_events_object_row_id_taxii_objects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("object_row_id", "event_id", name=op.f("pk_taxii_object_events")),
    )
    with op.batch_alter_table("taxii_object_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_taxii_object_events_event_id"), ["event_id"], unique=False
        )

    op.create_table(
        "feed_taxii",
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("collection", sa.String(length=255), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("password", sa.Text(), nullable=False),
        sa.Column("types", sa.JSON(), nullable=False),
        sa.Column("added_after", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["feeds.id"], name=op.f("fk_feed_taxii_feed_id_feeds"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("feed_id", name=op.f("pk_feed_taxii")),
    )
    _feed_formats("('misp', 'csv', 'freetext', 'taxii')")


def _feed_formats(allowed: str) -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_feeds_source_format"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_feeds_source_format"), sa.text(f"source_format IN {allowed}")
        )


def downgrade() -> None:
    op.execute("DELETE FROM feeds WHERE source_format = 'taxii'")
    _feed_formats("('misp', 'csv', 'freetext')")
    op.drop_table("feed_taxii")
    with op.batch_alter_table("taxii_object_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_taxii_object_events_event_id"))

    op.drop_table("taxii_object_events")
    with op.batch_alter_table("taxii_objects", schema=None) as batch_op:
        batch_op.drop_index("ix_taxii_objects_stix_id_version")
        batch_op.drop_index(batch_op.f("ix_taxii_objects_ref_object_id"))
        batch_op.drop_index(batch_op.f("ix_taxii_objects_ref_attribute_id"))
        batch_op.drop_index(batch_op.f("ix_taxii_objects_object_id"))
        batch_op.drop_index(batch_op.f("ix_taxii_objects_event_id"))
        batch_op.drop_index("ix_taxii_objects_date_added_id")
        batch_op.drop_index(batch_op.f("ix_taxii_objects_collection_id"))
        batch_op.drop_index(batch_op.f("ix_taxii_objects_attribute_id"))

    op.drop_table("taxii_objects")
    op.drop_table("taxii_event_state")
    with op.batch_alter_table("taxii_statuses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_taxii_statuses_collection_id"))

    op.drop_table("taxii_statuses")
    with op.batch_alter_table("taxii_collection_orgs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_taxii_collection_orgs_org_id"))

    op.drop_table("taxii_collection_orgs")
    op.drop_table("taxii_collections")
