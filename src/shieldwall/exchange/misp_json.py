"""MISP JSON events in: single events, restSearch responses and lists, streamed one event
at a time so memory stays flat however many events a file holds."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import ijson
import sqlalchemy as sa
from pydantic import ValidationError

from shieldwall.context import Ctx
from shieldwall.db.engine import Database
from shieldwall.intel.errors import Conflict, DomainError
from shieldwall.intel.events import create_event
from shieldwall.intel.models import SharingGroup
from shieldwall.intel.schemas import EventIn


class CountingReader(io.RawIOBase):
    """Wraps a binary file and counts the bytes read (for progress bars)."""

    def __init__(self, raw: IO[bytes], on_read: Callable[[int], None] | None = None) -> None:
        self.raw = raw
        self.on_read = on_read
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.raw.read(len(b))
        n = len(data)
        b[:n] = data
        self.count += n
        if self.on_read:
            self.on_read(n)
        return n


def _sniff_prefix(head: bytes) -> str:
    text = head.lstrip()
    if text.startswith(b"["):
        return "item"
    # An object: {"response": [...]} or {"Event": {...}} (or a bare event).
    probe = text[:4096]
    r = probe.find(b'"response"')
    e = probe.find(b'"Event"')
    if r != -1 and (e == -1 or r < e):
        return "response.item"
    if e != -1:
        return ""
    return "bare"


def iter_events(stream: io.RawIOBase) -> Iterator[dict[str, Any]]:
    """Yield MISP event dicts from any of MISP's JSON shapes."""
    buffered = io.BufferedReader(stream, buffer_size=1 << 20)
    head = buffered.peek(4096)
    prefix = _sniff_prefix(head)
    if prefix == "bare":
        for item in ijson.items(buffered, "", use_float=True):
            yield item
        return
    if prefix == "":
        for item in ijson.items(buffered, "Event", use_float=True):
            yield item
        return
    for item in ijson.items(buffered, prefix, use_float=True):
        if isinstance(item, dict) and "Event" in item:
            yield item["Event"]
        elif isinstance(item, dict):
            yield item


@dataclass
class ImportReport:
    created: int = 0
    skipped: int = 0
    failed: int = 0
    attributes: int = 0
    errors: list[str] = field(default_factory=list)


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

    fix(raw, "the event")
    for a in raw.get("Attribute") or []:
        fix(a, f"attribute {a.get('uuid', '')}")
    for o in raw.get("Object") or []:
        fix(o, f"object {o.get('uuid', '')}")
        for a in o.get("Attribute") or []:
            fix(a, f"attribute {a.get('uuid', '')}")


def import_event(db: Database, ctx: Ctx, raw: dict[str, Any], report: ImportReport) -> None:
    label = raw.get("uuid") or raw.get("info", "?")
    try:
        with db.writing() as session:
            _map_sharing_groups(session, raw)
            data = EventIn.model_validate(raw)
            create_event(session, ctx, data, keep_orgc=True)
        report.created += 1
        report.attributes += len(data.attributes) + sum(len(o.attributes) for o in data.objects)
    except Conflict as exc:
        if exc.field == "uuid":
            report.skipped += 1
        else:
            report.failed += 1
            report.errors.append(f"event {label}: {exc.field}: {exc.detail}")
    except DomainError as exc:
        report.failed += 1
        report.errors.append(f"event {label}: {exc.field}: {exc.detail}")
    except ValidationError as exc:
        report.failed += 1
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        report.errors.append(f"event {label}: {loc}: {first['msg']}")


def import_file(
    db: Database,
    ctx: Ctx,
    path: Path,
    on_read: Callable[[int], None] | None = None,
    report: ImportReport | None = None,
) -> ImportReport:
    report = report or ImportReport()
    with path.open("rb") as fh:
        reader = CountingReader(fh, on_read)
        try:
            for raw in iter_events(reader):
                if not isinstance(raw, dict):
                    report.failed += 1
                    report.errors.append(f"{path}: an event must be a JSON object")
                    continue
                import_event(db, ctx, raw, report)
        except ijson.JSONError as exc:
            report.failed += 1
            report.errors.append(f"{path}: not valid JSON ({exc})")
    return report
