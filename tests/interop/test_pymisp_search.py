"""The real PyMISP against a live Shieldwall: restSearch options and formats (json, csv,
text), objects restSearch, and that no format shows another organisation's private data."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from pymisp import MISPAttribute, MISPEvent, MISPObject, MISPSharingGroup, PyMISP


def _add(misp: PyMISP, info: str, *values: tuple[str, str], **kw: object) -> MISPEvent:
    e = MISPEvent()
    e.info = info
    e.distribution = int(kw.get("distribution", 1))  # type: ignore[call-overload]
    for tag in kw.get("tags", ()):  # type: ignore[attr-defined]
        e.add_tag(tag)
    for t, v in values:
        e.add_attribute(t, v)
    created = misp.add_event(e, pythonify=True)
    assert isinstance(created, MISPEvent), created
    return created


def test_text_and_csv_formats(misp: PyMISP) -> None:
    event = _add(
        misp, "flat formats", ("url", "https://flat.example/a"), ("url", "https://flat.example/b")
    )
    misp.tag(event.attributes[0], "kill-chain:delivery")
    text = misp.search(controller="attributes", type_attribute="url", return_format="text")
    assert sorted(text.split()) == ["https://flat.example/a", "https://flat.example/b"]
    raw = misp.search(controller="attributes", type_attribute="url", return_format="csv")
    rows = list(csv.DictReader(io.StringIO(raw)))
    assert [r["value"] for r in rows] == ["https://flat.example/a", "https://flat.example/b"]
    assert rows[0]["attribute_tag"] == "kill-chain:delivery" and rows[0]["to_ids"] == "1"
    assert rows[0]["event_id"] == str(event.id) and rows[0]["type"] == "url"
    chosen = misp.search(
        controller="attributes",
        type_attribute="url",
        return_format="csv",
        requested_attributes=["value", "event_info"],
        include_context=True,
        headerless=True,
    )
    first = next(csv.reader(io.StringIO(chosen)))
    assert first[:2] == ["https://flat.example/a", "flat formats"]
    # events/restSearch exports the attributes of the matching events.
    by_event = misp.search(controller="events", eventinfo="flat formats", return_format="text")
    assert sorted(by_event.split()) == ["https://flat.example/a", "https://flat.example/b"]
    refused = misp.search(controller="attributes", return_format="openioc")
    assert refused["errors"][0] == 422 and "returnFormat" in refused["errors"][1]["errors"]


def test_tags_times_paging_and_event_tags(misp: PyMISP) -> None:
    red = _add(misp, "tagged a", ("domain", "ta.example"), tags=["tlp:amber", "type:OSINT"])
    green = _add(misp, "tagged b", ("domain", "tb.example"), tags=["tlp:green", "type:OSINT"])
    both = misp.build_complex_query(and_parameters=["type:OSINT"], not_parameters=["tlp:amber"])
    hits = misp.search(controller="events", tags=both, pythonify=True)
    assert [e.uuid for e in hits] == [green.uuid]
    either = misp.search(controller="events", tags=["tlp:amber", "tlp:green"], pythonify=True)
    assert {e.uuid for e in either} == {red.uuid, green.uuid}
    recent = misp.search(
        controller="attributes", value="t%.example", timestamp="1d", pythonify=True
    )
    assert sorted(a.value for a in recent) == ["ta.example", "tb.example"]
    assert misp.search(controller="attributes", value="t%.example", timestamp=["1d", "2d"]) == {
        "Attribute": []
    }
    page1 = misp.search(
        controller="attributes", value="t%.example", limit=1, page=1, pythonify=True
    )
    page2 = misp.search(
        controller="attributes", value="t%.example", limit=1, page=2, pythonify=True
    )
    page3 = misp.search(
        controller="attributes", value="t%.example", limit=1, page=3, pythonify=True
    )
    assert [a.value for a in page1 + page2] == ["ta.example", "tb.example"] and page3 == []
    with_tags = misp.search(
        controller="attributes", value="tb.example", include_event_tags=True, pythonify=True
    )
    assert sorted(t.name for t in with_tags[0].tags) == ["tlp:green", "type:OSINT"]
    plain = misp.search(controller="attributes", value="tb.example", pythonify=True)
    assert plain[0].tags == []
    meta = misp.search(controller="events", eventinfo="tagged b", metadata=True, pythonify=True)
    assert meta[0].attributes == [] and {t.name for t in meta[0].tags} == {
        "tlp:green",
        "type:OSINT",
    }


def test_include_sightings(misp: PyMISP) -> None:
    event = _add(misp, "sighted", ("ip-dst", "192.0.2.200"))
    attr = event.attributes[0]
    answer = misp.add_sighting({"source": "sensor-1"}, attr)
    assert "errors" not in answer, answer
    found = misp.search(
        controller="attributes", value="192.0.2.200", include_sightings=True, pythonify=True
    )
    assert [s.source for s in found[0].sightings] == ["sensor-1"]
    events = misp.search(controller="events", value="192.0.2.200", include_sightings=True)
    sightings = events[0]["Event"]["Attribute"][0]["Sighting"]
    assert [s["source"] for s in sightings] == ["sensor-1"]


def test_objects_rest_search(misp: PyMISP) -> None:
    event = _add(misp, "object search", ("domain", "loose.example"))
    obj = MISPObject("domain-ip")
    obj.add_attribute("domain", value="inobject.example")
    obj.add_attribute("ip", value="192.0.2.150")
    made = misp.add_object(event, obj, pythonify=True)
    found = misp.search(controller="objects", value="192.0.2.150", pythonify=True)
    assert [o.uuid for o in found] == [made.uuid]
    assert {a.value for a in found[0].attributes} == {"inobject.example", "192.0.2.150"}
    assert misp.search(controller="objects", value="loose.example", pythonify=True) == []
    named = misp.search(controller="objects", object_name="domain-ip", eventid=event.id)
    assert len(named) == 1
    assert misp.search(controller="objects", object_name="file", eventid=event.id) == []


def test_sharing_groups_in_views_and_sg_reference_only(
    misp_as: Callable[[str, str], PyMISP],
) -> None:
    owner = misp_as("KAPPA", "org admin")
    member = misp_as("MU", "user")
    group = MISPSharingGroup()
    group.name = "Rail ISAC"
    group.releasability = "rail operators"
    sg = owner.add_sharing_group(group, pythonify=True)
    assert owner.add_org_to_sharing_group(sg, member._current_user.org_id)["success"] is True
    e = MISPEvent()
    e.info, e.distribution, e.sharing_group_id = "rail", 4, sg.id
    e.add_attribute("domain", "rail.example")
    e.add_attribute("ip-dst", "192.0.2.77", distribution=4, sharing_group_id=sg.id)
    made = owner.add_event(e, pythonify=True)
    assert isinstance(made, MISPEvent), made

    view = member.get_event(made.id)["Event"]
    assert view["SharingGroup"]["name"] == "Rail ISAC"
    assert view["SharingGroup"]["releasability"] == "rail operators"
    assert sorted(o["Organisation"]["name"] for o in view["SharingGroup"]["SharingGroupOrg"]) == [
        "KAPPA",
        "MU",
    ]
    ip = next(a for a in view["Attribute"] if a["type"] == "ip-dst")
    assert ip["SharingGroup"]["id"] == str(sg.id)
    assert "SharingGroup" not in next(a for a in view["Attribute"] if a["type"] == "domain")
    assert member.get_event(made.id, pythonify=True).SharingGroup.name == "Rail ISAC"

    full = member.search(eventid=made.id)[0]["Event"]
    assert full["SharingGroup"]["uuid"] == sg.uuid
    bare = member.search(eventid=made.id, sg_reference_only=True)[0]["Event"]
    assert "SharingGroup" not in bare and bare["sharing_group_id"] == str(sg.id)
    assert all("SharingGroup" not in a for a in bare["Attribute"])
    meta = member.search(eventid=made.id, metadata=True)[0]["Event"]
    assert meta["SharingGroup"]["name"] == "Rail ISAC"
    meta_bare = member.search(eventid=made.id, metadata=True, sg_reference_only=True)[0]["Event"]
    assert "SharingGroup" not in meta_bare
    named = member._check_json_response(
        member._prepare_request("GET", f"events/view/{made.id}/sgReferenceOnly:1")
    )
    assert "SharingGroup" not in named["Event"]
    # The attribute search takes the parameter too (it carries ids only either way).
    found = member.search(controller="attributes", eventid=made.id, sg_reference_only=True)
    assert {a["sharing_group_id"] for a in found["Attribute"]} == {"0", str(sg.id)}


def test_no_format_shows_another_organisations_private_event(
    misp_as: Callable[[str, str], PyMISP],
) -> None:
    alpha = misp_as("ALPHA", "user")
    beta = misp_as("BETA", "user")
    _add(alpha, "alpha private search", ("url", "https://private.example/x"), distribution=0)
    _add(alpha, "alpha shared search", ("url", "https://shared.example/x"))
    for controller in ("attributes", "events"):
        text = beta.search(controller=controller, type_attribute="url", return_format="text")
        assert "private.example" not in text and "shared.example" in text
        raw = beta.search(controller=controller, type_attribute="url", return_format="csv")
        assert "private.example" not in raw and "shared.example" in raw
    attrs = beta.search(controller="attributes", type_attribute="url", pythonify=True)
    assert all(isinstance(a, MISPAttribute) for a in attrs)
    assert "https://private.example/x" not in {a.value for a in attrs}
    assert beta.search(controller="events", eventinfo="alpha private search") == []
    assert beta.search(controller="objects", value="https://private.example/x") == []


def test_enforce_warninglist_drops_listed_values_in_every_format(misp: PyMISP) -> None:
    resolvers = next(
        w
        for w in misp.warninglists()
        if w["Warninglist"]["name"].startswith("List of known IPv4 public DNS")
    )
    event = _add(misp, "warned", ("ip-dst", "8.8.8.8"), ("ip-dst", "192.0.2.33"))
    plain = misp.search(controller="attributes", eventid=event.id, pythonify=True)
    assert sorted(a.value for a in plain) == ["192.0.2.33", "8.8.8.8"]
    # No list enabled: nothing to enforce.
    same = misp.search(
        controller="attributes", eventid=event.id, enforce_warninglist=True, pythonify=True
    )
    assert len(same) == 2
    assert misp.enable_warninglist(resolvers["Warninglist"]["id"])["saved"] is True
    kept = misp.search(
        controller="attributes", eventid=event.id, enforce_warninglist=True, pythonify=True
    )
    assert [a.value for a in kept] == ["192.0.2.33"]
    text = misp.search(
        controller="attributes", eventid=event.id, enforce_warninglist=True, return_format="text"
    )
    assert text.split() == ["192.0.2.33"]
    raw = misp.search(
        controller="attributes", eventid=event.id, enforce_warninglist=True, return_format="csv"
    )
    assert "8.8.8.8" not in raw and "192.0.2.33" in raw
    events = misp.search(
        controller="events", eventid=event.id, enforce_warninglist=True, pythonify=True
    )
    assert [a.value for a in events[0].attributes] == ["192.0.2.33"]
    # Without the flag the listed value is still there.
    assert len(misp.search(controller="attributes", eventid=event.id, pythonify=True)) == 2


def test_quick_filter_event_timestamp_and_sharing_group(
    misp: PyMISP, misp_as: Callable[[str, str], PyMISP]
) -> None:
    """quickFilter/searchall match a substring of a value, comment, event info or tag name,
    or a whole uuid; event_timestamp filters on the event's time; sharinggroup on the
    event's group (attributes inherit it). Nothing outside the caller's reach matches."""
    import time

    from pymisp import MISPSharingGroup

    plain = _add(misp, "quick plain", ("domain", "needle-in-value.example"), ("md5", "a" * 32))
    misp.tag(plain.attributes[1], "needle-tag:x")
    info = _add(misp, "haystack needle-in-info", ("domain", "other.example"))
    by_value = misp.search(controller="attributes", quick_filter="needle-in-VALUE", pythonify=True)
    assert [a.value for a in by_value] == ["needle-in-value.example"]
    by_tag = misp.search(controller="attributes", searchall="needle-tag", pythonify=True)
    assert [a.value for a in by_tag] == ["a" * 32]
    events = misp.search(controller="events", quick_filter="needle-in", pythonify=True)
    assert {e.uuid for e in events} == {plain.uuid, info.uuid}
    by_uuid = misp.search(controller="attributes", quick_filter=info.uuid, pythonify=True)
    assert [a.value for a in by_uuid] == ["other.example"]
    text = misp.search(controller="attributes", searchall="needle", return_format="text")
    assert sorted(text.split()) == ["a" * 32, "needle-in-value.example", "other.example"]
    # Another organisation's private event is not found by its value, info or uuid.
    other = misp_as("QUICK OTHER", "user")
    hidden = _add(other, "private needle-in-secret", ("domain", "needle-hidden.example"),
                  distribution=0)  # fmt: skip
    assert misp.search(controller="attributes", quick_filter="needle-hidden", pythonify=True)
    assert other.search(controller="attributes", quick_filter="needle-in-value", pythonify=True)
    third = misp_as("QUICK THIRD", "user")
    assert third.search(controller="attributes", quick_filter="needle-hidden", pythonify=True) == []
    assert third.search(controller="events", quick_filter=hidden.uuid, pythonify=True) == []
    assert third.search(controller="events", quick_filter="needle-in-secret", pythonify=True) == []

    cutoff = int(time.time()) + 1
    time.sleep(1.1)
    later = _add(misp, "quick later", ("domain", "later.example"))
    recent = misp.search(controller="attributes", event_timestamp=cutoff, pythonify=True)
    assert [a.value for a in recent] == ["later.example"]
    sg = MISPSharingGroup()
    sg.name = "quick group"
    sg.releasability = "test"
    group = misp.add_sharing_group(sg, pythonify=True)
    grouped = MISPEvent()
    grouped.info = "quick grouped"
    grouped.distribution = 4
    grouped.sharing_group_id = group.id
    grouped.add_attribute("domain", "grouped.example")
    grouped = misp.add_event(grouped, pythonify=True)
    in_group = misp.search(controller="attributes", sharinggroup=group.id, pythonify=True)
    assert [a.value for a in in_group] == ["grouped.example"]
    assert [e.uuid for e in misp.search(controller="events", sharinggroup=[group.id],
                                         pythonify=True)] == [grouped.uuid]  # fmt: skip
    assert [e.uuid for e in misp.search_index(sharinggroup=group.id, pythonify=True)] == [
        grouped.uuid
    ]
    assert later.uuid not in {e.uuid for e in misp.search_index(sharinggroup=group.id,
                                                                  pythonify=True)}  # fmt: skip


def test_event_tags_match_the_event_only(misp: PyMISP) -> None:
    """`tags` matches a tag on the attribute or on its event; `event_tags` the event's only."""
    on_event = _add(misp, "event tagged", ("domain", "et-event.example"), tags=["etag:on-event"])
    other = _add(misp, "attribute tagged", ("domain", "et-attr.example"))
    misp.tag(other.attributes[0], "etag:on-event")
    both = misp.search(controller="attributes", tags=["etag:on-event"], pythonify=True)
    assert sorted(a.value for a in both) == ["et-attr.example", "et-event.example"]
    events_only = misp.search(controller="attributes", event_tags=["etag:on-event"], pythonify=True)
    assert [a.value for a in events_only] == ["et-event.example"]
    negated = misp.search(
        controller="attributes", event_tags=["!etag:on-event"], eventid=[on_event.id, other.id],
        pythonify=True,
    )  # fmt: skip
    assert [a.value for a in negated] == ["et-attr.example"]
    events = misp.search(controller="events", event_tags=["etag:on-event"], pythonify=True)
    assert [e.uuid for e in events] == [on_event.uuid]
    text = misp.search(controller="attributes", event_tags=["etag:on-event"], return_format="text")
    assert text.split() == ["et-event.example"]
