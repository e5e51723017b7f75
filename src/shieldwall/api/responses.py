"""Responses: JSON rendered with orjson (the hot path for large answers), file download headers."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
from starlette.responses import JSONResponse


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
