"""Primary keys handed out before rows are written, so a bulk write knows the ids of the
rows it streams (tags, sightings, indexes and answers follow without reading them back)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa


def reserve_ids(conn: sa.Connection, table: sa.Table, n: int) -> Sequence[int]:
    """`n` fresh values of `table`'s integer primary key `id` for rows this transaction
    inserts itself. PostgreSQL takes them from the column's sequence (unused ones are gaps,
    as after a rollback); SQLite continues after the highest id, which holds because a write
    transaction there holds the database's write lock (or fails as a stale snapshot) until
    it ends."""
    if n <= 0:
        return ()
    if conn.dialect.name == "postgresql":
        return (
            conn.execute(
                sa.text(
                    "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
                ),
                {"table": table.name, "n": n},
            )
            .scalars()
            .all()
        )
    top = conn.execute(sa.select(sa.func.max(table.c.id))).scalar_one() or 0
    return range(top + 1, top + n + 1)
