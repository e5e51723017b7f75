"""indicator lifecycle: per-type settings and the expiry mark on attributes

Revision ID: 0009_lifecycle
Revises: 0008_join_heads
Create Date: 2026-11-28 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shieldwall.db.base

revision: str = "0009_lifecycle"
down_revision: str | None = "0008_join_heads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lifecycle_settings",
        sa.Column("attribute_type", sa.String(length=100), nullable=False),
        sa.Column("lifetime_days", sa.Float(), nullable=False),
        sa.Column("decay_speed", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("default_base_score", sa.Float(), nullable=False),
        sa.Column("false_positive_penalty", sa.Float(), nullable=False),
        sa.Column("modified_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_by", sa.Integer(), nullable=True),
        sa.CheckConstraint("lifetime_days > 0", name=op.f("ck_lifecycle_settings_lifetime_days")),
        sa.CheckConstraint("decay_speed > 0", name=op.f("ck_lifecycle_settings_decay_speed")),
        sa.CheckConstraint(
            "threshold BETWEEN 0 AND 100", name=op.f("ck_lifecycle_settings_threshold")
        ),
        sa.CheckConstraint(
            "default_base_score BETWEEN 0 AND 100",
            name=op.f("ck_lifecycle_settings_default_base_score"),
        ),
        sa.CheckConstraint(
            "false_positive_penalty BETWEEN 0 AND 1",
            name=op.f("ck_lifecycle_settings_false_positive_penalty"),
        ),
        sa.ForeignKeyConstraint(
            ["modified_by"],
            ["users.id"],
            name=op.f("fk_lifecycle_settings_modified_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("attribute_type", name=op.f("pk_lifecycle_settings")),
    )
    # Plain ALTER TABLE on both engines: a batch copy of attributes would lose the value
    # key expression indexes SQLite cannot reflect.
    op.add_column(
        "attributes",
        sa.Column("expired_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index(op.f("ix_attributes_expired_at"), "attributes", ["expired_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_attributes_expired_at"), table_name="attributes")
    op.execute("ALTER TABLE attributes DROP COLUMN expired_at")  # SQLite 3.35+ and PostgreSQL
    op.drop_table("lifecycle_settings")
