"""Attributes on an enabled warninglist are flagged: native event, attribute and search views
(`warninglist_hits`), MISP's `warnings` with includeWarninglistHits, and the check APIs."""

from __future__ import annotations

from typing import Any

import orjson

from shieldwall.knowledge import warninglists

RESOLVERS = "List of known IPv4 public DNS resolvers"
EMPTY_HASHES = "List of known hashes for empty files"
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def _enable(admin: Any, *names: str) -> dict[str, int]:
    ids = {}
    for w in admin.get("/api/v1/warninglists").json():
        if w["name"] in names:
            r = admin.patch(f"/api/v1/warninglists/{w['id']}", json={"enabled": True})
            assert r.status_code == 200, r.text
            ids[w["name"]] = w["id"]
    assert set(ids) == set(names)
    return ids


def _event(admin: Any) -> dict[str, Any]:
    r = admin.post(
        "/api/v1/events",
        json={
            "info": "warned values",
            "attributes": [
                {"type": "ip-dst", "value": "8.8.8.8"},
                {"type": "ip-dst", "value": "192.0.2.44"},
                {"type": "domain", "value": "8.8.8.8.example"},
                {"type": "filename|md5", "value": f"empty.txt|{EMPTY_MD5}"},
            ],
            "objects": [
                {
                    "name": "domain-ip",
                    "attributes": [
                        {"object_relation": "ip", "type": "ip-dst", "value": "8.8.4.4"},
                        {"object_relation": "domain", "type": "domain", "value": "c2.example"},
                    ],
                }
            ],
        },
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_native_views_and_searches_carry_hits(admin: Any) -> None:
    event = _event(admin)
    before = admin.get(f"/api/v1/events/{event['id']}").json()
    assert all(a["warninglist_hits"] == [] for a in before["attributes"])
    ids = _enable(admin, RESOLVERS, EMPTY_HASHES)
    resolvers = {"id": ids[RESOLVERS], "name": RESOLVERS}
    view = admin.get(f"/api/v1/events/{event['id']}").json()
    hits = {a["value"]: a["warninglist_hits"] for a in view["attributes"]}
    assert hits == {
        "8.8.8.8": [resolvers],
        "192.0.2.44": [],
        "8.8.8.8.example": [],  # a domain, and the list names IP types only
        f"empty.txt|{EMPTY_MD5}": [{"id": ids[EMPTY_HASHES], "name": EMPTY_HASHES}],
    }
    in_object = {a["value"]: a["warninglist_hits"] for a in view["objects"][0]["attributes"]}
    assert in_object == {"8.8.4.4": [resolvers], "c2.example": []}

    listed = next(a for a in view["attributes"] if a["value"] == "8.8.8.8")
    one = admin.get(f"/api/v1/attributes/{listed['id']}").json()
    assert one["warninglist_hits"] == [resolvers]

    page = admin.get("/api/v1/search/attributes", params={"type": "ip-dst"}).json()
    assert {a["value"]: a["warninglist_hits"] for a in page["items"]} == {
        "8.8.8.8": [resolvers],
        "192.0.2.44": [],
        "8.8.4.4": [resolvers],
    }
    streamed = admin.get("/api/v1/search/attributes", params={"type": "ip-dst", "format": "ndjson"})
    lines = [orjson.loads(line) for line in streamed.text.splitlines()]
    assert {a["value"]: a["warninglist_hits"] for a in lines} == {
        a["value"]: a["warninglist_hits"] for a in page["items"]
    }


def test_misp_warnings_when_asked(admin: Any) -> None:
    event = _event(admin)
    ids = _enable(admin, RESOLVERS)
    plain = admin.get(f"/events/view/{event['id']}").json()["Event"]
    assert not any("warnings" in a for a in plain["Attribute"])
    view = admin.get(f"/events/view/{event['id']}/includeWarninglistHits:1").json()["Event"]
    warned = {a["value"]: a["warnings"] for a in view["Attribute"] if "warnings" in a}
    assert warned == {
        "8.8.8.8": [
            {
                "value": "8.8.8.8",
                "match": "8.8.8.8",
                "warninglist_id": str(ids[RESOLVERS]),
                "warninglist_name": RESOLVERS,
                "warninglist_category": "false_positive",
            }
        ]
    }
    assert [a["value"] for a in view["Object"][0]["Attribute"] if "warnings" in a] == ["8.8.4.4"]
    posted = admin.post(f"/events/view/{event['id']}", json={"includeWarninglistHits": 1})
    assert posted.json()["Event"]["Attribute"] == view["Attribute"]

    body = {"eventid": event["id"], "type": "ip-dst", "includeWarninglistHits": 1}
    found = admin.post("/attributes/restSearch", json=body).json()["response"]["Attribute"]
    assert {a["value"] for a in found if "warnings" in a} == {"8.8.8.8", "8.8.4.4"}
    assert {a["value"] for a in found if "warnings" not in a} == {"192.0.2.44"}
    events = admin.post("/events/restSearch", json=body).json()["response"]
    attrs = events[0]["Event"]["Attribute"]
    assert [a["warnings"][0]["warninglist_name"] for a in attrs if "warnings" in a] == [RESOLVERS]
    # Asked for hits and enforcement at once: the hits are gone, so nothing is flagged.
    body["enforceWarninglist"] = 1
    kept = admin.post("/attributes/restSearch", json=body).json()["response"]["Attribute"]
    assert [(a["value"], "warnings" in a) for a in kept] == [("192.0.2.44", False)]


def test_check_apis_name_the_lists_and_entries(admin: Any) -> None:
    ids = _enable(admin, RESOLVERS, "List of RFC 1918 CIDR blocks")
    values = ["10.20.30.40", "8.8.8.8", "example.org"]
    native = admin.post("/api/v1/warninglists/check", json={"values": values}).json()["hits"]
    assert native == {
        "10.20.30.40": [
            {
                "id": ids["List of RFC 1918 CIDR blocks"],
                "name": "List of RFC 1918 CIDR blocks",
                "type": "cidr",
                "match": "10.0.0.0/8",
            }
        ],
        "8.8.8.8": [{"id": ids[RESOLVERS], "name": RESOLVERS, "type": "cidr", "match": "8.8.8.8"}],
    }
    misp = admin.post("/warninglists/checkValue", json=values).json()
    assert misp == {
        value: [{"id": str(h["id"]), "name": h["name"], "matched": h["match"]} for h in found]
        for value, found in native.items()
    }


def test_matcher_is_rebuilt_when_the_enabled_lists_change(admin: Any, instance: Any) -> None:
    with instance.db.reading() as s:
        first = warninglists.matcher(s)
        assert warninglists.matcher(s) is first  # nothing changed: the compiled one
        assert first.mask("8.8.8.8") == 0
    _enable(admin, RESOLVERS)
    with instance.db.reading() as s:
        second = warninglists.matcher(s)
        assert second is not first
        assert [i.name for i in second.infos] == [RESOLVERS]
        assert warninglists.warned(s, [("ip-dst", "8.8.8.8"), ("domain", "8.8.8.8")]) == [
            True,
            False,
        ]
