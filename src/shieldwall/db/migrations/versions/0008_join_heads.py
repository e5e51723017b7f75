"""join the proposals/reports, feeds and knowledge revisions (written side by side)

Revision ID: 0008_join_heads
Revises: 0005_proposals_reports, 0006_feeds, 0007_knowledge
Create Date: 2026-11-26 21:30:00
"""

from collections.abc import Sequence

revision: str = "0008_join_heads"
down_revision: str | Sequence[str] | None = (
    "0005_proposals_reports",
    "0006_feeds",
    "0007_knowledge",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
