"""Telemetry read a chunk at a time into columns: msgspec decodes Zeek JSON and eve.json
lines in C into structs holding only the fields with observables, Zeek TSV lines are split
once, and each observable field gives the set of its distinct values to screen against the
indicator index, so that per line only C code runs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, compress, filterfalse
from operator import attrgetter, itemgetter, methodcaller
from typing import TYPE_CHECKING, Any

import msgspec

from shieldwall.detection import _scan, readers

if TYPE_CHECKING:
    from shieldwall.detection.index import IndicatorIndex

# Readers' kinds of observable each screen stands for when a column is worth screening.
_SCREEN_KINDS = {"endpoint": "ip", "host_url": "host"}


@dataclass(frozen=True)
class Column:
    """An observable field of JSON records: its name, the screen its values go through
    (a kind of observable, or "endpoint" for an address that pairs with a port, "host_url"
    for a host that makes a URL with the URI), the attribute steps that reach its values in
    decoded structs (each step a value, or a list of them), and its path of JSON keys."""

    name: str
    screen: str
    steps: tuple[tuple[str, bool], ...]
    path: tuple[str, ...]

    def values(self, records: Iterable[Any]) -> Iterator[str]:
        """The column's values over the records, read at C speed."""
        cur: Iterable[Any] = records
        for attr, many in self.steps:
            # Absent fields decode as None and empty ones as "" or []: never observed.
            cur = filter(None, map(attrgetter(attr), cur))
            if many:
                cur = chain.from_iterable(cur)
        return iter(cur)

    def unknown(self, records: list[Any], known: set[Any]) -> set[str]:
        """The column's distinct values that are not in `known` (one set difference)."""
        if len(self.steps) == 1 and not self.steps[0][1]:
            return set(map(attrgetter(self.steps[0][0]), records)) - known
        return set(self.values(records)) - known

    def rows(self, records: list[Any], hot: set[str]) -> list[int]:
        """Indexes of the records holding one of the hot values."""
        if len(self.steps) == 1 and not self.steps[0][1]:
            get = attrgetter(self.steps[0][0])
            return list(compress(range(len(records)), map(hot.__contains__, map(get, records))))
        return [i for i, r in enumerate(records) if not hot.isdisjoint(self.values((r,)))]


def _screen(name: str, kind: str, endpoints: Iterable[str], hosts: Iterable[str]) -> str:
    if name in endpoints:
        return "endpoint"
    if name in hosts:
        return "host_url"
    return kind


def _worth(screen: str, kind: str, kinds: set[str], urls: bool) -> bool:
    """Whether a column may hold a match, given the kinds of observable the index can match
    (and whether it holds URLs, which a host makes with the URI)."""
    return _SCREEN_KINDS.get(screen, kind) in kinds or (screen == "host_url" and urls)


def _attr(name: str) -> str:
    return name.replace(".", "_") + ("_" if name in ("from", "to") else "")


# ---------------------------------------------------------------- Zeek JSON

ZEEK_ENDPOINTS = ("id.orig_h", "id.resp_h")
ZEEK_HOSTS = ("host",)


def by_screen(columns: list[Any]) -> list[tuple[str, list[Any]]]:
    """Columns grouped by screen: the values of a group are screened together."""
    groups: dict[str, list[Any]] = {}
    for c in columns:
        groups.setdefault(c.screen, []).append(c)
    return list(groups.items())


def zeek_columns(fields: Iterable[str], kinds: set[str], urls: bool) -> list[Column]:
    """The columns of a Zeek log worth screening for an index."""
    out = []
    for name in fields:
        kind = readers.ZEEK_FIELDS[name]
        screen = _screen(name, kind, ZEEK_ENDPOINTS, ZEEK_HOSTS)
        if _worth(screen, kind, kinds, urls):
            steps = ((_attr(name), name in readers.ZEEK_ARRAYS),)
            out.append(Column(name, screen, steps, (name,)))
    return out


