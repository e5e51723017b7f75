"""The real PyMISP against a live Shieldwall: RelatedEvent in event views and add answers,
RelatedAttribute (granular correlations, attributes restSearch), events restSearch with
correlations, correlation exclusions through PyMISP's calls, and the access rules seen from
two organisations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymisp import MISPAttribute, MISPCorrelationExclusion, MISPEvent, MISPSharingGroup, PyMISP

MispAs = Callable[[str, str], PyMISP]

MD5 = "9e107d9d372bb6826bd81d3542a419d6"


def _event(misp: PyMISP, info: str, *values: Any, distribution: int = 1) -> MISPEvent:
    """Add an event; values are (type, value) pairs or (type, value, {attribute fields})."""
    e = MISPEvent()
    e.info = info
    e.distribution = distribution
    for t, v, *extra in values:
        e.add_attribute(t, v, **(extra[0] if extra else {}))
    created = misp.add_event(e, pythonify=True)
    assert isinstance(created, MISPEvent), created
    return created


def _related_ids(event: MISPEvent) -> list[str]:
    """The ids in a pythonified event's RelatedEvent ({"Event": MISPEvent} entries)."""
    return [str(r["Event"].id) for r in event.RelatedEvent]


def _raw_related_ids(event: dict[str, Any]) -> list[str]:
    return [r["Event"]["id"] for r in event["RelatedEvent"]]


def _attr_id(event: MISPEvent, value: str) -> str:
    found = [a for a in event.attributes if a.value == value]
    assert len(found) == 1, (value, [a.value for a in event.attributes])
    return str(found[0].id)


def _error(answer: Any) -> tuple[int, dict[str, Any]]:
    assert isinstance(answer, dict) and "errors" in answer, answer
    status, body = answer["errors"]
    return status, body


def _granular(misp: PyMISP, event: MISPEvent) -> dict[str, Any]:
    """events/view with includeGranularCorrelations, as MISP's UI and scripts ask for it."""
    answer = misp.direct_call(f"events/view/{event.id}", {"includeGranularCorrelations": 1})
    assert "Event" in answer, answer
    return dict(answer["Event"])


# ---------------------------------------------------------------- RelatedEvent


def test_related_events_in_view_and_add_answers(misp: PyMISP) -> None:
    first = _event(misp, "first", ("domain", "shared.example"), ("md5", MD5))
    assert first.RelatedEvent == []
    second = _event(misp, "second", ("domain", "shared.example"))
    # The add answer already names the event it correlates with.
    assert _related_ids(second) == [str(first.id)]
    third = _event(
        misp,
        "third",
        ("domain", "shared.example"),
        ("md5", MD5),
        ("ip-dst", "198.51.100.0/24"),
    )
    assert _related_ids(third) == [str(first.id), str(second.id)]

    viewed = misp.get_event(first.id, pythonify=True)
    assert isinstance(viewed, MISPEvent), viewed
    # Most shared values first: third shares two, second one.
    assert _related_ids(viewed) == [str(third.id), str(second.id)]
    assert [str(r["Event"].id) for r in viewed.related_events] == _related_ids(viewed)
    rel = viewed.RelatedEvent[0]["Event"]
    assert rel.info == "third" and rel.uuid == third.uuid
    assert rel.Orgc.name == "HOST-CERT" and rel.Org.name == "HOST-CERT"
    assert str(rel.distribution) == "1" and rel.published is False

    raw = misp.get_event(first.uuid)
    assert _raw_related_ids(raw["Event"]) == [str(third.id), str(second.id)]
    entry = raw["Event"]["RelatedEvent"][1]["Event"]
    assert entry["uuid"] == second.uuid and entry["info"] == "second"
    assert entry["org_id"] == entry["orgc_id"] and entry["Org"]["name"] == "HOST-CERT"
    # Without granular correlations, no RelatedAttribute.
    assert "RelatedAttribute" not in raw["Event"]


