"""Bulk inserts straight to the driver's executemany, for the import hot path.

SQLAlchemy's per-row parameter handling costs more than the insert itself at tens of
thousands of rows a second; this applies each column's bind processor once per value and
hands plain tuples to the driver.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
import sqlalchemy as sa


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


def insert_rows(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = conn.dialect
    names = list(rows[0].keys())
    columns = [table.c[n] for n in names]
    processors: list[Callable[[Any], Any] | None] = [
        c.type._cached_bind_processor(dialect) for c in columns
    ]
    quote = dialect.identifier_preparer.quote
    if dialect.name == "postgresql":
        # COPY is PostgreSQL's bulk path: one round trip for the whole batch.
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cols = ", ".join(quote(n) for n in names)
        get = operator.itemgetter(*names)
        sql = f"COPY {quote(table.name)} ({cols}) FROM STDIN"
        try:
            with cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(get(row))
        except psycopg.DataError as exc:
            # Raised by the driver itself, outside SQLAlchemy: wrap it as SQLAlchemy would.
            raise sa.exc.DataError(sql, None, exc) from exc
        return
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
        f"VALUES ({', '.join([mark] * len(names))})"
    )
    get = operator.itemgetter(*names)
    # Booleans need no conversion: both drivers take Python's bool (an int) as it is.
    convert = [
        (i, _memoised(p))
        for i, (p, c) in enumerate(zip(processors, columns, strict=True))
        if p is not None and not isinstance(c.type, sa.Boolean)
    ]
    params: list[tuple[Any, ...]] = []
    for row in rows:
        values = list(get(row))
        for i, p in convert:
            values[i] = p(values[i])
        params.append(tuple(values))
    conn.exec_driver_sql(sql, params)