@lru_cache(maxsize=64)
def zeek_struct(fields: tuple[str, ...]) -> Any:
    """A struct of just these Zeek fields: msgspec skips every other field of a line
    without building it."""
    return msgspec.defstruct(
        "ZeekRecord",
        [
            (
                _attr(name),
                (list[str] | None) if name in readers.ZEEK_ARRAYS else (str | None),
                msgspec.field(default=None, name=name),
            )
            for name in fields
        ],
        gc=False,
        kw_only=True,
    )


# ---------------------------------------------------------------- Suricata eve.json

# gc=False: the structs hold only strings, lists of them and other such structs.
_S: dict[str, Any] = {"gc": False, "kw_only": True}


class _EveDnsQuery(msgspec.Struct, **_S):
    rrname: str | None = None


class _EveDnsAnswer(msgspec.Struct, **_S):
    rrname: str | None = None
    rdata: str | None = None


class _EveDnsGrouped(msgspec.Struct, **_S):
    A: list[str] | None = None
    AAAA: list[str] | None = None
    CNAME: list[str] | None = None


class _EveDns(msgspec.Struct, **_S):
    rrname: str | None = None
    rdata: str | None = None
    queries: list[_EveDnsQuery] | None = None
    answers: list[_EveDnsAnswer] | None = None
    grouped: _EveDnsGrouped | None = None


class _EveHttp(msgspec.Struct, **_S):
    hostname: str | None = None
    url: str | None = None
    http_user_agent: str | None = None
    http_refer: str | None = None


class _EveHash(msgspec.Struct, **_S):
    hash: str | None = None


class _EveTls(msgspec.Struct, **_S):
    sni: str | None = None
    ja3: _EveHash | None = None
    ja3s: _EveHash | None = None


class _EveFileinfo(msgspec.Struct, **_S):
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None


class _EveSmtp(msgspec.Struct, **_S):
    helo: str | None = None
    mail_from: str | None = None
    rcpt_to: list[str] | None = None


class _EveEmail(msgspec.Struct, **_S):
    from_: str | None = msgspec.field(default=None, name="from")
    to_: list[str] | None = msgspec.field(default=None, name="to")
    cc: list[str] | None = None


class EveRecord(msgspec.Struct, **_S):
    src_ip: str | None = None
    dest_ip: str | None = None
    dns: _EveDns | None = None
    http: _EveHttp | None = None
    tls: _EveTls | None = None
    fileinfo: _EveFileinfo | None = None
    smtp: _EveSmtp | None = None
    email: _EveEmail | None = None


_EVE_LISTS = frozenset({"queries", "answers", "A", "AAAA", "CNAME", "rcpt_to", "to", "cc"})


def eve_columns(kinds: set[str], urls: bool) -> list[Column]:
    """The columns of eve.json worth screening for an index."""
    out = []
    for path, kind in readers.EVE.fields.items():
        name = ".".join(path)
        screen = _screen(name, kind, ("src_ip", "dest_ip"), ("http.hostname",))
        if _worth(screen, kind, kinds, urls):
            steps = tuple((_attr(p), p in _EVE_LISTS) for p in path)
            out.append(Column(name, screen, steps, path))
    return out


class Scan:
    """The scanner of a log's columns (detection/_scan.c): the distinct values of each
    column in a chunk of JSON lines, read without building records, leaving out the values
    of its screen known clean; and the lines holding hot values."""

    def __init__(
        self, groups: list[tuple[str, list[Column]]], max_known: int, index: IndicatorIndex
    ) -> None:
        paths: list[tuple[str, ...]] = []
        group_of: list[int] = []
        self.screens: list[tuple[str, range]] = []
        for g, (screen, cols) in enumerate(groups):
            self.screens.append((screen, range(len(paths), len(paths) + len(cols))))
            for c in cols:
                paths.append(c.path)
                group_of.append(g)
        self.columns = len(paths)
        # With the index's keys, the scanner finds most values clean itself (see _scan.c,
        # surely_clean): only values that may match reach the index's screen.
        modes = [_PREFILTER.get(screen, 0) for screen, _ in groups]
        self.scanner = _scan.Scanner(
            paths,
            group_of,
            max_known,
            modes=modes,
            bloom=index.keys,
            ranges=bool(len(index.v4)),
        )


