"""Streaming MISP JSON: events one at a time from any of MISP's file shapes (a single
{"Event": ...}, a restSearch {"response": [...]}, a list), so memory stays flat."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import IO, Any

import ijson


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


def iter_events(stream: io.RawIOBase) -> Iterator[Any]:
    """Yield MISP events (dicts) from any of MISP's JSON shapes."""
    buffered = io.BufferedReader(stream, buffer_size=1 << 20)
    prefix = _sniff_prefix(buffered.peek(4096))
    if prefix == "bare":
        yield from ijson.items(buffered, "", use_float=True)
        return
    if prefix == "":
        yield from ijson.items(buffered, "Event", use_float=True)
        return
    for item in ijson.items(buffered, prefix, use_float=True):
        if isinstance(item, dict) and "Event" in item:
            yield item["Event"]
        else:
            yield item
