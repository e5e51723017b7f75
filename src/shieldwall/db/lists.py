"""`column IN (values)` with the values in one bound parameter (a PostgreSQL array, a JSON
array read by SQLite's json_each), so a list of thousands costs one parameter instead of
thousands to bind and a statement the driver prepares once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session


def in_values(
    session: Session, col: Any, values: Sequence[str] | Sequence[int] | Sequence[bytes]
) -> Any:
    items = list(values)
    first = items[0] if items else ""
    if session.get_bind().dialect.name == "postgresql":
        kind: sa.types.TypeEngine[Any] = (
            sa.BigInteger()
            if isinstance(first, int)
            else sa.LargeBinary()
            if isinstance(first, bytes)
            else sa.Text()
        )
        return col == sa.any_(sa.bindparam(None, items, type_=postgresql.ARRAY(kind)))
    if isinstance(first, bytes):
        return col.in_(items)  # JSON cannot carry bytes; SQLite binds them one by one
    listed = sa.func.json_each(
        sa.bindparam(None, orjson.dumps(items).decode(), type_=sa.Text)
    ).table_valued("value")
    return col.in_(sa.select(listed.c.value))
