"""join the lifecycle and correlation revisions (written side by side)

Revision ID: 0011_join_heads
Revises: 0009_lifecycle, 0010_correlation
Create Date: 2026-11-27 00:00:00
"""

from collections.abc import Sequence

revision: str = "0011_join_heads"
down_revision: str | Sequence[str] | None = ("0009_lifecycle", "0010_correlation")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
