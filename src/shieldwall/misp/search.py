"""MISP's restSearch for events and attributes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from fastapi import Request

from shieldwall.api.deps import CurrentCtx, ReadDB
from shieldwall.api.search import parse_time
from shieldwall.intel.errors import InvalidInput
from shieldwall.intel.search import SearchFilter, TagFilter, search_attributes, search_events
from shieldwall.intel.serialize import attributes_with_tags, event_detail, event_summary, event_tags
from shieldwall.misp.common import (
    as_list,
    flag,
    json_body,
    misp_router,
    text_param,
    time_range,
    whole,
)
from shieldwall.misp.shapes import attribute_shape, event_shape

router = misp_router()


def _tags(value: Any) -> TagFilter:
    tf = TagFilter()
    if isinstance(value, dict):
        upper = {k.upper(): v for k, v in value.items()}
        tf.any_of = as_list(upper.get("OR"))
        tf.all_of = as_list(upper.get("AND"))
        tf.none_of = as_list(upper.get("NOT"))
        return tf
    for t in as_list(value):
        (tf.none_of if t.startswith("!") else tf.any_of).append(t.lstrip("!"))
    return tf


def misp_filter(q: dict[str, Any]) -> SearchFilter:
    """MISP's restSearch parameters as a Shieldwall search filter."""
    fmt = q.get("returnFormat") or "json"
    if fmt != "json":
        raise InvalidInput(
            f"returnFormat {fmt!r} is not available yet; use json", field="returnFormat"
        )
    ts_from, ts_to = time_range(q.get("timestamp"), "timestamp")
    pub = q.get("publish_timestamp") or q.get("last")
    pts_from, pts_to = time_range(pub, "publish_timestamp")
    from_ = parse_time(q.get("from"), "from") if q.get("from") else None
    to = parse_time(q.get("to"), "to") if q.get("to") else None
    to_ids = flag(q.get("to_ids"))
    return SearchFilter(
        value=as_list(q.get("value")),
        type=as_list(q.get("type")),
        category=as_list(q.get("category")),
        tags=_tags(q.get("tags")),
        org=as_list(q.get("org")),
        event=as_list(q.get("eventid")),
        uuid=as_list(q.get("uuid")),
        info=text_param(q.get("eventinfo"), "eventinfo"),
        date_from=from_.date() if from_ else None,
        date_to=to.date() if to else None,
        timestamp_from=ts_from,
        timestamp_to=ts_to,
        publish_timestamp_from=pts_from,
        publish_timestamp_to=pts_to,
        published=flag(q.get("published")),
        to_ids=to_ids,
        include_deleted=bool(flag(q.get("deleted"))),
        limit=whole(q.get("limit"), "limit", default=10000, low=1, high=100000),
    )


def _page(q: dict[str, Any]) -> int:
    return whole(q.get("page"), "page", default=1, low=1, high=1_000_000)


@router.post("/attributes/restSearch")
async def attributes_rest_search(request: Request, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    q = await json_body(request)
    f = misp_filter(q)
    rows = paged(
        lambda after: search_attributes(db, ctx, with_after(f, after)),
        lambda r: r[0].id,
        f.limit,
        _page(q),
    )
    uuids = {a.event_id: u for a, u in rows}
    items = attributes_with_tags(db, ctx, [a for a, _ in rows], uuids)
    return {"response": {"Attribute": [attribute_shape(a) for a in items]}}


@router.post("/events/restSearch")
async def events_rest_search(request: Request, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    q = await json_body(request)
    f = misp_filter(q)
    events = paged(
        lambda after: search_events(db, ctx, with_after(f, after)),
        lambda e: e.id,
        f.limit,
        _page(q),
    )
    metadata = bool(flag(q.get("metadata")))
    out = []
    for e in events:
        if metadata:
            summary = event_summary(e)
            summary["tags"] = event_tags(db, ctx, e.id)
            out.append({"Event": event_shape(summary, metadata=True)})
        else:
            out.append({"Event": event_shape(event_detail(db, ctx, e))})
    return {"response": out}


def with_after(f: SearchFilter, after: int) -> SearchFilter:
    return replace(f, after=after)


def paged(
    fetch: Callable[[int], list[Any]], key: Callable[[Any], int], limit: int, page: int
) -> list[Any]:
    """MISP pages by number; walk the keyset to the page instead of an OFFSET scan."""
    after = 0
    for _ in range(page - 1):
        rows = fetch(after)
        if len(rows) < limit:
            return []
        after = key(rows[-1])
    return fetch(after)
