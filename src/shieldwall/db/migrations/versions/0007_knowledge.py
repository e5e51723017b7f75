"""taxonomies, warninglists, galaxies and galaxy clusters

Revision ID: 0007_knowledge
Revises: 0004
Create Date: 2026-11-26 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_knowledge"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "taxonomies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxonomies")),
        sa.UniqueConstraint("namespace", name=op.f("uq_taxonomies_namespace")),
    )
    op.create_table(
        "warninglists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warninglists")),
        sa.UniqueConstraint("name", name=op.f("uq_warninglists_name")),
    )
    op.create_table(
        "galaxies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("icon", sa.String(length=255), nullable=False),
        sa.Column("clusters_loaded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_galaxies")),
        sa.UniqueConstraint("type", name=op.f("uq_galaxies_type")),
        sa.UniqueConstraint("uuid", name=op.f("uq_galaxies_uuid")),
    )
    op.create_table(
        "galaxy_clusters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("galaxy_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("tag_name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["galaxy_id"],
            ["galaxies.id"],
            name=op.f("fk_galaxy_clusters_galaxy_id_galaxies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_galaxy_clusters")),
        sa.UniqueConstraint("uuid", name=op.f("uq_galaxy_clusters_uuid")),
    )
    op.create_index(
        op.f("ix_galaxy_clusters_galaxy_id"), "galaxy_clusters", ["galaxy_id"], unique=False
    )
    op.create_index(
        op.f("ix_galaxy_clusters_tag_name"), "galaxy_clusters", ["tag_name"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_galaxy_clusters_tag_name"), table_name="galaxy_clusters")
    op.drop_index(op.f("ix_galaxy_clusters_galaxy_id"), table_name="galaxy_clusters")
    op.drop_table("galaxy_clusters")
    op.drop_table("galaxies")
    op.drop_table("warninglists")
    op.drop_table("taxonomies")
