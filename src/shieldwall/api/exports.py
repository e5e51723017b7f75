"""Sensor exports in the native API: `GET /api/v1/exports/{format}` streams rules, an intel
file or a zone; Suricata datasets come as their rules and one value file each."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, StreamingResponse
from sqlalchemy.orm import Session

from shieldwall.api.deps import CurrentCtx, ReadDB
from shieldwall.api.search import parse_time
from shieldwall.context import Ctx
from shieldwall.db.engine import get_database
from shieldwall.detection import exports
from shieldwall.detection.exports.indicators import Selection
from shieldwall.intel.search import SearchFilter, TagFilter

router = APIRouter(prefix="/exports", tags=["exports"])


def _selection(
    type: Annotated[list[str] | None, Query(description="attribute types")] = None,
    tag: Annotated[list[str] | None, Query(description="tags; a leading ! excludes")] = None,
    event: Annotated[list[str] | None, Query(description="event ids or uuids")] = None,
    org: Annotated[list[str] | None, Query(description="creator organisations")] = None,
    since: Annotated[str | None, Query(description="attribute timestamp from")] = None,
    include_unpublished: bool = False,
    include_expired: bool = False,
    include_warninglisted: bool = False,
) -> Selection:
    return Selection(
        SearchFilter(
            type=type or [],
            tags=TagFilter.from_names(tag),
            event=event or [],
            org=org or [],
            timestamp_from=parse_time(since, "since"),
            published=None if include_unpublished else True,
        ),
        include_warninglisted=include_warninglisted,
        include_expired=include_expired,
    )


Sel = Annotated[Selection, Depends(_selection)]


def _streamed(session: Session, chunks: Iterator[bytes]) -> Iterator[bytes]:
    try:
        yield from chunks
    finally:
        session.close()


def _respond(
    ctx: Ctx, fmt: exports.Format, sel: Selection, options: dict[str, str]
) -> StreamingResponse:
    # Its own session: the body is written after the request's session closed. The query is
    # built before the answer starts, so a bad filter still gets its 4xx.
    session = get_database().read_session()
    try:
        chunks = exports.export(session, ctx, fmt, sel, options)
    except BaseException:
        session.close()
        raise
    return StreamingResponse(
        _streamed(session, chunks),
        media_type=f"{fmt.media_type}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{fmt.filename}"'},
    )


@router.get("")
def list_formats(ctx: CurrentCtx) -> dict[str, Any]:
    """The export formats, with the attribute types each can express."""
    return {
        "items": [
            {"name": f.name, "description": f.description, "types": sorted(f.types)}
            for f in exports.FORMATS.values()
        ]
        + [
            {
                "name": "suricata-datasets",
                "description": "Suricata dataset files and the rules that load them",
                "types": sorted(exports.suricata.DATASET_TYPES),
            }
        ]
    }


@router.get("/suricata-datasets/rules", response_class=PlainTextResponse)
def suricata_dataset_rules(ctx: CurrentCtx, db: ReadDB, sel: Sel) -> PlainTextResponse:
    """The rules that load the datasets, sized for the number of values each holds (the
    same filters as the value files)."""
    return PlainTextResponse(exports.dataset_rules(db, ctx, sel))


@router.get("/suricata-datasets/{name}.lst")
def suricata_dataset(name: str, ctx: CurrentCtx, sel: Sel) -> StreamingResponse:
    """One dataset's value file: addresses, base64 strings or hex digests, one a line."""
    session = get_database().read_session()
    try:
        chunks = exports.dataset_file(session, ctx, sel, name)
    except BaseException:
        session.close()
        raise
    return StreamingResponse(
        _streamed(session, chunks),
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.lst"'},
    )


@router.get("/{format}")
def export(
    format: str,
    ctx: CurrentCtx,
    sel: Sel,
    origin: Annotated[
        str, Query(max_length=200, description="rpz: zone origin")
    ] = "rpz.shieldwall",
    policy: Annotated[
        str,
        Query(
            max_length=300,
            description="rpz: nxdomain, nodata, passthru, drop or walled-garden:HOST",
        ),
    ] = "nxdomain",
) -> StreamingResponse:
    """Published to_ids indicators the caller may see, as FORMAT, without warninglist hits
    or expired indicators unless asked for; streamed."""
    fmt = exports.get_format(format)
    return _respond(ctx, fmt, sel, {"origin": origin, "policy": policy})
