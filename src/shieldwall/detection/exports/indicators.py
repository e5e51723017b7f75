"""The indicators a sensor export reads: to_ids attributes the principal may see, streamed
in id order a batch at a time, as plain rows (no ORM objects), minus warninglist hits and
expired indicators unless asked for."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from shieldwall.context import Ctx
from shieldwall.intel.models import Attribute, Event
from shieldwall.intel.search import SearchFilter, attribute_query
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
    timestamp_epoch: int
    event_id: int
    event_uuid: str
    event_info: str

    @property
    def value(self) -> str:
        return f"{self.value1}|{self.value2}" if self.value2 else self.value1


@dataclass(frozen=True)
class Selection:
    """Which indicators an export takes: the search filter (to_ids is forced on), the
    attribute types the format can express, and the two exclusions sensors want."""

    search: SearchFilter
    types: frozenset[str] = frozenset()
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
    base = attribute_query(session, ctx, f).with_only_columns(*_COLUMNS)
    return _batches(session, base, f.after, sel.include_warninglisted)


def _batches(
    session: Session, base: Any, after: int, include_warninglisted: bool
) -> Iterator[list[Indicator]]:
    while True:
        rows = session.execute(base.where(Attribute.id > after).limit(BATCH)).all()
        if not rows:
            return
        after = rows[-1][0]
        batch = [
            Indicator(r[0], r[1], r[2], r[3], r[4], r[5], r[6], _epoch(r[7]), r[8], r[9], r[10])
            for r in rows
        ]
        if not include_warninglisted:
            hits = warninglists.warned(session, [(i.type, i.value) for i in batch])
            batch = [i for i, hit in zip(batch, hits, strict=True) if not hit]
        if batch:
            yield batch
        if len(rows) < BATCH:
            return


def _epoch(value: object) -> int:
    return int(value.timestamp()) if isinstance(value, datetime) else 0
