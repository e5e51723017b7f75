"""the expiry index holds expired indicators only: an index of every attribute by a column
that is NULL for almost all of them cost an entry per new attribute and, read for
`expired_at IS NULL` on a table without statistics yet, a scan of every live row per event

Revision ID: 0020_expired_index
Revises: 0019_taxii_posted
Create Date: 2026-12-07 23:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_expired_index"
down_revision: str | None = "0019_taxii_posted"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EXPIRED = "expired_at IS NOT NULL"


def upgrade() -> None:
    op.drop_index("ix_attributes_expired_at", table_name="attributes")
    op.create_index(
        "ix_attributes_expired_at",
        "attributes",
        ["expired_at"],
        sqlite_where=sa.text(_EXPIRED),
        postgresql_where=sa.text(_EXPIRED),
    )


def downgrade() -> None:
    op.drop_index("ix_attributes_expired_at", table_name="attributes")
    op.create_index("ix_attributes_expired_at", "attributes", ["expired_at"], unique=False)
