"""The streaming splitter behind `shieldwall event import`: every MISP file shape, strings that
look like structure, events cut by the read window, and bad files named by line and column."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest

from shieldwall.exchange.json_stream import JSONFormatError, iter_events

# Strings that a naive brace counter or quote finder gets wrong.
TRICKY = [
    'quote " inside',
    "backslash \\ and \\\\ two",
    "ends with a backslash \\",
    'escaped quote then brace \\"}',
    "braces } { ] [ and a comma, inside",
    '{"Event": {"info": "a nested event in a string"}}',
    "unicode: é ß 中文 — \U0001f600 and a NUL-free control \t tab",
    "line\nbreak and \r\n and \u2028",
    "",
]


def _event(n: int, **kw: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "uuid": f"00000000-0000-4000-8000-{n:012d}",
        "info": f"event {n}: {TRICKY[n % len(TRICKY)]}",
        "distribution": "1",
        "date": "2024-01-0" + str(1 + n % 9),
        "published": n % 2 == 0,
        "threat_level_id": n % 4 + 1,
        "ratio": 0.5 + n,
        "big": 2**70 + n,
        "nothing": None,
        "Tag": [{"name": 'misp-galaxy:threat-actor="APT {28}"'}],
        "Attribute": [{"type": "text", "value": s, "comment": s[::-1], "Tag": []} for s in TRICKY],
        "Object": [{"name": "o", "Attribute": [{"type": "text", "value": "[{]}"}]}],
        # MISP puts whole {"Event": ...} blocks inside an event: they must not split it.
        "RelatedEvent": [{"Event": {"id": "9", "info": "related } ]"}}],
    }
    event.update(kw)
    return event


EVENTS = [_event(n) for n in range(5)]

# Each MISP shape and what the splitter yields for it.
SHAPES: dict[str, tuple[Any, list[Any]]] = {
    "single": ({"Event": EVENTS[0]}, [EVENTS[0]]),
    "list of wrapped": ([{"Event": e} for e in EVENTS], EVENTS),
    "list of bare": (EVENTS, EVENTS),
    "mixed list": ([{"Event": EVENTS[0]}, EVENTS[1], {"Event": EVENTS[2]}], EVENTS[:3]),
    "restSearch": ({"response": [{"Event": e} for e in EVENTS]}, EVENTS),
    "restSearch of bare events": ({"response": EVENTS[:2]}, EVENTS[:2]),
    "restSearch with more members": (
        {"response": [{"Event": EVENTS[0]}], "count": 1, "more": {"x": [1, 2]}},
        [EVENTS[0]],
    ),
    "restSearch of one object": ({"response": {"Event": EVENTS[1]}}, [EVENTS[1]]),
    "bare event": (EVENTS[3], [EVENTS[3]]),
    "bare event starting with Attribute": (
        {"Attribute": EVENTS[2]["Attribute"], "info": "x"},
        [{"Attribute": EVENTS[2]["Attribute"], "info": "x"}],
    ),
    "empty list": ([], []),
    "empty restSearch": ({"response": []}, []),
    "empty object": ({}, [{}]),
    "items that are not objects": ([1, "two", [3], None], [1, "two", [3], None]),
}


def _events(data: bytes, chunk: int = 1 << 22) -> list[Any]:
    return list(iter_events(io.BytesIO(data), chunk=chunk))


def _dump(doc: Any, style: str) -> bytes:
    if style == "compact":
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    if style == "ascii":  # every non-ASCII character as a \\u escape (surrogate pairs too)
        return json.dumps(doc).encode()
    return json.dumps(doc, indent=4, ensure_ascii=False).replace("\n", "\r\n").encode()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("style", ["compact", "ascii", "indented"])
def test_every_shape_yields_its_events(shape: str, style: str) -> None:
    doc, want = SHAPES[shape]
    data = _dump(doc, style)
    # Tiny windows cut every string, escape, number and multi-byte character somewhere.
    for chunk in (1, 2, 3, 5, 16, 61, 4096, 1 << 22):
        assert _events(data, chunk) == want, (shape, style, chunk)


def test_strings_come_back_exactly() -> None:
    data = json.dumps({"response": [{"Event": {"info": s}} for s in TRICKY]}).encode()
    assert [e["info"] for e in _events(data, chunk=7)] == TRICKY
    escapes = rb'[{"info": "\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\u0022}"}]'
    assert _events(escapes, chunk=3) == [{"info": '"\\/\b\f\n\r\té\U0001f600"}'}]


def test_numbers_and_literals_cut_by_the_window() -> None:
    data = b'[{"a": 12345678901234567890, "b": -1.25e-3, "c": true, "d": false, "e": null}]'
    want = [{"a": 12345678901234567890, "b": -1.25e-3, "c": True, "d": False, "e": None}]
    for chunk in range(1, len(data) + 2):
        assert _events(data, chunk) == want
    assert _events(b"[1234567]", chunk=2) == [1234567]  # a number is not cut at a window edge


def test_a_byte_order_mark_is_skipped() -> None:
    assert _events(b"\xef\xbb\xbf" + json.dumps([EVENTS[0]]).encode(), chunk=2) == [EVENTS[0]]


class _Reads(io.RawIOBase):
    """A file that records how much has been read from it."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        chunk = self.data.read(len(b))
        b[: len(chunk)] = chunk
        self.read_bytes += len(chunk)
        return len(chunk)


