"""attributes that are not plain, by event: counting the readable attributes of many events
(the situational picture) reads only the rows whose own rules can hide them

Revision ID: 0018_attribute_counts
Revises: 0017_case_terms
Create Date: 2026-12-07 15:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_attribute_counts"
down_revision: str | None = "0017_case_terms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As this revision wrote it (shieldwall.intel.models.unplain_sql() then).
_UNPLAIN = "deleted OR object_id IS NOT NULL OR distribution <> 5"


def upgrade() -> None:
    op.create_index(
        "ix_attributes_event_unplain",
        "attributes",
        ["event_id"],
        sqlite_where=sa.text(_UNPLAIN),
        postgresql_where=sa.text(_UNPLAIN),
    )


def downgrade() -> None:
    op.drop_index("ix_attributes_event_unplain", table_name="attributes")
