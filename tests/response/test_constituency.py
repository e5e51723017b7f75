"""Constituency routing: an organisation that registered its networks gets an alert when
published intel, or a hunt of another organisation's sensor, touches them, only for the
intel it may read, never twice for the same attribute."""

from __future__ import annotations

from typing import Any

from shieldwall.jobs.response import run_response_pass
from shieldwall.response.constituency import Constituencies, check_entry


def _ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, (r.status_code, r.text)
    return r.json()


def _event(
    api: Any, distribution: int, attributes: list[tuple[str, str]], publish: bool = True
) -> Any:
    ev = _ok(
        api.post(
            "/api/v1/events",
            json={
                "info": f"intel at distribution {distribution}",
                "distribution": distribution,
                "threat_level_id": 1,
                "attributes": [{"type": t, "value": v} for t, v in attributes],
            },
        ),
        201,
    )
    if publish:
        _ok(api.post(f"/api/v1/events/{ev['id']}/publish"))
    return ev


def _routed(api: Any) -> list[dict[str, Any]]:
    return [a for a in api.get("/api/v1/alerts", params={"type": "constituency"}).json()["items"]]


def test_entries_are_checked_and_owned(make_user, admin) -> None:  # type: ignore[no-untyped-def]
    b = make_user("CERT-B", "org_admin")
    user = make_user("CERT-B", "user")
    c = make_user("CERT-C", "org_admin")
    entry = _ok(
        b.api.post("/api/v1/constituency", json={"kind": "cidr", "value": "198.51.100.7/24"}), 201
    )
    assert entry["value"] == "198.51.100.0/24"
    assert (
        _ok(b.api.post("/api/v1/constituency", json={"kind": "asn", "value": "as64500"}), 201)[
            "value"
        ]
        == "64500"
    )
    assert (
        _ok(
            b.api.post(
                "/api/v1/constituency", json={"kind": "domain", "value": "*.Ministry.Example."}
            ),
            201,
        )["value"]
        == "ministry.example"
    )
    for body in (
        {"kind": "cidr", "value": "300.1.1.0/24"},
        {"kind": "asn", "value": "ASX"},
        {"kind": "domain", "value": "bad domain"},
    ):
        r = b.api.post("/api/v1/constituency", json=body)
        assert r.status_code == 422 and r.json()["field"] == "value", body
    assert (
        b.api.post(
            "/api/v1/constituency", json={"kind": "cidr", "value": "198.51.100.0/24"}
        ).status_code
        == 409
    )
    assert (
        user.api.post(
            "/api/v1/constituency", json={"kind": "cidr", "value": "10.0.0.0/8"}
        ).status_code
        == 403
    )
    assert (
        c.api.post(
            "/api/v1/constituency", json={"kind": "cidr", "value": "10.0.0.0/8", "org": "CERT-B"}
        ).status_code
        == 403
    )
    assert c.api.get("/api/v1/constituency").json()["items"] == []
    assert c.api.delete(f"/api/v1/constituency/{entry['id']}").status_code == 404
    # Site admins register for anyone.
    _ok(
        admin.post(
            "/api/v1/constituency", json={"kind": "cidr", "value": "2001:db8::/32", "org": "CERT-C"}
        ),
        201,
    )
    assert [e["value"] for e in c.api.get("/api/v1/constituency").json()["items"]] == [
        "2001:db8::/32"
    ]


def test_matcher_covers_every_kind() -> None:
    c = Constituencies()
    c.add(1, "cidr", check_entry("cidr", "198.51.100.0/24"))
    c.add(2, "cidr", check_entry("cidr", "2001:db8:1::/48"))
    c.add(3, "asn", check_entry("asn", "AS64500"))
    c.add(4, "domain", check_entry("domain", "ministry.example"))
    c.add(5, "cidr", check_entry("cidr", "10.1.2.0/24"))
    orgs = lambda hits: sorted({o for o, _ in hits})  # noqa: E731
    assert orgs(c.match("ip-dst", "198.51.100.200")) == [1]
    assert orgs(c.match("ip-src", "198.51.101.1")) == []
    assert orgs(c.match("ip-dst|port", "198.51.100.9", "443")) == [1]
    assert orgs(c.match("ip-dst", "2001:db8:1:ffff::1")) == [2]
    assert orgs(c.match("ip-dst", "198.51.0.0/16")) == [
        1
    ]  # the indicator's network holds the entry
    assert orgs(c.match("ip-dst", "10.1.2.128/25")) == [
        5
    ]  # the entry holds the indicator's network
    assert orgs(c.match("AS", "64500")) == [3]
    assert orgs(c.match("domain", "mail.ministry.example")) == [4]
    assert orgs(c.match("domain", "notministry.example")) == []
    assert orgs(c.match("email-src", "clerk@ministry.example")) == [4]
    assert orgs(c.match("url", "https://portal.ministry.example/login")) == [4]
    assert orgs(c.match("url", "http://198.51.100.3:8080/x")) == [1]
    assert orgs(c.match("domain|ip", "evil.example", "198.51.100.1")) == [1]
    assert orgs(c.observed("198.51.100.77")) == [1]
    assert orgs(c.observed("www.ministry.example")) == [4]


