"""Correlations through the native API: an event's and an attribute's correlations (exact,
CIDR, ssdeep), related events ranked and their graph, the access rules on both sides of a
correlation, exclusions (site admins, audited, effective on the next read) and the
disable_correlation flags."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import ppdeep
import pytest

from shieldwall.config import get_settings


def _similar_ssdeeps(seed: int) -> tuple[str, str]:
    """Two ssdeep hashes of nearly the same buffer (a few bytes differ)."""
    rng = random.Random(seed)
    base = bytearray(rng.getrandbits(8) for _ in range(8000))
    first = ppdeep.hash(bytes(base))
    for _ in range(6):
        base[rng.randrange(len(base))] = rng.getrandbits(8)
    return first, ppdeep.hash(bytes(base))


def _unrelated_ssdeep(seed: int) -> str:
    rng = random.Random(seed)
    return ppdeep.hash(bytes(rng.getrandbits(8) for _ in range(8000)))


def _event(api: Any, info: str, *attrs: Any, **fields: Any) -> dict[str, Any]:
    """An event with attributes given as (type, value) pairs or as dicts."""
    attributes = [a if isinstance(a, dict) else {"type": a[0], "value": a[1]} for a in attrs]
    body = {"info": info, "distribution": 1, **fields, "attributes": attributes}
    r = api.post("/api/v1/events", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _attr(event: dict[str, Any], value: str) -> dict[str, Any]:
    found = [a for a in event["attributes"] if a["value"] == value]
    assert len(found) == 1, (value, event["attributes"])
    return found[0]


def _correlations(api: Any, event: dict[str, Any] | int) -> dict[str, Any]:
    ref = event if isinstance(event, int) else event["id"]
    r = api.get(f"/api/v1/events/{ref}/correlations")
    assert r.status_code == 200, r.text
    return r.json()


def _pairs(body: dict[str, Any]) -> set[tuple[str, str, str, int]]:
    """(source value, kind, related value, related event id) of each correlation."""
    return {
        (c["attribute"]["value"], c["kind"], c["related"]["value"], c["related"]["event"]["id"])
        for c in body["correlations"]
    }


def _related_ids(body: dict[str, Any]) -> list[int]:
    return [e["id"] for e in body["related_events"]]


def _problem(r: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    if field is not None:
        assert body.get("field") == field, body
    return body


# ---------------------------------------------------------------- kinds, ranking, graph


def test_event_correlations_exact_cidr_ssdeep_ranked_with_graph(make_user) -> None:
    a = make_user("CERT-A", "publisher")
    b = make_user("CERT-B", "publisher")
    h1, h2 = _similar_ssdeeps(11)
    score = ppdeep.compare(h1, h2)
    assert score >= get_settings().ssdeep_threshold  # the fixture's premise
    md5 = "5d41402abc4b2a76b9719d911017c592"
    root = _event(
        a.api,
        "root",
        ("domain", "shared.example"),
        ("md5", md5),
        ("ip-dst", "203.0.113.77"),
        ("ssdeep", h1),
        ("text", "nobody else has this"),
        # A comment never correlates, even with a value another event has.
        ("comment", "other.example"),
    )
    near = _event(
        b.api,
        "near",
        ("domain", "shared.example"),
        ("md5", md5),
        ("ip-src", "203.0.113.0/24"),
        ("domain", "other.example"),
    )
    far = _event(b.api, "far", ("ssdeep", h2), ("ssdeep", _unrelated_ssdeep(99)))
    _event(b.api, "unrelated", ("domain", "elsewhere.example"), ("ip-dst", "198.51.100.1"))

    body = _correlations(a.api, root)
    assert body["event"] == {"id": root["id"], "uuid": root["uuid"], "info": "root"}
    assert _pairs(body) == {
        ("shared.example", "exact", "shared.example", near["id"]),
        (md5, "exact", md5, near["id"]),
        ("203.0.113.77", "cidr", "203.0.113.0/24", near["id"]),
        (h1, "ssdeep", h2, far["id"]),
    }
    by_kind = {c["kind"]: c for c in body["correlations"] if c["kind"] != "exact"}
    assert by_kind["ssdeep"]["score"] == score
    assert by_kind["cidr"]["score"] is None
    assert all(c["score"] is None for c in body["correlations"] if c["kind"] == "exact")
    cidr = by_kind["cidr"]
    assert cidr["attribute"]["id"] == _attr(root, "203.0.113.77")["id"]
    assert cidr["attribute"]["uuid"] == _attr(root, "203.0.113.77")["uuid"]
    related = _attr(near, "203.0.113.0/24")
    assert {k: cidr["related"][k] for k in ("id", "uuid", "type", "category")} == {
        "id": related["id"],
        "uuid": related["uuid"],
        "type": "ip-src",
        "category": related["category"],
    }
    assert cidr["related"]["event"] == {"id": near["id"], "uuid": near["uuid"], "info": "near"}

    # Ranked by the number of values shared: near shares three, far one.
    assert _related_ids(body) == [near["id"], far["id"]]
    assert [e["correlating_values"] for e in body["related_events"]] == [3, 1]
    first = body["related_events"][0]
    assert first["org"]["id"] == b.org_id and first["orgc"]["name"] == "CERT-B"
    assert first["uuid"] == near["uuid"] and first["info"] == "near"
    assert first["published"] is False and first["date"] == near["date"]
    assert body["over_correlating"] == []
    assert body["graph"]["nodes"] == [
        {"id": root["id"], "uuid": root["uuid"], "info": "root", "root": True},
        {"id": near["id"], "uuid": near["uuid"], "info": "near", "root": False},
        {"id": far["id"], "uuid": far["uuid"], "info": "far", "root": False},
    ]
    assert body["graph"]["edges"] == [
        {"source": root["id"], "target": near["id"], "weight": 3},
        {"source": root["id"], "target": far["id"], "weight": 1},
    ]

    # The other way round: the network contains root's address; by uuid as well as by id.
    back = b.api.get(f"/api/v1/events/{near['uuid']}/correlations").json()
    assert _pairs(back) == {
        ("shared.example", "exact", "shared.example", root["id"]),
        (md5, "exact", md5, root["id"]),
        ("203.0.113.0/24", "cidr", "203.0.113.77", root["id"]),
    }
    assert _related_ids(back) == [root["id"]]
    lonely = _correlations(b.api, _event(b.api, "lonely", ("domain", "lonely.example")))
    assert lonely["correlations"] == [] and lonely["related_events"] == []
    assert len(lonely["graph"]["nodes"]) == 1 and lonely["graph"]["edges"] == []
    _problem(a.api.get("/api/v1/events/999999/correlations"), 404)


def test_attribute_correlations(make_user) -> None:
    a = make_user("CERT-A", "publisher")
    md5 = "0cc175b9c0f1b6a831c399e269772661"
    mine = _event(a.api, "mine", ("md5", md5), ("domain", "solo.example"))
    one = _event(a.api, "one", ("md5", md5))
    two = _event(a.api, "two", ("filename|md5", f"dropper.exe|{md5}"))
    source = _attr(mine, md5)

    for ref in (source["id"], source["uuid"]):
        r = a.api.get(f"/api/v1/attributes/{ref}/correlations")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["attribute"] == {"id": source["id"], "uuid": source["uuid"]}
        assert {
            (c["related"]["event"]["id"], c["related"]["value"]) for c in body["correlations"]
        } == {
            (one["id"], md5),
            (two["id"], f"dropper.exe|{md5}"),
        }
        assert all(c["attribute"]["id"] == source["id"] for c in body["correlations"])
        assert sorted(_related_ids(body)) == sorted([one["id"], two["id"]])
        assert all(e["correlating_values"] == 1 for e in body["related_events"])
    # The composite attribute correlates through its second half.
    composite = _attr(two, f"dropper.exe|{md5}")
    body = a.api.get(f"/api/v1/attributes/{composite['id']}/correlations").json()
    assert {c["related"]["event"]["id"] for c in body["correlations"]} == {mine["id"], one["id"]}
    assert {c["attribute"]["value"] for c in body["correlations"]} == {md5}
    solo = _attr(mine, "solo.example")
    assert a.api.get(f"/api/v1/attributes/{solo['id']}/correlations").json()["correlations"] == []
    _problem(a.api.get("/api/v1/attributes/999999/correlations"), 404)


# ---------------------------------------------------------------- access rules


def test_correlations_follow_the_access_rules(admin, make_user) -> None:
    a_admin = make_user("CERT-A", "org-admin")
    a = make_user("CERT-A", "publisher")
    b = make_user("CERT-B", "publisher")
    sg = a_admin.api.post("/api/v1/sharing-groups", json={"name": "A only"}).json()
    private = _event(a.api, "A private", ("domain", "private.example"), distribution=0)
    community = _event(
        a.api,
        "A community",
        ("domain", "community.example"),
        {"type": "domain", "value": "attr-private.example", "distribution": 0},
        ("domain", "a-only.example"),
    )
    grouped = _event(
        a.api, "A group", ("domain", "group.example"), distribution=4, sharing_group_id=sg["id"]
    )
    theirs = _event(
        b.api,
        "B's",
        ("domain", "private.example"),
        ("domain", "community.example"),
        ("domain", "attr-private.example"),
        ("domain", "group.example"),
    )
    hidden_attr = _attr(community, "attr-private.example")
    b_hidden_value = _attr(theirs, "attr-private.example")

    # B sees only the community event, and only through its readable attribute.
    seen = _correlations(b.api, theirs)
    assert _pairs(seen) == {("community.example", "exact", "community.example", community["id"])}
    assert _related_ids(seen) == [community["id"]]
    assert seen["related_events"][0]["correlating_values"] == 1
    assert [n["id"] for n in seen["graph"]["nodes"]] == [theirs["id"], community["id"]]
    assert seen["graph"]["edges"] == [
        {"source": theirs["id"], "target": community["id"], "weight": 1}
    ]
    body = b.api.get(f"/api/v1/attributes/{b_hidden_value['id']}/correlations").json()
    assert body["correlations"] == [] and body["related_events"] == []
    for value in ("private.example", "group.example"):
        attr = _attr(theirs, value)
        body = b.api.get(f"/api/v1/attributes/{attr['id']}/correlations").json()
        assert body["correlations"] == [] and body["related_events"] == [], value
    # From A's community event, B does not see the hidden attribute's correlation either.
    other_side = _correlations(b.api, community)
    assert _pairs(other_side) == {("community.example", "exact", "community.example", theirs["id"])}
    _problem(b.api.get(f"/api/v1/events/{private['id']}/correlations"), 404)
    _problem(b.api.get(f"/api/v1/events/{grouped['id']}/correlations"), 404)
    _problem(b.api.get(f"/api/v1/attributes/{hidden_attr['id']}/correlations"), 404)

    # MISP's event view does not name the hidden events in RelatedEvent either.
    view = b.api.get(f"/events/view/{theirs['id']}")
    assert view.status_code == 200, view.text
    assert [r["Event"]["id"] for r in view.json()["Event"]["RelatedEvent"]] == [
        str(community["id"])
    ]

    # A (the owner) and the site admin see all of them.
    everything = {
        ("private.example", "exact", "private.example", private["id"]),
        ("community.example", "exact", "community.example", community["id"]),
        ("attr-private.example", "exact", "attr-private.example", community["id"]),
        ("group.example", "exact", "group.example", grouped["id"]),
    }
    assert _pairs(_correlations(a.api, theirs)) == everything
    full = _correlations(admin, theirs)
    assert _pairs(full) == everything
    assert _related_ids(full) == [community["id"], private["id"], grouped["id"]]
    assert [e["correlating_values"] for e in full["related_events"]] == [2, 1, 1]

    # Once B is a member of the sharing group, the group's event correlates for B.
    r = a_admin.api.post(f"/api/v1/sharing-groups/{sg['id']}/organisations", json={"org": "CERT-B"})
    assert r.status_code == 200, r.text
    seen = _correlations(b.api, theirs)
    assert _pairs(seen) == {
        ("community.example", "exact", "community.example", community["id"]),
        ("group.example", "exact", "group.example", grouped["id"]),
    }
    assert sorted(_related_ids(seen)) == sorted([community["id"], grouped["id"]])
    view = b.api.get(f"/events/view/{theirs['id']}").json()["Event"]
    assert sorted(int(r["Event"]["id"]) for r in view["RelatedEvent"]) == sorted(
        [community["id"], grouped["id"]]
    )
    group_attr = _attr(theirs, "group.example")
    body = b.api.get(f"/api/v1/attributes/{group_attr['id']}/correlations").json()
    assert _related_ids(body) == [grouped["id"]]


def test_hidden_source_attribute_in_a_readable_event(make_user) -> None:
    """An attribute B may not read, in an event B reads, correlates for B from neither side
    even when B's own event shares the value."""
    a = make_user("CERT-A", "publisher")
    b = make_user("CERT-B", "publisher")
    sg = make_user("CERT-A", "org-admin").api.post(
        "/api/v1/sharing-groups", json={"name": "closed"}
    )
    assert sg.status_code == 201, sg.text
    mixed = _event(
        a.api,
        "mixed",
        {"type": "ip-dst", "value": "192.0.2.10", "distribution": 0},
        {
            "type": "ip-dst",
            "value": "192.0.2.0/28",
            "distribution": 4,
            "sharing_group_id": sg.json()["id"],
        },
        ("domain", "open.example"),
    )
    mine = _event(b.api, "mine", ("ip-src", "192.0.2.10"), ("domain", "open.example"))
    assert _pairs(_correlations(b.api, mine)) == {
        ("open.example", "exact", "open.example", mixed["id"])
    }
    assert _pairs(_correlations(b.api, mixed)) == {
        ("open.example", "exact", "open.example", mine["id"])
    }
    assert _pairs(_correlations(a.api, mine)) == {
        ("open.example", "exact", "open.example", mixed["id"]),
        ("192.0.2.10", "exact", "192.0.2.10", mixed["id"]),
        ("192.0.2.10", "cidr", "192.0.2.0/28", mixed["id"]),
    }


