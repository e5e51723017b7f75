"""The bulk path keeps to the reference: the index's bulk screen of distinct values equals
testing each value, and hunting Zeek JSON (TSV) and eve.json through the scanner and
decoded columns finds exactly the matches that observing every line in full finds, whatever
the values look like (addresses in every spelling, CIDR blocks, names with odd dots and
case, URLs, hashes, escapes and text beyond ASCII), with CIDR blocks in the index or none
(the scanner then finds addresses clean by the index's keys itself)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shieldwall.detection import readers
from shieldwall.detection.hunt import Hunter
from shieldwall.detection.index import IndicatorIndex, IndicatorKey, IndicatorRef, Scope

INDICATORS = [
    ("ip-dst", "203.0.113.10"),
    ("ip-src", "2001:db8::7"),
    ("ip-dst", "192.0.2.0/28"),
    ("ip-dst", "198.51.100.0/24"),
    ("ip-dst", "198.51.100.128/25"),
    ("ip-dst", "2001:db8:bad::/48"),
    ("ip-dst|port", "203.0.113.20|8443"),
    ("ip-dst|port", "2001:db8::20|443"),
    ("domain", "evil.example"),
    ("hostname", "c2.bad.example"),
    ("domain", "Trailing.Example."),
    ("url", "HTTP://Payload.Example:80/drop/x.exe"),
    ("url", "https://203.0.113.77/gate"),
    ("url", "http://host.example:8080/p?q=1"),
    ("uri", "/gate.php"),
    ("md5", "c" * 31 + "3"),
    ("sha256", "A" * 63 + "1"),
    ("filename|sha1", "x.exe|" + "b" * 39 + "2"),
    ("email-src", "phisher@bad.example"),
    ("ja3-fingerprint-md5", "e7d705a3286e19ea42f587b344ee6865"),
    ("user-agent", "EvilBot/1.0"),
]


def _index(blocks: bool = True) -> IndicatorIndex:
    index = IndicatorIndex(Scope())
    for t, v in INDICATORS:
        if "/" in v and t.startswith("ip-") and not blocks:
            continue
        v1, _, v2 = v.partition("|") if "|" in t else (v, "", "")
        index.add(t, v1, v2)
    index.seal()
    return index


INDEX = _index()
# Without address blocks the scanner decides of dotted quads itself (by the index's keys).
INDEX_NO_BLOCKS = _index(blocks=False)
INDEXES = {"blocks": INDEX, "no-blocks": INDEX_NO_BLOCKS}

ATOMS = [
    "203.0.113.10",
    "203.0.113.11",
    "203.0.113.20",
    "203.0.113.077",
    " 203.0.113.10",
    "[203.0.113.10]",
    "192.0.2.15",
    "192.0.2.16",
    "198.51.100.200",
    "198.51.101.1",
    "2001:db8::7",
    "2001:DB8:0:0::7",
    "2001:db8::20",
    "2001:db8:bad:ffff::1",
    "fe80::1%eth0",
    "[2001:db8::7]",
    "evil.example",
    "a.b.Evil.Example.",
    "notevil.example",
    "evil.example.com",
    "www.c2.bad.example",
    "bad.example",
    "trailing.example",
    "x.trailing.example..",
    "payload.example",
    "Payload.Example",
    "payload.example:80",
    "host.example:8080",
    "203.0.113.77",
    "http:",
    "user@payload.example",
    "[payload.example",
    ".",
    "",
    "-",
    "/drop/x.exe",
    "/gate.php",
    "/gate.php?x=1",
    "/p?q=1",
    "//payload.example/drop/x.exe",
    "http://payload.example/drop/x.exe",
    "c" * 31 + "3",
    "C" * 31 + "3",
    "a" * 63 + "1",
    "b" * 39 + "2",
    "phisher@bad.example",
    "Phisher <PHISHER@bad.example>",
    "e7d705a3286e19ea42f587b344ee6865",
    "E7D705A3286E19EA42F587B344EE6865 ",
    "EvilBot/1.0",
    "evilbot/1.0",
    # Written with escapes in JSON, or beyond ASCII.
    'evil"quote.example',
    "back\\slash.example",
    "tab\tand\nnewline",
    "/gate.php\u2028",
    "évil.example",
    "日本.example",
    "emoji\U0001f600.example",
]
values = st.one_of(
    st.sampled_from(ATOMS),
    st.builds(
        lambda a, b: f"{a}{b}", st.sampled_from(ATOMS), st.sampled_from(["", ".", " ", "/", ":"])
    ),
    st.builds(
        lambda a, b, c, d: f"{a}.{b}.{c}.{d}",
        st.sampled_from([192, 198, 203, 10]),
        st.sampled_from([0, 51, 168]),
        st.sampled_from([2, 100, 113]),
        st.integers(0, 255),
    ),
    st.text(alphabet="abc.:/[]@#% 019Ee", max_size=12),
)
SCREENS = ("ip", "endpoint", "host", "host_url", "domain", "url", "uri", "hash", "email")
SCREENS += ("ja3", "user_agent")


@settings(max_examples=300, deadline=None)
@given(st.sets(values, max_size=30))
def test_bulk_screen_is_testing_each_value(vals: set[str]) -> None:
    for kind in SCREENS:
        assert INDEX.screen(kind, vals) == {v for v in vals if INDEX.hot(kind, v)}, kind


class KeyResolver:
    """Every indicator key held by one attribute of its own (the database's part is tested
    with a database)."""

    def many(self, keys: Iterable[IndicatorKey]) -> Mapping[IndicatorKey, list[IndicatorRef]]:
        return {k: [IndicatorRef(0, "", k[0], k[1], 0, "", "", 0, ())] for k in keys}


def _reference(
    lines: list[bytes], spec: readers.Spec, index: IndicatorIndex = INDEX
) -> set[tuple[int, str, str, str]]:
    out = set()
    for n, raw in enumerate(lines, 1):
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(record, dict):
            continue
        for fld, kind, value in readers.observe(record, spec):
            for ikind, key in index.match(kind, value):
                out.add((n, fld, value, f"{ikind}:{key}"))
    return out


def _hunted(
    path: Path, fmt: str = "auto", index: IndicatorIndex = INDEX
) -> tuple[set[tuple[int, str, str, str]], Hunter]:
    hunter = Hunter(index, KeyResolver(), fmt=fmt)
    got = {
        (m.line, m.field, m.observable, f"{m.indicator.type}:{m.indicator.value}")
        for m in hunter.hunt_paths([str(path)])
    }
    return got, hunter


ports = st.sampled_from([443, 8443, 80, "8443"])
# Hosts and URIs that make URL indicators only together (one through a scheme the join
# makes), beside any two values.
host_uri = st.one_of(
    st.tuples(values, values),
    st.sampled_from(
        [
            ("http:", "//payload.example/drop/x.exe"),
            ("Payload.Example", "/drop/x.exe"),
            ("payload.example:80", "/drop/x.exe/"),
            ("203.0.113.77", "/gate"),
            ("host.example:8080", "/p?q=1"),
            (" host.example:8080", "/p?q=1#f"),
        ]
    ),
)
zeek_http = st.builds(
    lambda d, hu: {**d, "host": hu[0], "uri": hu[1]},
    st.fixed_dictionaries(
        {
            "ts": st.just(1.0),
            "uid": st.just("C1"),
            "id.orig_h": values,
            "id.orig_p": ports,
            "id.resp_h": values,
            "id.resp_p": ports,
            "method": st.just("GET"),
            "referrer": values,
            "user_agent": values,
        }
    ),
    host_uri,
)
zeek_dns = st.fixed_dictionaries(
    {
        "ts": st.just(1.0),
        "uid": st.just("C2"),
        "id.orig_h": values,
        "id.resp_h": values,
        "query": values,
        "qtype_name": st.just("A"),
        "answers": st.lists(values, max_size=3),
    }
)
# Lines that are not one JSON object each, among them lines that could pass for records
# together when a chunk is decoded whole (an object over two lines, two on one line).
odd_lines = st.sampled_from(
    [
        b"",
        b"  ",
        b"not json",
        b'{"a":1} {"b":2}',
        b'{"x":1}{"y":2}',
        b'{"a":1}] [{"b":2}',
        b'{"a":1},{"b":2}',
        b'{"a":[[1',
        b"2]]}",
        b'{"a":{}',
        b"}",
        b"[1]",
        b'{"id.resp_h":5}',
        b'{"id.resp_h":"203.0.113.10"',
    ]
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(st.one_of(zeek_http, zeek_dns), min_size=1, max_size=40),
    st.lists(st.tuples(st.integers(0, 40), odd_lines), max_size=4),
    st.sampled_from(sorted(INDEXES)),
    st.booleans(),
)
def test_zeek_json_columns_find_what_full_lines_find(
    tmp_path: Path,
    records: list[dict[str, Any]],
    odd: list[tuple[int, bytes]],
    which: str,
    ascii_only: bool,
) -> None:
    # Records of several logs: the first record decides the log when it has no _path, so
    # every record carries one and every Zeek field is read. Text beyond ASCII is written
    # as is (orjson) or escaped (json with ensure_ascii, as some shippers write it).
    index = INDEXES[which]
    dump = (lambda r: json.dumps(r).encode()) if ascii_only else orjson.dumps
    lines = [dump({"_path": "x", **r}) for r in records]
    for at, raw in odd:
        lines.insert(min(at, len(lines)), raw)
    path = tmp_path / "stream.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    got, hunter = _hunted(path, "zeek-json", index)
    assert got == _reference(lines, readers.ZEEK, index)
    assert hunter.summary.lines == len(lines)
    bad = sum(1 for raw in lines if raw.strip() and not isinstance(_loads(raw), dict))
    assert hunter.summary.malformed == bad


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


eve = st.fixed_dictionaries(
    {
        "event_type": st.sampled_from(["dns", "http", "tls", "flow"]),
        "src_ip": values,
        "src_port": ports,
        "dest_ip": values,
        "dest_port": ports,
    },
    optional={
        "dns": st.fixed_dictionaries(
            {"rrname": values},
            optional={
                "rdata": values,
                "answers": st.lists(
                    st.fixed_dictionaries({"rrname": values, "rdata": values}), max_size=2
                ),
                "grouped": st.fixed_dictionaries({"A": st.lists(values, max_size=2)}),
            },
        ),
        "http": st.builds(
            lambda d, hu: {**d, "hostname": hu[0], "url": hu[1]},
            st.fixed_dictionaries({"http_user_agent": values, "http_refer": values}),
            host_uri,
        ),
        "tls": st.fixed_dictionaries(
            {"sni": values, "ja3": st.fixed_dictionaries({"hash": values})}
        ),
        "fileinfo": st.fixed_dictionaries({"md5": values, "sha256": values}),
        "email": st.fixed_dictionaries({"from": values, "to": st.lists(values, max_size=2)}),
    },
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(eve, min_size=1, max_size=30), st.sampled_from(sorted(INDEXES)))
def test_eve_columns_find_what_full_lines_find(
    tmp_path: Path, records: list[dict[str, Any]], which: str
) -> None:
    index = INDEXES[which]
    lines = [orjson.dumps({"timestamp": "t", **r}) for r in records]
    path = tmp_path / "eve.json"
    path.write_bytes(b"\n".join(lines) + b"\n")
    got, hunter = _hunted(path, "eve", index)
    assert hunter.summary.formats == {"eve": 1}
    assert got == _reference(lines, readers.EVE, index)


def _tsv_value(v: str) -> str:
    return v.replace("\t", " ").replace("\n", " ").replace("\r", " ").replace(",", ";") or "-"


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(zeek_http, min_size=1, max_size=30), st.sets(st.integers(0, 30), max_size=2))
def test_zeek_tsv_columns_find_what_full_lines_find(
    tmp_path: Path, records: list[dict[str, Any]], short: set[int]
) -> None:
    fields = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "host", "uri"]
    fields += ["referrer", "user_agent"]
    head = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
    head += "#fields\t" + "\t".join(fields) + "\n#types\t" + "\t".join(["string"] * len(fields))
    rows = ["\t".join(_tsv_value(str(r[f])) for f in fields) for r in records]
    for at in sorted(short, reverse=True):
        rows.insert(min(at, len(rows)), "too\tfew")
    path = tmp_path / "http.log"
    path.write_text(head + "\n" + "\n".join(rows) + "\n")
    got, hunter = _hunted(path)
    header = readers.ZeekHeader()
    want = set()
    for n, raw in enumerate(path.read_bytes().split(b"\n")[:-1], 1):
        if raw.startswith(b"#"):
            readers.zeek_header_line(header, raw)
            continue
        record = readers.zeek_tsv_record(header, raw)
        for fld, kind, value in readers.observe(record or {}, readers.ZEEK):
            for ikind, key in INDEX.match(kind, value):
                want.add((n, fld, value, f"{ikind}:{key}"))
    assert got == want
    assert hunter.summary.malformed == len(short)
