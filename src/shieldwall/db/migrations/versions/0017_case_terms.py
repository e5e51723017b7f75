"""case terms: the words of case titles and their tags, so title and tag searches read an
index instead of every case; alerts and cases by organisation and creation time, for the
situational picture

Revision ID: 0017_case_terms
Revises: 0016_incident_response
Create Date: 2026-12-06 23:00:00
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017_case_terms"
down_revision: str | None = "0016_incident_response"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TERM_LEN = 100
# As this revision wrote them (shieldwall.response.terms then).
_WORD = re.compile(r"[\w.\-]+", re.UNICODE)
_PARTS = re.compile(r"[.\-_]+")


def _terms(title: str, tags: list[str]) -> set[str]:
    out: set[str] = set()
    for word in (w.strip(".-_") for w in _WORD.findall((title or "").lower())):
        if word:
            out.add(word[:TERM_LEN])
            out.update(p[:TERM_LEN] for p in _PARTS.split(word) if p)
    out.update(f"tag:{t.strip().lower()}"[:TERM_LEN] for t in tags or [])
    return out


def upgrade() -> None:
    op.create_table(
        "case_terms",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column(
            "term",
            sa.String(length=TERM_LEN).with_variant(
                postgresql.VARCHAR(length=TERM_LEN, collation="C"), "postgresql"
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_terms_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("case_id", "term", name=op.f("pk_case_terms")),
    )
    with op.batch_alter_table("case_terms", schema=None) as batch_op:
        batch_op.create_index("ix_case_terms_term_case_id", ["term", "case_id"], unique=False)
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_org_id_created_at", ["org_id", "created_at"], unique=False)
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_org_id_created_at", ["org_id", "created_at"], unique=False)
    cases = sa.table(
        "cases",
        sa.column("id", sa.Integer),
        sa.column("title", sa.Text),
        sa.column("tags", sa.JSON),
    )
    terms = sa.table("case_terms", sa.column("case_id", sa.Integer), sa.column("term", sa.String))
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(
            sa.select(cases.c.id, cases.c.title, cases.c.tags)
            .where(cases.c.id > last)
            .order_by(cases.c.id)
            .limit(5000)
        ).all()
        if not rows:
            break
        batch = [
            {"case_id": case_id, "term": t}
            for case_id, title, tags in rows
            for t in sorted(_terms(title, tags or []))
        ]
        if batch:
            conn.execute(sa.insert(terms), batch)
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_org_id_created_at")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_org_id_created_at")
    with op.batch_alter_table("case_terms", schema=None) as batch_op:
        batch_op.drop_index("ix_case_terms_term_case_id")
    op.drop_table("case_terms")
