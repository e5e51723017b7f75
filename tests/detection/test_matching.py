"""Matching: every indicator type hit, and missed on purpose; subdomains, CIDR blocks
(IPv4 and IPv6), URL normalisation; what is an indicator (to_ids, published, expiry,
warninglists)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from shieldwall.clock import now
from shieldwall.context import system_ctx
from shieldwall.detection import index as index_module
from shieldwall.detection.index import IndicatorIndex, Scope, build, url_key
from shieldwall.intel.models import Attribute
from shieldwall.knowledge import warninglists

SHA256 = "a" * 63 + "1"
SHA1 = "b" * 39 + "2"
MD5 = "c" * 31 + "3"
JA3 = "e7d705a3286e19ea42f587b344ee6865"

EVERY_TYPE = [
    ("ip-dst", "203.0.113.10"),
    ("ip-src", "198.51.100.7"),
    ("ip-dst", "192.0.2.0/28"),
    ("ip-dst", "2001:db8:bad::/48"),
    ("ip-dst|port", "203.0.113.20|8443"),
    ("domain", "evil.example"),
    ("hostname", "c2.bad.example"),
    ("url", "HTTP://Payload.Example:80/drop/x.exe"),
    ("uri", "/gate.php"),
    ("md5", MD5),
    ("sha1", SHA1),
    ("sha256", SHA256),
    ("filename|sha256", "dropper.exe|" + "d" * 64),
    ("email-src", "phisher@bad.example"),
    ("email-dst", "victim-list@target.example"),
    ("ja3-fingerprint-md5", JA3),
    ("user-agent", "EvilBot/1.0"),
]


def _zeek(tmp: Path, name: str, records: list[dict]) -> str:
    path = tmp / name
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return str(path)


def _conn(orig: str, resp: str, orig_p: int = 50000, resp_p: int = 443) -> dict:
    return {
        "ts": 1700000000.0,
        "uid": "CabcdEF123",
        "id.orig_h": orig,
        "id.orig_p": orig_p,
        "id.resp_h": resp,
        "id.resp_p": resp_p,
        "proto": "tcp",
        "conn_state": "SF",
    }


def _hits(matches) -> set[tuple[str, str, str]]:
    return {(m.field, m.observable, m.indicator.value) for m in matches}


def test_every_indicator_type_hit_and_near_misses(world, tmp_path) -> None:
    world.publish(world.org_a, EVERY_TYPE)
    conn = _zeek(
        tmp_path,
        "conn.log",
        [
            _conn("10.1.0.5", "203.0.113.10"),  # ip-dst exact
            _conn("198.51.100.7", "10.1.0.6"),  # ip-src exact
            _conn("10.1.0.5", "192.0.2.15"),  # last address of the /28
            _conn("10.1.0.5", "192.0.2.16"),  # one past the /28: miss
            _conn("10.1.0.5", "2001:db8:bad:ffff::1"),  # inside the IPv6 /48
            _conn("10.1.0.5", "2001:db8:bae::1"),  # outside it: miss
            _conn("10.1.0.5", "203.0.113.20", resp_p=8443),  # ip|port
            _conn("10.1.0.5", "203.0.113.20", resp_p=443),  # same address, other port: miss
            _conn("10.1.0.5", "203.0.113.11"),  # neighbour address: miss
        ],
    )
    dns = _zeek(
        tmp_path,
        "dns.log",
        [
            {
                "ts": 1.0,
                "uid": "C1",
                "id.orig_h": "10.1.0.5",
                "id.resp_h": "10.1.0.1",
                "query": "a.b.Evil.Example.",
                "answers": ["192.0.2.9", "x.example"],
                "qtype_name": "A",
            },
            {
                "ts": 1.0,
                "uid": "C2",
                "id.orig_h": "10.1.0.5",
                "id.resp_h": "10.1.0.1",
                "query": "notevil.example",
                "qtype_name": "A",
            },
            {
                "ts": 1.0,
                "uid": "C3",
                "id.orig_h": "10.1.0.5",
                "id.resp_h": "10.1.0.1",
                "query": "evil.example.com",
                "qtype_name": "A",
            },
            {
                "ts": 1.0,
                "uid": "C4",
                "id.orig_h": "10.1.0.5",
                "id.resp_h": "10.1.0.1",
                "query": "bad.example",
                "qtype_name": "A",
            },
            {
                "ts": 1.0,
                "uid": "C5",
                "id.orig_h": "10.1.0.5",
                "id.resp_h": "10.1.0.1",
                "query": "www.c2.bad.example",
                "qtype_name": "A",
            },
        ],
    )
    http = _zeek(
        tmp_path,
        "http.log",
        [
            {
                "ts": 1.0,
                "uid": "H1",
                "id.orig_h": "10.1.0.5",
                "id.resp_h": "192.0.2.200",
                "method": "GET",
                "host": "payload.example",
                "uri": "/drop/x.exe",
                "user_agent": "Mozilla/5.0",
            },
            {
                "ts": 1.0,
                "uid": "H2",
                "id.orig_h": "10.1.0.5",
                "id.resp_h": "192.0.2.200",
                "method": "GET",
                "host": "payload.example",
                "uri": "/drop/y.exe",
                "user_agent": "EvilBot/1.0",
            },
            {
                "ts": 1.0,
                "uid": "H3",
                "id.orig_h": "10.1.0.5",
                "id.resp_h": "192.0.2.200",
                "method": "POST",
                "host": "ok.example",
                "uri": "/gate.php?id=4",
                "user_agent": "evilbot/1.0",
            },
            {
                "ts": 1.0,
                "uid": "H4",
                "id.orig_h": "10.1.0.5",
                "id.resp_h": "192.0.2.200",
                "method": "POST",
                "host": "ok.example",
                "uri": "/gate.phpx",
                "user_agent": "curl",
            },
        ],
    )
    files = _zeek(
        tmp_path,
        "files.log",
        [
            {
                "ts": 1.0,
                "fuid": "F1",
                "tx_hosts": ["192.0.2.200"],
                "rx_hosts": ["10.1.0.5"],
                "md5": MD5.upper(),
                "sha1": SHA1,
                "sha256": "d" * 64,
            },
            {
                "ts": 1.0,
                "fuid": "F2",
                "tx_hosts": ["192.0.2.200"],
                "rx_hosts": ["10.1.0.5"],
                "md5": "0" * 32,
                "sha256": SHA256,
            },
        ],
    )
    ssl = _zeek(
        tmp_path,
        "ssl.log",
        [
            {
                "ts": 1.0,
                "uid": "S1",
                "id.orig_h": "10.1.0.5",
                "id.resp_h": "192.0.2.200",
                "server_name": "cdn.example",
                "ja3": JA3.upper(),
            },
            {
                "ts": 1.0,
                "uid": "S2",
                "id.orig_h": "10.1.0.5",
                "id.resp_h": "192.0.2.200",
                "server_name": "cdn.example",
                "ja3": "f" * 32,
            },
        ],
    )
    smtp = _zeek(
        tmp_path,
        "smtp.log",
        [
            {
                "ts": 1.0,
                "uid": "M1",
                "id.orig_h": "192.0.2.200",
                "id.resp_h": "10.1.0.25",
                "mailfrom": "<Phisher@Bad.Example>",
                "rcptto": ["a@target.example", "victim-list@target.example"],
                "from": '"Boss" <boss@ok.example>',
            },
            {
                "ts": 1.0,
                "uid": "M2",
                "id.orig_h": "192.0.2.200",
                "id.resp_h": "10.1.0.25",
                "mailfrom": "phisher@bad.example.org",
            },
        ],
    )
    matches = world.hunt([conn, dns, http, files, ssl, smtp], world.sensor_a)
    got = _hits(matches)
    want = {
        ("id.resp_h", "203.0.113.10", "203.0.113.10"),
        ("id.orig_h", "198.51.100.7", "198.51.100.7"),
        ("id.resp_h", "192.0.2.15", "192.0.2.0/28"),
        ("id.resp_h", "2001:db8:bad:ffff::1", "2001:db8:bad::/48"),
        ("id.resp_h|id.resp_p", "203.0.113.20|8443", "203.0.113.20|8443"),
        ("query", "a.b.Evil.Example.", "evil.example"),
        ("query", "www.c2.bad.example", "c2.bad.example"),
        ("answers", "192.0.2.9", "192.0.2.0/28"),
        ("host+uri", "payload.example/drop/x.exe", "http://payload.example:80/drop/x.exe"),
        ("user_agent", "EvilBot/1.0", "EvilBot/1.0"),
        ("uri", "/gate.php?id=4", "/gate.php"),
        ("md5", MD5.upper(), MD5),
        ("sha1", SHA1, SHA1),
        ("sha256", "d" * 64, "dropper.exe|" + "d" * 64),
        ("sha256", SHA256, SHA256),
        ("ja3", JA3.upper(), JA3),
        ("mailfrom", "<Phisher@Bad.Example>", "phisher@bad.example"),
        ("rcptto", "victim-list@target.example", "victim-list@target.example"),
    }
    assert got == want, sorted(got ^ want)
    by_type = {m.indicator.type for m in matches}
    assert by_type == {t for t, _ in EVERY_TYPE}
    # Each match names where it was found.
    first = next(m for m in matches if m.observable == "192.0.2.15")
    assert first.source.endswith("conn.log") and first.line == 3 and first.sensor == "zeek-a"


def test_what_is_an_indicator(world, tmp_path) -> None:
    world.publish(
        world.org_a,
        [
            ("ip-dst", "203.0.113.1"),
            {"type": "ip-dst", "value": "203.0.113.2", "to_ids": False},
        ],
    )
    world.publish(world.org_a, [("ip-dst", "203.0.113.3")], published=False)
    world.publish(world.org_a, [("ip-dst", "203.0.113.4"), ("ip-dst", "8.8.8.8")])
    with world.instance.db.writing() as s:
        s.execute(
            sa.update(Attribute).where(Attribute.value1 == "203.0.113.4").values(expired_at=now())
        )
        warninglists.sync(s)
        s.execute(
            sa.text(
                "UPDATE warninglists SET enabled = true WHERE name = 'List of known IPv4 public DNS resolvers'"
            )
        )
    log = _zeek(
        tmp_path,
        "conn.log",
        [_conn("10.1.0.5", f"203.0.113.{i}") for i in range(1, 5)] + [_conn("10.1.0.5", "8.8.8.8")],
    )

    def seen(**scope) -> set[str]:
        return {m.observable for m in world.hunt([log], world.sensor_a, scope=Scope(**scope))}

    assert seen() == {"203.0.113.1"}
    assert seen(all_attributes=True) == {"203.0.113.1", "203.0.113.2"}
    assert seen(include_unpublished=True) == {"203.0.113.1", "203.0.113.3"}
    assert seen(include_expired=True) == {"203.0.113.1", "203.0.113.4"}
    assert seen(include_warninglisted=True) == {"203.0.113.1", "8.8.8.8"}


@pytest.mark.parametrize(
    ("indicator", "observed", "hit"),
    [
        ("evil.example", "evil.example", True),
        ("evil.example", "EVIL.example.", True),
        ("evil.example", "a.b.evil.example", True),
        ("evil.example", "xevil.example", False),
        ("evil.example", "evil.example.net", False),
        ("evil.example", "example", False),
        ("b.evil.example", "evil.example", False),
    ],
)
def test_subdomain_edges(indicator: str, observed: str, hit: bool) -> None:
    idx = IndicatorIndex(Scope())
    idx.add("domain", indicator, "")
    idx.seal()
    assert bool(idx.match("domain", observed)) is hit


@pytest.mark.parametrize(
    ("cidr", "inside", "outside"),
    [
        ("10.0.0.0/8", ["10.0.0.0", "10.255.255.255"], ["9.255.255.255", "11.0.0.0"]),
        ("0.0.0.0/0", ["0.0.0.0", "255.255.255.255"], ["::1"]),
        ("192.0.2.128/25", ["192.0.2.128"], ["192.0.2.127"]),
        (
            "2001:db8::/32",
            ["2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"],
            ["2001:db9::", "192.0.2.1"],
        ),
        ("::/0", ["::", "2001:db8::1"], ["10.0.0.1"]),
    ],
)
def test_cidr_edges(cidr: str, inside: list[str], outside: list[str]) -> None:
    idx = IndicatorIndex(Scope())
    idx.add("ip-dst", cidr, "")
    idx.add("ip-dst", "172.16.0.0/12", "")  # a neighbour block, to exercise the ordering
    idx.seal()
    for ip in inside:
        assert ("ip", cidr) in idx.match("ip", ip), ip
    for ip in outside:
        assert ("ip", cidr) not in idx.match("ip", ip), ip


def test_nested_blocks_all_match() -> None:
    idx = IndicatorIndex(Scope())
    for cidr in ("10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.2.0.0/16"):
        idx.add("ip-src", cidr, "")
    idx.seal()
    assert {k for _, k in idx.match("ip", "10.1.2.3")} == {
        "10.0.0.0/8",
        "10.1.0.0/16",
        "10.1.2.0/24",
    }
    assert {k for _, k in idx.match("ip", "10.3.0.1")} == {"10.0.0.0/8"}
    assert idx.match("ip", "not-an-ip") == []
    # An IPv6 address written long-hand matches its canonical form.
    idx.add("ip-dst", "2001:db8::1", "")
    assert idx.match("ip", "2001:0db8:0000:0000:0000:0000:0000:0001") == [("ip", "2001:db8::1")]


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("http://Evil.Example/x", "evil.example/x", True),
        ("https://evil.example:443/x#frag", "http://evil.example/x", True),
        ("http://evil.example/", "evil.example", True),
        ("http://evil.example/X", "http://evil.example/x", False),
        ("http://evil.example:8080/x", "http://evil.example/x", False),
        ("http://evil.example/x?a=1", "http://evil.example/x", False),
    ],
)
def test_url_normalisation(a: str, b: str, same: bool) -> None:
    assert (url_key(a) == url_key(b)) is same


def test_index_is_built_from_what_the_reader_may_see(world) -> None:
    world.publish(world.org_a, [("ip-dst", "203.0.113.50")], distribution=0)
    world.publish(world.org_a, [("ip-dst", "203.0.113.51")], distribution=1)
    with world.instance.db.reading() as s:
        a = build(s, world.ctx(world.sensor_a))
        b = build(s, world.ctx(world.sensor_b))
        admin = build(s, system_ctx(world.instance.host_org_id))
    assert a.ips == {b"203.0.113.50", b"203.0.113.51"}
    assert b.ips == {b"203.0.113.51"}
    assert admin.ips == a.ips


def test_index_built_in_small_batches_holds_every_row(world, monkeypatch) -> None:
    """Rows are read a batch at a time, the first through the result and the rest from the
    driver's cursor: none is lost between the two, on either engine."""
    ips = [f"198.18.0.{i}" for i in range(1, 12)]
    world.publish(world.org_a, [("ip-dst", ip) for ip in ips] + EVERY_TYPE)
    with world.instance.db.reading() as s:
        whole = build(s, system_ctx(world.instance.host_org_id))
        assert len(whole) == len(ips) + len(EVERY_TYPE)
        for size in (1, 2, 5, len(ips) + len(EVERY_TYPE)):
            monkeypatch.setattr(index_module, "BUILD_BATCH", size)
            small = build(s, system_ctx(world.instance.host_org_id))
            assert {ip.encode() for ip in ips} <= small.ips
            assert (small.ips, small.domains, small.urls, small.hashes, len(small)) == (
                whole.ips,
                whole.domains,
                whole.urls,
                whole.hashes,
                len(whole),
            )
