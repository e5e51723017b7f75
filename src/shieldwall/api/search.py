"""Search over attributes and events (GET with query parameters, POST with a JSON body);
pages by keyset, or the whole result streamed as NDJSON."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from shieldwall.api.deps import CurrentCtx, ReadDB
from shieldwall.api.responses import session_stream
from shieldwall.clock import parse_time
from shieldwall.context import Ctx
from shieldwall.intel.errors import InvalidInput
from shieldwall.intel.search import (
    SearchFilter,
    TagFilter,
    search_attributes,
    search_events,
    stream_attributes,
    stream_events,
)
from shieldwall.intel.serialize import attributes_with_tags, event_summary
from shieldwall.knowledge import warninglists
from shieldwall.text import Text

router = APIRouter()
NDJSON = "application/x-ndjson"
MAX_AFTER = 2**63 - 1  # keyset cursors: the largest integer both databases compare


def parse_date(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        t = parse_time(value, field)
        return t.date() if t else None


def _tags(tags: list[str], tags_all: list[str]) -> TagFilter:
    tf = TagFilter()
    for t in tags:
        if t.startswith("!"):
            tf.none_of.append(t[1:])
        else:
            tf.any_of.append(t)
    tf.all_of = list(tags_all)
    return tf


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str | list[str] | None = None
    type: str | list[str] | None = None
    category: str | list[str] | None = None
    tags: list[str] | dict[str, list[str]] | str | None = Field(
        default=None,
        description='names (prefix ! for NOT) or {"OR": [...], "AND": [...], "NOT": [...]}',
    )
    org: str | list[str] | None = None
    event: str | list[str] | None = None
    uuid: str | list[str] | None = None
    info: Text | None = None
    date_from: Text | None = None
    date_to: Text | None = None
    timestamp_from: str | int | None = None
    timestamp_to: str | int | None = None
    publish_timestamp_from: str | int | None = None
    publish_timestamp_to: str | int | None = None
    published: bool | None = None
    to_ids: bool | None = None
    include_deleted: bool = False
    after: int = Field(default=0, ge=0, le=MAX_AFTER)
    limit: int = Field(default=100, ge=1, le=10000)

    def to_filter(self) -> SearchFilter:
        def lst(v: Any) -> list[str]:
            if v is None:
                return []
            return [str(x) for x in v] if isinstance(v, list) else [str(v)]

        if isinstance(self.tags, dict):
            keys = {k.upper(): v for k, v in self.tags.items()}
            unknown = set(keys) - {"OR", "AND", "NOT"}
            if unknown:
                raise InvalidInput(
                    f"tags takes OR, AND and NOT, not {sorted(unknown)[0]}", field="tags"
                )
            tf = TagFilter(
                any_of=lst(keys.get("OR")),
                all_of=lst(keys.get("AND")),
                none_of=lst(keys.get("NOT")),
            )
        else:
            tf = _tags(lst(self.tags), [])
        return SearchFilter(
            value=lst(self.value),
            type=lst(self.type),
            category=lst(self.category),
            tags=tf,
            org=lst(self.org),
            event=lst(self.event),
            uuid=lst(self.uuid),
            info=self.info,
            date_from=parse_date(self.date_from, "date_from"),
            date_to=parse_date(self.date_to, "date_to"),
            timestamp_from=parse_time(self.timestamp_from, "timestamp_from"),
            timestamp_to=parse_time(self.timestamp_to, "timestamp_to"),
            publish_timestamp_from=parse_time(
                self.publish_timestamp_from, "publish_timestamp_from"
            ),
            publish_timestamp_to=parse_time(self.publish_timestamp_to, "publish_timestamp_to"),
            published=self.published,
            to_ids=self.to_ids,
            include_deleted=self.include_deleted,
            after=self.after,
            limit=self.limit,
        )


def _filter_from_query(
    value: Annotated[list[str], Query(description="exact value; % is a wildcard")] = [],  # noqa: B006
    type: Annotated[list[str], Query()] = [],  # noqa: B006
    category: Annotated[list[str], Query()] = [],  # noqa: B006
    tags: Annotated[list[str], Query(description="any of these tags; prefix ! to exclude")] = [],  # noqa: B006
    tags_all: Annotated[list[str], Query(description="all of these tags")] = [],  # noqa: B006
    org: Annotated[list[str], Query(description="creator organisation id, uuid or name")] = [],  # noqa: B006
    event: Annotated[list[str], Query(description="event id or uuid")] = [],  # noqa: B006
    uuid: Annotated[list[str], Query()] = [],  # noqa: B006
    info: Text | None = None,
    date_from: Text | None = None,
    date_to: Text | None = None,
    timestamp_from: Text | None = None,
    timestamp_to: Text | None = None,
    publish_timestamp_from: Text | None = None,
    publish_timestamp_to: Text | None = None,
    published: bool | None = None,
    to_ids: bool | None = None,
    include_deleted: bool = False,
    after: int = Query(0, ge=0, le=MAX_AFTER),
    limit: int = Query(100, ge=1, le=10000),
) -> SearchFilter:
    return SearchFilter(
        value=value,
        type=type,
        category=category,
        tags=_tags(tags, tags_all),
        org=org,
        event=event,
        uuid=uuid,
        info=info,
        date_from=parse_date(date_from, "date_from"),
        date_to=parse_date(date_to, "date_to"),
        timestamp_from=parse_time(timestamp_from, "timestamp_from"),
        timestamp_to=parse_time(timestamp_to, "timestamp_to"),
        publish_timestamp_from=parse_time(publish_timestamp_from, "publish_timestamp_from"),
        publish_timestamp_to=parse_time(publish_timestamp_to, "publish_timestamp_to"),
        published=published,
        to_ids=to_ids,
        include_deleted=include_deleted,
        after=after,
        limit=limit,
    )


QueryFilter = Annotated[SearchFilter, Depends(_filter_from_query)]


def ndjson_wanted(fmt: str | None, request: Request | None = None) -> bool:
    if fmt == "ndjson":
        return True
    return bool(request and NDJSON in request.headers.get("accept", ""))


def _ndjson(session: Session, ctx: Ctx, f: SearchFilter, kind: str) -> Iterator[bytes]:
    if kind == "attributes":
        pages = stream_attributes(session, ctx, f)

        def attributes() -> Iterator[bytes]:
            for batch in pages:
                uuids = {a.event_id: u for a, u in batch}
                items = attributes_with_tags(session, ctx, [a for a, _ in batch], uuids)
                warninglists.flag_attributes(session, items)
                for item in items:
                    yield orjson.dumps(item) + b"\n"

        return attributes()
    events = stream_events(session, ctx, f)
    return (orjson.dumps(event_summary(e)) + b"\n" for batch in events for e in batch)


def stream_response(ctx: Ctx, f: SearchFilter, kind: str) -> StreamingResponse:
    return session_stream(lambda s: _ndjson(s, ctx, f, kind), NDJSON)


def _attribute_page(db: Any, ctx: Ctx, f: SearchFilter) -> dict[str, Any]:
    rows = search_attributes(db, ctx, f)
    uuids = {a.event_id: u for a, u in rows}
    items = attributes_with_tags(db, ctx, [a for a, _ in rows], uuids)
    warninglists.flag_attributes(db, items)
    return {"items": items, "next": items[-1]["id"] if len(items) == f.limit else None}


def _event_page(db: Any, ctx: Ctx, f: SearchFilter) -> dict[str, Any]:
    items = [event_summary(e) for e in search_events(db, ctx, f)]
    return {"items": items, "next": items[-1]["id"] if len(items) == f.limit else None}


@router.get("/search/attributes", tags=["search"])
def search_attributes_get(
    request: Request, ctx: CurrentCtx, db: ReadDB, f: QueryFilter, format: str | None = None
) -> Any:
    """Attributes the caller may read that match every filter given. `format=ndjson` (or
    Accept: application/x-ndjson) streams every match instead of one page."""
    if ndjson_wanted(format, request):
        return stream_response(ctx, f, "attributes")
    return _attribute_page(db, ctx, f)


@router.post("/search/attributes", tags=["search"])
def search_attributes_post(
    body: SearchIn, request: Request, ctx: CurrentCtx, db: ReadDB, format: str | None = None
) -> Any:
    f = body.to_filter()
    if ndjson_wanted(format, request):
        return stream_response(ctx, f, "attributes")
    return _attribute_page(db, ctx, f)


@router.get("/search/events", tags=["search"])
def search_events_get(
    request: Request, ctx: CurrentCtx, db: ReadDB, f: QueryFilter, format: str | None = None
) -> Any:
    if ndjson_wanted(format, request):
        return stream_response(ctx, f, "events")
    return _event_page(db, ctx, f)


@router.post("/search/events", tags=["search"])
def search_events_post(
    body: SearchIn, request: Request, ctx: CurrentCtx, db: ReadDB, format: str | None = None
) -> Any:
    f = body.to_filter()
    if ndjson_wanted(format, request):
        return stream_response(ctx, f, "events")
    return _event_page(db, ctx, f)
