"""join the files and settings, TAXII and detection revisions (written side by side)

Revision ID: 0015_join_heads
Revises: 0012_misp_leftovers, 0013_taxii, 0014_detection
Create Date: 2026-11-27 04:20:00
"""

from collections.abc import Sequence

revision: str = "0015_join_heads"
down_revision: str | Sequence[str] | None = ("0012_misp_leftovers", "0013_taxii", "0014_detection")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