def test_events_stream_without_reading_the_whole_file() -> None:
    events = [_event(n) for n in range(200)]
    data = json.dumps({"response": [{"Event": e} for e in events]}).encode()
    f = _Reads(data)
    it = iter_events(f, chunk=4096)
    assert next(it) == events[0]
    assert next(it) == events[1]
    assert f.read_bytes < 4 * len(json.dumps(events[0])) + 4096 < len(data) // 10
    assert list(it) == events[2:]
    assert f.read_bytes == len(data)


def test_an_event_larger_than_the_window() -> None:
    big = _event(1, Attribute=[{"type": "text", "value": f"v{i} }}]]"} for i in range(3000)])
    data = json.dumps([{"Event": EVENTS[0]}, {"Event": big}, {"Event": EVENTS[2]}]).encode()
    assert len(data) > 100 * 1024
    assert _events(data, chunk=1024) == [EVENTS[0], big, EVENTS[2]]


def _error(data: bytes, chunk: int = 1 << 22) -> tuple[list[Any], str]:
    got: list[Any] = []
    with pytest.raises(JSONFormatError) as info:
        for event in iter_events(io.BytesIO(data), chunk=chunk):
            got.append(event)
    return got, str(info.value)


def test_a_truncated_file_is_an_error_at_every_cut() -> None:
    data = json.dumps({"response": [{"Event": e} for e in EVENTS[:2]]}, indent=1).encode()
    whole = len(data.rstrip())
    for cut in range(whole):
        for chunk in (7, 1 << 22):
            got, message = _error(data[:cut], chunk)
            assert got == EVENTS[: len(got)]  # the events before the cut, intact
            assert re.search(r"at line \d+, column \d+$", message), message


def test_a_truncated_event_names_where() -> None:
    items = [json.dumps({"Event": e}, indent=2) for e in EVENTS[:2]]
    text = "[\n" + ",\n".join(items) + "\n]"
    second = 2 + len(items[0]) + 2  # the second item's "{"
    line = text.count("\n", 0, second) + 1
    column = second - text.rfind("\n", 0, second)
    cut = text[: text.index("RelatedEvent", second)].encode()
    for chunk in (5, 1 << 22):
        got, message = _error(cut, chunk)
        assert got == EVENTS[:1]
        assert "the file ends inside a value" in message
        assert f"started at line {line}, column {column}" in message, message


BAD = {
    "missing comma between events": (b'[{"info": "a"} {"info": "b"}]', "line 1, column 16"),
    "trailing comma": (b'[{"info": "a"},\n]', "line 2, column 1"),
    "single quotes": (b"[{'info': 'a'}]", "line 1, column 3"),
    "unquoted key": (b'{"response": [{"Event": {info: "a"}}]}', "line 1, column 26"),
    "bad escape": (b'[{"info": "a\\x"}]', "line 1, column 13"),
    "raw control character": (b'[{"info": "a\x01"}]', "line 1, column 13"),
    "NaN": (b'[{"info": "a", "x": NaN}]', "value that starts at line 1, column 2"),
    "garbage after": (b'{"Event": {"info": "a"}}\n\nx', "line 3, column 1"),
    "garbage after a list": (b'[{"info": "a"}] {}', "line 1, column 17"),
    "a number at the top": (b"  42", "line 1, column 3"),
    "empty file": (b"", "line 1, column 1"),
    "white space only": (b" \n\t\r\n ", "line 3, column 2"),
    "object without keys": (b"{,}", "line 1, column 2"),
    "key that is not a string": (b'{"response": [], 3: 4}', "line 1, column 18"),
    "unterminated string": (b'[{"info": "a}]', "line 1, column 11"),
}


@pytest.mark.parametrize("case", BAD)
def test_invalid_json_is_named_by_line_and_column(case: str) -> None:
    data, where = BAD[case]
    for chunk in (1, 3, 1 << 22):
        _, message = _error(data, chunk)
        assert message.endswith(where), (chunk, message)


def test_positions_agree_with_the_json_module() -> None:
    """Errors inside an event carry the position the standard parser gives, however the
    file was read."""
    text = json.dumps({"response": [{"Event": e} for e in EVENTS]}, indent=2)
    for needle, broken in (('"info"', '"info" "'), ("true", "treu"), ('"1"', '"1" 2')):
        at = text.rindex(needle)
        bad = text[:at] + broken + text[at + len(needle) :]
        with pytest.raises(json.JSONDecodeError) as ref:
            json.loads(bad)
        for chunk in (64, 1000, 1 << 22):
            _, message = _error(bad.encode(), chunk)
            assert message.endswith(f"line {ref.value.lineno}, column {ref.value.colno}"), (
                chunk,
                message,
            )


def test_events_before_an_error_are_yielded() -> None:
    data = json.dumps([{"Event": e} for e in EVENTS[:3]]).encode()[:-1] + b", oops]"
    got, message = _error(data, chunk=64)
    assert got == EVENTS[:3]
    assert "Expecting value" in message


def test_an_error_early_in_a_big_file_is_found_without_reading_on() -> None:
    rest = json.dumps([{"Event": e} for e in EVENTS * 200]).encode()
    f = _Reads(b'[{"info": "a"}, {"info": bad}, ' + rest[1:])
    with pytest.raises(JSONFormatError, match="line 1, column 26"):
        list(iter_events(f, chunk=1024))
    assert f.read_bytes <= 4096


def test_bytes_that_are_not_utf8() -> None:
    _, message = _error(b'[{"info": "caf\xe9"}]')
    assert message == "not UTF-8 text at byte 14"
    _, message = _error(b'[{"info": "cut \xc3')
    assert "not UTF-8" in message


def test_nesting_too_deep_is_an_error_not_a_crash() -> None:
    data = b'[{"info": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]"
    _, message = _error(data)
    assert "nested too deeply" in message
