"""Search over attributes and events through the native API: every filter, keyset paging,
NDJSON streaming and problem details for bad parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from shieldwall.clock import set_clock

ATTRS = "/api/v1/search/attributes"
EVENTS = "/api/v1/search/events"


def _event(api: Any, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"info": "search fixture", "distribution": 1}
    body.update(kw)
    r = api.post("/api/v1/events", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _values(page: dict[str, Any]) -> list[str]:
    return [a["value"] for a in page["items"]]


def _get(api: Any, url: str, **params: Any) -> dict[str, Any]:
    r = api.get(url, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _post(api: Any, url: str, body: dict[str, Any]) -> dict[str, Any]:
    r = api.post(url, json=body)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def clock():  # type: ignore[no-untyped-def]
    """Move the clock: clock(datetime) sets it; the real clock comes back after the test."""

    def move(when: datetime) -> None:
        set_clock(lambda: when)

    yield move
    set_clock(None)


# ---------------------------------------------------------------- values


def test_exact_value_finds_normalised_forms(admin) -> None:
    ev = _event(
        admin,
        attributes=[
            {"type": "domain", "value": "evil.example"},
            {"type": "ip-dst", "value": "2001:db8::1"},
            {"type": "email-src", "value": "Phisher@Evil.Example"},
            {"type": "domain", "value": "other.example"},
        ],
    )
    for query, expected in [
        ("EVIL.example.", "evil.example"),
        ("evil.example", "evil.example"),
        ("  Evil.Example  ", "evil.example"),
        ("2001:DB8:0:0::0001", "2001:db8::1"),
        ("phisher@evil.example", "phisher@evil.example"),
        ("PHISHER@EVIL.EXAMPLE", "phisher@evil.example"),
    ]:
        page = _get(admin, ATTRS, value=query)
        assert _values(page) == [expected], query
        assert page["items"][0]["event_uuid"] == ev["uuid"]
        assert _values(_post(admin, ATTRS, {"value": query})) == [expected]
    assert _get(admin, ATTRS, value="nothing.example")["items"] == []
    # Several values: any of them.
    assert sorted(_values(_get(admin, ATTRS, value=["evil.example", "other.example"]))) == [
        "evil.example",
        "other.example",
    ]


def test_url_search_matches_the_stored_canonical_form(admin) -> None:
    _event(admin, attributes=[{"type": "url", "value": "https://Evil.Example/Login/Page"}])
    assert _values(_get(admin, ATTRS, value="HTTPS://EVIL.EXAMPLE/Login/Page")) == [
        "https://evil.example/Login/Page"
    ]
    # The path is case-sensitive: another path is another URL.
    assert _get(admin, ATTRS, value="https://evil.example/login/page")["items"] == []


def test_composite_values_match_by_either_part_and_whole(admin) -> None:
    _event(
        admin,
        attributes=[
            {"type": "ip-dst|port", "value": "10.1.1.1|8443"},
            {"type": "domain|ip", "value": "c2.example|192.0.2.9"},
            {"type": "ip-dst", "value": "10.1.1.1"},
        ],
    )
    by_left = _get(admin, ATTRS, value="10.1.1.1")
    assert sorted(_values(by_left)) == ["10.1.1.1", "10.1.1.1|8443"]
    assert _values(_get(admin, ATTRS, value="8443")) == ["10.1.1.1|8443"]
    assert _values(_get(admin, ATTRS, value="10.1.1.1|8443")) == ["10.1.1.1|8443"]
    assert _get(admin, ATTRS, value="10.1.1.1|9999")["items"] == []
    assert _values(_get(admin, ATTRS, value="C2.Example.|192.0.2.9")) == ["c2.example|192.0.2.9"]
    assert _values(_get(admin, ATTRS, value="192.0.2.9")) == ["c2.example|192.0.2.9"]
    item = _get(admin, ATTRS, value="8443")["items"][0]
    assert (item["value1"], item["value2"]) == ("10.1.1.1", "8443")


def test_prefix_and_contains_wildcards(admin) -> None:
    _event(
        admin,
        attributes=[
            {"type": "domain", "value": "evil.example"},
            {"type": "domain", "value": "evil2.example"},
            {"type": "domain", "value": "notevil.example"},
            {"type": "domain", "value": "other.test"},
            {"type": "domain", "value": "_dmarc.example"},
            {"type": "domain", "value": "xdmarc.example"},
            {"type": "filename", "value": "Invoice.PDF.exe"},
        ],
    )
    assert sorted(_values(_get(admin, ATTRS, value="evil%"))) == ["evil.example", "evil2.example"]
    assert sorted(_values(_get(admin, ATTRS, value="EVIL%"))) == ["evil.example", "evil2.example"]
    assert sorted(_values(_get(admin, ATTRS, value="%evil%"))) == [
        "evil.example",
        "evil2.example",
        "notevil.example",
    ]
    assert sorted(_values(_get(admin, ATTRS, value="%.test"))) == ["other.test"]
    assert sorted(_values(_get(admin, ATTRS, value="%vil%.example"))) == [
        "evil.example",
        "evil2.example",
        "notevil.example",
    ]
    # _ is a literal, not LIKE's one-character wildcard.
    assert _values(_get(admin, ATTRS, value="_dmarc%")) == ["_dmarc.example"]
    assert _values(_get(admin, ATTRS, value="%_dmarc%")) == ["_dmarc.example"]
    # Contains is case-insensitive on every database, as in MISP.
    assert _values(_get(admin, ATTRS, value="%invoice%")) == ["Invoice.PDF.exe"]
    assert _values(_get(admin, ATTRS, value="%.pdf.%")) == ["Invoice.PDF.exe"]
    assert _values(_post(admin, ATTRS, {"value": "%evil2%"})) == ["evil2.example"]


# ---------------------------------------------------------------- simple filters


def test_type_category_to_ids_and_uuid_filters(admin) -> None:
    ev = _event(
        admin,
        attributes=[
            {"type": "ip-dst", "value": "192.0.2.1"},
            {"type": "ip-src", "value": "192.0.2.2", "to_ids": False},
            {"type": "domain", "value": "a.example", "category": "Network activity"},
            {"type": "domain", "value": "b.example", "category": "External analysis"},
            {"type": "comment", "value": "just a note"},
        ],
    )
    by_value = {a["value"]: a for a in ev["attributes"]}
    assert _values(_get(admin, ATTRS, type="ip-dst")) == ["192.0.2.1"]
    assert sorted(_values(_get(admin, ATTRS, type=["ip-dst", "ip-src"]))) == [
        "192.0.2.1",
        "192.0.2.2",
    ]
    assert _values(_get(admin, ATTRS, type="domain", category="External analysis")) == ["b.example"]
    assert sorted(_values(_get(admin, ATTRS, category="Network activity"))) == [
        "192.0.2.1",
        "192.0.2.2",
        "a.example",
    ]
    to_ids = _get(admin, ATTRS, to_ids="true")
    assert all(a["to_ids"] for a in to_ids["items"]) and "192.0.2.1" in _values(to_ids)
    assert "192.0.2.2" not in _values(to_ids)
    not_ids = _get(admin, ATTRS, to_ids="false")
    assert "192.0.2.2" in _values(not_ids) and "just a note" in _values(not_ids)
    assert all(not a["to_ids"] for a in not_ids["items"])
    target = by_value["a.example"]["uuid"]
    assert _values(_get(admin, ATTRS, uuid=target)) == ["a.example"]
    assert _values(_post(admin, ATTRS, {"type": "ip-src", "to_ids": False})) == ["192.0.2.2"]


def test_org_event_published_and_info_filters(admin, make_user) -> None:
    other = make_user("CERT-B", "publisher")
    mine = _event(
        admin, info="Host campaign", attributes=[{"type": "domain", "value": "shared.example"}]
    )
    theirs = _event(
        other.api,
        info="B campaign",
        published=True,
        attributes=[{"type": "domain", "value": "shared.example"}],
    )
    assert {a["event_id"] for a in _get(admin, ATTRS, value="shared.example")["items"]} == {
        mine["id"],
        theirs["id"],
    }
    for ref in ("CERT-B", str(other.org_id), theirs["orgc"]["uuid"]):
        page = _get(admin, ATTRS, value="shared.example", org=ref)
        assert [a["event_id"] for a in page["items"]] == [theirs["id"]], ref
        assert [e["id"] for e in _get(admin, EVENTS, org=ref)["items"]] == [theirs["id"]]
    assert _get(admin, ATTRS, org="NO-SUCH-ORG")["items"] == []
    for ref in (mine["id"], mine["uuid"]):
        assert [a["event_id"] for a in _get(admin, ATTRS, event=str(ref))["items"]] == [mine["id"]]
    assert [e["id"] for e in _get(admin, EVENTS, published="true")["items"]] == [theirs["id"]]
    assert [e["id"] for e in _get(admin, EVENTS, published="false")["items"]] == [mine["id"]]
    assert [a["event_id"] for a in _get(admin, ATTRS, published="true")["items"]] == [theirs["id"]]
    assert [e["id"] for e in _get(admin, EVENTS, info="host camp")["items"]] == [mine["id"]]
    assert [e["id"] for e in _post(admin, EVENTS, {"info": "B%"})["items"]] == [theirs["id"]]
    # Events holding a matching attribute.
    only_b = _event(other.api, attributes=[{"type": "domain", "value": "only-b.example"}])
    assert [e["id"] for e in _get(admin, EVENTS, value="ONLY-B.example")["items"]] == [only_b["id"]]


def test_search_respects_access_rules(admin, make_user) -> None:
    a = make_user("CERT-A")
    b = make_user("CERT-B")
    _event(a.api, distribution=0, attributes=[{"type": "domain", "value": "private.example"}])
    shared = _event(
        a.api,
        distribution=1,
        attributes=[
            {"type": "domain", "value": "public.example"},
            {"type": "domain", "value": "org-only.example", "distribution": 0},
        ],
    )
    assert _values(_get(a.api, ATTRS, value="%.example")) != []
    seen_by_b = _values(_get(b.api, ATTRS, value="%.example"))
    assert seen_by_b == ["public.example"]
    assert [e["id"] for e in _get(b.api, EVENTS)["items"]] == [shared["id"]]
    assert [e["id"] for e in _get(b.api, EVENTS, value="org-only.example")["items"]] == []
    assert sorted(_values(_get(admin, ATTRS, value="%.example"))) == [
        "org-only.example",
        "private.example",
        "public.example",
    ]


def test_date_filters(admin) -> None:
    old = _event(admin, date="2023-01-15", attributes=[{"type": "domain", "value": "old.example"}])
    mid = _event(admin, date="2024-06-01", attributes=[{"type": "domain", "value": "mid.example"}])
    new = _event(admin, date="2025-03-10", attributes=[{"type": "domain", "value": "new.example"}])
    ids = lambda page: [e["id"] for e in page["items"]]  # noqa: E731
    assert ids(_get(admin, EVENTS, date_from="2024-01-01")) == [mid["id"], new["id"]]
    assert ids(_get(admin, EVENTS, date_to="2024-06-01")) == [old["id"], mid["id"]]
    assert ids(_get(admin, EVENTS, date_from="2024-06-01", date_to="2024-06-01")) == [mid["id"]]
    assert ids(_post(admin, EVENTS, {"date_from": "2025-01-01"})) == [new["id"]]
    assert _values(_get(admin, ATTRS, date_from="2024-01-01", date_to="2024-12-31")) == [
        "mid.example"
    ]


def test_timestamp_filters_iso_epoch_and_relative(admin, clock) -> None:
    t0 = datetime(2025, 5, 20, 12, 0, tzinfo=UTC)
    clock(t0 - timedelta(days=30))
    old = _event(admin, attributes=[{"type": "domain", "value": "month-old.example"}])
    clock(t0 - timedelta(days=3))
    recent = _event(admin, attributes=[{"type": "domain", "value": "days-old.example"}])
    clock(t0 - timedelta(hours=2))
    fresh = _event(admin, attributes=[{"type": "domain", "value": "hours-old.example"}])
    clock(t0)
    ids = lambda page: [e["id"] for e in page["items"]]  # noqa: E731

    assert ids(_get(admin, EVENTS, timestamp_from="7d")) == [recent["id"], fresh["id"]]
    assert ids(_get(admin, EVENTS, timestamp_from="12h")) == [fresh["id"]]
    assert ids(_get(admin, EVENTS, timestamp_from="1w")) == [recent["id"], fresh["id"]]
    assert ids(_get(admin, EVENTS, timestamp_to="7d")) == [old["id"]]
    assert _values(_get(admin, ATTRS, timestamp_from="7d")) == [
        "days-old.example",
        "hours-old.example",
    ]
    assert _values(_get(admin, ATTRS, timestamp_from="90m")) == []
    assert _values(_get(admin, ATTRS, timestamp_from="180m")) == ["hours-old.example"]

    cut = t0 - timedelta(days=10)
    assert ids(_get(admin, EVENTS, timestamp_from=cut.isoformat())) == [recent["id"], fresh["id"]]
    assert ids(_get(admin, EVENTS, timestamp_from=cut.strftime("%Y-%m-%dT%H:%M:%SZ"))) == [
        recent["id"],
        fresh["id"],
    ]
    assert ids(_get(admin, EVENTS, timestamp_from=str(int(cut.timestamp())))) == [
        recent["id"],
        fresh["id"],
    ]
    assert ids(_get(admin, EVENTS, timestamp_to=str(int(cut.timestamp())))) == [old["id"]]
    assert ids(_post(admin, EVENTS, {"timestamp_from": int(cut.timestamp())})) == [
        recent["id"],
        fresh["id"],
    ]
    window = {
        "timestamp_from": (t0 - timedelta(days=4)).isoformat(),
        "timestamp_to": (t0 - timedelta(days=1)).isoformat(),
    }
    assert ids(_post(admin, EVENTS, window)) == [recent["id"]]
    assert _values(_post(admin, ATTRS, window)) == ["days-old.example"]
    # The relative form follows the clock.
    clock(t0 + timedelta(days=5))
    assert ids(_get(admin, EVENTS, timestamp_from="7d")) == [fresh["id"]]


def test_include_deleted(admin) -> None:
    ev = _event(
        admin,
        attributes=[
            {"type": "domain", "value": "live.example"},
            {"type": "domain", "value": "gone.example"},
        ],
    )
    gone = next(a for a in ev["attributes"] if a["value"] == "gone.example")
    assert admin.delete(f"/api/v1/attributes/{gone['id']}").status_code == 204
    assert _values(_get(admin, ATTRS, value="%.example")) == ["live.example"]
    with_deleted = _get(admin, ATTRS, value="%.example", include_deleted="true")
    assert sorted(_values(with_deleted)) == ["gone.example", "live.example"]
    assert next(a for a in with_deleted["items"] if a["value"] == "gone.example")["deleted"] is True
    assert _values(_post(admin, ATTRS, {"value": "gone.example", "include_deleted": True})) == [
        "gone.example"
    ]
    assert _get(admin, EVENTS, value="gone.example")["items"] == []
    assert [
        e["id"] for e in _get(admin, EVENTS, value="gone.example", include_deleted="true")["items"]
    ] == [ev["id"]]


# ---------------------------------------------------------------- tags


@pytest.fixture
def tagged(admin) -> dict[str, Any]:
    """e1 tagged tlp:green (event); e2 untagged with attribute tags; e3 tagged tlp:amber."""
    e1 = _event(
        admin,
        tags=[{"name": "tlp:green"}],
        attributes=[
            {"type": "domain", "value": "green-plain.example"},
            {"type": "domain", "value": "green-c2.example", "tags": [{"name": "kill-chain:c2"}]},
        ],
    )
    e2 = _event(
        admin,
        attributes=[
            {"type": "domain", "value": "untagged.example"},
            {"type": "domain", "value": "c2-only.example", "tags": [{"name": "kill-chain:c2"}]},
            {
                "type": "domain",
                "value": "both.example",
                "tags": [{"name": "kill-chain:c2"}, {"name": "tlp:green"}],
            },
            {"type": "domain", "value": "recon.example", "tags": [{"name": "kill-chain:recon"}]},
        ],
    )
    e3 = _event(
        admin,
        tags=[{"name": "tlp:amber"}],
        attributes=[{"type": "domain", "value": "amber.example"}],
    )
    return {"e1": e1, "e2": e2, "e3": e3}


def test_tags_any_match_attribute_or_event_tags(admin, tagged) -> None:
    assert sorted(_values(_get(admin, ATTRS, tags="tlp:green"))) == [
        "both.example",
        "green-c2.example",
        "green-plain.example",
    ]
    assert sorted(_values(_get(admin, ATTRS, tags=["tlp:amber", "kill-chain:recon"]))) == [
        "amber.example",
        "recon.example",
    ]
    assert sorted(_values(_get(admin, ATTRS, tags="kill-chain:%"))) == [
        "both.example",
        "c2-only.example",
        "green-c2.example",
        "recon.example",
    ]
    assert _get(admin, ATTRS, tags="no-such-tag")["items"] == []
    # Events: by event tags.
    ids = [e["id"] for e in _get(admin, EVENTS, tags="tlp:green")["items"]]
    assert ids == [tagged["e1"]["id"]]


def test_tags_exclusion_and_all(admin, tagged) -> None:
    everything = {
        "green-plain.example",
        "green-c2.example",
        "untagged.example",
        "c2-only.example",
        "both.example",
        "recon.example",
        "amber.example",
    }
    assert set(_values(_get(admin, ATTRS, tags="!tlp:green"))) == everything - {
        "green-plain.example",
        "green-c2.example",
        "both.example",
    }
    assert set(_values(_get(admin, ATTRS, tags=["kill-chain:c2", "!tlp:green"]))) == {
        "c2-only.example"
    }
    assert set(_values(_get(admin, ATTRS, tags_all=["kill-chain:c2", "tlp:green"]))) == {
        "green-c2.example",
        "both.example",
    }
    assert set(_values(_get(admin, ATTRS, tags_all=["kill-chain:c2", "tlp:amber"]))) == set()
    assert set(_values(_get(admin, ATTRS, tags=["!kill-chain:%"]))) == {
        "green-plain.example",
        "untagged.example",
        "amber.example",
    }
    event_ids = [e["id"] for e in _get(admin, EVENTS, tags="!tlp:green")["items"]]
    assert event_ids == [tagged["e2"]["id"], tagged["e3"]["id"]]


def test_tags_and_or_not_body(admin, tagged) -> None:
    body = {
        "tags": {
            "AND": ["kill-chain:c2"],
            "OR": ["tlp:green", "tlp:amber"],
            "NOT": ["kill-chain:recon"],
        }
    }
    assert set(_values(_post(admin, ATTRS, body))) == {"green-c2.example", "both.example"}
    assert set(_values(_post(admin, ATTRS, {"tags": {"NOT": ["tlp:green", "tlp:amber"]}}))) == {
        "untagged.example",
        "c2-only.example",
        "recon.example",
    }
    assert set(
        _values(_post(admin, ATTRS, {"tags": {"or": ["kill-chain:recon", "tlp:amber"]}}))
    ) == {"recon.example", "amber.example"}
    assert set(_values(_post(admin, ATTRS, {"tags": ["kill-chain:recon", "!tlp:green"]}))) == {
        "recon.example"
    }
    assert set(_values(_post(admin, ATTRS, {"tags": "tlp:amber"}))) == {"amber.example"}
    events = _post(
        admin, EVENTS, {"tags": {"OR": ["tlp:green", "tlp:amber"], "NOT": ["tlp:amber"]}}
    )
    assert [e["id"] for e in events["items"]] == [tagged["e1"]["id"]]


def test_tags_restricted_to_an_org_do_not_match_for_others(admin, make_user) -> None:
    a = make_user("CERT-A", "org-admin")
    b = make_user("CERT-B")
    r = a.api.post("/api/v1/tags", json={"name": "cert-a:internal", "org_id": a.org_id})
    assert r.status_code == 201, r.text
    _event(
        a.api,
        tags=[{"name": "cert-a:internal"}],
        attributes=[{"type": "domain", "value": "a-internal.example"}],
    )
    assert _values(_get(a.api, ATTRS, tags="cert-a:internal")) == ["a-internal.example"]
    assert _get(b.api, ATTRS, tags="cert-a:internal")["items"] == []
    # Excluding a tag one cannot see excludes nothing.
    assert _values(_get(b.api, ATTRS, tags="!cert-a:internal")) == ["a-internal.example"]


# ---------------------------------------------------------------- paging and streaming


def test_keyset_paging_returns_every_item_once_in_id_order(admin) -> None:
    first = _event(admin)
    second = _event(admin)
    for ev, n in ((first, 23), (second, 14)):
        r = admin.post(
            f"/api/v1/events/{ev['id']}/attributes",
            json=[{"type": "domain", "value": f"page{ev['id']}-{i}.example"} for i in range(n)],
        )
        assert r.status_code == 201
    for use_post in (False, True):
        seen: list[int] = []
        after = 0
        pages = 0
        while True:
            if use_post:
                page = _post(admin, ATTRS, {"value": "page%", "limit": 5, "after": after})
            else:
                page = _get(admin, ATTRS, value="page%", limit=5, after=after)
            pages += 1
            seen.extend(a["id"] for a in page["items"])
            assert len(page["items"]) <= 5
            if page["next"] is None:
                break
            assert page["next"] == page["items"][-1]["id"]
            after = page["next"]
        assert len(seen) == 37 == len(set(seen))
        assert seen == sorted(seen)
        assert pages >= 8
    all_ids = [a["id"] for a in _get(admin, ATTRS, value="page%", limit=1000)["items"]]
    assert all_ids == seen
    # Events page the same way.
    events = [_event(admin)["id"] for _ in range(5)] + [first["id"], second["id"]]
    got: list[int] = []
    after = 0
    while True:
        page = _get(admin, "/api/v1/events", limit=2, after=after)
        got.extend(e["id"] for e in page["items"])
        if page["next"] is None:
            break
        after = page["next"]
    assert got == sorted(events)


def _ndjson(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [line for line in response.content.split(b"\n") if line]
    return [orjson.loads(line) for line in lines]


def test_ndjson_streams_every_match_across_batches(admin) -> None:
    ev = _event(admin)
    n = 2_150
    body = [{"type": "domain", "value": f"bulk{i}.example"} for i in range(n)]
    body += [{"type": "ip-dst", "value": f"198.51.{i // 256}.{i % 256}"} for i in range(60)]
    r = admin.post(f"/api/v1/events/{ev['id']}/attributes", json=body)
    assert r.status_code == 201, r.text[:500]
    assert r.json()["count"] == n + 60

    streamed = _ndjson(admin.get(ATTRS, params={"value": "bulk%", "format": "ndjson"}))
    assert len(streamed) == n
    ids = [a["id"] for a in streamed]
    assert ids == sorted(set(ids))
    assert {a["value"] for a in streamed} == {f"bulk{i}.example" for i in range(n)}
    assert all(a["event_uuid"] == ev["uuid"] for a in streamed)

    by_header = _ndjson(
        admin.client.get(
            ATTRS,
            params={"type": "domain"},
            headers={**admin.headers, "Accept": "application/x-ndjson"},
        )
    )
    assert [a["id"] for a in by_header] == ids
    everything = _ndjson(admin.post(ATTRS + "?format=ndjson", json={"event": str(ev["id"])}))
    assert len(everything) == n + 60
    # A limit bounds a page, not a stream; `after` starts it later.
    later = _ndjson(
        admin.get(
            ATTRS, params={"value": "bulk%", "format": "ndjson", "limit": 10, "after": ids[99]}
        )
    )
    assert [a["id"] for a in later] == ids[100:]

    events = _ndjson(admin.get(EVENTS, params={"format": "ndjson"}))
    assert [e["id"] for e in events] == [ev["id"]]
    listed = _ndjson(
        admin.client.get(
            "/api/v1/events", headers={**admin.headers, "Accept": "application/x-ndjson"}
        )
    )
    assert [e["uuid"] for e in listed] == [ev["uuid"]]


def test_ndjson_streams_only_readable_attributes(admin, make_user) -> None:
    a = make_user("CERT-A")
    b = make_user("CERT-B")
    ev = _event(a.api)
    items = [
        {"type": "domain", "value": f"s{i}.example", "distribution": 0 if i % 3 == 0 else 5}
        for i in range(300)
    ]
    assert a.api.post(f"/api/v1/events/{ev['id']}/attributes", json=items).status_code == 201
    mine = _ndjson(a.api.get(ATTRS, params={"format": "ndjson"}))
    theirs = _ndjson(b.api.get(ATTRS, params={"format": "ndjson"}))
    assert len(mine) == 300
    assert len(theirs) == 200 and all(x["distribution"] == 5 for x in theirs)


# ---------------------------------------------------------------- bad parameters


def _problem(response: Any, field: str) -> dict[str, Any]:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["field"] == field, body
    assert body["detail"] and body["status"] == response.status_code
    return body


@pytest.mark.parametrize("url", [ATTRS, EVENTS, "/api/v1/events"])
def test_bad_query_parameters_name_the_field(admin, url: str) -> None:
    for field, bad in [
        ("timestamp_from", "not-a-time"),
        ("timestamp_to", "7x"),
        ("publish_timestamp_from", "2024-13-45"),
        ("date_from", "someday"),
        ("date_to", "2024-02-30"),
        ("limit", "0"),
        ("limit", "100001"),
        ("after", "-1"),
        ("published", "perhaps"),
        ("to_ids", "maybe"),
    ]:
        _problem(admin.get(url, params={field: bad}), field)


@pytest.mark.parametrize("url", [ATTRS, EVENTS])
def test_bad_body_parameters_name_the_field(admin, url: str) -> None:
    _problem(admin.post(url, json={"tags": {"XOR": ["a"]}}), "tags")
    body = _problem(admin.post(url, json={"tags": {"OR": ["a"], "MAYBE": ["b"]}}), "tags")
    assert "MAYBE" in body["detail"]
    _problem(admin.post(url, json={"timestamp_from": "last tuesday"}), "timestamp_from")
    _problem(admin.post(url, json={"date_to": "tomorrow-ish"}), "date_to")
    _problem(admin.post(url, json={"limit": 0}), "limit")
    _problem(admin.post(url, json={"no_such_filter": 1}), "no_such_filter")
    _problem(admin.post(url, json={"published": "perhaps"}), "published")


def test_odd_numeric_looking_parameters_are_not_server_errors(admin) -> None:
    _event(admin, attributes=[{"type": "domain", "value": "x.example"}])
    for params in (
        {"org": "²"},
        {"event": "²"},
        {"timestamp_from": "²"},
        {"date_from": "²"},
        {"value": "%"},
        {"value": "%%"},
        {"value": "|"},
        {"tags": "%"},
        {"event": "-1"},
    ):
        r = admin.get(ATTRS, params=params)
        assert r.status_code < 500, (params, r.text)
        if r.status_code >= 400:
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["field"] in params


def test_search_needs_authentication(client) -> None:
    r = client.get(ATTRS)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
