"""correlation: exclusions, IP network index, ssdeep chunk index

Revision ID: 0010_correlation
Revises: 0008_join_heads
Create Date: 2026-11-26 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shieldwall.db.base import UTCDateTime

revision: str = "0010_correlation"
down_revision: str | None = "0008_join_heads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "correlation_exclusions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(length=1024), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_correlation_exclusions")),
        sa.UniqueConstraint("value", name=op.f("uq_correlation_exclusions_value")),
    )
    op.create_table(
        "correlation_networks",
        sa.Column("attribute_id", sa.Integer(), nullable=False),
        sa.Column("family", sa.SmallInteger(), nullable=False),
        sa.Column("plen", sa.SmallInteger(), nullable=False),
        sa.Column("lo", sa.LargeBinary(length=16), nullable=False),
        sa.Column("hi", sa.LargeBinary(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["attribute_id"],
            ["attributes.id"],
            name=op.f("fk_correlation_networks_attribute_id_attributes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("attribute_id", name=op.f("pk_correlation_networks")),
    )
    op.create_index("ix_correlation_networks_family_lo", "correlation_networks", ["family", "lo"])
    op.create_index(
        "ix_correlation_networks_ranges",
        "correlation_networks",
        ["family", "plen"],
        sqlite_where=sa.text("hi IS NOT NULL"),
        postgresql_where=sa.text("hi IS NOT NULL"),
    )
    op.create_table(
        "correlation_ssdeep",
        sa.Column("attribute_id", sa.Integer(), nullable=False),
        sa.Column("block_size", sa.BigInteger(), nullable=False),
        sa.Column("chunk", sa.String(length=7), nullable=False),
        sa.ForeignKeyConstraint(
            ["attribute_id"],
            ["attributes.id"],
            name=op.f("fk_correlation_ssdeep_attribute_id_attributes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "attribute_id", "block_size", "chunk", name=op.f("pk_correlation_ssdeep")
        ),
    )
    op.create_index("ix_correlation_ssdeep_chunk", "correlation_ssdeep", ["block_size", "chunk"])
    # Attributes stored before this revision: index them now.
    bind = op.get_bind()
    from sqlalchemy.orm import Session

    from shieldwall.correlation.index import rebuild

    with Session(bind=bind) as session:
        rebuild(session)
        session.flush()


def downgrade() -> None:
    op.drop_table("correlation_ssdeep")
    op.drop_table("correlation_networks")
    op.drop_table("correlation_exclusions")
