"""Responses: JSON rendered with orjson (the hot path for large answers), file download headers,
answers streamed from a session of their own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy.orm import Session
from starlette.responses import JSONResponse, StreamingResponse

from shieldwall.db.engine import get_database


class OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str, option=orjson.OPT_NON_STR_KEYS)


def content_disposition(filename: str) -> str:
    """An attachment header for any file name: a plain ASCII fallback and the exact name
    (RFC 6266 filename*)."""
    plain = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


def session_stream(
    build: Callable[[Session], Iterator[bytes]],
    media_type: str,
    headers: dict[str, str] | None = None,
) -> StreamingResponse:
    """A streamed answer read in a session of its own (the body outlives the request's
    session). `build` runs before the answer starts, so a bad filter still gets its 4xx;
    the session closes when the body ends."""
    session = get_database().read_session()
    try:
        chunks = build(session)
    except BaseException:
        session.close()
        raise

    def body() -> Iterator[bytes]:
        try:
            yield from chunks
        finally:
            session.close()

    return StreamingResponse(body(), media_type=media_type, headers=headers)
