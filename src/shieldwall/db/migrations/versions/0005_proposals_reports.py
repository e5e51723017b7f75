"""proposals (shadow attributes) and event reports

Revision ID: 0005_proposals_reports
Revises: 0004
Create Date: 2026-11-27 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shieldwall.db.base

revision: str = "0005_proposals_reports"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("distribution", sa.SmallInteger(), nullable=False),
        sa.Column("sharing_group_id", sa.Integer(), nullable=True),
        sa.Column("timestamp", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "distribution BETWEEN 0 AND 5", name=op.f("ck_event_reports_distribution")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_reports_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sharing_group_id"],
            ["sharing_groups.id"],
            name=op.f("fk_event_reports_sharing_group_id_sharing_groups"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_reports")),
        sa.UniqueConstraint("uuid", name=op.f("uq_event_reports_uuid")),
    )
    with op.batch_alter_table("event_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_reports_event_id"), ["event_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_event_reports_sharing_group_id"), ["sharing_group_id"], unique=False
        )

    op.create_table(
        "shadow_attributes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("old_id", sa.Integer(), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("category", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column(
            "value1", sa.Text().with_variant(sa.TEXT(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column(
            "value2", sa.Text().with_variant(sa.TEXT(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column("to_ids", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("first_seen", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_seen", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("proposal_to_delete", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("timestamp", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("disable_correlation", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_shadow_attributes_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["old_id"],
            ["attributes.id"],
            name=op.f("fk_shadow_attributes_old_id_attributes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_shadow_attributes_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shadow_attributes")),
        sa.UniqueConstraint("uuid", name=op.f("uq_shadow_attributes_uuid")),
    )
    with op.batch_alter_table("shadow_attributes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shadow_attributes_event_id"), ["event_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_shadow_attributes_old_id"), ["old_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_shadow_attributes_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("shadow_attributes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shadow_attributes_org_id"))
        batch_op.drop_index(batch_op.f("ix_shadow_attributes_old_id"))
        batch_op.drop_index(batch_op.f("ix_shadow_attributes_event_id"))
    op.drop_table("shadow_attributes")
    with op.batch_alter_table("event_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_reports_sharing_group_id"))
        batch_op.drop_index(batch_op.f("ix_event_reports_event_id"))
    op.drop_table("event_reports")