def test_granular_correlations_keyed_by_attribute_id(misp: PyMISP) -> None:
    mine = _event(
        misp,
        "mine",
        ("domain", "granular.example"),
        ("ip-dst", "192.0.2.33"),
        ("md5", MD5),
        ("domain", "alone.example"),
    )
    other = _event(misp, "other", ("domain", "granular.example"), ("ip-src", "192.0.2.0/24"))
    hashed = _event(misp, "hashed", ("md5", MD5))

    event = _granular(misp, mine)
    assert sorted(_raw_related_ids(event)) == sorted([str(other.id), str(hashed.id)])
    related = event["RelatedAttribute"]
    domain_id = _attr_id(mine, "granular.example")
    ip_id = _attr_id(mine, "192.0.2.33")
    md5_id = _attr_id(mine, MD5)
    assert set(related) == {domain_id, ip_id, md5_id}
    assert [(r["id"], r["attribute_id"], r["value"]) for r in related[domain_id]] == [
        (str(other.id), _attr_id(other, "granular.example"), "granular.example")
    ]
    assert [(r["id"], r["attribute_id"]) for r in related[ip_id]] == [
        (str(other.id), _attr_id(other, "192.0.2.0/24"))
    ]
    assert [(r["id"], r["attribute_id"]) for r in related[md5_id]] == [
        (str(hashed.id), _attr_id(hashed, MD5))
    ]
    first = related[md5_id][0]
    assert first["info"] == "hashed" and first["date"] == str(hashed.date)
    assert first["org_id"] == str(hashed.orgc_id)
    # The attribute keys name attributes of the viewed event.
    assert set(related) <= {str(a.id) for a in mine.attributes}


# ---------------------------------------------------------------- restSearch


def test_attributes_rest_search_include_correlations(misp: PyMISP) -> None:
    a = _event(misp, "search a", ("domain", "rs.example"), ("url", "https://rs.example/x"))
    b = _event(misp, "search b", ("domain", "rs.example"), ("ip-dst", "203.0.113.9"))
    c = _event(misp, "search c", ("domain", "rs.example"), ("ip-dst", "203.0.113.0/25"))

    found = misp.search(controller="attributes", value="rs.example", include_correlations=True)
    attrs = found["Attribute"]
    assert len(attrs) == 3
    by_event = {x["event_id"]: x for x in attrs}
    for event, others in ((a, (b, c)), (b, (a, c)), (c, (a, b))):
        related = by_event[str(event.id)]["RelatedAttribute"]
        assert sorted(r["event_id"] for r in related) == sorted(str(o.id) for o in others)
        assert all(r["value"] == "rs.example" and r["type"] == "domain" for r in related)
        for r in related:
            other = a if r["event_id"] == str(a.id) else b if r["event_id"] == str(b.id) else c
            assert r["id"] == _attr_id(other, "rs.example")
            assert r["Event"]["id"] == str(other.id) and r["Event"]["info"] == other.info
            assert r["Event"]["uuid"] == other.uuid

    ip = misp.search(
        controller="attributes", value="203.0.113.9", include_correlations=True, pythonify=True
    )
    assert len(ip) == 1
    # Pythonified: each related attribute a MISPAttribute carrying its MISPEvent.
    assert [(type(r), r.event_id, r.value) for r in ip[0].RelatedAttribute] == [
        (MISPAttribute, c.id, "203.0.113.0/25")
    ]
    assert isinstance(ip[0].RelatedAttribute[0].Event, MISPEvent)
    assert ip[0].RelatedAttribute[0].Event.uuid == c.uuid
    plain = misp.search(controller="attributes", value="rs.example")
    assert all("RelatedAttribute" not in x for x in plain["Attribute"])
    lonely = misp.search(
        controller="attributes", value="https://rs.example/x", include_correlations=True
    )
    assert [x["RelatedAttribute"] for x in lonely["Attribute"]] == [[]]


