"""The indicators a sensor export reads: to_ids attributes the principal may see, streamed
in id order a batch at a time, as plain rows (no ORM objects), minus warninglist hits and
expired indicators unless asked for."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from shieldwall.context import Ctx
from shieldwall.intel.models import Attribute, Event
from shieldwall.intel.search import SearchFilter, attribute_query, keyset_pages
from shieldwall.knowledge import warninglists
from shieldwall.read_ahead import read_ahead

BATCH = 20_000


class Indicator(NamedTuple):
    id: int
    uuid: str
    type: str
    category: str
    value1: str
    value2: str
    comment: str
    epoch: int  # the attribute's timestamp in epoch seconds (0 when it has none)
    event_id: int
    event_uuid: str
    event_info: str

    @property
    def value(self) -> str:
        return f"{self.value1}|{self.value2}" if self.value2 else self.value1


ALL_FIELDS = frozenset(Indicator._fields)
_WARNINGLIST_FIELDS = frozenset({"type", "value1", "value2"})


@dataclass(frozen=True)
class Selection:
    """Which indicators an export takes: the search filter (to_ids is forced on), the
    attribute types the format can express, the fields its writer reads, and the two
    exclusions sensors want."""

    search: SearchFilter
    types: frozenset[str] = frozenset()
    # The Indicator fields the writer reads; the others come empty ("" or 0). Reading and
    # converting columns nobody writes costs seconds at a million rows.
    fields: frozenset[str] = ALL_FIELDS
    include_warninglisted: bool = False
    include_expired: bool = False


class _EpochSeconds(FunctionElement[int]):
    """A stored timestamp as whole seconds since 1970, computed by the database (a million
    datetimes converted in Python cost seconds)."""

    type = sa.BigInteger()
    inherit_cache = True


@compiles(_EpochSeconds, "sqlite")
def _epoch_sqlite(element: _EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    # Stored as "YYYY-MM-DD HH:MM:SS.ffffff" in UTC. The fraction is cut off first: SQLite
    # rounds it to milliseconds, so .9999995 would count as the next second.
    column = compiler.process(element.clauses, **kw)
    return f"CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER)"


@compiles(_EpochSeconds, "postgresql")
def _epoch_postgresql(element: _EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


_COLUMNS: dict[str, Any] = {
    "id": Attribute.id,
    "uuid": Attribute.uuid,
    "type": Attribute.type,
    "category": Attribute.category,
    "value1": Attribute.value1,
    "value2": Attribute.value2,
    "comment": Attribute.comment,
    "epoch": sa.func.coalesce(_EpochSeconds(Attribute.timestamp), 0),
    "event_id": Attribute.event_id,
    "event_uuid": Event.uuid,
    "event_info": Event.info,
}
assert tuple(_COLUMNS) == Indicator._fields


def _column(name: str, wanted: frozenset[str]) -> Any:
    if name in wanted or name == "id":  # the id is the keyset's key
        return _COLUMNS[name].label(name)
    return sa.literal_column("0" if name == "epoch" else "''").label(name)


def stream_indicators(session: Session, ctx: Ctx, sel: Selection) -> Iterator[list[Indicator]]:
    """Batches of indicators in attribute id order (keyset: memory stays flat). The query is
    built now, so a bad filter (an unknown tag or organisation) fails here, before anything
    is streamed."""
    f = replace(
        sel.search,
        to_ids=True,
        exclude_expired=not sel.include_expired,
        type=sorted(set(sel.search.type) & sel.types if sel.search.type else sel.types)
        if sel.types
        else sel.search.type,
    )
    if sel.types and not f.type:
        return iter(())  # the filter asked only for types the format cannot express
    # The warninglist check reads the type and the whole value.
    wanted = sel.fields if sel.include_warninglisted else sel.fields | _WARNINGLIST_FIELDS
    columns = [_column(name, wanted) for name in Indicator._fields]
    base = attribute_query(session, ctx, f).with_only_columns(*columns)
    return _batches(session, base, f.after, sel.include_warninglisted)


def _batches(
    session: Session, base: Any, after: int, include_warninglisted: bool
) -> Iterator[list[Indicator]]:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        pages = _read_ahead(bind, base, after)
    else:
        # SQLite runs in this process and its driver gives the GIL up and takes it back at
        # every row: a reading thread would wait on the writing one at each row.
        conn = session.connection()
        pages = keyset_pages(
            lambda q: _page(conn, q), base, Attribute.id, after, BATCH, lambda i: i.id
        )
    for batch in pages:
        if not include_warninglisted and warninglists.any_enabled(session):
            hits = warninglists.warned(session, [(i.type, i.value) for i in batch])
            batch = [i for i, hit in zip(batch, hits, strict=True) if not hit]
        if batch:
            yield batch


def _page(conn: Any, q: Any) -> list[Indicator]:
    # The driver's own tuples: none of these columns has a result processor (the epoch is
    # computed in SQL), so SQLAlchemy's rows would only add a copy a row.
    result = conn.execute(q)
    try:
        return list(map(Indicator._make, result.cursor.fetchall()))
    finally:
        result.close()


def _read_ahead(bind: Any, base: Any, after: int) -> Iterator[list[Indicator]]:
    """The keyset pages of `base`, read one page ahead by a thread on a connection of its
    own (PostgreSQL): the server works out the next page in its own process while the
    caller checks and writes this one."""

    def pages() -> Iterator[list[Indicator]]:
        # A read transaction even when the caller's session writes (no write lock).
        with bind.connect().execution_options(shieldwall_write=False) as conn:
            yield from keyset_pages(
                lambda q: _page(conn, q), base, Attribute.id, after, BATCH, lambda i: i.id
            )

    return read_ahead(pages, depth=1, name="export-read-ahead")
