"""The real PyMISP against a live Shieldwall: event and attribute calls, MISP's edit rules,
role rules and another organisation's view."""

from __future__ import annotations

from collections.abc import Callable

from pymisp import MISPAttribute, MISPEvent, MISPShadowAttribute, PyMISP


def _event(info: str, *values: tuple[str, str], distribution: int = 1) -> MISPEvent:
    e = MISPEvent()
    e.info = info
    e.distribution = distribution
    for t, v in values:
        e.add_attribute(t, v)
    return e


def test_edit_event_merges_attributes_by_uuid(misp: PyMISP) -> None:
    created = misp.add_event(
        _event("merge me", ("ip-dst", "198.51.100.1"), ("domain", "keep.example")),
        pythonify=True,
    )
    assert created.published is False
    created.info = "merged"
    created.threat_level_id = 1
    ip = next(a for a in created.attributes if a.type == "ip-dst")
    ip.comment = "edited through PyMISP"  # edited: PyMISP drops its timestamp
    created.add_attribute("url", "https://new.example/path")
    created.add_tag("tlp:green")
    updated = misp.update_event(created, pythonify=True)
    assert isinstance(updated, MISPEvent), updated
    assert updated.info == "merged" and int(updated.threat_level_id) == 1
    by_value = {a.value: a for a in updated.attributes}
    assert set(by_value) == {"198.51.100.1", "keep.example", "https://new.example/path"}
    assert by_value["198.51.100.1"].comment == "edited through PyMISP"
    assert [t.name for t in updated.tags] == ["tlp:green"]
    # A stale copy (same timestamps as stored) changes nothing.
    stale = misp.get_event(created.id, pythonify=True)
    stale_ip = next(a for a in stale.attributes if a.type == "ip-dst")
    stale_ip.comment = "should not win"
    stale_ip.force_timestamp = True  # send the stored timestamp: not newer
    again = misp.update_event(stale, pythonify=True)
    comments = {a.value: a.comment for a in again.attributes}
    assert comments["198.51.100.1"] == "edited through PyMISP"


def test_edit_event_soft_deletes_and_view_shows_deleted_on_request(misp: PyMISP) -> None:
    created = misp.add_event(
        _event("delete inside", ("domain", "gone.example"), ("domain", "stays.example")),
        pythonify=True,
    )
    gone = next(a for a in created.attributes if a.value == "gone.example")
    gone.delete()
    misp.update_event(created, pythonify=True)
    live = misp.get_event(created.id, pythonify=True)
    assert [a.value for a in live.attributes] == ["stays.example"]
    with_deleted = misp.get_event(created.id, deleted=True, pythonify=True)
    flags = {a.value: a.deleted for a in with_deleted.attributes}
    assert flags == {"gone.example": True, "stays.example": False}


def test_publish_unpublish_delete_event(misp: PyMISP) -> None:
    created = misp.add_event(_event("lifecycle", ("md5", "d41d8cd98f00b204e9800998ecf8427e")))
    event_id = created["Event"]["id"]
    answer = misp.publish(event_id)
    assert answer["success"] is True and answer["id"] == event_id
    assert misp.get_event(event_id, pythonify=True).published is True
    assert misp.unpublish(event_id)["success"] is True
    assert misp.get_event(event_id, pythonify=True).published is False
    assert misp.delete_event(event_id)["message"] == "Event deleted."
    assert misp.event_exists(event_id) is False
    status, body = misp.delete_event(event_id)["errors"]
    assert status == 404 and body["success"] is False


def test_index_and_search_index(misp: PyMISP) -> None:
    first = misp.add_event(_event("index alpha", ("domain", "alpha.example")), pythonify=True)
    second = _event("index bravo", ("domain", "bravo.example"), ("domain", "b2.example"))
    second.add_tag("tlp:clear")
    second = misp.add_event(second, pythonify=True)
    misp.publish(second)
    everything = misp.events(pythonify=True)
    assert {first.uuid, second.uuid} <= {e.uuid for e in everything}
    listed = {e.uuid: e for e in everything}
    assert int(listed[second.uuid].attribute_count) == 2
    published = misp.search_index(published=True, pythonify=True)
    assert [e.uuid for e in published] == [second.uuid]
    tagged = misp.search_index(tags=["tlp:clear"], pythonify=True)
    assert [e.uuid for e in tagged] == [second.uuid]
    assert [t.name for t in tagged[0].tags] == ["tlp:clear"]
    by_info = misp.search_index(eventinfo="index alpha", pythonify=True)
    assert [e.uuid for e in by_info] == [first.uuid]
    first_only = misp.search_index(eventinfo="index ", threatlevel=4, pythonify=True)
    assert {e.uuid for e in first_only} == {first.uuid, second.uuid}  # both default to 4
    assert misp.search_index(eventinfo="index ", threatlevel="!4", pythonify=True) == []
    assert misp.search_index(eventinfo="index ", distribution=[0, 2], pythonify=True) == []
    assert len(misp.search_index(eventinfo="index ", distribution=1, pythonify=True)) == 2
    assert misp.search_index(eventinfo="index ", analysis="!0", pythonify=True) == []
    assert misp.search_index(eventinfo="index ", hasproposal=1, pythonify=True) == []
    refused = misp.search_index(threatlevel=9)
    assert refused["errors"][0] == 422 and "threatlevel" in refused["errors"][1]["message"]
    assert misp.search_index(eventinfo="index ", sharinggroup=1, pythonify=True) == []


