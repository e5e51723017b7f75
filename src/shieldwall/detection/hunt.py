"""The hunt: telemetry matched against the indicator index, one match per (record, field,
attribute), with a summary of what was read.

Zeek JSON, eve.json and Zeek TSV are read a chunk at a time in columns (columns.py): each
column's distinct values are screened against the index in bulk, and only the lines
holding a value that may match are parsed in full and observed. Other formats are observed
record by record. Matches are resolved in the database in batches. Lines that cannot be
read are counted, never fatal."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

import orjson

from shieldwall.context import Ctx
from shieldwall.db.engine import Database
from shieldwall.detection import columns, readers
from shieldwall.detection.index import (
    IndicatorIndex,
    IndicatorKey,
    IndicatorRef,
    Resolution,
    Scope,
)
from shieldwall.detection.readers import Spec
from shieldwall.intel.errors import InvalidInput

# Chunks of whole lines read into one buffer: small enough to stay in the CPU's caches
# while the scanner reads them and a hot line is found again, large enough that the work
# per chunk in Python is small beside the scanner's.
CHUNK = 128 << 10
# Values found to be no indicator, kept to skip them in later chunks.
MAX_CLEAN = 2_000_000
# Matching observations are resolved together once this many distinct indicator keys (or
# observations) wait, and at the end of each source.
RESOLVE_KEYS = 500
RESOLVE_WAITING = 10_000
# pcap observations queued at once.
PCAP_BATCH = 1_000
MAX_SAMPLES = 20


@dataclass(frozen=True)
class Match:
    source: str
    line: int
    field: str
    observable: str
    indicator: IndicatorRef
    sensor: str | None = None

    def as_dict(self) -> dict[str, Any]:
        ref = self.indicator
        return {
            "source": self.source,
            "line": self.line,
            "field": self.field,
            "observable": self.observable,
            "indicator": {
                "type": ref.type,
                "value": ref.value,
                "attribute_id": ref.attribute_id,
                "attribute_uuid": ref.attribute_uuid,
            },
            "event_id": ref.event_id,
            "event_uuid": ref.event_uuid,
            "event_info": ref.event_info,
            "tags": list(ref.tags),
            "sensor": self.sensor,
        }


@dataclass
class Summary:
    sources: int = 0
    lines: int = 0
    records: int = 0
    malformed: int = 0
    matches: int = 0
    malformed_samples: list[dict[str, Any]] = field(default_factory=list)
    by_type: Counter[str] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)
    formats: Counter[str] = field(default_factory=Counter)

    def bad(self, source: str, line: int, reason: str) -> None:
        self.malformed += 1
        if len(self.malformed_samples) < MAX_SAMPLES:
            self.malformed_samples.append({"source": source, "line": line, "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        return {
            "sources": self.sources,
            "lines": self.lines,
            "records": self.records,
            "malformed": self.malformed,
            "malformed_samples": self.malformed_samples,
            "matches": self.matches,
            "by_type": dict(sorted(self.by_type.items())),
            "by_source": dict(sorted(self.by_source.items())),
            "formats": dict(sorted(self.formats.items())),
        }


class Resolver(Protocol):
    """Says which attributes hold matched indicator keys (kind, normalised value)."""

    def many(self, keys: Iterable[IndicatorKey]) -> Mapping[IndicatorKey, list[IndicatorRef]]: ...


class DbResolver:
    """Resolves matched values in the database under the reader's access rules: each value
    once per hunt, the new values of a chunk together (a few queries per chunk, not per
    value)."""

    def __init__(self, db: Database, ctx: Ctx, scope: Scope) -> None:
        self.db = db
        self.resolution = Resolution(ctx, scope)
        self.cache: dict[IndicatorKey, list[IndicatorRef]] = {}

    def many(self, keys: Iterable[IndicatorKey]) -> Mapping[IndicatorKey, list[IndicatorRef]]:
        missing = {k for k in keys if k not in self.cache}
        if missing:
            with self.db.reading() as session:
                self.cache.update(self.resolution(session, missing))
        return self.cache


def db_resolver(db: Database, ctx: Ctx, scope: Scope) -> DbResolver:
    return DbResolver(db, ctx, scope)


# An observation that matched: (line, field, observed value, indicator keys).
Pending = tuple[int, str, str, list[IndicatorKey]]


class _Screens:
    """What the hunt learnt of the values it read, per screen: those that may match
    (few) and those that cannot (bounded), so a value is tested against the index once."""

    def __init__(self, index: IndicatorIndex) -> None:
        self.index = index
        self.generation = index.generation
        self._sets: dict[str, tuple[set[Any], set[str]]] = {}
        self.size = 0

    def sets(self, screen: str) -> tuple[set[Any], set[str]]:
        """(values known clean, values that may match) of a screen. Absent (None) and
        empty values are never observed: they count as clean from the start."""
        if self.generation != self.index.generation:
            # New indicators: values known clean may not be any more.
            self._sets.clear()
            self.size = 0
            self.generation = self.index.generation
        pair = self._sets.get(screen)
        if pair is None:
            pair = self._sets[screen] = ({None, ""}, set())
        return pair

    def may_match(self, screen: str, new: set[str]) -> set[str]:
        """Of values not known clean, those that may match (each tested once a generation)."""
        hot = self.sets(screen)[1]
        fresh = new - hot
        if fresh:
            hot |= self.index.screen(screen, fresh)
        return new & hot

    def hits(self, screen: str, new: set[str]) -> set[str]:
        """may_match(), the others becoming known clean (bounded)."""
        found = self.may_match(screen, new)
        fresh = new - found
        if fresh:
            self.size += len(fresh)
            if self.size > MAX_CLEAN:
                for known, _ in self._sets.values():
                    known.clear()
                    known.update((None, ""))
                self.size = len(fresh)
            self.sets(screen)[0].update(fresh)
        return found


class Hunter:
    """Runs hunts for one reader over sources, yielding matches and keeping a summary."""

    def __init__(
        self,
        index: IndicatorIndex,
        resolver: Resolver,
        *,
        sensor: str | None = None,
        fmt: str = "auto",
        mapping: dict[str, str] | None = None,
    ) -> None:
        if fmt not in readers.FORMATS:
            raise InvalidInput(
                f"{fmt!r} is not a format ({', '.join(readers.FORMATS)})", field="format"
            )
        self.index = index
        self.resolve = resolver
        self.sensor = sensor
        self.fmt = fmt
        self.mapping = mapping or {}
        self.summary = Summary()
        self._screens = _Screens(index)
        # Per source: its format, (Zeek TSV) header and (Zeek JSON) log's fields, kept
        # while a followed file grows.
        self._formats: dict[str, str] = {}
        self._headers: dict[str, readers.ZeekHeader] = {}
        self._logs: dict[str, tuple[str, ...]] = {}
        self._bulk: dict[tuple[str, ...], tuple[int, Any]] = {}
        # Matching observations waiting to be resolved together, and their keys.
        self._waiting: list[Pending] = []
        self._keys: set[IndicatorKey] = set()

    # ------------------------------------------------------------ entry points

    def hunt_paths(self, paths: list[str]) -> Iterator[Match]:
        for name in readers.expand(paths):
            yield from self.hunt_source(name)

    def hunt_source(self, name: str) -> Iterator[Match]:
        self.summary.sources += 1
        fmt = self.fmt
        if fmt == "pcap" or (fmt == "auto" and name != "-" and _is_pcap(name)):
            self.summary.formats["pcap"] += 1
            yield from self._pcap(name)
            return
        with readers.open_binary(name) as stream:
            yield from self.hunt_stream(name, stream)

    def hunt_stream(self, name: str, stream: IO[bytes]) -> Iterator[Match]:
        yield from self.hunt_chunks(name, _Reader(stream))

    def hunt_chunks(
        self, name: str, chunks: Iterable[bytes], first_line: int = 1
    ) -> Iterator[Match]:
        """Hunt a source given as chunks of whole lines."""
        it = iter(chunks)
        head = b""
        for head in it:
            if head.strip():
                break
            first_line += head.count(b"\n")
            self.summary.lines += head.count(b"\n")
        if not head.strip():
            return
        if first_line == 1:
            self._formats.pop(name, None)
            self._headers.pop(name, None)
            self._logs.pop(name, None)
        fmt = (
            self.fmt
            if self.fmt != "auto"
            else self._formats.get(name) or readers.sniff(head[:4096], name)
        )
        if fmt == "unknown":
            fmt = "json" if self.mapping and head.lstrip().startswith(b"{") else fmt
            if fmt == "unknown" and self.mapping:
                fmt = "csv"
        if fmt == "unknown":
            raise InvalidInput(
                f"{name}: not a known telemetry format (Zeek TSV or JSON, Suricata eve.json, "
                "pcap); for generic JSON lines or CSV give --format and a field mapping",
                field="format",
            )
        if fmt == "pcap":
            raise InvalidInput(f"{name}: pcaps are read from files, not streams", field="path")
        if name not in self._formats:
            self.summary.formats[fmt] += 1
            self._formats[name] = fmt
        if isinstance(it, _Reader) and fmt in ("zeek-json", "eve") and not _flattened(head):
            it.views = True  # the scanner's path reads chunks where they were read into
        yield from self._hunt_format(name, fmt, _prepend(head, it), first_line, head)
        yield from self._flush(name, [], final=True)

    def _hunt_format(
        self, name: str, fmt: str, stream: Iterable[bytes], first_line: int, head: bytes
    ) -> Iterator[Match]:
        if fmt == "zeek-json":
            yield from self._zeek_json(name, stream, first_line, head)
        elif fmt == "zeek":
            yield from self._zeek_tsv(name, stream, first_line)
        elif fmt == "csv":
            yield from self._csv(name, stream, first_line)
        elif fmt == "eve" and not _flattened(head):
            yield from self._eve(name, stream, first_line)
        else:
            spec = readers.EVE if fmt == "eve" else readers.mapping_spec("json", self.mapping)
            yield from self._json_lines(name, stream, first_line, spec)

    # ------------------------------------------------------------ matching a record

    def _observe(
        self, line: int, record: dict[str, Any], spec: Spec, pending: list[Pending]
    ) -> None:
        """The matching observations of a record, to be resolved with the chunk's."""
        match = self.index.match
        for fld, kind, value in readers.observe(record, spec):
            keys = match(kind, value)
            if keys:
                pending.append((line, fld, value, keys))

    def _flush(self, name: str, pending: list[Pending], final: bool = False) -> Iterator[Match]:
        """Queue a chunk's matching observations (in line order); resolve what waits in one
        go once enough has come, or at the end of the source, and yield it in order."""
        self._waiting.extend(pending)
        for p in pending:
            self._keys.update(p[3])
        if not self._waiting or not (
            final or len(self._keys) >= RESOLVE_KEYS or len(self._waiting) >= RESOLVE_WAITING
        ):
            return
        waiting = self._waiting
        refs = self.resolve.many(self._keys)
        self._waiting = []
        self._keys = set()
        summary = self.summary
        for line, fld, value, keys in waiting:
            for k in keys:
                for ref in refs.get(k, ()):
                    summary.matches += 1
                    summary.by_type[ref.type] += 1
                    summary.by_source[name] += 1
                    yield Match(name, line, fld, value, ref, self.sensor)

    # ------------------------------------------------------------ formats read line by line

    def _json_lines(
        self, name: str, chunks: Iterable[bytes], line: int, spec: Spec
    ) -> Iterator[Match]:
        loads = orjson.loads
        summary = self.summary
        for chunk in chunks:
            pending: list[Pending] = []
            for raw in chunk.split(b"\n")[:-1]:
                summary.lines += 1
                if raw.strip():
                    try:
                        record = loads(raw)
                    except orjson.JSONDecodeError:
                        record = None
                    if not isinstance(record, dict):
                        summary.bad(name, line, "not a JSON object")
                    else:
                        summary.records += 1
                        self._observe(line, record, spec, pending)
                line += 1
            yield from self._flush(name, pending)

    def _csv(self, name: str, chunks: Iterable[bytes], line: int) -> Iterator[Match]:
        spec = readers.mapping_spec("csv", self.mapping)
        header: list[str] | None = None
        summary = self.summary
        for chunk in chunks:
            pending: list[Pending] = []
            for raw in chunk.split(b"\n")[:-1]:
                summary.lines += 1
                text = raw.decode("utf-8", "replace").rstrip("\r")
                if text.strip():
                    try:
                        row = next(csv.reader(io.StringIO(text)))
                    except (csv.Error, StopIteration):
                        row = None
                    if row is None:
                        summary.bad(name, line, "not a CSV row")
                    elif header is None:
                        header = [c.strip() for c in row]
                    elif len(row) != len(header):
                        summary.bad(name, line, "wrong column count")
                    else:
                        summary.records += 1
                        record = dict(zip(header, row, strict=True))
                        self._observe(line, record, spec, pending)
                line += 1
            yield from self._flush(name, pending)

    def _pcap(self, name: str) -> Iterator[Match]:
        pending: list[Pending] = []
        for frame, record in readers.pcap_records(name):
            self.summary.lines += 1
            self.summary.records += 1
            self._observe(frame, record, readers.PCAP, pending)
            if len(pending) >= PCAP_BATCH:
                yield from self._flush(name, pending)
                pending = []
        yield from self._flush(name, pending, final=True)

    # ------------------------------------------------------------ columns: the bulk path

    def _hot_rows(self, records: list[Any], groups: list[tuple[str, list[Any]]]) -> list[int]:
        """Indexes of the records holding a value that may match, in order."""
        rows: set[int] = set()
        screens = self._screens
        for screen, group in groups:
            clean = screens.sets(screen)[0]
            new = group[0].unknown(records, clean)
            for c in group[1:]:
                new |= c.unknown(records, clean)
            if new:
                hot = screens.hits(screen, new)
                if hot:
                    for c in group:
                        rows.update(c.rows(records, hot))
        return sorted(rows)

    def _scan_hot(self, scan: columns.Scan, sets: list[set[str] | None]) -> list[Any] | None:
        """Screen what the scanner found in a chunk (the distinct values of each column not
        known clean): per column the hot values as UTF-8, or None when nothing may match.
        The values found clean are handed back to the scanner, which leaves them out."""
        hot_by_column: list[Any] | None = None
        learn = scan.scanner.learn
        for group, (screen, cols) in enumerate(scan.screens):
            new: set[str] | None = None
            for c in cols:
                found = sets[c]
                if found:
                    new = found if new is None else new | found
            if not new:
                continue
            # The scanner keeps the clean values itself.
            hot = self._screens.may_match(screen, new)
            learn(group, new - hot if hot else new)
            if hot:
                if hot_by_column is None:
                    hot_by_column = [None] * scan.columns
                encoded = {v.encode() for v in hot}
                for c in cols:
                    hot_by_column[c] = encoded
        return hot_by_column

    def _bulk_state(self, key: tuple[str, ...], make: Callable[[set[str], bool], Any]) -> Any:
        """The decoder, the columns worth screening and the scanner for a log, for the index
        as it is (a refresh may bring kinds of indicators it did not hold)."""
        state = self._bulk.get(key)
        if state is None or state[0] != self.index.generation:
            state = (self.index.generation, make(self.index.kinds(), bool(self.index.urls)))
            self._bulk[key] = state
        return state[1]

    def _json_bulk(
        self,
        name: str,
        chunks: Iterable[bytes],
        line: int,
        spec: Spec,
        state: Callable[[], tuple[Any, list[Any], columns.Scan]],
    ) -> Iterator[Match]:
        """JSON lines read a chunk at a time: the scanner finds the distinct values of the
        observable fields, and only the lines holding a value that may match are parsed in
        full and observed. A chunk the scanner does not take (some line not one JSON object
        with strings on the fields) is decoded into structs of the observable fields, and
        failing that read line by line."""
        summary = self.summary
        index = self.index
        generation = None
        for chunk in chunks:
            if generation != index.generation:  # the first chunk, or the index refreshed
                generation = index.generation
                decoder, groups, scan = state()
            found = scan.scanner.scan(chunk)
            if found is not None:
                n, sets = found
                summary.lines += n
                summary.records += n
                hot = self._scan_hot(scan, sets) if sets is not None else None
                if hot is not None:
                    pending: list[Pending] = []
                    for at, start, end in scan.scanner.rows(chunk, hot) or ():
                        self._observe(line + at, orjson.loads(chunk[start:end]), spec, pending)
                    yield from self._flush(name, pending)
                line += n
                continue
            chunk = bytes(chunk)
            decoded = decoder.chunk(chunk)
            if decoded is None:
                lines = chunk.split(b"\n")
                lines.pop()
                yield from self._json_bulk_lines(name, lines, line, spec, decoder, groups)
                line += len(lines)
                continue
            records, n = decoded
            summary.lines += n
            summary.records += n
            rows = self._hot_rows(records, groups)
            if rows:
                pending = []
                for at, raw in _lines_at(chunk, rows):
                    self._observe(line + at, orjson.loads(raw), spec, pending)
                yield from self._flush(name, pending)
            line += n

    def _json_bulk_lines(
        self,
        name: str,
        chunk_lines: list[bytes],
        line: int,
        spec: Spec,
        decoder: Any,
        groups: list[tuple[str, list[Any]]],
    ) -> Iterator[Match]:
        """A chunk that did not decode whole, line by line: lines that decode as structs go
        through the columns, other JSON objects are observed in full, the rest are
        counted as malformed."""
        summary = self.summary
        pending: list[Pending] = []
        lines: list[tuple[int, bytes]] = []
        records: list[Any] = []
        for i, raw in enumerate(chunk_lines):
            summary.lines += 1
            if not raw.strip():
                continue
            record = decoder.line(raw)
            if record is not None:
                lines.append((line + i, raw))
                records.append(record)
                continue
            try:
                parsed = orjson.loads(raw)
            except orjson.JSONDecodeError:
                parsed = None
            if isinstance(parsed, dict):
                summary.records += 1
                self._observe(line + i, parsed, spec, pending)
            else:
                summary.bad(name, line + i, "not a JSON object")
        summary.records += len(records)
        for at in self._hot_rows(records, groups):
            number, raw = lines[at]
            self._observe(number, orjson.loads(raw), spec, pending)
        pending.sort(key=lambda p: p[0])
        yield from self._flush(name, pending)

    def _zeek_json(
        self, name: str, chunks: Iterable[bytes], line: int, head: bytes
    ) -> Iterator[Match]:
        fields = self._logs.get(name)
        if fields is None:
            try:
                first = orjson.loads(head.split(b"\n", 1)[0])
            except orjson.JSONDecodeError:
                first = None
            log = readers.zeek_log_type(name, first if isinstance(first, dict) else None)
            fields = readers.ZEEK_LOG_FIELDS.get(log or "", tuple(readers.ZEEK_FIELDS))
            self._logs[name] = fields
        held = fields

        def make(kinds: set[str], urls: bool) -> tuple[Any, list[Any], columns.Scan]:
            cols = columns.zeek_columns(held, kinds, urls)
            struct = columns.zeek_struct(tuple(c.name for c in cols))
            groups = columns.by_screen(cols)
            return columns.Decoder(struct), groups, columns.Scan(groups, MAX_CLEAN, self.index)

        def state() -> tuple[Any, list[Any], columns.Scan]:
            return self._bulk_state(("zeek-json", *held), make)

        yield from self._json_bulk(name, chunks, line, readers.ZEEK, state)

    def _eve(self, name: str, chunks: Iterable[bytes], line: int) -> Iterator[Match]:
        def make(kinds: set[str], urls: bool) -> tuple[Any, list[Any], columns.Scan]:
            groups = columns.by_screen(columns.eve_columns(kinds, urls))
            scan = columns.Scan(groups, MAX_CLEAN, self.index)
            return columns.Decoder(columns.EveRecord), groups, scan

        def state() -> tuple[Any, list[Any], columns.Scan]:
            return self._bulk_state(("eve",), make)

        yield from self._json_bulk(name, chunks, line, readers.EVE, state)

    def _zeek_tsv(self, name: str, chunks: Iterable[bytes], line: int) -> Iterator[Match]:
        header = self._headers.setdefault(name, readers.ZeekHeader())
        summary = self.summary
        for chunk in chunks:
            n = chunk.count(b"\n")
            rows = None
            if header.fields and header.separator.isascii() and not _comment_or_cr(chunk):
                rows = columns.tsv_rows(chunk.decode("utf-8", "replace"), header.separator.decode())
                if set(map(len, rows)) != {len(header.fields)}:
                    rows = None
            if rows is None:
                yield from self._zeek_tsv_lines(name, chunk, line, header)
            else:
                summary.lines += n
                summary.records += n
                cols = columns.tsv_columns(header, self.index.kinds(), bool(self.index.urls))
                hot = self._hot_rows(rows, columns.by_screen(cols))
                if hot:
                    pending: list[Pending] = []
                    for at in hot:
                        record = readers.zeek_tsv_columns(header, rows[at])
                        self._observe(line + at, record, readers.ZEEK, pending)
                    yield from self._flush(name, pending)
            line += n

    def _zeek_tsv_lines(
        self, name: str, chunk: bytes, line: int, header: readers.ZeekHeader
    ) -> Iterator[Match]:
        summary = self.summary
        pending: list[Pending] = []
        for raw in chunk.split(b"\n")[:-1]:
            summary.lines += 1
            if raw.startswith(b"#"):
                readers.zeek_header_line(header, raw)
            elif raw.strip():
                record = readers.zeek_tsv_record(header, raw)
                if record is None:
                    why = "no #fields header" if not header.fields else "wrong column count"
                    summary.bad(name, line, why)
                else:
                    summary.records += 1
                    self._observe(line, record, readers.ZEEK, pending)
            line += 1
        yield from self._flush(name, pending)