# ---------------------------------------------------------------- exclusions


def _audit(admin: Any) -> list[dict[str, Any]]:
    r = admin.get("/api/v1/audit", params={"model": "CorrelationExclusion"})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def test_exclusions_are_for_site_admins(admin, make_user) -> None:
    made = admin.post("/api/v1/correlation-exclusions", json={"value": "noise.example"})
    assert made.status_code == 201, made.text
    ident = made.json()["id"]
    for role in ("user", "publisher", "org-admin"):
        who = make_user("CERT-A", role)
        _problem(who.api.get("/api/v1/correlation-exclusions"), 403)
        _problem(who.api.get(f"/api/v1/correlation-exclusions/{ident}"), 403)
        _problem(who.api.post("/api/v1/correlation-exclusions", json={"value": "x.example"}), 403)
        _problem(who.api.delete(f"/api/v1/correlation-exclusions/{ident}"), 403)
    listed = admin.get("/api/v1/correlation-exclusions").json()
    assert [x["value"] for x in listed] == ["noise.example"]
    assert [e["action"] for e in _audit(admin)] == ["create"]


@pytest.mark.parametrize(
    "body",
    [
        {"value": ""},
        {"value": "   "},
        {"value": "%"},
        {"value": "%%%"},
        {"value": "x" * 1025},
        {},
    ],
    ids=["empty", "blank", "percent", "percents", "too-long", "missing"],
)
def test_exclusion_bad_input_names_the_field(admin, body) -> None:
    r = admin.post("/api/v1/correlation-exclusions", json=body)
    assert 400 <= r.status_code < 500, r.text
    _problem(r, r.status_code, "value")
    assert admin.get("/api/v1/correlation-exclusions").json() == []
    assert _audit(admin) == []


