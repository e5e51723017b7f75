"""feeds in (MISP, CSV, freetext) and their per-event manifest state

Revision ID: 0006_feeds
Revises: 0004
Create Date: 2026-11-27 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shieldwall.db.base

revision: str = "0006_feeds"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("provider", sa.String(length=255), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("source_format", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("distribution", sa.SmallInteger(), nullable=False),
        sa.Column("sharing_group_id", sa.Integer(), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=True),
        sa.Column("publish", sa.Boolean(), nullable=False),
        sa.Column("override_ids", sa.Boolean(), nullable=False),
        sa.Column("fixed_event", sa.Boolean(), nullable=False),
        sa.Column("delta_merge", sa.Boolean(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("csv_value_column", sa.SmallInteger(), nullable=False),
        sa.Column("csv_type_column", sa.SmallInteger(), nullable=True),
        sa.Column("default_type", sa.String(length=100), nullable=True),
        sa.Column("csv_delimiter", sa.String(length=4), nullable=False),
        sa.Column("csv_skip_lines", sa.SmallInteger(), nullable=False),
        sa.Column("schedule_minutes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("last_fetched_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fetch_started_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("distribution BETWEEN 0 AND 5", name=op.f("ck_feeds_distribution")),
        sa.CheckConstraint("schedule_minutes >= 0", name=op.f("ck_feeds_schedule")),
        sa.CheckConstraint(
            "source_format IN ('misp', 'csv', 'freetext')", name=op.f("ck_feeds_source_format")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_feeds_event_id_events"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_feeds_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["sharing_group_id"],
            ["sharing_groups.id"],
            name=op.f("fk_feeds_sharing_group_id_sharing_groups"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_feeds_tag_id_tags"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feeds")),
        sa.UniqueConstraint("name", name=op.f("uq_feeds_name")),
    )
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feeds_org_id"), ["org_id"], unique=False)

    op.create_table(
        "feed_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("event_uuid", sa.String(length=36), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("fetched_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["feeds.id"],
            name=op.f("fk_feed_events_feed_id_feeds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_events")),
        sa.UniqueConstraint(
            "feed_id", "event_uuid", name=op.f("uq_feed_events_feed_id_event_uuid")
        ),
    )


def downgrade() -> None:
    op.drop_table("feed_events")
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feeds_org_id"))
    op.drop_table("feeds")