def _lines_at(chunk: bytes, rows: list[int]) -> Iterator[tuple[int, bytes]]:
    """(index, text) of the given lines of a chunk (indexes ascending)."""
    if not rows:
        return
    lines = chunk.split(b"\n", rows[-1] + 1)
    for row in rows:
        yield row, lines[row]


def _flattened(head: bytes) -> bool:
    """Whether eve records come flattened (keys holding dots): such records are observed
    in full, line by line, since the structs read Suricata's nested layout."""
    try:
        first = orjson.loads(head.split(b"\n", 1)[0])
    except orjson.JSONDecodeError:
        return True
    return columns.dotted_keys(first)


def _comment_or_cr(chunk: bytes) -> bool:
    return chunk.startswith(b"#") or b"\n#" in chunk or b"\r" in chunk


def _is_pcap(name: str) -> bool:
    with open(name, "rb") as f:
        head = f.read(4)
    return head in readers.PCAP_MAGICS or head == readers.PCAPNG_MAGIC


class _Reader:
    """Chunks of whole lines of a stream (the last one given a newline if it lacks one),
    read into one buffer: bytes, or once `views` is set, views of the buffer, which the
    stream reads into again for the next chunk (whoever reads a chunk has done with it by
    then), so that no chunk is copied on its way from the stream to the scanner."""

    def __init__(self, stream: IO[bytes], size: int = CHUNK) -> None:
        self.views = False
        self._readinto = stream.readinto  # type: ignore[attr-defined]
        self._size = size
        self._buf = bytearray(2 * size)
        self._cut = 0  # where the last chunk given ends in the buffer
        self._end = 0  # where the data read ends in the buffer

    def __iter__(self) -> _Reader:
        return self

    def __next__(self) -> Any:
        chunk = self._next()
        return chunk if self.views else bytes(chunk)

    def _next(self) -> memoryview:
        buf = self._buf
        # The unfinished line of the last read goes to the front (the chunk given last,
        # which lay before it, is done with): a copy of the same length, which a buffer
        # with views allows.
        tail = self._end - self._cut
        if self._cut and tail:
            buf[:tail] = buf[self._cut : self._end]
        self._cut = 0
        self._end = tail
        while True:
            if len(buf) - self._end < self._size:
                # A line longer than the buffer: a bigger one (views of the old stay valid).
                grown = bytearray(max(2 * len(buf), self._end + self._size))
                grown[: self._end] = buf[: self._end]
                self._buf = buf = grown
            view = memoryview(buf)
            n = self._readinto(view[self._end : self._end + self._size])
            if not n:
                if not self._end:
                    raise StopIteration
                buf[self._end] = 10  # the last line's newline
                self._end += 1
                self._cut = self._end
                return view[: self._end]
            start = self._end
            self._end += n
            cut = buf.rfind(b"\n", start, self._end) + 1
            if cut:
                self._cut = cut
                return view[:cut]


def _prepend(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield head
    yield from rest
