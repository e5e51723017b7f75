"""attachment contents and the settings a site admin changes at runtime

Revision ID: 0012_misp_leftovers
Revises: 0011_join_heads
Create Date: 2026-11-27 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shieldwall.db.base

revision: str = "0012_misp_leftovers"
down_revision: str | None = "0011_join_heads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attribute_attachments",
        sa.Column("attribute_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attribute_id"],
            ["attributes.id"],
            name=op.f("fk_attribute_attachments_attribute_id_attributes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("attribute_id", name=op.f("pk_attribute_attachments")),
    )
    op.create_table(
        "runtime_settings",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("modified_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["modified_by"],
            ["users.id"],
            name=op.f("fk_runtime_settings_modified_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_runtime_settings")),
    )


def downgrade() -> None:
    op.drop_table("runtime_settings")
    op.drop_table("attribute_attachments")