def test_exclusions_apply_on_the_next_read_and_are_audited(admin, instance, make_user) -> None:
    a = make_user("CERT-A", "publisher")
    b = make_user("CERT-B", "publisher")
    values = (
        ("domain", "excluded.example"),
        ("domain", "one.tracker.example"),
        ("domain", "two.tracker.example"),
        ("domain", "keep.example"),
        ("ip-dst", "10.20.30.40"),
    )
    first = _event(a.api, "first", *values)
    second = _event(b.api, "second", *values[:4], ("ip-dst", "10.20.30.0/24"))
    everything = {
        ("excluded.example", "exact", "excluded.example", second["id"]),
        ("one.tracker.example", "exact", "one.tracker.example", second["id"]),
        ("two.tracker.example", "exact", "two.tracker.example", second["id"]),
        ("keep.example", "exact", "keep.example", second["id"]),
        ("10.20.30.40", "cidr", "10.20.30.0/24", second["id"]),
    }
    assert _pairs(_correlations(a.api, first)) == everything

    r = admin.post(
        "/api/v1/correlation-exclusions", json={"value": " excluded.example ", "comment": "noise"}
    )
    assert r.status_code == 201, r.text
    exact = r.json()
    assert (exact["value"], exact["comment"]) == ("excluded.example", "noise")
    assert isinstance(exact["id"], int) and exact["created_at"]
    _problem(
        admin.post("/api/v1/correlation-exclusions", json={"value": "excluded.example"}),
        409,
        "value",
    )
    wild = admin.post("/api/v1/correlation-exclusions", json={"value": "%.tracker.example"})
    assert wild.status_code == 201, wild.text
    net = admin.post("/api/v1/correlation-exclusions", json={"value": "10.20.30.0/24"})
    assert net.status_code == 201, net.text

    assert [x["value"] for x in admin.get("/api/v1/correlation-exclusions").json()] == [
        "excluded.example",
        "%.tracker.example",
        "10.20.30.0/24",
    ]
    got = admin.get(f"/api/v1/correlation-exclusions/{exact['id']}")
    assert got.status_code == 200 and got.json()["value"] == "excluded.example"
    _problem(admin.get("/api/v1/correlation-exclusions/999999"), 404, "id")
    _problem(admin.get("/api/v1/correlation-exclusions/abc"), 404, "id")

    # Excluded values no longer correlate, from either side, for any reader.
    kept = {("keep.example", "exact", "keep.example", second["id"])}
    assert _pairs(_correlations(a.api, first)) == kept
    assert _pairs(_correlations(admin, first)) == kept
    assert _pairs(_correlations(b.api, second)) == {
        ("keep.example", "exact", "keep.example", first["id"])
    }
    excluded_attr = _attr(first, "excluded.example")
    body = a.api.get(f"/api/v1/attributes/{excluded_attr['id']}/correlations").json()
    assert body["correlations"] == []
    assert _correlations(a.api, first)["related_events"][0]["correlating_values"] == 1

    # Deleting an exclusion brings its correlations back.
    assert admin.delete(f"/api/v1/correlation-exclusions/{exact['id']}").status_code == 204
    assert admin.delete(f"/api/v1/correlation-exclusions/{wild.json()['id']}").status_code == 204
    assert admin.delete(f"/api/v1/correlation-exclusions/{net.json()['id']}").status_code == 204
    _problem(admin.delete(f"/api/v1/correlation-exclusions/{exact['id']}"), 404, "id")
    assert _pairs(_correlations(a.api, first)) == everything
    assert admin.get("/api/v1/correlation-exclusions").json() == []

    entries = _audit(admin)
    assert [(e["action"], e["title"]) for e in entries] == [
        ("create", "excluded.example"),
        ("create", "%.tracker.example"),
        ("create", "10.20.30.0/24"),
        ("delete", "excluded.example"),
        ("delete", "%.tracker.example"),
        ("delete", "10.20.30.0/24"),
    ]
    assert [e["model_id"] for e in entries] == [
        exact["id"],
        wild.json()["id"],
        net.json()["id"],
        exact["id"],
        wild.json()["id"],
        net.json()["id"],
    ]
    assert {e["user_id"] for e in entries} == {instance.admin_id}
    assert admin.get("/api/v1/audit/verify").json()["ok"] is True


