"""Integer ids from references given as text (paths, query parameters, CLI arguments)."""

from __future__ import annotations

_MAX_ID = 2**31 - 1


def as_id(ref: object) -> int | None:
    """An integer id from a path or query reference; None when it is not one. ASCII digits
    only (str.isdigit accepts "²"); ids beyond the column's range match nothing (0)."""
    if isinstance(ref, bool):
        return None
    if isinstance(ref, int):
        return ref if 0 <= ref <= _MAX_ID else 0
    text = str(ref).strip()
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= _MAX_ID else 0
