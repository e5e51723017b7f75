"""The hunt: telemetry matched against the indicator index, one match per (record, field,
attribute), with a summary of what was read.

Zeek JSON logs take a fast path: big chunks are scanned with C-speed primitives (a regular
expression per field the log holds, set intersection with the index) and only the lines
that hold a candidate value are parsed and matched field by field. Every other format is
parsed record by record. Lines that cannot be read are counted, never fatal."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from shieldwall.context import Ctx
from shieldwall.db.engine import Database
from shieldwall.detection import readers
from shieldwall.detection.index import IndicatorIndex, IndicatorRef, Scope, resolve
from shieldwall.detection.readers import Spec
from shieldwall.intel.errors import InvalidInput

# Chunks are small enough that finding a candidate's lines again stays cheap.
CHUNK = 256 << 10
# Values the fast path found to be no indicator, kept to skip them in later chunks.
MAX_CLEAN = 2_000_000
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


Resolver = Callable[[str, str], list[IndicatorRef]]


def db_resolver(db: Database, ctx: Ctx, scope: Scope) -> Resolver:
    """Resolves matched values in the database under the reader's access rules, each value
    once per hunt."""
    cache: dict[tuple[str, str], list[IndicatorRef]] = {}

    def lookup(kind: str, key: str) -> list[IndicatorRef]:
        hit = cache.get((kind, key))
        if hit is None:
            with db.reading() as session:
                hit = resolve(session, ctx, scope, kind, key)
            cache[(kind, key)] = hit
        return hit

    return lookup


# Zeek fields that hold a list of values (JSON arrays).
ZEEK_ARRAYS = frozenset(
    {"answers", "tx_hosts", "rx_hosts", "rcptto", "to", "cc", "san.dns", "san.ip"}
)


def _field_regexes(names: Iterable[str]) -> list[tuple[re.Pattern[bytes], bool]]:
    """One regular expression per group of fields, each capturing the raw text of a string
    value (or the body of an array), with a literal start so the scan skips ahead in C.
    An escaped quote ends a capture early: such a value ends with a backslash and is
    always taken as a candidate."""
    names = sorted(set(names))
    out: list[tuple[re.Pattern[bytes], bool]] = []
    ends = [n for n in names if n in ("id.orig_h", "id.resp_h")]
    if ends:
        out.append((re.compile(rb'"id\.(?:orig|resp)_h":"([^"]*)"'), False))
    for n in names:
        if n in ends:
            continue
        key = b'"' + re.escape(n.encode()) + b'":'
        if n in ZEEK_ARRAYS:
            out.append((re.compile(key + rb"\[([^\]]*)\]"), True))
        else:
            out.append((re.compile(key + rb'"([^"]*)"'), False))
    return out


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
        self._clean: set[bytes] = set()
        self._hot: set[bytes] = set()
        self._generation = index.generation
        self._exact = index.exact_sets()
        # Per source: its format and (Zeek TSV) header, kept while a followed file grows.
        self._formats: dict[str, str] = {}
        self._headers: dict[str, readers.ZeekHeader] = {}

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
        chunks = _chunks(stream)
        yield from self.hunt_chunks(name, chunks)

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
        stream = _prepend(head, it)
        if fmt == "zeek-json":
            yield from self._zeek_json(name, stream, first_line)
        elif fmt == "zeek":
            yield from self._zeek_tsv(name, stream, first_line)
        elif fmt == "csv":
            yield from self._csv(name, stream, first_line)
        else:
            spec = readers.EVE if fmt == "eve" else readers.mapping_spec("json", self.mapping)
            yield from self._json_lines(name, stream, first_line, spec)

    # ------------------------------------------------------------ matching a record

    def _record(self, name: str, line: int, record: dict[str, Any], spec: Spec) -> Iterator[Match]:
        self.summary.records += 1
        match = self.index.match
        for fld, kind, value in readers.observe(record, spec):
            for ikind, key in match(kind, value):
                for ref in self.resolve(ikind, key):
                    self.summary.matches += 1
                    self.summary.by_type[ref.type] += 1
                    self.summary.by_source[name] += 1
                    yield Match(name, line, fld, value, ref, self.sensor)

    # ------------------------------------------------------------ formats

    def _json_lines(
        self, name: str, chunks: Iterable[bytes], line: int, spec: Spec
    ) -> Iterator[Match]:
        loads = orjson.loads
        for chunk in chunks:
            for raw in chunk.split(b"\n")[:-1]:
                self.summary.lines += 1
                if raw.strip():
                    try:
                        record = loads(raw)
                    except orjson.JSONDecodeError:
                        record = None
                    if not isinstance(record, dict):
                        self.summary.bad(name, line, "not a JSON object")
                    else:
                        yield from self._record(name, line, record, spec)
                line += 1

    def _zeek_tsv(self, name: str, chunks: Iterable[bytes], line: int) -> Iterator[Match]:
        header = self._headers.setdefault(name, readers.ZeekHeader())
        for chunk in chunks:
            for raw in chunk.split(b"\n")[:-1]:
                self.summary.lines += 1
                if raw.startswith(b"#"):
                    readers.zeek_header_line(header, raw)
                elif raw.strip():
                    record = readers.zeek_tsv_record(header, raw)
                    if record is None:
                        why = "no #fields header" if not header.fields else "wrong column count"
                        self.summary.bad(name, line, why)
                    else:
                        yield from self._record(name, line, record, readers.ZEEK)
                line += 1

    def _csv(self, name: str, chunks: Iterable[bytes], line: int) -> Iterator[Match]:
        spec = readers.mapping_spec("csv", self.mapping)
        columns: list[str] | None = None
        for chunk in chunks:
            for raw in chunk.split(b"\n")[:-1]:
                self.summary.lines += 1
                text = raw.decode("utf-8", "replace").rstrip("\r")
                if text.strip():
                    try:
                        row = next(csv.reader(io.StringIO(text)))
                    except (csv.Error, StopIteration):
                        row = None
                    if row is None:
                        self.summary.bad(name, line, "not a CSV row")
                    elif columns is None:
                        columns = [c.strip() for c in row]
                    elif len(row) != len(columns):
                        self.summary.bad(name, line, "wrong column count")
                    else:
                        record = dict(zip(columns, row, strict=True))
                        yield from self._record(name, line, record, spec)
                line += 1

    def _pcap(self, name: str) -> Iterator[Match]:
        for frame, record in readers.pcap_records(name):
            self.summary.lines += 1
            yield from self._record(name, frame, record, readers.PCAP)

    # ------------------------------------------------------------ the Zeek JSON fast path

    def _zeek_json(self, name: str, chunks: Iterable[bytes], line: int) -> Iterator[Match]:
        fields: tuple[str, ...] | None = None
        regexes: list[tuple[re.Pattern[bytes], bool]] = []
        generation = -1
        for chunk in chunks:
            if fields is None:
                first_raw = chunk.split(b"\n", 1)[0]
                try:
                    first = orjson.loads(first_raw)
                except orjson.JSONDecodeError:
                    first = None
                log = readers.zeek_log_type(name, first if isinstance(first, dict) else None)
                fields = readers.ZEEK_LOG_FIELDS.get(log or "", tuple(readers.ZEEK_FIELDS))
            if generation != self.index.generation:
                # Only the fields whose kind of observable the index holds are scanned.
                kinds = self.index.kinds()
                regexes = _field_regexes(f for f in fields if readers.ZEEK_FIELDS[f] in kinds)
                generation = self.index.generation
            n_lines = chunk.count(b"\n")
            yield from self._zeek_chunk(name, chunk, line, n_lines, regexes)
            line += n_lines

    def _refresh_caches(self) -> None:
        if self._generation != self.index.generation:
            # New indicators: values known clean may not be any more.
            self._clean.clear()
            self._hot.clear()
            self._generation = self.index.generation
            self._exact = self.index.exact_sets()

    def _zeek_chunk(
        self,
        name: str,
        chunk: bytes,
        base: int,
        n_lines: int,
        regexes: list[tuple[re.Pattern[bytes], bool]],
    ) -> Iterator[Match]:
        summary = self.summary
        summary.lines += n_lines
        bad_lines: set[int] = set()
        blank = 0
        # A well-formed chunk of Zeek's flat objects holds one closing brace per line (one
        # byte counted at memchr speed); any other chunk is looked at line by line. A
        # candidate line that does not parse is counted too.
        if chunk.count(b"}") != n_lines:
            bad_lines, blank = self._malformed(name, chunk, base)
        summary.records += n_lines - blank - len(bad_lines)
        self._refresh_caches()
        values: set[bytes] = set()
        for rx, is_array in regexes:
            if is_array:
                for body in rx.findall(chunk):
                    values.update(body.replace(b'"', b"").replace(b" ", b"").split(b","))
            else:
                values.update(rx.findall(chunk))
        # (a - b iterates a; a.difference_update(b) would iterate the large b)
        values = values - self._clean
        hot = values & self._hot
        for v in values - hot:
            if self._candidate(v):
                self._hot.add(v)
                hot.add(v)
            else:
                self._clean.add(v)
        if len(self._clean) > MAX_CLEAN:
            self._clean.clear()
        if not hot:
            return
        line_starts: set[int] = set()
        for v in hot:
            pos = chunk.find(v)
            while pos >= 0:
                line_starts.add(chunk.rfind(b"\n", 0, pos) + 1)
                pos = chunk.find(v, pos + len(v))
        line = base
        counted = 0
        for start in sorted(line_starts):
            line += chunk.count(b"\n", counted, start)
            counted = start
            if line in bad_lines:
                continue
            end = chunk.find(b"\n", start)
            summary.records -= 1  # counted as a record above; _record counts it again
            try:
                record = orjson.loads(chunk[start:end])
            except orjson.JSONDecodeError:
                record = None
            if isinstance(record, dict):
                yield from self._record(name, line, record, readers.ZEEK)
            else:
                summary.bad(name, line, "not a JSON object")

    def _malformed(self, name: str, chunk: bytes, base: int) -> tuple[set[int], int]:
        """The lines of a chunk that hold no JSON object (counted), and how many are blank."""
        bad: set[int] = set()
        blank = 0
        for i, raw in enumerate(chunk.split(b"\n")[:-1]):
            text = raw.strip()
            if not text:
                blank += 1
            elif not (text.startswith(b"{") and text.endswith(b"}")):
                bad.add(base + i)
                self.summary.bad(name, base + i, "not a JSON object")
        return bad, blank

    def _candidate(self, raw: bytes) -> bool:
        """Whether a raw value may match an indicator (the exact test follows on its line):
        byte-level tests by shape, so a value seen for the first time costs microseconds."""
        idx = self.index
        for s in self._exact:
            if raw in s:
                return True
        if b"\\" in raw:
            return True  # JSON escapes: let the parser decide
        low = raw.lower()
        if low != raw:
            for s in self._exact:
                if low in s:
                    return True
        if (
            idx.has_networks
            and _CIDR_SHAPE.match(raw)
            and idx.networks_of(raw.decode().strip("[]"))
        ):
            return True
        if b"?" in raw and raw.split(b"?", 1)[0] in idx.uris:
            return True
        if b"@" in raw and b"<" in raw:
            return True
        if low[-1:].isdigit():
            return False  # an address or a number: no domain ends with a digit
        if b"/" in low:
            low = low.split(b"/", 1)[0]
        low = low.rstrip(b".")
        domains, hosts = idx.domains, idx.url_hosts
        dot = low.find(b".")
        while dot >= 0:
            low = low[dot + 1 :]
            if low in domains or low in hosts:
                return True
            dot = low.find(b".")
        return False


_CIDR_SHAPE = re.compile(rb"^\[?[0-9A-Fa-f:.]+\]?$")


def _is_pcap(name: str) -> bool:
    with open(name, "rb") as f:
        head = f.read(4)
    return head in readers.PCAP_MAGICS or head == readers.PCAPNG_MAGIC


def _chunks(stream: IO[bytes], size: int = CHUNK) -> Iterator[bytes]:
    """Chunks of whole lines (the last one given a newline if it lacks one)."""
    readline = getattr(stream, "readline", None)
    rest = b""
    while True:
        block = stream.read(size)
        if not block:
            break
        if readline is not None and not block.endswith(b"\n"):
            # Complete the last line from the stream: one copy instead of two.
            block += readline()
        data = rest + block if rest else block
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            rest = data
            continue
        if cut == len(data):
            rest = b""
            yield data
        else:
            rest = data[cut:]
            yield data[:cut]
    if rest:
        yield rest + b"\n"


def _prepend(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield head
    yield from rest
