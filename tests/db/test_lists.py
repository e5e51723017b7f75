"""`in_values`: one bound list, the same matches as a plain IN on both engines."""

from __future__ import annotations

import sqlalchemy as sa

from shieldwall.db.lists import in_values

AWKWARD = [
    "",
    "plain",
    'quote " inside',
    "back\\slash",
    "\\",
    '"',
    "comma, and {braces}",
    "  spaces  ",
    "NULL",
    "ünïcødé ✓",
    "new\nline",
    "x" * 5000,
]


def _table() -> sa.Table:
    return sa.Table(
        "list_probe",
        sa.MetaData(),
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("v", sa.Text),
        sa.Column("b", sa.LargeBinary),
    )


def test_in_values_matches_exactly(database) -> None:  # type: ignore[no-untyped-def]
    t = _table()
    stored = [*AWKWARD, "not asked", 'quote "', "back\\slash\\"]
    with database.writing() as session:
        t.create(session.connection())
        try:
            session.execute(
                t.insert(),
                [{"id": i + 1, "v": v, "b": v.encode()} for i, v in enumerate(stored)],
            )
            by_value = session.execute(
                sa.select(t.c.v).where(in_values(session, t.c.v, AWKWARD))
            ).scalars()
            assert sorted(by_value) == sorted(AWKWARD)
            by_bytes = session.execute(
                sa.select(t.c.b).where(in_values(session, t.c.b, [b"\x00\xff", b'"', b"\\"]))
            ).scalars()
            assert sorted(bytes(b) for b in by_bytes) == [b'"', b"\\"]
            ids = [2, 4, 10**12, 7]
            by_id = session.execute(
                sa.select(t.c.id).where(in_values(session, t.c.id, ids))
            ).scalars()
            assert sorted(by_id) == [2, 4, 7]
            assert (
                session.execute(sa.select(t.c.id).where(in_values(session, t.c.id, []))).all() == []
            )
        finally:
            t.drop(session.connection())