def test_events_rest_search_include_correlations(misp: PyMISP) -> None:
    one = _event(misp, "ev search one", ("domain", "evs.example"), ("md5", MD5))
    two = _event(misp, "ev search two", ("domain", "evs.example"))
    three = _event(misp, "ev search three", ("md5", MD5), ("domain", "evs3.example"))

    found = misp.search(controller="events", eventinfo="ev search one", include_correlations=True)
    assert len(found) == 1
    assert sorted(_raw_related_ids(found[0]["Event"])) == sorted([str(two.id), str(three.id)])
    objs = misp.search(
        controller="events", value="evs.example", include_correlations=True, pythonify=True
    )
    related = {e.uuid: _related_ids(e) for e in objs}
    # One value shared with each: the newer event first, as MISP lists them.
    assert related == {one.uuid: [str(three.id), str(two.id)], two.uuid: [str(one.id)]}
    without = misp.search(controller="events", eventinfo="ev search one")
    assert without[0]["Event"].get("RelatedEvent", []) == []


# ---------------------------------------------------------------- exclusions


def _exclusion(value: str, comment: str = "") -> MISPCorrelationExclusion:
    x = MISPCorrelationExclusion()
    x.value = value
    x.comment = comment
    return x


def test_correlation_exclusions_through_pymisp(misp: PyMISP) -> None:
    first = _event(
        misp, "excl one", ("domain", "cdn.example"), ("domain", "a.tracker.example"), ("md5", MD5)
    )
    second = _event(
        misp, "excl two", ("domain", "cdn.example"), ("domain", "a.tracker.example"), ("md5", MD5)
    )
    assert _related_ids(misp.get_event(first.id, pythonify=True)) == [str(second.id)]
    assert misp.correlation_exclusions() == []

    made = misp.add_correlation_exclusion(_exclusion("cdn.example", "CDN"), pythonify=True)
    assert isinstance(made, MISPCorrelationExclusion), made
    assert made.value == "cdn.example" and made.comment == "CDN"
    wild = misp.add_correlation_exclusion(_exclusion("%.tracker.example"), pythonify=True)
    assert isinstance(wild, MISPCorrelationExclusion), wild
    status, body = _error(misp.add_correlation_exclusion(_exclusion("cdn.example")))
    assert status == 409 and "value" in body["errors"]
    status, body = _error(misp.add_correlation_exclusion(_exclusion("%")))
    assert 400 <= status < 500 and "value" in body["errors"]

    listed = misp.correlation_exclusions(pythonify=True)
    assert [(x.id, x.value) for x in listed] == [
        (made.id, "cdn.example"),
        (wild.id, "%.tracker.example"),
    ]
    raw = misp.correlation_exclusions()
    assert raw[0]["CorrelationExclusion"]["value"] == "cdn.example"
    got = misp.get_correlation_exclusion(made.id, pythonify=True)
    assert isinstance(got, MISPCorrelationExclusion) and got.value == "cdn.example"
    status, _ = _error(misp.get_correlation_exclusion(999999))
    assert status == 404

    # Only the md5 is left to correlate.
    granular = _granular(misp, first)
    assert _raw_related_ids(granular) == [str(second.id)]
    assert list(granular["RelatedAttribute"]) == [_attr_id(first, MD5)]
    misp.add_correlation_exclusion(_exclusion(MD5))
    assert misp.get_event(first.id, pythonify=True).RelatedEvent == []
    found = misp.search(controller="attributes", value="cdn.example", include_correlations=True)
    assert [x["RelatedAttribute"] for x in found["Attribute"]] == [[], []]

    cleaned = misp.clean_correlation_exclusions()
    assert cleaned.get("success") is True, cleaned
    deleted = misp.delete_correlation_exclusion(made)
    assert deleted.get("success") is True, deleted
    status, _ = _error(misp.delete_correlation_exclusion(made.id))
    assert status == 404
    assert [x.value for x in misp.correlation_exclusions(pythonify=True)] == [
        "%.tracker.example",
        MD5,
    ]
    granular = _granular(misp, first)
    assert _raw_related_ids(granular) == [str(second.id)]
    assert list(granular["RelatedAttribute"]) == [_attr_id(first, "cdn.example")]


