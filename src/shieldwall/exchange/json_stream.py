"""Streaming MISP JSON: events one at a time from any of MISP's file shapes (a single
{"Event": ...}, a restSearch {"response": [...]}, a list, a bare event), so memory stays flat.

The file is read in chunks into a text buffer; each event is parsed by the standard library's
C scanner (`json.JSONDecoder.raw_decode`), which returns where the value ends. Only the
punctuation between events is handled here in Python, so an event of a thousand attributes
costs one C call rather than a Python step per JSON token. An event cut by the end of the
buffer fails to parse and is parsed again once more of the file is read; the read size
doubles while that happens, so one huge event is still read in linear time.
"""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Callable, Iterator
from typing import IO, Any

CHUNK = 1 << 20  # bytes read at a time

_WS = " \t\n\r"


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


class JSONFormatError(ValueError):
    """The file is not (complete, valid) JSON; the message says what and where."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


# The standard scanner, except that NaN and Infinity are refused as JSON refuses them.
_DECODER = json.JSONDecoder(parse_constant=_no_constant)


class _Text:
    """A window on the file's text with a cursor; what the cursor has passed is dropped when
    more is read, so the window holds about one chunk plus the event being parsed."""

    def __init__(self, stream: IO[bytes] | io.RawIOBase, chunk: int = CHUNK) -> None:
        self.stream = stream
        self.chunk = chunk
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.text = ""
        self.pos = 0
        self.eof = False
        self.bytes_read = 0
        # Where the window starts in the file, for error messages: lines before it and the
        # characters of its first line that lie before it.
        self.lines_before = 0
        self.column_before = 0
        self.window_lines = 0  # newlines in self.text
        self.largest = 0  # a little over the longest value parsed so far

    def fill(self, at_least: int = 0) -> bool:
        """Read more (at least `at_least` bytes, unless the file ends); False at the end."""
        if self.eof:
            return False
        # Line bookkeeping for error messages, counted on bytes (fast) as they are read:
        # the lines dropped are the window's less those of what is kept.
        kept = self.text[self.pos :]
        dropped_lines = self.window_lines - kept.count("\n")
        self.lines_before += dropped_lines
        if dropped_lines:
            done = self.text[: self.pos]
            self.column_before = len(done) - done.rfind("\n") - 1
        else:
            self.column_before += self.pos
        self.window_lines -= dropped_lines
        parts = [kept]
        wanted = max(self.chunk, at_least)
        got = 0
        while got < wanted:
            data = self.stream.read(wanted - got)
            if not data:
                self.eof = True
                break
            try:
                parts.append(self.decoder.decode(data, final=False))
            except UnicodeDecodeError as exc:
                raise JSONFormatError(
                    f"not UTF-8 text at byte {self.bytes_read + got + exc.start}"
                ) from None
            got += len(data)
            self.window_lines += data.count(b"\n")
        self.bytes_read += got
        if self.eof:
            try:
                parts.append(self.decoder.decode(b"", final=True))
            except UnicodeDecodeError:
                raise JSONFormatError(
                    f"not UTF-8 text: the file ends within a character (byte {self.bytes_read})"
                ) from None
        self.text = "".join(parts)
        self.pos = 0
        return got > 0

    def where(self, pos: int) -> str:
        """Line and column (both from 1) of a position in the window, as "line L, column C"."""
        line_start = self.text.rfind("\n", 0, pos)
        if line_start == -1:
            line = self.lines_before + 1
            column = self.column_before + pos + 1
        else:
            line = self.lines_before + self.text.count("\n", 0, pos) + 1
            column = pos - line_start
        return f"line {line}, column {column}"

    def error(self, what: str, pos: int | None = None) -> JSONFormatError:
        return JSONFormatError(f"{what} at {self.where(self.pos if pos is None else pos)}")

    def peek(self) -> str:
        """The next character that is not white space ("" at the end of the file); the
        cursor is moved onto it."""
        while True:
            text, pos, n = self.text, self.pos, len(self.text)
            while pos < n and text[pos] in _WS:
                pos += 1
            self.pos = pos
            if pos < n:
                return text[pos]
            if not self.fill():
                return ""

    def expect(self, what: str) -> None:
        c = self.peek()
        if c != what:
            raise self.error(f"expected {what!r} but found {_found(c)}")
        self.pos += 1

    def value(self) -> Any:
        """Parse the JSON value at the cursor (reading more of the file as needed)."""
        if not self.peek():
            raise self.error("the file ends where a value should start")
        if not self.eof and len(self.text) - self.pos < self.largest:
            # Values tend to be alike: read on before one that would likely be cut short, as
            # a failed parse costs about as much as a good one.
            self.fill(at_least=self.largest)
        while True:
            text, pos = self.text, self.pos
            try:
                obj, end = _DECODER.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                if not self.eof and self._cut(exc):
                    self.fill(at_least=len(text) - pos)  # doubles what is held: linear overall
                    continue
                what = exc.msg.removesuffix(" at")  # "Unterminated string starting at"
                if self.eof and self._cut(exc):
                    what = f"the file ends inside a value (started at {self.where(pos)}): {what}"
                raise self.error(what, exc.pos) from None
            except ValueError as exc:  # NaN or Infinity; an integer of over 4,300 digits
                raise self.error(f"{exc}, in the value that starts", pos) from None
            except RecursionError:
                raise self.error("values nested too deeply", pos) from None
            if end >= len(text) and not self.eof:
                # A number can go on past the window (or the value is exactly the window).
                self.fill(at_least=len(text) - pos)
                continue
            self.pos = end
            if end - pos > self.largest:
                self.largest = end - pos + (end - pos) // 4
            return obj

    def _cut(self, exc: json.JSONDecodeError) -> bool:
        """Whether the error can be the window's end cutting a valid value short: the scanner
        stops at most a few characters before it, or inside an unterminated string."""
        return exc.msg.startswith("Unterminated string") or exc.pos >= len(self.text) - 64

    def key(self) -> str:
        if self.peek() != '"':
            raise self.error(f"expected a key in double quotes but found {_found(self.peek())}")
        k = self.value()
        self.expect(":")
        return k

    def more_members(self) -> Iterator[tuple[str, Any]]:
        """The remaining members of an object whose cursor is after a member, through its
        closing brace."""
        while self.peek() != "}":
            self.expect(",")
            k = self.key()
            yield k, self.value()
        self.pos += 1

    def items(self) -> Iterator[Any]:
        """Items of the array whose "[" is at the cursor."""
        self.expect("[")
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            yield self.value()
            c = self.peek()
            if c == "]":
                self.pos += 1
                return
            if c != ",":
                raise self.error(f"expected ',' or ']' in a list but found {_found(c)}")
            self.pos += 1

    def end(self) -> None:
        c = self.peek()
        if c:
            raise self.error(f"unexpected {c!r} after the JSON value")


def _found(c: str) -> str:
    return repr(c) if c else "the end of the file"


def _unwrap(item: Any) -> Any:
    if isinstance(item, dict) and "Event" in item:
        return item["Event"]
    return item


def iter_events(stream: IO[bytes] | io.RawIOBase, chunk: int = CHUNK) -> Iterator[Any]:
    """Yield MISP events (dicts as the file has them) from any of MISP's JSON shapes; items
    that are not objects are yielded as they are, for the caller to refuse.

    Raises JSONFormatError, naming the line and column, when the file is not valid JSON or
    ends early; the events before that point have been yielded."""
    t = _Text(stream, chunk)
    c = t.peek()
    if c == "[":  # a list of {"Event": {...}} or of bare events
        for item in t.items():
            yield _unwrap(item)
        t.end()
        return
    if c != "{":
        raise t.error("expected a JSON object or list" if c else "the file is empty")
    # An object: {"response": [...]}, {"Event": {...}} or a bare event, told by its first key.
    t.pos += 1
    c = t.peek()
    if c == "}":
        t.pos += 1
        yield {}
        t.end()
        return
    if c != '"':
        raise t.error(f"expected a key in double quotes but found {_found(c)}")
    first = t.key()
    if first == "response":
        if t.peek() == "[":
            for item in t.items():
                yield _unwrap(item)
        else:
            yield _unwrap(t.value())
        for _ in t.more_members():
            pass  # other members of the wrapper are not events
    elif first == "Event":
        yield t.value()
        for _ in t.more_members():
            pass  # other members of the wrapper are not events
    else:  # a bare event: its members one by one (each value parsed whole)
        event = {first: t.value()}
        event.update(t.more_members())
        yield event
    t.end()