# ---------------------------------------------------------------- disable_correlation


def test_disable_correlation_on_attribute_and_event(make_user) -> None:
    a = make_user("CERT-A", "publisher")
    b = make_user("CERT-B", "publisher")
    here = _event(a.api, "here", ("domain", "a.example"), ("domain", "b.example"))
    there = _event(
        b.api,
        "there",
        ("domain", "a.example"),
        ("domain", "b.example"),
        {"type": "domain", "value": "c.example", "disable_correlation": True},
    )
    _event(a.api, "third", ("domain", "c.example"))
    both = {
        ("a.example", "exact", "a.example", there["id"]),
        ("b.example", "exact", "b.example", there["id"]),
    }
    assert _pairs(_correlations(a.api, here)) == both
    # Flagged at creation: c.example correlates with nothing.
    flagged = _attr(there, "c.example")
    assert flagged["disable_correlation"] is True
    assert (
        b.api.get(f"/api/v1/attributes/{flagged['id']}/correlations").json()["correlations"] == []
    )

    # On one attribute: that attribute stops correlating, from both sides.
    target = _attr(there, "a.example")
    r = b.api.patch(f"/api/v1/attributes/{target['id']}", json={"disable_correlation": True})
    assert r.status_code == 200 and r.json()["disable_correlation"] is True, r.text
    assert _pairs(_correlations(a.api, here)) == {("b.example", "exact", "b.example", there["id"])}
    assert b.api.get(f"/api/v1/attributes/{target['id']}/correlations").json()["correlations"] == []
    r = b.api.patch(f"/api/v1/attributes/{target['id']}", json={"disable_correlation": False})
    assert r.status_code == 200, r.text
    assert _pairs(_correlations(a.api, here)) == both

    # On the event: none of its attributes correlates, from either side.
    r = b.api.patch(f"/api/v1/events/{there['id']}", json={"disable_correlation": True})
    assert r.status_code == 200, r.text
    assert _correlations(a.api, here)["correlations"] == []
    assert _correlations(a.api, here)["related_events"] == []
    assert _correlations(b.api, there)["correlations"] == []
    assert b.api.get(f"/api/v1/attributes/{target['id']}/correlations").json()["correlations"] == []
    r = b.api.patch(f"/api/v1/events/{there['id']}", json={"disable_correlation": False})
    assert r.status_code == 200, r.text
    assert _pairs(_correlations(a.api, here)) == both

    # A deleted attribute does not correlate either.
    assert b.api.delete(f"/api/v1/attributes/{target['id']}").status_code == 204
    assert _pairs(_correlations(a.api, here)) == {("b.example", "exact", "b.example", there["id"])}