def test_published_intel_is_routed_to_the_network_owner_within_the_access_rules(
    instance, make_user
) -> None:  # type: ignore[no-untyped-def]
    a = make_user("CERT-A", "publisher")
    b = make_user("CERT-B", "org_admin")
    c = make_user("CERT-C", "org_admin")
    for kind, value in (
        ("cidr", "198.51.100.0/24"),
        ("domain", "ministry.example"),
        ("asn", "64500"),
    ):
        _ok(b.api.post("/api/v1/constituency", json={"kind": kind, "value": value}), 201)
    _ok(c.api.post("/api/v1/constituency", json={"kind": "cidr", "value": "203.0.113.0/24"}), 201)
    community = _event(
        a.api,
        1,
        [
            ("ip-dst", "198.51.100.7"),
            ("domain", "mail.ministry.example"),
            ("AS", "AS64500"),
            ("domain", "unrelated.example"),
        ],
    )
    _event(a.api, 0, [("ip-dst", "198.51.100.8")])  # org-only: B may not read it
    _event(a.api, 1, [("ip-dst", "198.51.100.9")], publish=False)  # not published: not routed
    # C's own event about its own network: C made it, no alert for C.
    _event(c.api, 1, [("ip-dst", "203.0.113.5")])

    report = run_response_pass(instance.db)
    assert report is not None and report.events_routed == 3 and report.alerts_routed == 3
    routed = _routed(b.api)
    assert sorted(x["observable"] for x in routed) == [
        "198.51.100.7",
        "64500",
        "mail.ministry.example",
    ]
    assert all(x["event_id"] == community["id"] and x["severity"] == "high" for x in routed)
    assert all(x["source"] == "constituency" for x in routed)
    assert "in your networks (cidr 198.51.100.0/24)" in next(
        x["title"] for x in routed if x["observable"] == "198.51.100.7"
    )
    assert _routed(a.api) == [] and _routed(c.api) == []
    assert any(
        n["topic"] == "alert.routed" for n in b.api.get("/api/v1/notifications").json()["items"]
    )
    # The mark moved: the same events are not routed again.
    report = run_response_pass(instance.db)
    assert report is not None and report.events_routed == 0 and report.alerts_routed == 0
    assert len(_routed(b.api)) == 3


def test_a_hunt_touching_another_members_networks_alerts_that_member(
    world, client, make_user
) -> None:  # type: ignore[no-untyped-def]
    # world (tests/detection/conftest.py): ORG-A with its sensor zeek-a.
    world.publish(world.org_a, [("ip-dst", "203.0.113.9")])
    owner = make_user("NET-OWNER", "org_admin")
    _ok(
        owner.api.post("/api/v1/constituency", json={"kind": "cidr", "value": "203.0.113.0/24"}),
        201,
    )
    conn = (
        b'{"ts":1.0,"uid":"C1","id.orig_h":"10.1.0.5","id.orig_p":5,"id.resp_h":"203.0.113.9",'
        b'"id.resp_p":443,"conn_state":"SF"}\n'
    )
    r = client.post("/api/v1/hunt", content=conn, headers={"Authorization": world.sensor_a.key})
    assert r.status_code == 200, r.text
    assert r.json()["recorded"]["alerts_routed"] == 1
    routed = _routed(owner.api)
    assert len(routed) == 1 and routed[0]["observable"] == "203.0.113.9"
    assert "hunt/zeek-a" in routed[0]["description"]
    # Again: the same alert counts up.
    client.post("/api/v1/hunt", content=conn, headers={"Authorization": world.sensor_a.key})
    routed = _routed(owner.api)
    assert len(routed) == 1 and routed[0]["count"] == 2
