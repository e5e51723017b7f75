"""taxii: the distribution of events made from POSTs per collection; posted events remember
their collection and when they were posted, so later edits are rendered into it; the publish
timestamp an event was rendered at; every event using a shared object (an identity, a
marking) is linked to its latest version

Revision ID: 0019_taxii_posted
Revises: 0018_attribute_counts
Create Date: 2026-12-07 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shieldwall.db.base import UTCDateTime

revision: str = "0019_taxii_posted"
down_revision: str | None = "0018_attribute_counts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("taxii_collections", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("distribution", sa.SmallInteger(), server_default="1", nullable=False)
        )
        batch_op.add_column(sa.Column("sharing_group_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_taxii_collections_sharing_group_id_sharing_groups"),
            "sharing_groups",
            ["sharing_group_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("taxii_event_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("collection_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("posted_mark", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("rendered_publish_timestamp", UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_taxii_event_state_collection_id_taxii_collections"),
            "taxii_collections",
            ["collection_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(
            batch_op.f("ix_taxii_event_state_collection_id"), ["collection_id"], unique=False
        )
    # Posted events: their collection, and as posted mark the latest time the event or an
    # attribute of it carries now (edits made before this revision cannot be told apart).
    op.execute(
        """
        UPDATE taxii_event_state SET
          collection_id = (SELECT MIN(o.collection_id) FROM taxii_objects o
                           WHERE o.event_id = taxii_event_state.event_id
                             AND o.collection_id IS NOT NULL),
          posted_mark = (SELECT e.timestamp FROM events e
                         WHERE e.id = taxii_event_state.event_id),
          rendered_timestamp = (SELECT e.timestamp FROM events e
                                WHERE e.id = taxii_event_state.event_id)
        WHERE posted
        """
    )
    op.execute(
        """
        UPDATE taxii_event_state SET posted_mark = (
          SELECT MAX(a.timestamp) FROM attributes a WHERE a.event_id = taxii_event_state.event_id)
        WHERE posted AND posted_mark < (
          SELECT MAX(a.timestamp) FROM attributes a WHERE a.event_id = taxii_event_state.event_id)
        """
    )
    # The publish timestamp events were rendered at, where their rendering agrees with their
    # publication (a report for a published event); the others are rendered again.
    op.execute(
        """
        UPDATE taxii_event_state SET rendered_publish_timestamp = (
          SELECT e.publish_timestamp FROM events e WHERE e.id = taxii_event_state.event_id)
        WHERE rendered_timestamp IS NOT NULL AND (
          posted
          OR EXISTS (SELECT 1 FROM events e WHERE e.id = taxii_event_state.event_id
                     AND NOT e.published)
          OR EXISTS (SELECT 1 FROM taxii_objects o
                     WHERE o.event_id = taxii_event_state.event_id AND o.collection_id IS NULL
                       AND o.container AND o.type = 'report'))
        """
    )
    # Every event linked to a version of a shared object is linked to its latest version.
    op.execute(
        """
        INSERT INTO taxii_object_events (object_row_id, event_id)
        SELECT DISTINCT latest.id, link.event_id
        FROM taxii_object_events link
        JOIN taxii_objects old ON old.id = link.object_row_id
        JOIN taxii_objects latest ON latest.stix_id = old.stix_id
        WHERE old.event_id IS NULL AND old.collection_id IS NULL
          AND latest.event_id IS NULL AND latest.collection_id IS NULL AND latest.is_latest
          AND NOT EXISTS (SELECT 1 FROM taxii_object_events have
                          WHERE have.object_row_id = latest.id AND have.event_id = link.event_id)
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("taxii_event_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_taxii_event_state_collection_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_taxii_event_state_collection_id_taxii_collections"), type_="foreignkey"
        )
        batch_op.drop_column("rendered_publish_timestamp")
        batch_op.drop_column("posted_mark")
        batch_op.drop_column("collection_id")
    with op.batch_alter_table("taxii_collections", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_taxii_collections_sharing_group_id_sharing_groups"), type_="foreignkey"
        )
        batch_op.drop_column("sharing_group_id")
        batch_op.drop_column("distribution")
