"""The migrations build exactly the schema the models describe, on both engines."""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.orm import Session

from shieldwall.config import get_settings
from shieldwall.db.engine import Database
from shieldwall.db.migrate import current_revision, head_revision, is_current, upgrade
from shieldwall.db.models import metadata
from shieldwall.intel.models import Event
from shieldwall.taxii.store import pending_events
from tests.conftest import PG_URL


def test_database_is_at_head(database) -> None:  # type: ignore[no-untyped-def]
    assert head_revision() is not None
    assert current_revision(database.engine) == head_revision()
    assert is_current(database.engine)


def test_models_and_migrations_do_not_drift(database) -> None:  # type: ignore[no-untyped-def]
    with database.engine.connect() as conn, warnings.catch_warnings():
        # Expression indexes cannot be reflected on SQLite; they are checked below instead.
        warnings.simplefilter("ignore")
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [d for d in compare_metadata(ctx, metadata) if not _expression_index(d)]
    assert diff == []


def _expression_index(d: object) -> bool:
    return (
        isinstance(d, tuple)
        and d[0] in ("add_index", "remove_index")
        and d[1].name
        in (
            "ix_attributes_value1_key",
            "ix_attributes_value2_key",
        )
    )


def test_value_key_indexes_exist_and_serve_exact_search(database) -> None:  # type: ignore[no-untyped-def]
    from shieldwall.intel.models import Attribute
    from shieldwall.intel.search import value_match_condition

    stmt = sa.select(Attribute.id).where(value_match_condition(["evil.example"]))
    with database.engine.connect() as conn:
        if database.is_sqlite:
            names = set(
                conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='attributes'"
                ).scalars()
            )
            compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
            plan = " ".join(str(r) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))
        else:
            names = {i["name"] for i in sa.inspect(conn).get_indexes("attributes")}
            conn.exec_driver_sql("SET enable_seqscan = off")
            compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
            plan = " ".join(str(r) for r in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
    assert {"ix_attributes_value1_key", "ix_attributes_value2_key"} <= names
    # The index expression appears to the letter in the SQL sent (not as bound parameters,
    # which would make both engines scan the table).
    sent = str(stmt.compile(database.engine))
    assert (
        "substr(attributes.value1, 1, 200)" in sent and "substr(attributes.value2, 1, 200)" in sent
    ), sent
    assert "ix_attributes_value1_key" in plan and "ix_attributes_value2_key" in plan, plan


def test_connection_settings(database) -> None:  # type: ignore[no-untyped-def]
    """SQLite in WAL mode with foreign keys; PostgreSQL sessions without JIT compilation."""
    if not database.is_sqlite:
        assert database.dialect == "postgresql"
        with database.engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
        return
    with database.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_bulk_sessions_hold_the_bulk_cache(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An import's connection gets a page cache of about half the database file, within the
    bulk cap, and keeps it across its commits; the next ordinary transaction on that
    connection gives it back. A small database keeps the small cache."""
    monkeypatch.setenv("SHIELDWALL_SQLITE_CACHE_MB", "2")
    monkeypatch.setenv("SHIELDWALL_SQLITE_BULK_CACHE_MB", "8")
    get_settings.cache_clear()
    db = Database(f"sqlite:///{tmp_path / 'bulk.db'}", pool_size=1, max_overflow=0)

    def cache_mib(session: Session) -> float:
        return -int(session.execute(sa.text("PRAGMA cache_size")).scalar_one()) / 1024

    def bulk_caches() -> list[float]:
        session = db.bulk_write_session()
        seen = []
        for _ in range(2):
            session.begin()
            seen.append(cache_mib(session))
            session.commit()
        session.close()
        return seen

    try:
        with db.reading() as session:
            assert cache_mib(session) == 2
        assert bulk_caches() == [2, 2]
        with db.writing() as session:
            # 12 MiB of rows: half the file is 6 MiB, in steps of the small cache.
            session.execute(sa.text("CREATE TABLE t (x)"))
            session.execute(
                sa.text(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12)"
                    " INSERT INTO t SELECT zeroblob(1048576) FROM n"
                )
            )
        assert bulk_caches() == [6, 6]
        with db.writing() as session:
            assert cache_mib(session) == 2
            session.execute(sa.text("INSERT INTO t SELECT x FROM t"))
        # 24 MiB: half is 12, above the cap of 8.
        assert bulk_caches() == [8, 8]
        with db.reading() as session:
            assert cache_mib(session) == 2
    finally:
        db.dispose()
        get_settings.cache_clear()


def test_the_unplain_index_serves_the_attributes_that_may_be_hidden(database) -> None:  # type: ignore[no-untyped-def]
    # The picture checks only the attributes whose own rules can hide them; the first of
    # those conditions must read ix_attributes_event_unplain as the migration built it.
    from shieldwall.intel.models import Attribute
    from shieldwall.intel.visibility import attributes_that_may_be_hidden

    unplain, _tagged = attributes_that_may_be_hidden()
    stmt = (
        sa.select(Attribute.event_id, sa.func.count())
        .where(Attribute.event_id.in_([1, 2, 3]), unplain)
        .group_by(Attribute.event_id)
    )
    with database.engine.connect() as conn:
        compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
        if database.is_sqlite:
            plan = " ".join(str(r) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = " ".join(str(r) for r in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
    assert "ix_attributes_event_unplain" in plan, plan


def _row(conn: sa.Connection, table: str, **given: Any) -> int:
    """Insert a row giving every NOT NULL column without a default a value of its type;
    returns its id. (The models are at head; older revisions are written to by table.)"""
    t = sa.Table(table, sa.MetaData(), autoload_with=conn)
    values = dict(given)
    for c in t.columns:
        if c.name in values or c.nullable or c.server_default is not None or c.primary_key:
            continue
        kind = c.type.python_type if not isinstance(c.type, sa.JSON) else list
        values[c.name] = {
            bool: False,
            int: 1,
            str: str(uuid.uuid4())[: getattr(c.type, "length", None) or 36],
            datetime: datetime(2024, 3, 1, tzinfo=UTC),
            date: date(2024, 3, 1),
            list: [],
        }[kind]
    return int(conn.execute(sa.insert(t).values(values).returning(t.c.id)).scalar_one())


def _fresh_database(tmp_path: Any) -> tuple[str, Callable[[], None]]:
    if not PG_URL:
        return f"sqlite:///{tmp_path / 'upgrade.db'}", lambda: None
    name = f"shieldwall_test_upgrade_{os.getpid()}"
    admin = sa.create_engine(PG_URL.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_URL.rsplit("/", 1)[0] + f"/{name}", drop


def test_upgrading_keeps_what_cascades_from_a_rebuilt_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # 0019 rebuilds taxii_collections on SQLite (copy, drop, rename): the collection's rights
    # and posted objects, which cascade from it, must survive; posted events get their
    # collection, and every event using a shared object its latest version.
    url, drop = _fresh_database(tmp_path)
    db = Database(url)
    try:
        upgrade(db.engine, "0018_attribute_counts")
        with db.engine.begin() as conn:
            org = _row(conn, "organisations")
            published = datetime(2024, 3, 2, tzinfo=UTC)
            events = [
                _row(
                    conn,
                    "events",
                    org_id=org,
                    orgc_id=org,
                    published=True,
                    publish_timestamp=published,
                )
                for _ in range(3)
            ]
            coll = _row(conn, "taxii_collections")
            _row(conn, "taxii_collection_orgs", collection_id=coll, org_id=org)
            stamp = datetime(2024, 3, 1, tzinfo=UTC)
            posted = _row(
                conn,
                "taxii_objects",
                stix_id=f"indicator--{uuid.uuid4()}",
                type="indicator",
                version=stamp,
                date_added=stamp,
                body="{}",
                spec_version="2.1",
                event_id=events[0],
                collection_id=coll,
            )
            identity = f"identity--{uuid.uuid4()}"
            versions = [
                _row(
                    conn,
                    "taxii_objects",
                    stix_id=identity,
                    type="identity",
                    version=stamp + timedelta(days=n),
                    date_added=stamp + timedelta(days=n),
                    body="{}",
                    spec_version="2.1",
                    is_latest=n == 1,
                    is_first=n == 0,
                )
                for n in range(2)
            ]
            links = sa.Table("taxii_object_events", sa.MetaData(), autoload_with=conn)
            conn.execute(sa.insert(links).values(object_row_id=versions[0], event_id=events[0]))
            conn.execute(sa.insert(links).values(object_row_id=versions[1], event_id=events[1]))
            # Events 1 and 2 were rendered, the first as published (a report), the second
            # before its publication (a grouping).
            for event_id, kind in ((events[1], "report"), (events[2], "grouping")):
                _row(
                    conn,
                    "taxii_objects",
                    stix_id=f"{kind}--{uuid.uuid4()}",
                    type=kind,
                    version=stamp,
                    date_added=stamp,
                    body="{}",
                    spec_version="2.1",
                    container=True,
                    event_id=event_id,
                )
            state = sa.Table("taxii_event_state", sa.MetaData(), autoload_with=conn)
            conn.execute(sa.insert(state).values(event_id=events[0], posted=True))
            for event_id in events[1:]:
                conn.execute(
                    sa.insert(state).values(
                        event_id=event_id, posted=False, rendered_timestamp=stamp
                    )
                )
        upgrade(db.engine)
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) FROM taxii_collection_orgs")).scalar() == 1
            assert conn.execute(
                sa.text("SELECT id FROM taxii_objects WHERE collection_id IS NOT NULL")
            ).scalars().all() == [posted]
            row = conn.execute(
                sa.text("SELECT collection_id, posted_mark FROM taxii_event_state WHERE posted")
            ).one()
            assert row[0] == coll and row[1] is not None
            users = conn.execute(
                sa.text("SELECT event_id FROM taxii_object_events WHERE object_row_id = :r"),
                {"r": versions[1]},
            ).scalars()
            assert sorted(users) == sorted(events[:2])
            assert conn.execute(sa.text("SELECT distribution FROM taxii_collections")).scalar() == 1
        with Session(db.engine) as session:
            # With the events' timestamps those they were rendered at, only the event rendered
            # before its publication is left to render again.
            session.execute(sa.update(Event).values(timestamp=stamp))
            assert pending_events(session, 10) == [events[2]]
    finally:
        db.dispose()
        drop()