# ---------------------------------------------------------------- over-correlation


@pytest.fixture
def low_cap(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A correlation cap of 2 (the setting is read on every correlation request)."""
    monkeypatch.setenv("SHIELDWALL_CORRELATION_CAP", "2")
    get_settings.cache_clear()
    yield 2
    monkeypatch.undo()
    get_settings.cache_clear()


def test_over_correlating_values_agree_between_event_and_attribute(admin, low_cap) -> None:
    """A value held by more attributes than the cap (the event's own included) is reported
    as over-correlating instead of linked, whether the event or one attribute is asked."""
    here = _event(
        admin,
        "here",
        ("domain", "popular.example"),
        ("hostname", "popular.example"),
        ("domain", "pair.example"),
    )
    there = _event(admin, "there", ("domain", "popular.example"), ("domain", "pair.example"))
    by_type = {a["type"]: a for a in here["attributes"] if a["value"] == "popular.example"}
    domain, hostname = by_type["domain"], by_type["hostname"]

    body = _correlations(admin, here)
    assert body["over_correlating"] == [
        {"value": "popular.example", "attribute_ids": sorted([domain["id"], hostname["id"]])}
    ]
    # Exactly at the cap still links.
    assert _pairs(body) == {("pair.example", "exact", "pair.example", there["id"])}
    other = _correlations(admin, there)
    assert other["over_correlating"] == [
        {"value": "popular.example", "attribute_ids": [_attr(there, "popular.example")["id"]]}
    ]
    assert _pairs(other) == {("pair.example", "exact", "pair.example", here["id"])}

    one = admin.get(f"/api/v1/attributes/{domain['id']}/correlations").json()
    assert one["correlations"] == [], one["correlations"]
    assert one["over_correlating"] == [
        {"value": "popular.example", "attribute_ids": [domain["id"]]}
    ]
