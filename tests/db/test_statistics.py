"""A bulk import refreshes PostgreSQL's statistics when it adds a tenth or more of the
attribute table, so the next query (an export right after the import) is not planned for an
empty or unknown table. SQLite is left as it is."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import sqlalchemy as sa

from shieldwall.context import system_ctx
from shieldwall.db.bulk import refresh_statistics
from shieldwall.exchange import misp_json


def _file(path: Path, events: int, per_event: int) -> Path:
    body = [
        {
            "Event": {
                "uuid": str(uuid.uuid4()),
                "info": f"statistics {e}",
                "Attribute": [
                    {"type": "domain", "value": f"{uuid.uuid4().hex[:10]}.example"}
                    for _ in range(per_event)
                ],
            }
        }
        for e in range(events)
    ]
    path.write_bytes(orjson.dumps({"response": body}))
    return path


def _forget(conn: sa.Connection) -> None:
    # As a table just filled by COPY looks to the planner: never analyzed.
    conn.execute(sa.text("DELETE FROM pg_statistic WHERE starelid = 'attributes'::regclass"))
    conn.execute(sa.text("UPDATE pg_class SET reltuples = -1 WHERE oid = 'attributes'::regclass"))


def _known(conn: sa.Connection) -> tuple[float, int]:
    reltuples = conn.execute(
        sa.text("SELECT reltuples FROM pg_class WHERE oid = 'attributes'::regclass")
    ).scalar_one()
    columns = conn.execute(
        sa.text("SELECT count(*) FROM pg_stats WHERE tablename = 'attributes'")
    ).scalar_one()
    return reltuples, columns


def test_a_large_import_analyzes_the_tables_it_filled(instance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engine = instance.db.engine
    if engine.dialect.name != "postgresql":
        # SQLite: nothing runs, whatever the size.
        assert refresh_statistics(engine, 1_000_000) is False
        return
    with engine.begin() as conn:
        _forget(conn)
        assert _known(conn) == (-1, 0)
    path = _file(tmp_path / "events.json", events=3, per_event=40)
    report = misp_json.import_file(instance.db, system_ctx(instance.host_org_id), path)
    assert (report.created, report.attributes) == (3, 120), report.errors
    with engine.connect() as conn:
        reltuples, columns = _known(conn)
        stored = conn.execute(sa.text("SELECT count(*) FROM attributes")).scalar_one()
    assert reltuples == stored and columns > 0


def test_a_small_import_into_a_counted_table_leaves_statistics_to_autovacuum(instance) -> None:  # type: ignore[no-untyped-def]
    engine = instance.db.engine
    if engine.dialect.name != "postgresql":
        assert refresh_statistics(engine, 1) is False
        return
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE pg_class SET reltuples = 1000 WHERE oid = 'attributes'::regclass")
        )
    assert refresh_statistics(engine, 99) is False  # under a tenth
    assert refresh_statistics(engine, 0) is False
    assert refresh_statistics(engine, 100) is True
