"""Primary keys handed out before rows are written, so a bulk write knows the ids of the
rows it streams (tags, sightings, indexes and answers follow without reading them back)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

# The sequence behind each table's id column (PostgreSQL), looked up once: asking the
# catalog inside the query would ask it again for every id.
_SEQUENCES: dict[str, str] = {}


def reserve_ids(conn: sa.Connection, table: sa.Table, n: int) -> Sequence[int]:
    """`n` fresh values of `table`'s integer primary key `id` for rows this transaction
    inserts itself. PostgreSQL takes them from the column's sequence (unused ones are gaps,
    as after a rollback); SQLite continues after the highest id, which holds because a write
    transaction there holds the database's write lock (or fails as a stale snapshot) until
    it ends."""
    if n <= 0:
        return ()
    if conn.dialect.name == "postgresql":
        seq = _SEQUENCES.get(table.name)
        if seq is None:
            seq = conn.execute(
                sa.text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name}
            ).scalar_one()
            _SEQUENCES[table.name] = seq
        literal = "'" + seq.replace("'", "''") + "'"
        # One array: the ids arrive as one value, parsed by the driver in C.
        ids = conn.execute(
            sa.text(f"SELECT array_agg(nextval({literal}::regclass)) FROM generate_series(1, :n)"),
            {"n": n},
        ).scalar_one()
        return list(ids)
    top = conn.execute(sa.select(sa.func.max(table.c.id))).scalar_one() or 0
    return range(top + 1, top + n + 1)
