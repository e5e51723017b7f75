"""The indicators a sensor export reads: to_ids attributes the principal may see, streamed
in id order a batch at a time, as plain rows (no ORM objects), minus warninglist hits and
expired indicators unless asked for."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.context import Ctx
from shieldwall.intel.models import Attribute, Event
from shieldwall.intel.search import SearchFilter, attribute_query, keyset_pages
from shieldwall.knowledge import warninglists

BATCH = 20_000


class Indicator(NamedTuple):
    id: int
    uuid: str
    type: str
    category: str
    value1: str
    value2: str
    comment: str
    timestamp: datetime | None
    event_id: int
    event_uuid: str
    event_info: str

    @property
    def value(self) -> str:
        return f"{self.value1}|{self.value2}" if self.value2 else self.value1

    @property
    def epoch(self) -> int:
        return int(self.timestamp.timestamp()) if self.timestamp else 0


@dataclass(frozen=True)
class Selection:
    """Which indicators an export takes: the search filter (to_ids is forced on), the
    attribute types the format can express, and the two exclusions sensors want."""

    search: SearchFilter
    types: frozenset[str] = frozenset()
    # Rule formats give each rule a rev from the attribute's timestamp; the others skip
    # reading it (converting a million timestamps costs seconds).
    timestamps: bool = False
    include_warninglisted: bool = False
    include_expired: bool = False


_COLUMNS = (
    Attribute.id,
    Attribute.uuid,
    Attribute.type,
    Attribute.category,
    Attribute.value1,
    Attribute.value2,
    Attribute.comment,
    Attribute.timestamp,
    Attribute.event_id,
    Event.uuid,
    Event.info,
)


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
    columns = (
        _COLUMNS
        if sel.timestamps
        else tuple(
            sa.null().label("timestamp") if c is Attribute.timestamp else c for c in _COLUMNS
        )
    )
    base = attribute_query(session, ctx, f).with_only_columns(*columns)
    return _batches(session, base, f.after, sel.include_warninglisted)


def _batches(
    session: Session, base: Any, after: int, include_warninglisted: bool
) -> Iterator[list[Indicator]]:
    def run(q: Any) -> list[Indicator]:
        # Core rows straight from the connection: no ORM loading step per row.
        return list(map(Indicator._make, session.connection().execute(q).all()))

    for batch in keyset_pages(run, base, Attribute.id, after, BATCH, lambda i: i.id):
        if not include_warninglisted and warninglists.any_enabled(session):
            hits = warninglists.warned(session, [(i.type, i.value) for i in batch])
            batch = [i for i, hit in zip(batch, hits, strict=True) if not hit]
        if batch:
            yield batch
