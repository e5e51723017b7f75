"""Feeds out: MISP's feed format (manifest.json, hashes.csv, one <uuid>.json per event) of
the published events a principal may read, written event by event so memory stays flat.

What leaves follows the access rules (intel/visibility.py) and the TLP guard: events marked
tlp:red or tlp:amber+strict are left out, as are attributes so marked; attachment and
malware-sample files go inside their attribute (base64 `data`), as in MISP's feeds; local and
non-exportable tags are dropped; ids, distributions and sharing groups that only mean
something on this instance are removed, as MISP's own feed output does. With
enforce_warninglist, attributes on an enabled warninglist that applies to their type are left
out too (restSearch's enforceWarninglist, which MISP's feed generator can pass).

Expired indicators (shieldwall.lifecycle) stay in their events as context but leave the
detection set: they are written with to_ids false and their timestamp (and the event's)
moved to the time they expired, so a MISP instance that pulled them before takes the change.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson
from sqlalchemy.orm import Session

from shieldwall.context import Ctx
from shieldwall.db.engine import Database
from shieldwall.intel.attachments import attach_data
from shieldwall.intel.search import SearchFilter, stream_events
from shieldwall.intel.serialize import event_detail
from shieldwall.intel.visibility import tlp_level
from shieldwall.knowledge import warninglists
from shieldwall.misp.shapes import event_shape

_EVENT_FILE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.json$")

_LOCAL_EVENT_FIELDS = (
    "id",
    "org_id",
    "orgc_id",
    "user_id",
    "distribution",
    "sharing_group_id",
    "Org",
    "ShadowAttribute",
    "RelatedEvent",
)
_LOCAL_ATTRIBUTE_FIELDS = ("id", "event_id", "object_id", "distribution", "sharing_group_id")
_LOCAL_OBJECT_FIELDS = ("id", "event_id", "distribution", "sharing_group_id")


@dataclass
class ExportReport:
    events: int = 0
    attributes: int = 0
    withheld: int = 0  # events left out by the TLP guard
    removed: int = 0  # files of an earlier export no longer in this one


def _shared_tags(tags: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in tags if t.get("exportable", True) and not t.get("local")]


def _guarded(tags: list[dict[str, Any]]) -> bool:
    return tlp_level([t["name"] for t in tags]) is not None


def _clean_attribute(a: dict[str, Any]) -> dict[str, Any] | None:
    if _guarded(a.get("tags", [])):
        return None
    a["tags"] = _shared_tags(a.get("tags", []))
    return a


def _retire(attrs: list[dict[str, Any]]) -> datetime | None:
    """Expired indicators leave the detection set: to_ids false, timestamp at least their
    expiry. Returns the latest timestamp so moved, if any."""
    latest: datetime | None = None
    for a in attrs:
        if a.get("expired_at") and a["to_ids"]:
            stamp = max(
                datetime.fromisoformat(a["timestamp"]), datetime.fromisoformat(a["expired_at"])
            )
            a["to_ids"], a["timestamp"] = False, stamp.isoformat()
            latest = stamp if latest is None or stamp > latest else latest
    return latest


def _later(item: dict[str, Any], stamp: datetime | None) -> datetime | None:
    if stamp is not None and stamp > datetime.fromisoformat(item["timestamp"]):
        item["timestamp"] = stamp.isoformat()
    return stamp


def feed_event(
    session: Session,
    ctx: Ctx,
    event: Any,
    *,
    include_expired: bool = False,
    enforce_warninglist: bool = False,
) -> dict[str, Any] | None:
    """One event as its feed file holds it ({"Event": ...}); None when the TLP guard keeps
    it on this instance."""
    detail = event_detail(session, ctx, event)
    if _guarded(detail["tags"]):
        return None
    detail["tags"] = _shared_tags(detail["tags"])
    detail["attributes"] = [a for a in map(_clean_attribute, detail["attributes"]) if a]
    for o in detail["objects"]:
        o["attributes"] = [a for a in map(_clean_attribute, o["attributes"]) if a]
    if enforce_warninglist:
        warninglists.unwarn_event(session, detail)
    if not include_expired:
        # MISP takes an attribute, object or event change only when its timestamp is newer.
        moved = [_retire(detail["attributes"])]
        for o in detail["objects"]:
            moved.append(_later(o, _retire(o["attributes"])))
        _later(detail, max((m for m in moved if m is not None), default=None))
    shaped = event_shape(detail)
    # Files travel inside the feed, base64 in `data`, as MISP's feed generator writes them.
    attach_data(session, list(_attributes(shaped)))
    for name in _LOCAL_EVENT_FIELDS:
        shaped.pop(name, None)
    shaped["Orgc"] = {"name": shaped["Orgc"]["name"], "uuid": shaped["Orgc"]["uuid"]}
    for a in _attributes(shaped):
        for name in _LOCAL_ATTRIBUTE_FIELDS:
            a.pop(name, None)
    for o in shaped.get("Object", []):
        for name in _LOCAL_OBJECT_FIELDS:
            o.pop(name, None)
        for r in o.get("ObjectReference", []):
            r.pop("id", None)
            r.pop("object_id", None)
    return {"Event": shaped}


def _attributes(shaped: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from shaped.get("Attribute", [])
    for o in shaped.get("Object", []):
        yield from o.get("Attribute", [])


def manifest_entry(shaped: dict[str, Any]) -> dict[str, Any]:
    return {
        "Orgc": shaped["Orgc"],
        "Tag": [{"name": t["name"], "colour": t["colour"]} for t in shaped.get("Tag", [])],
        "info": shaped["info"],
        "date": shaped["date"],
        "analysis": int(shaped["analysis"]),
        "threat_level_id": int(shaped["threat_level_id"]),
        "timestamp": int(shaped["timestamp"]),
    }


def value_hashes(attribute: dict[str, Any]) -> list[str]:
    """md5 of a value, of each part for composite types (as MISP's hashes.csv has them)."""
    value = str(attribute["value"])
    parts = (
        value.split("|")
        if "|" in attribute["type"] or attribute["type"] == "malware-sample"
        else [value]
    )
    return [hashlib.md5(p.encode("utf-8"), usedforsecurity=False).hexdigest() for p in parts]


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def export_feed(
    db: Database,
    ctx: Ctx,
    directory: Path,
    *,
    on_event: Callable[[str], None] | None = None,
    include_expired: bool = False,
    enforce_warninglist: bool = False,
) -> ExportReport:
    """Write the feed of the published events the principal may read into `directory`.
    manifest.json and hashes.csv are replaced when complete; event files of an earlier
    export that are not in this one are removed. Expired indicators are written with
    to_ids false unless include_expired; enforce_warninglist leaves out the attributes on an
    enabled warninglist (as restSearch's enforceWarninglist)."""
    directory.mkdir(parents=True, exist_ok=True)
    report = ExportReport()
    written: set[str] = set()
    manifest_tmp = directory / "manifest.json.tmp"
    hashes_tmp = directory / "hashes.csv.tmp"
    with (
        db.reading() as session,
        manifest_tmp.open("wb") as manifest,
        hashes_tmp.open("w", encoding="utf-8", newline="") as hashes,
    ):
        manifest.write(b"{")
        for batch in stream_events(session, ctx, SearchFilter(published=True)):
            for event in batch:
                doc = feed_event(
                    session,
                    ctx,
                    event,
                    include_expired=include_expired,
                    enforce_warninglist=enforce_warninglist,
                )
                if doc is None:
                    report.withheld += 1
                    continue
                _write_event(directory, doc, manifest, hashes, first=not written)
                shaped = doc["Event"]
                written.add(f"{shaped['uuid']}.json")
                report.events += 1
                report.attributes += sum(1 for _ in _attributes(shaped))
                if on_event is not None:
                    on_event(shaped["uuid"])
        manifest.write(b"}")
    os.replace(manifest_tmp, directory / "manifest.json")
    os.replace(hashes_tmp, directory / "hashes.csv")
    for stale in directory.iterdir():
        if _EVENT_FILE.match(stale.name) and stale.name not in written:
            stale.unlink()
            report.removed += 1
    return report


def _write_event(
    directory: Path, doc: dict[str, Any], manifest: IO[bytes], hashes: IO[str], *, first: bool
) -> None:
    shaped = doc["Event"]
    uuid = shaped["uuid"]
    _write_atomic(directory / f"{uuid}.json", orjson.dumps(doc))
    if not first:
        manifest.write(b",")
    manifest.write(orjson.dumps(uuid) + b":" + orjson.dumps(manifest_entry(shaped)))
    for a in _attributes(shaped):
        for h in value_hashes(a):
            hashes.write(f"{h},{uuid}\n")
