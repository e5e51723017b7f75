"""Bulk inserts straight to the driver, for the import hot path.

SQLAlchemy's per-row parameter handling costs more than the insert itself at tens of
thousands of rows a second. `RowWriter` takes plain tuples in a fixed column order:

- on PostgreSQL it streams them into a `COPY` as they are written, so the server stores the
  first rows of a batch while the caller is still building the rest (the two run on separate
  cores); no other statement may run on the connection until the writer is closed;
- elsewhere it applies each column's bind processor once per distinct value and hands the
  tuples to the driver's executemany in chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    import psycopg

CHUNK = 2000


def _memoised(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    # Imports repeat values (one timestamp for a whole event, the same flags): convert each
    # distinct value once.
    cache: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return cache[value]
        except KeyError:
            result = cache[value] = process(value)
            return result
        except TypeError:  # unhashable
            return process(value)

    return convert


class RowWriter:
    """Write rows (tuples ordered as `names`) into `table`; use as a context manager. Rows
    are stored when the block ends without an exception; an exception discards them (on
    PostgreSQL the COPY is aborted, which fails the transaction: roll back to a savepoint)."""

    def __init__(self, conn: sa.Connection, table: sa.Table, names: Sequence[str]) -> None:
        self.conn = conn
        self.table = table
        self.names = list(names)
        self.count = 0
        self._copy_cm: AbstractContextManager[Any] | None = None
        self._copy: Any = None
        self._rows: list[tuple[Any, ...]] = []
        quote = conn.dialect.identifier_preparer.quote
        cols = ", ".join(quote(n) for n in self.names)
        self._pg = conn.dialect.name == "postgresql"
        if self._pg:
            self._sql = f"COPY {quote(table.name)} ({cols}) FROM STDIN"
            return
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        self._sql = (
            f"INSERT INTO {quote(table.name)} ({cols}) VALUES ({', '.join([mark] * len(names))})"
        )
        columns = [table.c[n] for n in self.names]
        # Booleans need no conversion: the drivers take Python's bool (an int) as it is.
        self._convert = [
            (i, _memoised(p))
            for i, c in enumerate(columns)
            if not isinstance(c.type, sa.Boolean)
            and (p := c.type._cached_bind_processor(conn.dialect)) is not None
        ]

    def __enter__(self) -> RowWriter:
        if self._pg:
            # Imported here: on SQLite the driver is never needed, and loading it costs a
            # quarter of a second at every start of the command line.
            import psycopg

            self._driver_error: type[psycopg.Error] = psycopg.Error
            cursor = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            self._copy_cm = cursor.copy(self._sql)
            self._copy = self._copy_cm.__enter__()
        return self

    def write(self, row: tuple[Any, ...]) -> None:
        self.count += 1
        if self._copy is not None:
            try:
                self._copy.write_row(row)
            except self._driver_error as err:
                raise self._wrap(err) from err
            return
        if self._convert:
            values = list(row)
            for i, p in self._convert:
                values[i] = p(values[i])
            row = tuple(values)
        self._rows.append(row)
        if len(self._rows) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self.conn.exec_driver_sql(self._sql, self._rows)
            self._rows = []

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._copy_cm is None:
            if exc is None:
                self._flush()
            self._rows = []
            return
        cm, self._copy_cm, self._copy = self._copy_cm, None, None
        try:
            cm.__exit__(exc_type, exc, tb)
        except self._driver_error as err:
            raise self._wrap(err) from err

    def _wrap(self, err: psycopg.Error) -> BaseException:
        # Raised by the driver itself, outside SQLAlchemy: wrap it as SQLAlchemy would, so a
        # duplicate uuid is an IntegrityError and a bad value a DataError everywhere.
        return sa.exc.DBAPIError.instance(self._sql, None, err, self._driver_error)


def insert_rows(
    conn: sa.Connection, table: sa.Table, names: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> int:
    """Insert tuples ordered as `names`; returns how many."""
    with RowWriter(conn, table, names) as writer:
        for row in rows:
            writer.write(row)
    return writer.count


# Tables a bulk import fills, in the order their statistics are refreshed.
IMPORTED_TABLES = ("events", "attributes", "attribute_tags", "event_tags", "objects")


def refresh_statistics(engine: sa.Engine, added: int) -> bool:
    """After a bulk import on PostgreSQL, ANALYZE the imported tables when the rows added
    are a tenth or more of what the planner last counted (autovacuum's own rule, applied
    at once instead of within its next pass): a plan made for a table without statistics,
    or for a tenth of its rows, may read every row for each page of an export. SQLite
    plans without statistics well enough and would read whole indexes to gather them.
    Returns whether it ran."""
    if engine.dialect.name != "postgresql" or added <= 0:
        return False
    with engine.connect() as conn:
        counted = conn.execute(
            sa.text("SELECT reltuples FROM pg_class WHERE oid = 'attributes'::regclass")
        ).scalar_one()
        if counted >= 0 and added < 0.1 * counted:
            return False
        conn.execute(sa.text(f"ANALYZE {', '.join(IMPORTED_TABLES)}"))
        conn.commit()
    return True
