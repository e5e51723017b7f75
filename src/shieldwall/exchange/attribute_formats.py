"""Attributes as MISP's flat export formats: text (one value per line) and CSV.

Writers take batches and yield bytes, so an export of millions of attributes streams.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

# MISP's CSV columns, in MISP's order, when no requested_attributes are given.
CSV_COLUMNS = (
    "uuid",
    "event_id",
    "category",
    "type",
    "value",
    "comment",
    "to_ids",
    "date",
    "object_relation",
    "attribute_tag",
    "object_uuid",
    "object_name",
    "object_meta_category",
)
# Event columns added by includeContext.
CONTEXT_COLUMNS = (
    "event_info",
    "event_member_org",
    "event_source_org",
    "event_distribution",
    "event_threat_level_id",
    "event_analysis",
    "event_date",
    "event_tag",
    "event_timestamp",
)
# Attribute columns that requested_attributes may name besides the defaults.
EXTRA_COLUMNS = ("id", "distribution", "sharing_group_id", "first_seen", "last_seen", "event_uuid")
KNOWN_COLUMNS = frozenset(CSV_COLUMNS + CONTEXT_COLUMNS + EXTRA_COLUMNS)


def text_lines(batches: Iterable[list[str]]) -> Iterator[bytes]:
    for values in batches:
        if values:
            yield ("\n".join(values) + "\n").encode()


def _epoch(iso_value: str | None) -> str:
    return str(int(datetime.fromisoformat(iso_value).timestamp())) if iso_value else ""


def _cell(a: dict[str, Any], name: str, context: dict[int, dict[str, Any]]) -> Any:
    if name == "to_ids":
        return 1 if a["to_ids"] else 0
    if name == "date":
        return _epoch(a["timestamp"])
    if name == "attribute_tag":
        return ",".join(t["name"] for t in a.get("tags", []))
    if name in ("object_uuid", "object_name", "object_meta_category"):
        obj = a.get("object") or {}
        return obj.get(name.removeprefix("object_"), "")
    if name.startswith("event_") and name != "event_id" and name != "event_uuid":
        return context.get(a["event_id"], {}).get(name, "")
    value = a.get(name)
    return "" if value is None else value


def csv_rows(
    batches: Iterable[tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]],
    columns: tuple[str, ...],
    *,
    header: bool = True,
) -> Iterator[bytes]:
    """Rows for each batch of (serialised attributes, event context by event id)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(columns)
    for attrs, context in batches:
        for a in attrs:
            writer.writerow([_cell(a, c, context) for c in columns])
        yield buf.getvalue().encode()
        buf.seek(0)
        buf.truncate()
    rest = buf.getvalue()
    if rest:
        yield rest.encode()