# How the scanner may find a screen's values clean (_scan.c: PRE_IP, PRE_HOST, PRE_DOMAIN).
_PREFILTER = {"ip": 1, "endpoint": 1, "host": 2, "host_url": 2, "domain": 3}


def dotted_keys(record: Any) -> bool:
    """Whether a record holds a key with a dot (a flattened layout the structs do not read)."""
    if isinstance(record, dict):
        return any("." in k or dotted_keys(v) for k, v in record.items())
    if isinstance(record, list):
        return any(dotted_keys(v) for v in record)
    return False


class Decoder:
    """Decodes JSON lines into records of one struct type.

    A chunk is decoded whole, each line wrapped as a one-element array: "[" + line + "]".
    A line's "[" can only open a new top-level array (after the "]" closing the line before,
    nothing nested may follow without a comma), so every line gives at least one array,
    and when they number the lines each line held exactly one object: a blank line, two
    objects on a line or an object spread over lines fail the decoding or the count."""

    def __init__(self, struct: Any) -> None:
        self._one = msgspec.json.Decoder(struct).decode
        self._wrapped = msgspec.json.Decoder(tuple[struct]).decode_lines

    def chunk(self, chunk: bytes) -> tuple[list[Any], int] | None:
        """(one record per line, the number of lines) of a chunk of whole lines; None when
        some line is not one well-typed JSON object (the lines are then taken one by one)."""
        wrapped = b"[" + chunk.replace(b"\n", b"]\n[")
        # Each newline grew by two bytes; the last line's "\n[" is dropped.
        lines = (len(wrapped) - 1 - len(chunk)) // 2
        try:
            arrays = self._wrapped(memoryview(wrapped)[:-1])
        except msgspec.DecodeError:
            return None
        if len(arrays) != lines:
            return None
        return list(map(_FIRST, arrays)), lines

    def line(self, raw: bytes) -> Any | None:
        try:
            return self._one(raw)
        except msgspec.DecodeError:
            return None


_FIRST = itemgetter(0)


# ---------------------------------------------------------------- Zeek TSV


def tsv_rows(text: str, separator: str) -> list[list[str]]:
    """The columns of each line of a chunk of data lines."""
    lines = text.split("\n")
    lines.pop()
    return list(map(methodcaller("split", separator), lines))


@dataclass(frozen=True)
class TsvColumn:
    """A Zeek TSV column: its name, screen and position; for set and vector columns the
    separator of their items; the values that stand for nothing (unset, empty)."""

    name: str
    screen: str
    index: int
    set_separator: str | None
    skip: frozenset[str]

    def values(self, rows: list[list[str]]) -> Iterator[str]:
        cells = filterfalse(self.skip.__contains__, map(itemgetter(self.index), rows))
        if self.set_separator is None:
            return cells
        return chain.from_iterable(map(methodcaller("split", self.set_separator), cells))

    def unknown(self, rows: list[list[str]], known: set[Any]) -> set[str]:
        if self.set_separator is None:
            new = set(map(itemgetter(self.index), rows)) - known
            new -= self.skip
            return new
        return set(self.values(rows)) - known

    def rows(self, rows: list[list[str]], hot: set[str]) -> list[int]:
        get = itemgetter(self.index)
        if self.set_separator is None:
            return list(compress(range(len(rows)), map(hot.__contains__, map(get, rows))))
        sep = self.set_separator
        return [i for i, r in enumerate(rows) if not hot.isdisjoint(get(r).split(sep))]


def tsv_columns(header: readers.ZeekHeader, kinds: set[str], urls: bool) -> list[TsvColumn]:
    """The columns of a Zeek TSV log worth screening for an index: every field of the
    header that holds observables (as reading the line in full would observe them)."""
    out = []
    skip = frozenset({header.unset, header.empty})
    for i, name in enumerate(header.fields):
        kind = readers.ZEEK_FIELDS.get(name)
        if kind is None:
            continue
        screen = _screen(name, kind, ZEEK_ENDPOINTS, ZEEK_HOSTS)
        if _worth(screen, kind, kinds, urls):
            types = header.types[i] if i < len(header.types) else ""
            many = types.startswith(("set[", "vector["))
            out.append(TsvColumn(name, screen, i, header.set_separator if many else None, skip))
    return out
