"""The hunt's scanner (detection/_scan.c) against references written in Python: the values
it finds on field paths are those a JSON parser finds there; it declines every chunk that is
not one JSON object per line with strings on the paths; the lines it gives for hot values
are the lines holding them; values it was told are clean stay out; its Bloom filter never
forgets a key."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shieldwall.detection._scan import Bloom, Scanner
from shieldwall.detection.index import url_host, url_key

PATHS = [("a",), ("n", "b"), ("id.orig_h",)]


class Conflict(Exception):
    """A path holds something other than strings, arrays of them or null."""


def _on_path(value: Any, rest: tuple[str, ...], out: set[str]) -> None:
    """The strings on a path below a value (arrays walked), as the scanner reads them."""
    if value is None:
        return
    if isinstance(value, list):
        for v in value:
            _on_path(v, rest, out)
        return
    if not rest:
        if not isinstance(value, str):
            raise Conflict
        if value:
            out.add(value)
        return
    if not isinstance(value, dict):
        raise Conflict
    for key, v in value.items():
        if key == rest[0]:
            _on_path(v, rest[1:], out)


def _reference(records: list[dict[str, Any]]) -> list[set[str]] | None:
    sets: list[set[str]] = [set() for _ in PATHS]
    try:
        for record in records:
            for i, path in enumerate(PATHS):
                _on_path(record, path, sets[i])
    except Conflict:
        return None
    return sets


def _got(found: tuple[int, Any] | None) -> list[set[str]] | None:
    if found is None:
        return None
    _, sets = found
    return [s or set() for s in sets] if sets is not None else [set() for _ in PATHS]


text = st.text(max_size=8)
leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
keys = st.sampled_from(["a", "b", "n", "id.orig_h", "x", "é", 'q"', "a b"])
value = st.recursive(
    leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=8,
)
records = st.lists(st.dictionaries(keys, value, max_size=5), min_size=1, max_size=8)


def _dump(record: dict[str, Any], style: int) -> bytes:
    if style == 0:
        return orjson.dumps(record)
    if style == 1:
        return json.dumps(record).encode()  # escapes all beyond ASCII
    return json.dumps(record, ensure_ascii=False, indent=None, separators=(" , ", " : ")).encode()


def _escaped_key(value: Any, style: int) -> bool:
    """Whether some key is written with an escape."""
    if isinstance(value, list):
        return any(_escaped_key(v, style) for v in value)
    if isinstance(value, dict):
        return any(
            '"' in k or (style == 1 and not k.isascii()) or _escaped_key(v, style)
            for k, v in value.items()
        )
    return False


@settings(max_examples=400, deadline=None)
@given(records, st.sampled_from([0, 1, 2]))
def test_values_on_paths_are_what_a_parser_finds(recs: list[dict[str, Any]], style: int) -> None:
    chunk = b"".join(_dump(r, style) + b"\n" for r in recs)
    found = Scanner(PATHS).scan(chunk)
    want = _reference(recs)
    if found is not None:
        assert found[0] == len(recs)
        assert _got(found) == want
    # Declined only where a path holds something else, or a key on the way is written
    # with escapes (the scanner does not decode keys).
    if want is not None and not any(_escaped_key(r, style) for r in recs):
        assert found is not None


@pytest.mark.parametrize(
    "chunk",
    [
        b"\n",
        b"  \n",
        b"not json\n",
        b'{"a":"x"} {"a":"y"}\n',
        b'{"a":"x"}{"a":"y"}\n',
        b'{"a":"x",\n"b":1}\n',
        b'{"a":"x"\n',
        b'{"a":"x"}}\n',
        b'{"a":"x"},\n',
        b'{"x":01}\n',
        b'{"x":1.}\n',
        b'{"x":-}\n',
        b'{"x":1e}\n',
        b'{"x":tru}\n',
        b'{"x":nul}\n',
        b'{"x":"a\x01b"}\n',
        b'{"x":"a\\xb"}\n',
        b'{"x":"\\u12"}\n',
        b'{"x" "y"}\n',
        b'{x:"y"}\n',
        b'{"x":"y",}\n',
        b'{"x":[1,]}\n',
        b"[1]\n",
        b'{"a":"\\ud800"}\n',
        b'{"a":"\\udc00x"}\n',
        b'{"a":"\xff"}\n',
        b'{"a":5}\n',
        b'{"a":true}\n',
        b'{"a":{"b":"c"}}\n',
        b'{"a":["x",1]}\n',
        b'{"n":"x"}\n',
        b'{"n":7}\n',
        b'{"a":"x"}',
        b'{"x":' + b"[" * 70 + b"]" * 70 + b"}\n",
    ],
)
def test_declines_what_is_not_one_object_per_line_with_strings_on_the_paths(
    chunk: bytes,
) -> None:
    assert Scanner(PATHS).scan(chunk) is None


def test_reads_escapes_whitespace_and_text_beyond_ascii() -> None:
    chunk = (
        b'{"a":"q\\"uote","n":{"b":["\\u00e9t\\u00e9","\\ud83d\\ude00"]}}\r\n'
        b' { "a" : "caf\xc3\xa9" , "id.orig_h" : null , "x" : [ {"a":"not on a path"} ] }\n'
        b'{"a":"","n":null,"id.orig_h":"10.0.0.1","a":"again"}\n'
        b"{}\n"
    )
    lines, sets = Scanner(PATHS).scan(chunk)
    assert lines == 4
    assert sets == [{'q"uote', "café", "again"}, {"été", "\U0001f600"}, {"10.0.0.1"}]


def test_known_values_stay_out_per_group_within_bounds() -> None:
    chunk = b'{"a":"1.2.3.4","n":{"b":"1.2.3.4"},"id.orig_h":"5.6.7.8"}\n'
    # a and id.orig_h share group 0; n.b is group 1.
    scanner = Scanner(PATHS, [0, 1, 0], 3)
    assert scanner.scan(chunk)[1] == [{"1.2.3.4"}, {"1.2.3.4"}, {"5.6.7.8"}]
    scanner.learn(0, {"1.2.3.4", "5.6.7.8"})
    assert scanner.known == 2
    assert scanner.scan(chunk)[1] == [None, {"1.2.3.4"}, None]
    scanner.learn(1, ["1.2.3.4"])
    assert scanner.scan(chunk) == (1, None)
    # Past max_known, everything known is forgotten (a bounded cache).
    scanner.learn(1, ["9.9.9.9"])
    assert scanner.known == 1
    assert scanner.scan(chunk)[1] == [{"1.2.3.4"}, {"1.2.3.4"}, {"5.6.7.8"}]
    scanner.learn(0, ["1.2.3.4"])
    scanner.forget()
    assert scanner.known == 0
    with pytest.raises(ValueError):
        scanner.learn(2, ["x"])
    with pytest.raises(TypeError):
        scanner.learn(0, [b"bytes"])


def test_made_with_bad_paths_or_groups_raises() -> None:
    with pytest.raises(ValueError):
        Scanner([("a",), ("a",)])
    with pytest.raises(TypeError):
        Scanner([()])
    with pytest.raises(ValueError):
        Scanner([("a",)], [1])
    with pytest.raises(ValueError):
        Scanner([("a",)], [0], modes=[4])
    with pytest.raises(TypeError):
        Scanner([("a",)], bloom=object())


line_values = st.lists(
    st.tuples(st.sampled_from(["a", "x"]), st.sampled_from(["hot", "cold", 'h"ot', "hôt", ""])),
    min_size=1,
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(line_values, min_size=1, max_size=12), st.booleans())
def test_rows_are_the_lines_holding_hot_values(
    lines: list[list[tuple[str, str]]], ascii_only: bool
) -> None:
    raw = [
        (json.dumps if ascii_only else lambda d: orjson.dumps(d).decode())(
            {"id.orig_h": "h", **{f"{k}{i}": v for i, (k, v) in enumerate(pairs)}}
        ).encode()
        for pairs in lines
    ]
    # Keys a0, a1... are not on the path "a": put one "a" per line from the first pair.
    raw = [
        r[:-1] + b',"a":' + json.dumps(pairs[0][1]).encode() + b"}"
        for r, pairs in zip(raw, lines, strict=True)
    ]
    chunk = b"\n".join(raw) + b"\n"
    hot = {"hot", 'h"ot', "hôt"}
    rows = Scanner(PATHS).rows(chunk, [{v.encode() for v in hot}, None, None])
    assert rows is not None
    on_path = [i for i, pairs in enumerate(lines) if pairs[0][1] in hot]
    got = [i for i, _, _ in rows]
    # Where the chunk has no escapes, lines are found by the values in quotes: a line where
    # a hot value stands under another field is given too (and matches nothing there).
    assert set(on_path) <= set(got)
    assert got == sorted(set(got))
    for i, start, end in rows:
        assert chunk[start:end] == raw[i]
        assert any(json.dumps(v).encode() in raw[i] or orjson.dumps(v) in raw[i] for v in hot)
    if b"\\" in chunk:
        assert got == on_path


@settings(max_examples=100, deadline=None)
@given(st.sets(st.binary(max_size=40), max_size=300))
def test_bloom_never_forgets_a_key(keys: set[bytes]) -> None:
    bloom = Bloom(len(keys))
    bloom.add(keys)
    assert all(k in bloom for k in keys)
    assert all(k.decode("latin-1").encode() in bloom for k in keys if k.isascii())
    assert bloom.count == len(keys)


def test_bloom_says_no_to_most_absent_keys() -> None:
    bloom = Bloom(20_000)
    bloom.add(f"{i}.held.example" for i in range(20_000))
    false = sum(f"{i}.absent.example" in bloom for i in range(20_000))
    assert false < 20_000 * 0.01  # about 0.3 % at 12 bits a key
    assert bloom.nbytes <= 20_000 * 12 * 2 // 8


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="abcxyz019._-", min_size=1, max_size=16).filter(lambda n: n[-1] != "."))
def test_a_plain_name_is_its_own_url_host(name: str) -> None:
    # The scanner looks a plain host up as the URL host it makes with a URI (_scan.c,
    # surely_clean): the index's own reading of the join must agree.
    key = url_key(name + "/")
    assert key is not None and url_host(key) == name


def test_hunt_reads_well_formed_zeek_json_with_the_scanner_alone(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shieldwall.detection import columns
    from shieldwall.detection.hunt import Hunter
    from shieldwall.detection.index import IndicatorIndex, IndicatorRef, Scope

    index = IndicatorIndex(Scope())
    index.add("ip-dst", "203.0.113.10", "")
    index.add("domain", "evil.example", "")
    index.seal()

    class Refs:
        def many(self, keys: Any) -> Any:
            return {k: [IndicatorRef(0, "", k[0], k[1], 0, "", "", 0, ())] for k in keys}

    def refuse(*_: Any) -> Any:
        raise AssertionError("a well-formed chunk was decoded into structs")

    monkeypatch.setattr(columns.Decoder, "chunk", refuse)
    lines = [
        {"ts": 1.0, "uid": f"C{i}", "id.orig_h": f"10.0.{i % 7}.1", "id.resp_h": f"198.51.100.{i % 200}",
         "query": f"host{i % 50}.example", "answers": [f"192.0.2.{i % 9}"]}
        for i in range(3000)
    ]  # fmt: skip
    lines[1234]["id.resp_h"] = "203.0.113.10"
    lines[2999]["query"] = "a.b.evil.example"
    path = tmp_path / "dns.log"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in lines))
    hunter = Hunter(index, Refs())
    got = [(m.line, m.field, m.observable) for m in hunter.hunt_paths([str(path)])]
    assert got == [(1235, "id.resp_h", "203.0.113.10"), (3000, "query", "a.b.evil.example")]
    assert hunter.summary.records == 3000 and hunter.summary.malformed == 0


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30),
    st.booleans(),
    st.integers(1, 64),
    st.integers(0, 3),
    st.booleans(),
)
def test_reader_gives_whole_lines_as_bytes_then_views(
    lines: list[bytes], newline_at_end: bool, size: int, switch_after: int, gz: bool
) -> None:
    import gzip
    import io

    from shieldwall.detection.hunt import _Reader
    from shieldwall.detection.readers import binary_stream

    data = b"\n".join(lines) + (b"\n" if newline_at_end and lines else b"")
    # Plain data that starts as gzip does is read as gzip (readers.binary_stream).
    assume(gz or not data.startswith(b"\x1f\x8b"))
    raw = gzip.compress(data) if gz else data
    reader = _Reader(binary_stream(io.BytesIO(raw)), size)
    got = []
    for i, chunk in enumerate(reader):
        # A view is read into again for the next chunk: its bytes are taken now.
        got.append(bytes(chunk))
        assert got[-1].endswith(b"\n")
        if i + 1 == switch_after:
            reader.views = True
    want = data if not data or data.endswith(b"\n") else data + b"\n"
    assert b"".join(got) == want
