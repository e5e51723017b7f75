"""Engine and session factory for SQLite (WAL, immediate write transactions) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from shieldwall.config import get_settings


def _normalise_url(url: str) -> str:
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def create_engine(url: str, **kwargs: Any) -> Engine:
    url = _normalise_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    # PostgreSQL's JIT compiles a plan when its estimated cost is high, as keyset pages over a
    # large attributes table are: 150-200 ms per page, four times the query itself (a
    # 250,000-value export took 5.4 s with it, 1.5 s without). Shieldwall's queries are
    # short and many, so its sessions run without it.
    connect_args = dict(kwargs.pop("connect_args", {}))
    options = connect_args.get("options", "")
    connect_args["options"] = f"{options} -c jit=off".strip()
    return sa.create_engine(url, connect_args=connect_args, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    settings = get_settings()
    cache_kib = settings.sqlite_cache_mb * 1024
    bulk_cap_kib = max(settings.sqlite_bulk_cache_mb, settings.sqlite_cache_mb) * 1024

    def _bulk_cache_kib(conn: sa.Connection) -> int:
        # A bulk write lands all over the indexes of a large database: with the small cache
        # every commit writes most of their pages to the WAL again and the next transaction
        # reads them back from the file. The import's connection gets a cache of half the
        # file (about its indexes), within the bulk cap, in steps of the small cache, and keeps it
        # across the import's commits; its next ordinary transaction gives it back. An
        # import into a small database keeps the small cache: it would gain nothing.
        size = (
            conn.exec_driver_sql("PRAGMA page_count").scalar_one()
            * conn.exec_driver_sql("PRAGMA page_size").scalar_one()
        )
        half = size // 2048 // cache_kib * cache_kib
        return max(cache_kib, min(bulk_cap_kib, half))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # The driver must not issue its own BEGIN: we issue BEGIN or BEGIN IMMEDIATE below.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute(f"PRAGMA cache_size=-{cache_kib}")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        options = conn.get_execution_options()
        info = conn.connection.info
        want = _bulk_cache_kib(conn) if options.get("shieldwall_bulk") else cache_kib
        if info.get("cache_kib", cache_kib) != want:
            conn.exec_driver_sql(f"PRAGMA cache_size=-{want}")
            info["cache_kib"] = want
        # Write transactions take the write lock up front, so a transaction that read the
        # audit chain head cannot lose a race to another writer half-way through.
        if options.get("shieldwall_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


class Database:
    """Holds one engine and hands out read and write sessions."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = _normalise_url(url)
        self.engine = create_engine(self.url, **engine_kwargs)
        self.dialect = self.engine.dialect.name
        self._write_engine = self.engine.execution_options(shieldwall_write=True)
        self._read_factory = sessionmaker(self.engine, expire_on_commit=False)
        self._write_factory = sessionmaker(self._write_engine, expire_on_commit=False)
        self._bulk_factory = sessionmaker(
            self._write_engine.execution_options(shieldwall_bulk=True), expire_on_commit=False
        )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def read_session(self) -> Session:
        return self._read_factory()

    def write_session(self) -> Session:
        return self._write_factory()

    def bulk_write_session(self) -> Session:
        """A write session for imports: on SQLite its connection holds the bulk page cache
        (SHIELDWALL_SQLITE_BULK_CACHE_MB) while the session runs."""
        return self._bulk_factory()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._read_factory() as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """One transaction: commits when the block ends, rolls back on error."""
        with self._write_factory() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


_database: Database | None = None


def set_database(db: Database | None) -> None:
    global _database
    _database = db


def get_database() -> Database:
    if _database is None:
        from shieldwall.config import get_settings

        set_database(Database(get_settings().effective_database_url))
    assert _database is not None
    return _database