def test_correlation_exclusions_refused_for_other_roles(misp: PyMISP, misp_as: MispAs) -> None:
    made = misp.add_correlation_exclusion(_exclusion("kept.example"), pythonify=True)
    assert isinstance(made, MISPCorrelationExclusion), made
    for role in ("user", "publisher", "org admin"):
        other = misp_as("KAPPA", role)
        for answer in (
            other.correlation_exclusions(),
            other.get_correlation_exclusion(made.id),
            other.add_correlation_exclusion(_exclusion("mine.example")),
            other.delete_correlation_exclusion(made.id),
            other.clean_correlation_exclusions(),
        ):
            status, _ = _error(answer)
            assert status == 403, (role, answer)
    assert [x.value for x in misp.correlation_exclusions(pythonify=True)] == ["kept.example"]


# ---------------------------------------------------------------- access rules


def test_correlations_respect_access_rules_for_two_orgs(misp: PyMISP, misp_as: MispAs) -> None:
    a_admin = misp_as("ALPHA", "org admin")
    a = misp_as("ALPHA", "publisher")
    b = misp_as("BRAVO", "publisher")
    sg = MISPSharingGroup()
    sg.name = "alpha only"
    group = a_admin.add_sharing_group(sg, pythonify=True)
    assert isinstance(group, MISPSharingGroup), group

    private = _event(a, "alpha private", ("domain", "private.example"), distribution=0)
    community = _event(
        a,
        "alpha community",
        ("domain", "community.example"),
        ("domain", "attr-private.example", {"distribution": 0}),
    )
    grouped_event = MISPEvent()
    grouped_event.info = "alpha group"
    grouped_event.distribution = 4
    grouped_event.sharing_group_id = group.id
    grouped_event.add_attribute("domain", "group.example")
    grouped = a.add_event(grouped_event, pythonify=True)
    assert isinstance(grouped, MISPEvent), grouped
    values = ("private.example", "community.example", "attr-private.example", "group.example")
    theirs = _event(b, "bravo", *(("domain", v) for v in values))

    # The add answer, the view, the granular view and both restSearch calls agree for B.
    assert _related_ids(theirs) == [str(community.id)]
    assert _related_ids(b.get_event(theirs.id, pythonify=True)) == [str(community.id)]
    granular = _granular(b, theirs)
    assert list(granular["RelatedAttribute"]) == [_attr_id(theirs, "community.example")]
    assert [
        r["id"] for r in granular["RelatedAttribute"][_attr_id(theirs, "community.example")]
    ] == [str(community.id)]
    found = b.search(controller="attributes", eventid=theirs.id, include_correlations=True)
    related = {x["value"]: x["RelatedAttribute"] for x in found["Attribute"]}
    assert {v: [r["event_id"] for r in rs] for v, rs in related.items()} == {
        "private.example": [],
        "community.example": [str(community.id)],
        "attr-private.example": [],
        "group.example": [],
    }
    events = b.search(controller="events", eventid=theirs.id, include_correlations=True)
    assert _raw_related_ids(events[0]["Event"]) == [str(community.id)]
    # From A's community event, B sees no correlation of the attribute it cannot read.
    view = _granular(b, community)
    assert list(view["RelatedAttribute"]) == [_attr_id(community, "community.example")]
    status, _ = _error(b.get_event(private.id))
    assert status == 404

    # A and the site admin see all four.
    expected = sorted([str(private.id), str(community.id), str(grouped.id)])
    assert sorted(_related_ids(a.get_event(theirs.id, pythonify=True))) == expected
    assert sorted(_related_ids(misp.get_event(theirs.id, pythonify=True))) == expected
    admin_granular = _granular(misp, theirs)
    assert set(admin_granular["RelatedAttribute"]) == {_attr_id(theirs, v) for v in values}

    # B joins the sharing group: the group's event correlates for B from then on.
    added = a_admin.add_org_to_sharing_group(group, b._current_user.org_id)
    assert added.get("success") is True, added
    assert sorted(_related_ids(b.get_event(theirs.id, pythonify=True))) == sorted(
        [str(community.id), str(grouped.id)]
    )
    found = b.search(controller="attributes", value="group.example", include_correlations=True)
    mine = [x for x in found["Attribute"] if x["event_id"] == str(theirs.id)]
    assert [r["event_id"] for r in mine[0]["RelatedAttribute"]] == [str(grouped.id)]
