"""STIX 2.1 bundles of what a reader may see: one event, or every event (or attribute) a
search finds, streamed an event at a time.

Each event is the events/view a reader gets (intel/visibility.py has already removed what
they may not see: events, attributes, objects, tags, sharing groups); exchange.stix turns
it into STIX objects, leaving out local and non-exportable tags.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from shieldwall.context import Ctx
from shieldwall.db.engine import Database
from shieldwall.exchange.stix import bundle_stream
from shieldwall.intel.common import get_event
from shieldwall.intel.models import Event
from shieldwall.intel.search import SearchFilter, stream_attributes, stream_events
from shieldwall.intel.serialize import event_detail
from shieldwall.knowledge import warninglists
from shieldwall.misp.shapes import event_shape
from shieldwall.misp.views import complete


def misp_event(
    session: Session,
    ctx: Ctx,
    event: Event,
    *,
    include_deleted: bool = False,
    only: set[int] | None = None,
    unwarned: bool = False,
) -> dict[str, Any]:
    """The event as events/view gives it to the reader, with what a STIX bundle carries:
    Galaxy blocks and reports, but no related events, proposals, sighting counts or sharing
    groups. `only` keeps just these attribute ids (and the objects holding one); `unwarned`
    leaves out what enabled warninglists hold (MISP's enforceWarninglist)."""
    detail = event_detail(session, ctx, event, include_deleted=include_deleted, sightings=False)
    if only is not None:
        detail["attributes"] = [a for a in detail["attributes"] if a["id"] in only]
        detail["objects"] = [
            o for o in detail["objects"] if any(a["id"] in only for a in o["attributes"])
        ]
    if unwarned:
        _leave_out_warned(session, detail)
    # What STIX does not carry is not read: sighting counts, proposals, sharing groups.
    return complete(
        session,
        ctx,
        detail,
        event_shape(detail),
        related=False,
        sg_reference_only=True,
        proposals=False,
    )


def _leave_out_warned(session: Session, detail: dict[str, Any]) -> None:
    """Attributes on an enabled warninglist go, as in the other formats; an object left with
    none goes too (STIX has no empty observation), and so do references to what went."""
    warninglists.unwarn_event(session, detail)
    detail["objects"] = [o for o in detail["objects"] if o["attributes"]]
    kept = {a["uuid"] for a in detail["attributes"]}
    for o in detail["objects"]:
        kept.add(o["uuid"])
        kept.update(a["uuid"] for a in o["attributes"])
    for o in detail["objects"]:
        o["references"] = [r for r in o["references"] if r["referenced_uuid"] in kept]


def event_bundle(
    session: Session, ctx: Ctx, ref: str, *, unwarned: bool = False
) -> Iterator[bytes]:
    """The bundle of one event the reader may read (NotFound otherwise); with `unwarned`,
    without what enabled warninglists hold."""
    event = get_event(session, ctx, ref)
    return bundle_stream([misp_event(session, ctx, event, unwarned=unwarned)])


def _events(
    session: Session, ctx: Ctx, f: SearchFilter, unwarned: bool = False
) -> Iterator[dict[str, Any]]:
    """The events the search finds, as their readers get them (the search is built now)."""
    pages = stream_events(session, ctx, f)

    def shaped() -> Iterator[dict[str, Any]]:
        for batch in pages:
            ids = [e.id for e in batch]
            for event_id in ids:
                event = session.get(Event, event_id)
                if event is not None:
                    yield misp_event(
                        session, ctx, event, include_deleted=f.include_deleted, unwarned=unwarned
                    )

    return shaped()


def _attribute_events(
    session: Session, ctx: Ctx, f: SearchFilter, unwarned: bool = False
) -> Iterator[dict[str, Any]]:
    """The events holding matching attributes, each with only those attributes. The ids
    are gathered first (integers only), so each event is written once."""
    pages = stream_attributes(session, ctx, f)

    def shaped() -> Iterator[dict[str, Any]]:
        matches: dict[int, set[int]] = {}
        for rows in pages:
            for a, _ in rows:
                matches.setdefault(a.event_id, set()).add(a.id)
        for event_id in sorted(matches):
            event = session.get(Event, event_id)
            if event is not None:
                yield misp_event(
                    session,
                    ctx,
                    event,
                    include_deleted=f.include_deleted,
                    only=matches[event_id],
                    unwarned=unwarned,
                )

    return shaped()


def search_bundle(
    session: Session,
    ctx: Ctx,
    f: SearchFilter,
    *,
    attributes: bool = False,
    unwarned: bool = False,
) -> Iterator[bytes]:
    """The bundle over the events a search finds (with `attributes`, over the matching
    attributes and their events; with `unwarned`, without what enabled warninglists hold);
    the search is built before the first byte."""
    source = _attribute_events if attributes else _events
    return bundle_stream(source(session, ctx, f, unwarned))


def write_bundle(
    db: Database,
    ctx: Ctx,
    f: SearchFilter,
    path: Path,
    *,
    on_event: Callable[[str], None] | None = None,
) -> int:
    """Write the bundle over the events a search finds into `path` (replaced when complete);
    returns the number of events."""
    count = 0

    def counted(session: Session) -> Iterator[dict[str, Any]]:
        nonlocal count
        for shaped in _events(session, ctx, f):
            count += 1
            if on_event is not None:
                on_event(shaped["uuid"])
            yield shaped

    tmp = path.with_name(path.name + ".tmp")
    with db.read_session() as session, tmp.open("wb") as out:
        for chunk in bundle_stream(counted(session)):
            out.write(chunk)
    tmp.replace(path)
    return count
