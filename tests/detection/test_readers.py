"""Telemetry formats: Zeek TSV and JSON, Suricata eve.json, generic JSON lines and CSV with
a mapping, gzip, directories; malformed lines are counted and never stop a hunt."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from shieldwall.intel.errors import InvalidInput

ZEEK_TSV = """#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tdns
#open\t2026-11-27-00-00-00
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\tanswers\tTTLs
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tvector[string]\tvector[interval]
1700000000.000001\tC1\t10.1.0.5\t53000\t10.1.0.1\t53\tudp\twww.evil.example\t192.0.2.1,203.0.113.9\t60.0,60.0
1700000000.000002\tC2\t10.1.0.5\t53001\t10.1.0.1\t53\tudp\tgood.example\t-\t-
this line has too few columns
1700000000.000003\tC3\t10.1.0.6\t53002\t10.1.0.1\t53\tudp\t(empty)\t203.0.113.9\t60.0
#close\t2026-11-27-01-00-00
"""

EVE = [
    {
        "timestamp": "2026-11-27T00:00:00.000000+0000",
        "event_type": "flow",
        "src_ip": "10.1.0.5",
        "src_port": 50000,
        "dest_ip": "203.0.113.9",
        "dest_port": 443,
        "proto": "TCP",
    },
    {
        "timestamp": "2026-11-27T00:00:01.000000+0000",
        "event_type": "dns",
        "src_ip": "10.1.0.5",
        "dest_ip": "10.1.0.1",
        "dns": {"type": "query", "rrname": "cdn.evil.example", "rrtype": "A"},
    },
    {
        "timestamp": "2026-11-27T00:00:02.000000+0000",
        "event_type": "dns",
        "src_ip": "10.1.0.1",
        "dest_ip": "10.1.0.5",
        "dns": {
            "version": 2,
            "type": "answer",
            "rrname": "ok.example",
            "answers": [{"rrname": "ok.example", "rrtype": "A", "rdata": "203.0.113.9"}],
        },
    },
    {
        "timestamp": "2026-11-27T00:00:03.000000+0000",
        "event_type": "http",
        "src_ip": "10.1.0.5",
        "dest_ip": "192.0.2.50",
        "http": {"hostname": "Payload.Example", "url": "/x.exe", "http_user_agent": "EvilBot/1.0"},
    },
    {
        "timestamp": "2026-11-27T00:00:04.000000+0000",
        "event_type": "tls",
        "src_ip": "10.1.0.5",
        "dest_ip": "192.0.2.51",
        "tls": {
            "sni": "evil.example",
            "ja3": {"hash": "e7d705a3286e19ea42f587b344ee6865", "string": "771,..."},
        },
    },
    {
        "timestamp": "2026-11-27T00:00:05.000000+0000",
        "event_type": "fileinfo",
        "src_ip": "192.0.2.50",
        "dest_ip": "10.1.0.5",
        "fileinfo": {"filename": "x.exe", "sha256": "ab" * 32, "md5": "cd" * 16},
    },
    {
        "timestamp": "2026-11-27T00:00:06.000000+0000",
        "event_type": "alert",
        "src_ip": "203.0.113.9",
        "src_port": 4444,
        "dest_ip": "10.1.0.5",
        "dest_port": 51000,
        "alert": {"signature": "x"},
    },
    {
        "timestamp": "2026-11-27T00:00:07.000000+0000",
        "event_type": "smtp",
        "src_ip": "192.0.2.60",
        "dest_ip": "10.1.0.25",
        "smtp": {
            "helo": "mx.evil.example",
            "mail_from": "<phisher@bad.example>",
            "rcpt_to": ["<ceo@target.example>"],
        },
    },
]

INTEL = [
    ("domain", "evil.example"),
    ("ip-dst", "203.0.113.9"),
    ("url", "http://payload.example/x.exe"),
    ("user-agent", "EvilBot/1.0"),
    ("ja3-fingerprint-md5", "e7d705a3286e19ea42f587b344ee6865"),
    ("sha256", "ab" * 32),
    ("email-src", "phisher@bad.example"),
]


def _found(matches) -> set[tuple[int, str, str]]:
    return {(m.line, m.field, m.observable) for m in matches}


def test_zeek_tsv(world, tmp_path: Path) -> None:
    world.publish(world.org_a, INTEL)
    path = tmp_path / "dns.log"
    path.write_text(ZEEK_TSV)
    hunter = world.hunter(world.sensor_a)
    matches = list(hunter.hunt_paths([str(path)]))
    assert _found(matches) == {
        (9, "query", "www.evil.example"),
        (9, "answers", "203.0.113.9"),
        (12, "answers", "203.0.113.9"),
    }
    s = hunter.summary
    assert s.malformed == 1 and s.malformed_samples[0]["line"] == 11
    assert s.records == 3 and s.formats == {"zeek": 1}


def test_suricata_eve(world, tmp_path: Path) -> None:
    world.publish(world.org_a, INTEL)
    path = tmp_path / "eve.json"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in EVE))
    hunter = world.hunter(world.sensor_a)
    got = _found(hunter.hunt_paths([str(path)]))
    assert got == {
        (1, "dest_ip", "203.0.113.9"),
        (2, "dns.rrname", "cdn.evil.example"),
        (3, "dns.answers.rdata", "203.0.113.9"),
        (4, "http.hostname+http.url", "Payload.Example/x.exe"),
        (4, "http.http_user_agent", "EvilBot/1.0"),
        (5, "tls.sni", "evil.example"),
        (5, "tls.ja3.hash", "e7d705a3286e19ea42f587b344ee6865"),
        (6, "fileinfo.sha256", "ab" * 32),
        (7, "src_ip", "203.0.113.9"),
        (8, "smtp.helo", "mx.evil.example"),
        (8, "smtp.mail_from", "<phisher@bad.example>"),
    }
    assert hunter.summary.formats == {"eve": 1} and hunter.summary.malformed == 0


def test_generic_json_and_csv_with_a_mapping(world, tmp_path: Path) -> None:
    world.publish(world.org_a, INTEL)
    js = tmp_path / "proxy.jsonl"
    js.write_text(
        '{"client": "10.1.0.5", "req": {"site": "a.evil.example", "agent": "curl"}}\n'
        '{"client": "10.1.0.6", "req": {"site": "ok.example", "agent": "EvilBot/1.0"}}\n'
    )
    mapping = {"req.site": "host", "req.agent": "user_agent", "client": "ip"}
    matches = world.hunt([str(js)], world.sensor_a, fmt="json", mapping=mapping)
    assert _found(matches) == {(1, "req.site", "a.evil.example"), (2, "req.agent", "EvilBot/1.0")}
    csv_path = tmp_path / "fw.csv"
    csv_path.write_text(
        'time,src,dst,dport\n1,10.1.0.5,203.0.113.9,443\n2,10.1.0.5,"192.0.2.1",80\nbroken\n'
    )
    hunter = world.hunter(world.sensor_a, fmt="csv", mapping={"dst": "ip", "src": "ip"})
    assert _found(hunter.hunt_paths([str(csv_path)])) == {(2, "dst", "203.0.113.9")}
    assert hunter.summary.malformed == 1
    # Without a mapping a generic source is refused with the reason.
    with pytest.raises(InvalidInput) as exc:
        world.hunt([str(js)], world.sensor_a)
    assert exc.value.field == "map" and "mapping" in exc.value.detail
    with pytest.raises(InvalidInput) as exc:
        world.hunt([str(js)], world.sensor_a, fmt="json", mapping={"client": "ipv9"})
    assert exc.value.field == "map"


def test_gzip_directories_and_malformed_json(world, tmp_path: Path) -> None:
    world.publish(world.org_a, INTEL)
    logs = tmp_path / "logs" / "2026-11-27"
    logs.mkdir(parents=True)
    good = b'{"ts":1.0,"uid":"C1","id.orig_h":"10.1.0.5","id.resp_h":"203.0.113.9","conn_state":"SF"}\n'
    lines = [
        good,
        b'{"ts":1.0,"uid":"C2","id.orig_h":"10.1.0.5","id.resp_h":"203.0.113.9"\n',  # truncated
        b"garbage that is no JSON\n",
        b"\n",
        b'{"ts":1.0,"uid":"C3","id.orig_h":"10.1.0.5","id.resp_h":"203.0.113.9", broken}\n',
        good,
    ]
    with gzip.open(logs / "conn.00:00:00-01:00:00.log.gz", "wb") as f:
        f.writelines(lines)
    (logs / "conn.01:00:00-02:00:00.log").write_bytes(good)
    hunter = world.hunter(world.sensor_a)
    matches = list(hunter.hunt_paths([str(tmp_path / "logs")]))
    assert sorted((Path(m.source).name, m.line) for m in matches) == [
        ("conn.00:00:00-01:00:00.log.gz", 1),
        ("conn.00:00:00-01:00:00.log.gz", 6),
        ("conn.01:00:00-02:00:00.log", 1),
    ]
    s = hunter.summary
    assert s.malformed == 3
    assert sorted(x["line"] for x in s.malformed_samples) == [2, 3, 5]
    assert s.sources == 2 and s.lines == 7 and s.records == 3


def test_a_missing_path_is_named(world) -> None:
    with pytest.raises(InvalidInput) as exc:
        world.hunt(["/nonexistent/conn.log"], world.sensor_a)
    assert exc.value.field == "path" and "/nonexistent/conn.log" in exc.value.detail


def test_zeek_json_stream_mixing_logs(world, tmp_path: Path) -> None:
    """Records with `_path` (a shipper's stream of several logs): every log's fields count."""
    world.publish(world.org_a, INTEL)
    path = tmp_path / "zeek-stream.json"
    path.write_bytes(
        b'{"_path":"conn","ts":1.0,"uid":"C1","id.orig_h":"10.1.0.5","id.resp_h":"192.0.2.1","conn_state":"SF"}\n'
        b'{"_path":"dns","ts":1.0,"uid":"C2","id.orig_h":"10.1.0.5","id.resp_h":"10.1.0.1","query":"x.evil.example"}\n'
        b'{"_path":"ssl","ts":1.0,"uid":"C3","id.orig_h":"10.1.0.5","id.resp_h":"192.0.2.1","ja3":"e7d705a3286e19ea42f587b344ee6865"}\n'
    )
    assert _found(world.hunt([str(path)], world.sensor_a)) == {
        (2, "query", "x.evil.example"),
        (3, "ja3", "e7d705a3286e19ea42f587b344ee6865"),
    }
