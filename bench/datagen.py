"""Deterministic, realistic MISP data for the benchmarks.

Attribute number ``i`` (global across a data set) always yields the same type and value, so
the search benchmark can pick values it knows are stored (hits) and values it knows are not
(misses). Values are already in Shieldwall's canonical form (lower-case hosts and hashes,
canonical IPs), which is what both the import path and the direct bulk load store.

Files are MISP restSearch answers, ``{"response": [{"Event": {...}}, ...]}``, written one
event at a time so generating a large file needs little memory.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

BASE_TS = 1_700_000_000
ORGC = {"id": "7", "name": "CIRCL-bench", "uuid": "55f6ea5e-2c60-40e5-964f-47a8950d210f"}
EVENT_TAGS = [
    "tlp:green",
    'misp-galaxy:threat-actor="APT 28"',
    "type:OSINT",
    'workflow:state="complete"',
]
ATTR_TAGS = [
    "tlp:amber",
    "kill-chain:delivery",
    'estimative-language:likelihood-probability="likely"',
]

_WORDS = [
    "alpha",
    "bravo",
    "cobalt",
    "delta",
    "ember",
    "falcon",
    "garnet",
    "harbor",
    "indigo",
    "jaguar",
    "kestrel",
    "lumen",
    "mantis",
    "nebula",
    "onyx",
    "pylon",
    "quartz",
    "raven",
    "sable",
    "tundra",
    "umbra",
    "vortex",
    "willow",
    "xenon",
    "yonder",
    "zephyr",
]
_TLDS = ("com", "net", "org", "info", "ru", "cn", "io", "xyz", "top", "biz")

# 20 slots: the type mix of a typical OSINT feed (network indicators and hashes dominate).
_SLOTS: tuple[tuple[str, str], ...] = (
    ("ip-dst", "Network activity"),
    ("ip-dst", "Network activity"),
    ("ip-dst", "Network activity"),
    ("ip-src", "Network activity"),
    ("domain", "Network activity"),
    ("domain", "Network activity"),
    ("domain", "Network activity"),
    ("hostname", "Network activity"),
    ("url", "Network activity"),
    ("url", "Network activity"),
    ("md5", "Payload delivery"),
    ("md5", "Payload delivery"),
    ("sha1", "Payload delivery"),
    ("sha256", "Payload delivery"),
    ("sha256", "Payload delivery"),
    ("email-src", "Payload delivery"),
    ("hostname|port", "Network activity"),
    ("ip-dst|port", "Network activity"),
    ("domain|ip", "Network activity"),
    ("filename", "Payload delivery"),
)


def _ip(i: int, salt: int = 0) -> str:
    # A bijection on 32 bits, shifted clear of 0.0.0.0/8: distinct i give distinct addresses.
    n = ((i * 2654435761 + salt * 40503) % (1 << 32)) | 0x01000000
    return str(ipaddress.IPv4Address(n))


def _host(i: int) -> str:
    w1 = _WORDS[i % len(_WORDS)]
    w2 = _WORDS[(i // len(_WORDS)) % len(_WORDS)]
    return f"{w1}-{w2}{i}.{_TLDS[i % len(_TLDS)]}"


def _hex(kind: str, i: int, salt: str = "") -> str:
    return hashlib.new(kind, f"{salt}shieldwall-bench-{i}".encode()).hexdigest()


def attribute_value(i: int) -> tuple[str, str, str, str]:
    """(type, category, value1, value2) of attribute number i, canonical form."""
    t, cat = _SLOTS[i % len(_SLOTS)]
    if t in ("ip-dst", "ip-src"):
        return t, cat, _ip(i), ""
    if t in ("domain", "hostname"):
        return t, cat, ("www." if t == "hostname" else "") + _host(i), ""
    if t == "url":
        return t, cat, url_value(i), ""
    if t in ("md5", "sha1", "sha256"):
        return t, cat, _hex(t, i), ""
    if t == "email-src":
        return t, cat, f"billing.{i}@{_host(i + 7)}", ""
    if t == "hostname|port":
        return t, cat, "mail." + _host(i), str(1024 + i % 60000)
    if t == "ip-dst|port":
        return t, cat, _ip(i), str(443 + i % 1000)
    if t == "domain|ip":
        return t, cat, _host(i), _ip(i, salt=3)
    return t, cat, f"invoice_{i}_{_hex('md5', i)[:6]}.exe", ""


def url_value(i: int) -> str:
    """A distinct URL for every i (the url slot's shape)."""
    return f"https://{_host(i)}/wp-content/{_hex('md5', i)[:10]}/load.php?id={i}"


def value_string(i: int) -> str:
    _, _, v1, v2 = attribute_value(i)
    return f"{v1}|{v2}" if v2 else v1


def miss_value(k: int) -> str:
    """A value of a plausible shape that no generated attribute has."""
    kind = k % 4
    if kind == 0:
        return _hex("sha256", k, salt="miss-")
    if kind == 1:
        return _hex("md5", k, salt="miss-")
    if kind == 2:
        return f"absent-{k}-{_WORDS[k % len(_WORDS)]}.example"
    return f"2001:db8::{k % 65536:x}:{(k // 65536) % 65536:x}"  # IPv6 documentation range: generated IPs are IPv4


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _attribute(i: int, event_id: int, rng: random.Random, ts: int) -> dict[str, Any]:
    t, cat, _, _ = attribute_value(i)
    a: dict[str, Any] = {
        "id": str(i + 1),
        "type": t,
        "category": cat,
        "to_ids": t not in ("filename",),
        "uuid": _uuid(rng),
        "event_id": str(event_id),
        "distribution": "5",
        "timestamp": str(ts),
        "comment": "seen in phishing wave" if i % 10 == 0 else "",
        "sharing_group_id": "0",
        "deleted": False,
        "disable_correlation": False,
        "object_id": "0",
        "object_relation": None,
        "first_seen": None,
        "last_seen": None,
        "value": value_string(i),
        "ShadowAttribute": [],
    }
    if i % 50 == 0:
        a["Tag"] = [
            {
                "id": "12",
                "name": ATTR_TAGS[(i // 50) % len(ATTR_TAGS)],
                "colour": "#ffc000",
                "exportable": True,
                "user_id": "0",
                "hide_tag": False,
                "numerical_value": None,
                "is_galaxy": False,
                "is_custom_galaxy": False,
                "local_only": False,
                "local": 0,
            }
        ]
    return a


def misp_event(event_no: int, first_attr: int, n_attrs: int, seed: int = 0) -> dict[str, Any]:
    """One MISP event holding attributes first_attr .. first_attr + n_attrs - 1.

    Two of every 100 attributes sit in domain-ip objects (one domain and one ip-dst each),
    the rest are plain attributes; 2% of attributes carry a tag."""
    rng = random.Random(seed * 1_000_003 + event_no)
    ts = BASE_TS + event_no * 60
    eid = event_no + 1
    n_obj = n_attrs // 100
    attrs = [_attribute(first_attr + k, eid, rng, ts) for k in range(n_attrs - 2 * n_obj)]
    objects = []
    base = first_attr + n_attrs - 2 * n_obj
    for j in range(n_obj):
        # object attributes use their own value family so they never duplicate plain ones
        dom = {
            "type": "domain",
            "category": "Network activity",
            "to_ids": True,
            "uuid": _uuid(rng),
            "object_relation": "domain",
            "distribution": "5",
            "timestamp": str(ts),
            "value": "obj-" + _host(base + 2 * j),
            "comment": "",
            "deleted": False,
        }
        ip = {
            "type": "ip-dst",
            "category": "Network activity",
            "to_ids": True,
            "uuid": _uuid(rng),
            "object_relation": "ip",
            "distribution": "5",
            "timestamp": str(ts),
            "value": _ip(base + 2 * j + 1, salt=7),
            "comment": "",
            "deleted": False,
        }
        objects.append(
            {
                "id": str(eid * 1000 + j),
                "name": "domain-ip",
                "meta-category": "network",
                "description": "A domain and IP address seen as a tuple",
                "template_uuid": "43b3b146-77eb-4931-b4cc-b66c60f28734",
                "template_version": "11",
                "event_id": str(eid),
                "uuid": _uuid(rng),
                "timestamp": str(ts),
                "distribution": "5",
                "sharing_group_id": "0",
                "comment": "",
                "deleted": False,
                "first_seen": None,
                "last_seen": None,
                "ObjectReference": [],
                "Attribute": [dom, ip],
            }
        )
    return {
        "id": str(eid),
        "orgc_id": ORGC["id"],
        "org_id": "1",
        "date": "2023-11-14",
        "threat_level_id": "2",
        "info": f"Bench campaign {event_no}: phishing and C2 infrastructure",
        "published": True,
        "uuid": _uuid(rng),
        "attribute_count": str(n_attrs),
        "analysis": "1",
        "timestamp": str(ts),
        "distribution": "1",
        "proposal_email_lock": False,
        "locked": False,
        "publish_timestamp": str(ts + 30),
        "sharing_group_id": "0",
        "disable_correlation": False,
        "extends_uuid": "",
        "event_creator_email": "analyst@bench.test",
        "Org": {"id": "1", "name": "ORGNAME", "uuid": "5f6e0a0e-0000-4000-8000-000000000001"},
        "Orgc": dict(ORGC),
        "Attribute": attrs,
        "ShadowAttribute": [],
        "RelatedEvent": [],
        "Galaxy": [],
        "Object": objects,
        "EventReport": [],
        "Tag": [
            {
                "id": str(k + 1),
                "name": n,
                "colour": "#339900",
                "exportable": True,
                "user_id": "0",
                "hide_tag": False,
                "numerical_value": None,
                "is_galaxy": False,
                "is_custom_galaxy": False,
                "local_only": False,
                "local": 0,
            }
            for k, n in enumerate(EVENT_TAGS[: 1 + event_no % len(EVENT_TAGS)])
        ],
    }


def write_misp_file(
    path: Path, n_events: int, attrs_per_event: int, *, seed: int = 0, first_event: int = 0
) -> int:
    """Write a restSearch-style file; returns the number of attributes in it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    total = 0
    with path.open("wb") as fh:
        fh.write(b'{"response": [')
        for k in range(n_events):
            e = first_event + k
            ev = misp_event(e, e * attrs_per_event, attrs_per_event, seed)
            if k:
                fh.write(b",\n")
            fh.write(orjson.dumps({"Event": ev}))
            total += attrs_per_event
        fh.write(b"]}\n")
    return total


def attribute_rows(first: int, count: int) -> Iterator[tuple[int, str, str, str, str]]:
    """(i, type, category, value1, value2) for direct bulk loading."""
    for i in range(first, first + count):
        t, cat, v1, v2 = attribute_value(i)
        yield i, t, cat, v1, v2


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="write a MISP restSearch JSON file")
    ap.add_argument("path", type=Path)
    ap.add_argument("--events", type=int, default=100)
    ap.add_argument("--attributes", type=int, default=1000, help="attributes per event")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    n = write_misp_file(args.path, args.events, args.attributes, seed=args.seed)
    print(f"{args.path}: {args.events} events, {n} attributes, {args.path.stat().st_size:,} bytes")