def test_attribute_calls(misp: PyMISP) -> None:
    created = misp.add_event(_event("attributes", ("domain", "first.example")), pythonify=True)
    one = MISPAttribute()
    one.type, one.value, one.comment = "ip-src", "192.0.2.10", "single"
    added = misp.add_attribute(created, one, pythonify=True)
    assert isinstance(added, MISPAttribute), added
    assert (added.value, added.comment, added.event_id) == ("192.0.2.10", "single", created.id)
    assert misp.attribute_exists(added.uuid) is True
    many = misp.add_attribute(
        created,
        [{"type": "domain", "value": "x1.example"}, {"type": "domain", "value": "x2.example"}],
        pythonify=True,
    )
    assert sorted(a.value for a in many["attributes"]) == ["x1.example", "x2.example"]
    duplicate = misp.add_attribute(created, {"type": "domain", "value": "x1.example"})
    assert duplicate["errors"][0] in (403, 409, 422)
    existing = misp.add_attribute(
        created, {"type": "domain", "value": "x1.example"}, break_on_duplicate=False
    )
    assert existing["Attribute"]["uuid"] in {a.uuid for a in many["attributes"]}
    assert len(misp.get_event(created.id, pythonify=True).attributes) == 4
    fetched = misp.get_attribute(added.id, pythonify=True)
    fetched.value = "192.0.2.11"
    fetched.to_ids = False
    edited = misp.update_attribute(fetched, pythonify=True)
    assert (edited.value, edited.to_ids) == ("192.0.2.11", False)
    assert misp.delete_attribute(edited)["success"] is True
    assert misp.attribute_exists(edited.uuid) is False
    restored = misp.restore_attribute(edited.uuid, pythonify=True)
    assert restored.deleted is False and restored.value == "192.0.2.11"
    assert misp.delete_attribute(edited, hard=True)["success"] is True
    assert "errors" in misp.restore_attribute(edited.uuid)
    values = {a.value for a in misp.attributes(pythonify=True)}
    assert {"first.example", "x1.example", "x2.example"} <= values
    assert "192.0.2.11" not in values


def test_bad_attribute_input_is_a_misp_error(misp: PyMISP) -> None:
    created = misp.add_event(_event("bad attributes", ("domain", "ok.example")), pythonify=True)
    status, body = misp.add_attribute(created, {"type": "ip-dst", "value": "nope"})["errors"]
    assert status == 422 and "value" in body["errors"]
    status, body = misp.add_attribute(created, {"type": "no-such-type", "value": "x"})["errors"]
    assert status == 422 and "type" in str(body["errors"])
    status, _ = misp.add_attribute(999999, {"type": "domain", "value": "x.example"})["errors"]
    assert status == 404
    status, body = misp.update_event(_event("no such"), event_id=999999)["errors"]
    assert status == 404


def test_roles_and_other_organisations(misp_as: Callable[[str, str], PyMISP]) -> None:
    alpha = misp_as("ALPHA", "user")
    alpha_pub = misp_as("ALPHA", "publisher")
    beta = misp_as("BETA", "org admin")
    reader = misp_as("ALPHA", "read only")
    created = alpha.add_event(_event("alpha own", ("domain", "alpha-own.example")), pythonify=True)
    status, _ = alpha.publish(created)["errors"]
    assert status == 403  # a plain user cannot publish
    assert alpha_pub.publish(created)["success"] is True
    # BETA sees the community event but cannot change, tag, publish or delete it.
    seen = beta.get_event(created.id, pythonify=True)
    assert seen.uuid == created.uuid
    seen.info = "taken over"
    assert beta.update_event(seen)["errors"][0] in (403, 404)
    assert beta.delete_event(created.id)["errors"][0] in (403, 404)
    assert beta.unpublish(created.id)["errors"][0] in (403, 404)
    # Attribute changes on an event BETA may read but not edit become proposals: MISP's
    # answer lets PyMISP fall back on its own, and the event itself does not change.
    attr = seen.attributes[0]
    deletion = beta.delete_attribute(attr.id)
    assert "errors" not in deletion, deletion
    addition = beta.add_attribute(
        created.id, {"type": "domain", "value": "b.example"}, pythonify=True
    )
    assert isinstance(addition, MISPShadowAttribute), addition
    owner_view = alpha.get_event(created.id, pythonify=True)
    assert [a.value for a in owner_view.attributes] == ["alpha-own.example"]
    # PyMISP keeps event-level proposals as MISP sent them (dicts).
    assert [p["value"] for p in owner_view.ShadowAttribute] == ["b.example"]
    assert owner_view.attributes[0].shadow_attributes[0].proposal_to_delete is True
    proposed = alpha.search_index(hasproposal=1, pythonify=True)
    assert [e.uuid for e in proposed] == [created.uuid]
    assert created.uuid not in {e.uuid for e in alpha.search_index(hasproposal=0, pythonify=True)}
    # A read-only key reads but never writes.
    assert reader.get_event(created.id, pythonify=True).uuid == created.uuid
    assert reader.add_event(_event("nope"))["errors"][0] == 403
    assert reader.search_index(eventinfo="alpha own", pythonify=True)[0].uuid == created.uuid
    # An org-only event of ALPHA is invisible to BETA through every event and attribute call.
    private = alpha.add_event(
        _event("alpha private", ("domain", "private.example"), distribution=0), pythonify=True
    )
    assert beta.event_exists(private.uuid) is False
    assert beta.get_event(private.id)["errors"][0] == 404
    assert private.uuid not in {e.uuid for e in beta.events(pythonify=True)}
    assert beta.search_index(eventinfo="alpha private", pythonify=True) == []
    assert beta.attribute_exists(private.attributes[0].uuid) is False
    assert "private.example" not in {a.value for a in beta.attributes(pythonify=True)}
