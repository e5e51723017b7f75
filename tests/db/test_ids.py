"""reserve_ids: ids handed out before rows are written never meet ids the database gives
other rows, on both engines."""

from __future__ import annotations

import sqlalchemy as sa

from shieldwall.db.ids import reserve_ids
from shieldwall.intel.models import Tag


def test_reserved_ids_are_fresh_and_never_handed_out_again(instance) -> None:  # type: ignore[no-untyped-def]
    table = Tag.__table__
    with instance.db.writing() as session:
        conn = session.connection()
        first = list(reserve_ids(conn, table, 5))  # type: ignore[arg-type]
        assert len(first) == len(set(first)) == 5 and first == sorted(first)
        assert reserve_ids(conn, table, 0) == ()  # type: ignore[arg-type]
        # Rows written with the reserved ids, then a row the database numbers itself.
        conn.execute(
            sa.insert(table),
            [{"id": i, "name": f"reserved-{i}", "colour": "#000000"} for i in first],
        )
        own = conn.execute(
            sa.insert(table).values(name="numbered", colour="#000000").returning(table.c.id)
        ).scalar_one()
        assert own not in first
        second = list(reserve_ids(conn, table, 3))  # type: ignore[arg-type]
        assert not set(second) & {*first, own}
        stored = set(conn.execute(sa.select(table.c.id)).scalars())
        assert set(first) | {own} <= stored
