"""MISP JSON events in: single events, restSearch responses and lists, streamed one event
at a time so memory stays flat however many events a file holds."""

from __future__ import annotations

import gc
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from shieldwall.context import Ctx
from shieldwall.db.bulk import refresh_statistics
from shieldwall.db.engine import Database
from shieldwall.exchange.json_stream import CountingReader, JSONFormatError, iter_events
from shieldwall.intel.errors import Conflict, DomainError
from shieldwall.intel.events import create_event, create_events
from shieldwall.intel.models import SharingGroup
from shieldwall.intel.schemas import EventIn
from shieldwall.read_ahead import read_ahead


@dataclass
class ImportReport:
    created: int = 0
    skipped: int = 0
    failed: int = 0
    attributes: int = 0
    errors: list[str] = field(default_factory=list)
    # Written in the open transaction, counted above once it commits.
    pending_created: int = 0
    pending_attributes: int = 0


def _distributed(raw: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    """Everything in a MISP event that carries its own distribution, with a label."""
    yield raw, "the event"
    for a in raw.get("Attribute") or []:
        yield a, f"attribute {a.get('uuid', '')}"
    for o in raw.get("Object") or []:
        yield o, f"object {o.get('uuid', '')}"
        for a in o.get("Attribute") or []:
            yield a, f"attribute {a.get('uuid', '')}"


def _map_sharing_groups(session: Any, raw: dict[str, Any]) -> None:
    """Sharing group ids in MISP JSON are the sender's; map them by uuid to ours."""

    def local_id(block: Any) -> int | None:
        if isinstance(block, dict) and block.get("uuid"):
            return session.execute(
                sa.select(SharingGroup.id).where(SharingGroup.uuid == block["uuid"])
            ).scalar_one_or_none()
        return None

    def fix(item: dict[str, Any], what: str) -> None:
        if str(item.get("distribution", "")) != "4":
            item["sharing_group_id"] = None
            return
        sg = local_id(item.get("SharingGroup"))
        if sg is None:
            block = item.get("SharingGroup") or {}
            raise Conflict(
                f"{what} is shared with sharing group {block.get('uuid') or item.get('sharing_group_id')}, "
                "which does not exist here; create it (same uuid) first",
                field="sharing_group_id",
            )
        item["sharing_group_id"] = sg

    for item, what in _distributed(raw):
        fix(item, what)


# Events are committed in groups of about this many attributes; each event has its own
# savepoint, so a bad event is rolled back alone and reported while the others land. In a
# large database a commit costs about as much as the index pages it dirtied, whatever the
# number of rows, so fewer, larger commits are cheaper per attribute.
COMMIT_EVERY = 100_000


def import_event(
    session: Session,
    ctx: Ctx,
    raw: dict[str, Any],
    report: ImportReport,
    data: EventIn | None = None,
    invalid: Exception | None = None,
) -> int:
    """Import one event inside a savepoint of the session's transaction; returns the number
    of attributes written (0 when skipped or failed, with the report updated). `data` is the
    event already validated (by the read-ahead thread), `invalid` its validation error."""
    label = raw.get("uuid") or raw.get("info", "?")
    try:
        if invalid is not None:
            raise invalid
        with session.begin_nested():
            if data is None:
                _map_sharing_groups(session, raw)
                data = EventIn.model_validate(raw)
            create_event(session, ctx, data, keep_orgc=True)
    except Conflict as exc:
        if exc.field == "uuid":
            report.skipped += 1
        else:
            report.failed += 1
            report.errors.append(f"event {label}: {exc.field}: {exc.detail}")
        return 0
    except DomainError as exc:
        report.failed += 1
        report.errors.append(f"event {label}: {exc.field}: {exc.detail}")
        return 0
    except DataError:
        report.failed += 1
        report.errors.append(f"event {label}: a value cannot be stored (out of range or NUL)")
        return 0
    except IntegrityError:
        report.failed += 1
        report.errors.append(
            f"event {label}: uuid: an attribute or object uuid of this event is already stored"
        )
        return 0
    except ValidationError as exc:
        report.failed += 1
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        report.errors.append(f"event {label}: {loc}: {first['msg']}")
        return 0
    return _count(report, data)


def _count(report: ImportReport, data: EventIn) -> int:
    written = len(data.attributes) + sum(len(o.attributes) for o in data.objects)
    report.pending_created += 1
    report.pending_attributes += written
    return written


# Validated events are written in groups of up to this many attributes (one commit's worth)
# with one savepoint and one bulk write, so the database stores a group's rows while the
# rest are built; a group that fails is rolled back and its events are imported one by one,
# each failing alone. A group's parsed events are held in memory: the bound is constant.
GROUP_ATTRIBUTES = 20_000
GROUP_EVENTS = 50


def import_group(
    session: Session, ctx: Ctx, group: list[tuple[dict[str, Any], EventIn]], report: ImportReport
) -> int:
    """Import validated events together; returns the attributes written."""
    if len(group) > 1:
        try:
            with session.begin_nested():
                create_events(session, ctx, [data for _, data in group], keep_orgc=True)
        except (DomainError, DataError, IntegrityError, ValidationError):
            pass  # rolled back to the savepoint: each event again, alone, to say which failed
        else:
            return sum(_count(report, data) for _, data in group)
    return sum(import_event(session, ctx, raw, report, data) for raw, data in group)


@contextmanager
def _bulk_gc() -> Iterator[None]:
    """Fewer garbage collections while millions of short-lived objects pass through: the
    data holds no reference cycles, and the thresholds come back afterwards."""
    before = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _validated(raw: Any) -> tuple[Any, EventIn | None, ValidationError | None]:
    """The event validated, ready for a group; events shared with sharing groups are
    validated by the writer, once their ids are mapped against the database."""
    if isinstance(raw, dict) and not _shares_with_groups(raw):
        try:
            return raw, EventIn.model_validate(raw), None
        except ValidationError as exc:
            return raw, None, exc
    return raw, None, None


def _read_inline(stream: io.RawIOBase) -> Iterator[tuple[Any, EventIn | None, Exception | None]]:
    for raw in iter_events(stream):
        yield _validated(raw)


def _shares_with_groups(raw: dict[str, Any]) -> bool:
    return any(str(item.get("distribution", "")) == "4" for item, _ in _distributed(raw))


def _read_ahead(
    stream: io.RawIOBase, depth: int = 4
) -> Iterator[tuple[Any, EventIn | None, Exception | None]]:
    """Parse and validate the next events in a thread while the caller writes this one.

    PostgreSQL's driver releases the GIL while the server works, so the two overlap. Events
    shared with sharing groups are validated by the caller: their ids are mapped against
    the database first."""
    return read_ahead(
        lambda: map(_validated, iter_events(stream)), depth=depth, name="misp-json-read-ahead"
    )


def import_file(
    db: Database,
    ctx: Ctx,
    path: Path,
    on_read: Callable[[int], None] | None = None,
    report: ImportReport | None = None,
) -> ImportReport:
    """Import every event of a MISP JSON file, a transaction per COMMIT_EVERY attributes;
    validated events go in groups with one savepoint (one per event when a group fails)."""
    report = report or ImportReport()
    with path.open("rb") as fh, _bulk_gc():
        stream = CountingReader(fh, on_read)
        session = db.bulk_write_session()
        group: list[tuple[dict[str, Any], EventIn]] = []
        group_size = 0

        def write_group() -> int:
            nonlocal group_size
            written = import_group(session, ctx, group, report) if group else 0
            group.clear()
            group_size = 0
            return written

        try:
            pending = 0
            # On PostgreSQL the writer mostly waits on the server, so reading ahead in a
            # thread overlaps the two; on SQLite the writer is busy in Python and a second
            # thread would only contend for the GIL.
            events = _read_inline(stream) if db.is_sqlite else _read_ahead(stream)
            for raw, data, invalid in events:
                if not isinstance(raw, dict):
                    report.failed += 1
                    report.errors.append(f"{path}: an event must be a JSON object")
                    continue
                if not session.in_transaction():
                    session.begin()
                if data is not None and invalid is None:
                    group.append((raw, data))
                    group_size += len(data.attributes) + sum(
                        len(o.attributes) for o in data.objects
                    )
                    if group_size >= GROUP_ATTRIBUTES or len(group) >= GROUP_EVENTS:
                        pending += write_group()
                else:
                    pending += write_group()
                    pending += import_event(session, ctx, raw, report, data, invalid)
                if pending >= COMMIT_EVERY:
                    pending += write_group()
                    _commit(session, report)
                    pending = 0
            pending += write_group()
            _commit(session, report)
        except JSONFormatError as exc:
            # The events read before the bad JSON are kept.
            write_group()
            _commit(session, report)
            report.failed += 1
            report.errors.append(f"{path}: not valid JSON: {exc}")
        finally:
            if session.in_transaction():
                session.rollback()
            session.close()
    refresh_statistics(db.engine, report.attributes)
    return report


def _commit(session: Session, report: ImportReport) -> None:
    if session.in_transaction():
        session.commit()
    report.created += report.pending_created
    report.attributes += report.pending_attributes
    report.pending_created = report.pending_attributes = 0
