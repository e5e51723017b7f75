"""MISP's restSearch for events, attributes and objects, in json, csv and text."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from shieldwall.api.deps import CurrentCtx, ReadDB
from shieldwall.api.responses import session_stream
from shieldwall.api.search import parse_time
from shieldwall.context import Ctx
from shieldwall.detection import exports as sensor_exports
from shieldwall.detection.exports.indicators import Selection
from shieldwall.exchange.attribute_formats import (
    CONTEXT_COLUMNS,
    CSV_COLUMNS,
    KNOWN_COLUMNS,
    csv_rows,
    text_lines,
)
from shieldwall.exchange.stix import MEDIA_TYPE
from shieldwall.intel.attachments import attach_data
from shieldwall.intel.common import get_object
from shieldwall.intel.errors import InvalidInput
from shieldwall.intel.search import (
    SearchFilter,
    search_attributes,
    search_events,
    stream_attributes,
    stream_events,
    stream_values,
)
from shieldwall.intel.serialize import (
    attributes_with_tags,
    event_context,
    event_detail,
    event_summary,
    event_tags,
    object_briefs,
    object_detail,
    sightings_for_attributes,
)
from shieldwall.knowledge import warninglists
from shieldwall.misp.common import (
    as_list,
    flag,
    json_body,
    misp_router,
    paged,
    tag_filter,
    text_param,
    time_range,
    whole,
    with_after,
)
from shieldwall.misp.correlation import attach_related_attributes
from shieldwall.misp.decay import DecayRequest, attach_to_event, decay_request, decay_scores
from shieldwall.misp.knowledge import attach_warnings, event_attributes
from shieldwall.misp.shapes import attribute_shape, event_shape, object_shape
from shieldwall.misp.stix_export import search_bundle
from shieldwall.misp.views import add_sharing_groups, complete

router = misp_router()

FORMATS = ("json", "csv", "text", "stix2")
# Sensor formats (shieldwall.detection.exports), by MISP's returnFormat names; `bro` is the
# name MISP used for Zeek.
SENSOR_FORMATS = {"suricata": "suricata", "snort": "snort", "zeek": "zeek", "bro": "zeek",
                  "rpz": "rpz", "yara": "yara", "hosts": "hosts"}  # fmt: skip


def return_format(q: dict[str, Any]) -> str:
    fmt = str(q.get("returnFormat") or "json").lower()
    if fmt not in FORMATS and fmt not in SENSOR_FORMATS:
        known = [*FORMATS, *SENSOR_FORMATS]
        raise InvalidInput(
            f"returnFormat {fmt!r} is not available; use one of {', '.join(known)}",
            field="returnFormat",
        )
    return fmt


def misp_filter(q: dict[str, Any], *, default_limit: int = 10000) -> SearchFilter:
    """MISP's restSearch parameters as a Shieldwall search filter (enforceWarninglist and
    the include* options are applied by the routes)."""
    ts_from, ts_to = time_range(q.get("timestamp") or q.get("attribute_timestamp"), "timestamp")
    ets_from, ets_to = time_range(q.get("event_timestamp"), "event_timestamp")
    quick = q.get("quickFilter") or q.get("searchall")
    pub = q.get("publish_timestamp") or q.get("last")
    pts_from, pts_to = time_range(pub, "publish_timestamp")
    from_ = parse_time(q.get("from"), "from") if q.get("from") else None
    to = parse_time(q.get("to"), "to") if q.get("to") else None
    return SearchFilter(
        value=as_list(q.get("value")),
        type=as_list(q.get("type")),
        category=as_list(q.get("category")),
        tags=tag_filter(q.get("tags")),
        event_tags=tag_filter(q.get("event_tags")),
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
        to_ids=flag(q.get("to_ids")),
        # Expired indicators leave to_ids exports unless asked for (shieldwall.lifecycle).
        exclude_expired=bool(flag(q.get("to_ids"))) and not flag(q.get("includeExpired")),
        include_deleted=bool(flag(q.get("deleted"))),
        quick=text_param(quick, "quickFilter") if quick not in (None, "") else None,
        event_timestamp_from=ets_from,
        event_timestamp_to=ets_to,
        sharing_group=as_list(q.get("sharinggroup")),
        limit=whole(q.get("limit"), "limit", default=default_limit, low=1, high=1_000_000),
    )


def _stix_export(ctx: Ctx, f: SearchFilter, q: dict[str, Any], *, attributes: bool) -> Any:
    """A STIX 2.1 bundle over the matches, streamed an event at a time; as the flat
    formats, every match unless a limit is given, and without warninglist hits with
    enforceWarninglist."""
    if "limit" not in q:
        f = replace(f, limit=10**12)
    unwarned = bool(flag(q.get("enforceWarninglist")))
    return session_stream(
        lambda s: search_bundle(s, ctx, f, attributes=attributes, unwarned=unwarned), MEDIA_TYPE
    )


def _page(q: dict[str, Any]) -> int:
    return whole(q.get("page"), "page", default=1, low=1, high=1_000_000)


def _csv_columns(q: dict[str, Any]) -> tuple[str, ...]:
    requested = as_list(q.get("requested_attributes"))
    for name in requested:
        if name not in KNOWN_COLUMNS:
            raise InvalidInput(f"unknown CSV column {name!r}", field="requested_attributes")
    columns = tuple(requested) or CSV_COLUMNS
    if flag(q.get("includeContext")):
        columns += tuple(c for c in CONTEXT_COLUMNS if c not in columns)
    return columns


def _attribute_filters(
    session: Session, ctx: Ctx, f: SearchFilter, events: bool
) -> list[SearchFilter]:
    """What a flat or sensor export reads: the attribute search itself, or for
    events/restSearch the attributes of each batch of matching events (their ids read first,
    so the same session can then stream the attributes)."""
    if not events:
        return [f]
    return [
        SearchFilter(
            event=[str(e.id) for e in batch], limit=f.limit, exclude_expired=f.exclude_expired
        )
        for batch in stream_events(session, ctx, f)
    ]


def _sensor_export(ctx: Ctx, f: SearchFilter, fmt: str, q: dict[str, Any], events: bool) -> Any:
    """A sensor format of the to_ids attributes matched (of the events matched, for
    events/restSearch); warninglist hits are left out with enforceWarninglist, expired
    indicators unless includeExpired."""
    export_format = sensor_exports.get_format(SENSOR_FORMATS[fmt], "returnFormat")
    if "limit" not in q:
        f = replace(f, limit=10**12)
    warned = not flag(q.get("enforceWarninglist"))
    expired = bool(flag(q.get("includeExpired")))

    def build(session: Session) -> Iterator[bytes]:
        selections = [
            Selection(af, include_warninglisted=warned, include_expired=expired)
            for af in _attribute_filters(session, ctx, f, events)
        ]
        return sensor_exports.export_many(session, ctx, export_format, selections)

    return session_stream(build, f"{export_format.media_type}; charset=utf-8")


def _flat_export(
    ctx: Ctx,
    f: SearchFilter,
    fmt: str,
    q: dict[str, Any],
    events: bool,
    decay: DecayRequest | None = None,
) -> Any:
    """text or csv, streamed from its own session (the response outlives the request's)."""
    if "limit" not in q:
        f = replace(f, limit=10**12)  # MISP's flat exports return every match
    columns = _csv_columns(q) if fmt == "csv" else ()
    context_wanted = any(c in CONTEXT_COLUMNS for c in columns)

    enforce = bool(flag(q.get("enforceWarninglist")))
    undecayed = decay is not None and decay.exclude_decayed

    def kept(session: Any, rows: list[Any]) -> list[Any]:
        if decay is None or not decay.exclude_decayed:
            return rows
        found = decay_scores(session, ctx, decay, [a for a, _ in rows])
        return [r for r in rows if not found[r[0].id]["decayed"]]

    def checked_values(session: Session, pages: Iterator[list[Any]]) -> Iterator[list[str]]:
        for rows in pages:
            rows = kept(session, rows)
            if not enforce:
                yield [f"{a.value1}|{a.value2}" if a.value2 else a.value1 for a, _ in rows]
                continue
            pairs = [(a.type, f"{a.value1}|{a.value2}" if a.value2 else a.value1) for a, _ in rows]
            hits = warninglists.warned(session, pairs)
            yield [v for (_, v), hit in zip(pairs, hits, strict=True) if not hit]

    def text(session: Session) -> Iterator[bytes]:
        values = [
            checked_values(session, stream_attributes(session, ctx, af))
            if enforce or undecayed
            else stream_values(session, ctx, af)
            for af in _attribute_filters(session, ctx, f, events)
        ]
        return text_lines(itertools.chain.from_iterable(values))

    def batches(
        pages: list[Iterator[list[Any]]], session: Session
    ) -> Iterator[tuple[list[dict[str, Any]], dict[int, Any]]]:
        for rows in itertools.chain.from_iterable(pages):
            rows = kept(session, rows)
            uuids = {a.event_id: u for a, u in rows}
            attrs = attributes_with_tags(session, ctx, [a for a, _ in rows], uuids)
            if enforce:
                attrs = warninglists.unwarned(session, attrs)
            objects = object_briefs(session, {a["object_id"] for a in attrs if a["object_id"]})
            for a in attrs:
                a["object"] = objects.get(a["object_id"]) if a["object_id"] else None
            context = (
                event_context(session, ctx, {a["event_id"] for a in attrs})
                if context_wanted
                else {}
            )
            yield attrs, context

    def csv_body(session: Session) -> Iterator[bytes]:
        pages = [
            stream_attributes(session, ctx, af)
            for af in _attribute_filters(session, ctx, f, events)
        ]
        return csv_rows(batches(pages, session), columns, header=not flag(q.get("headerless")))

    if fmt == "text":
        return session_stream(text, "text/plain; charset=utf-8")
    return session_stream(csv_body, "text/csv; charset=utf-8")


@router.post("/attributes/restSearch")
@router.post("/attributes/restSearch.json")
async def attributes_rest_search(request: Request, ctx: CurrentCtx, db: ReadDB) -> Any:
    q = await json_body(request)
    fmt = return_format(q)
    f = misp_filter(q)
    decay = decay_request(q, attributes=True)
    if fmt in SENSOR_FORMATS:
        return _sensor_export(ctx, f, fmt, q, events=False)
    if fmt == "stix2":
        return _stix_export(ctx, f, q, attributes=True)
    if fmt != "json":
        return _flat_export(ctx, f, fmt, q, events=False, decay=decay)
    rows = paged(
        lambda after: search_attributes(db, ctx, with_after(f, after)),
        lambda r: r[0].id,
        f.limit,
        _page(q),
    )
    uuids = {a.event_id: u for a, u in rows}
    items = attributes_with_tags(db, ctx, [a for a, _ in rows], uuids)
    if flag(q.get("enforceWarninglist")):
        items = warninglists.unwarned(db, items)
    if flag(q.get("includeEventTags")):
        by_event: dict[int, list[dict[str, Any]]] = {}
        for a in items:
            if a["event_id"] not in by_event:
                by_event[a["event_id"]] = event_tags(db, ctx, a["event_id"])
            own = {t["name"] for t in a["tags"]}
            a["tags"] = a["tags"] + [
                {**t, "inherited": 1} for t in by_event[a["event_id"]] if t["name"] not in own
            ]
    sightings = (
        sightings_for_attributes(db, ctx, items) if flag(q.get("includeSightings")) else None
    )
    scores = decay_scores(db, ctx, decay, [a for a, _ in rows]) if decay else {}
    out = []
    for a in items:
        if decay is not None and decay.exclude_decayed and scores[a["id"]]["decayed"]:
            continue
        shaped = attribute_shape(a)
        if decay is not None:
            shaped["decay_score"] = [scores[a["id"]]]
        if sightings is not None:
            shaped["Sighting"] = [_sighting_shape(x) for x in sightings.get(a["id"], [])]
        for t, src in zip(shaped.get("Tag", []), a["tags"], strict=True):
            if src.get("inherited"):
                t["inherited"] = 1
        out.append(shaped)
    if flag(q.get("includeCorrelations")):
        attach_related_attributes(db, ctx, out)
    if flag(q.get("includeWarninglistHits")):
        attach_warnings(db, out)
    if flag(q.get("withAttachments")):
        attach_data(db, out)
    return {"response": {"Attribute": out}}


@router.post("/events/restSearch")
@router.post("/events/restSearch.json")
async def events_rest_search(request: Request, ctx: CurrentCtx, db: ReadDB) -> Any:
    q = await json_body(request)
    fmt = return_format(q)
    f = misp_filter(q)
    decay = decay_request(q, attributes=False)
    if fmt in SENSOR_FORMATS:
        return _sensor_export(ctx, f, fmt, q, events=True)
    if fmt == "stix2":
        return _stix_export(ctx, f, q, attributes=False)
    if fmt != "json":
        return _flat_export(ctx, f, fmt, q, events=True)
    events = paged(
        lambda after: search_events(db, ctx, with_after(f, after)),
        lambda e: e.id,
        f.limit,
        _page(q),
    )
    metadata = bool(flag(q.get("metadata")))
    sg_reference_only = bool(flag(q.get("sgReferenceOnly")))
    out = []
    for e in events:
        if metadata:
            summary = event_summary(e)
            summary["tags"] = event_tags(db, ctx, e.id)
            shaped = event_shape(summary, metadata=True)
            if not sg_reference_only:
                add_sharing_groups(db, ctx, shaped)
            out.append({"Event": shaped})
        else:
            detail = event_detail(db, ctx, e, include_deleted=f.include_deleted)
            if flag(q.get("enforceWarninglist")):
                warninglists.unwarn_event(db, detail)
            correlations = flag(q.get("includeCorrelations")) or flag(
                q.get("includeEventCorrelations")
            )
            shaped = complete(
                db,
                ctx,
                detail,
                event_shape(detail),
                related=bool(correlations),
                granular=bool(flag(q.get("includeGranularCorrelations"))),
                sg_reference_only=sg_reference_only,
                attachments=bool(flag(q.get("withAttachments"))),
            )
            if flag(q.get("includeSightings")):
                _attach_sightings(db, ctx, detail, shaped)
            if decay is not None:
                attach_to_event(db, ctx, decay, detail, shaped)
            if flag(q.get("includeWarninglistHits")):
                attach_warnings(db, event_attributes(shaped))
            out.append({"Event": shaped})
    return {"response": out}


def _sighting_shape(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(s["id"]),
        "uuid": s["uuid"],
        "attribute_id": str(s["attribute_id"]),
        "attribute_uuid": s["attribute_uuid"],
        "event_id": str(s["event_id"]),
        "org_id": str(s["org_id"]),
        "type": str(s["type"]),
        "source": s["source"] or "",
        "date_sighting": str(int(datetime.fromisoformat(s["date_sighting"]).timestamp())),
    }


def _attach_sightings(
    db: ReadDB, ctx: CurrentCtx, detail: dict[str, Any], shaped: dict[str, Any]
) -> None:
    attrs = detail["attributes"] + [a for o in detail["objects"] for a in o["attributes"]]
    found = sightings_for_attributes(db, ctx, attrs)
    for a in shaped.get("Attribute", []) + [
        a for o in shaped.get("Object", []) for a in o["Attribute"]
    ]:
        a["Sighting"] = [_sighting_shape(x) for x in found.get(int(a["id"]), [])]


@router.post("/objects/restSearch")
@router.post("/objects/restSearch.json")
async def objects_rest_search(request: Request, ctx: CurrentCtx, db: ReadDB) -> Any:
    """Objects with at least one readable attribute matching the filter (MISP's rule), and
    object_name to pick objects by template name."""
    q = await json_body(request)
    if return_format(q) != "json":
        raise InvalidInput("objects/restSearch answers in json", field="returnFormat")
    f = misp_filter(q, default_limit=1000)
    names = set(as_list(q.get("object_name")))
    page = _page(q)
    wanted = f.limit * page
    kept: list[int] = []
    known: set[int] = set()
    for rows in stream_attributes(db, ctx, replace(f, limit=10**12)):
        fresh = {a.object_id for a, _ in rows if a.object_id is not None} - known
        known |= fresh
        briefs = object_briefs(db, fresh)
        for a, _ in rows:
            oid = a.object_id
            if oid in fresh and (not names or briefs[oid]["name"] in names):
                kept.append(oid)
                fresh.discard(oid)
        if len(kept) >= wanted:
            break
    out = []
    for object_id in kept[(page - 1) * f.limit : wanted]:
        obj, _ = get_object(db, ctx, object_id)
        out.append({"Object": object_shape(object_detail(db, ctx, obj))})
    return {"response": out}
