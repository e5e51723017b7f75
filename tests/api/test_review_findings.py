"""Regressions for holes found in review: each asserts the refusal and that nothing changed."""

from __future__ import annotations


def test_read_only_key_cannot_write_or_mint_a_stronger_key(admin, make_user) -> None:
    member = make_user("ROKEY", "publisher")
    r = member.api.post("/api/v1/keys", json={"read_only": True})
    assert r.status_code == 201
    ro = {"Authorization": r.json()["key"]}
    client = member.api.client
    assert client.get("/api/v1/me", headers=ro).status_code == 200
    assert (
        client.post(
            "/api/v1/search/attributes", headers=ro, json={"value": "x.example"}
        ).status_code
        == 200
    )
    for method, url, body in (
        ("post", "/api/v1/keys", {}),
        ("patch", f"/api/v1/users/{member.user_id}", {"password": "a-brand-new-password"}),
        ("post", "/api/v1/events", {"info": "nope"}),
    ):
        answer = getattr(client, method)(url, headers=ro, json=body)
        assert answer.status_code == 403, (url, answer.text)
        assert "read-only" in answer.json()["detail"]
    assert len(member.api.get("/api/v1/keys").json()["items"]) == 2


def test_shared_tags_are_changed_by_site_admins_only(admin, make_user) -> None:
    owner = make_user("TAGA", "publisher")
    other_admin = make_user("TAGB", "org-admin")
    assert admin.post("/api/v1/tags", json={"name": "tlp:red"}).status_code == 201
    event = owner.api.post(
        "/api/v1/events", json={"info": "red", "distribution": 0, "tags": [{"name": "tlp:red"}]}
    ).json()
    r = other_admin.api.patch("/api/v1/tags/tlp:red", json={"name": "tlp:clear"})
    assert r.status_code == 403
    assert other_admin.api.delete("/api/v1/tags/tlp:red").status_code == 403
    assert [t["name"] for t in owner.api.get(f"/api/v1/events/{event['id']}").json()["tags"]] == [
        "tlp:red"
    ]
    own = other_admin.api.post(
        "/api/v1/tags", json={"name": "b:own", "org_id": other_admin.org_id}
    ).json()
    assert (
        other_admin.api.patch(f"/api/v1/tags/{own['id']}", json={"colour": "#112233"}).status_code
        == 200
    )
    r = other_admin.api.patch(f"/api/v1/tags/{own['id']}", json={"name": "tlp:red"})
    assert r.status_code in (403, 409)
    assert admin.patch("/api/v1/tags/b:own", json={"colour": "#445566"}).status_code == 200


def test_tlp_guard_ignores_surrounding_whitespace(make_user) -> None:
    member = make_user("TLPWS", "org-admin")
    event = member.api.post("/api/v1/events", json={"info": "open", "distribution": 3}).json()
    r = member.api.post(f"/api/v1/events/{event['id']}/tags", json=[{"name": "tlp:red "}])
    assert r.status_code == 422 and "tlp:red" in r.json()["detail"]
    r = member.api.post(
        "/api/v1/events",
        json={"info": "x", "distribution": 3, "tags": [{"name": " tlp:amber+strict"}]},
    )
    assert r.status_code == 422
    r = member.api.post(
        "/api/v1/events",
        json={
            "info": "x",
            "distribution": 3,
            "attributes": [
                {"type": "domain", "value": "a.example", "tags": [{"name": " TLP:RED "}]}
            ],
        },
    )
    assert r.status_code == 422


def test_references_cannot_probe_other_events(make_user) -> None:
    a = make_user("REFA", "publisher")
    b = make_user("REFB", "publisher")
    hidden = a.api.post(
        "/api/v1/events",
        json={
            "info": "a",
            "distribution": 0,
            "attributes": [{"type": "domain", "value": "hidden.example"}],
        },
    ).json()["attributes"][0]
    event = b.api.post("/api/v1/events", json={"info": "b"}).json()
    obj = b.api.post(
        f"/api/v1/events/{event['id']}/objects",
        json={
            "name": "domain-ip",
            "attributes": [{"object_relation": "ip", "type": "ip-dst", "value": "192.0.2.9"}],
        },
    ).json()
    unknown = b.api.post(
        f"/api/v1/objects/{obj['id']}/references",
        json={"referenced_uuid": "0b0d8bd4-7e5a-4b6d-8f1d-2b0c4c1d9e11", "relationship_type": "x"},
    )
    probe = b.api.post(
        f"/api/v1/objects/{obj['id']}/references",
        json={"referenced_uuid": hidden["uuid"], "relationship_type": "x"},
    )
    assert unknown.status_code == probe.status_code == 422
    assert unknown.json()["detail"].replace(
        "0b0d8bd4-7e5a-4b6d-8f1d-2b0c4c1d9e11", "U"
    ) == probe.json()["detail"].replace(hidden["uuid"], "U")
    ref = a.api.post(
        f"/api/v1/events/{hidden['event_id']}/objects",
        json={
            "name": "domain-ip",
            "attributes": [{"object_relation": "ip", "type": "ip-dst", "value": "192.0.2.10"}],
            "references": [{"referenced_uuid": hidden["uuid"], "relationship_type": "resolves"}],
        },
    ).json()
    ref_id = ref["references"][0]["id"]
    assert b.api.delete(f"/api/v1/references/{ref_id}").json()["detail"] == b.api.delete(
        "/api/v1/references/999999"
    ).json()["detail"].replace("999999", str(ref_id))


def test_editing_or_restoring_cannot_make_a_duplicate(admin) -> None:
    event = admin.post(
        "/api/v1/events",
        json={
            "info": "d",
            "attributes": [
                {"type": "ip-dst", "value": "1.1.1.1"},
                {"type": "ip-dst", "value": "2.2.2.2"},
            ],
        },
    ).json()
    first, second = sorted(event["attributes"], key=lambda a: a["value"])
    r = admin.patch(f"/api/v1/attributes/{second['id']}", json={"value": "1.1.1.1"})
    assert r.status_code == 409 and r.json()["field"] == "value"
    assert admin.get(f"/api/v1/attributes/{second['id']}").json()["value"] == "2.2.2.2"
    assert admin.delete(f"/api/v1/attributes/{first['id']}").status_code == 204
    assert (
        admin.patch(f"/api/v1/attributes/{second['id']}", json={"value": "1.1.1.1"}).status_code
        == 200
    )
    r = admin.post(f"/api/v1/attributes/{first['id']}/restore")
    assert r.status_code == 409


def test_out_of_range_parameters_are_4xx(admin) -> None:
    huge = "9" * 25
    for url in (
        "/api/v1/search/attributes?timestamp_from=999999999999d",
        "/api/v1/search/events?date_from=999999999999d",
        f"/api/v1/search/attributes?event={huge}",
        f"/api/v1/search/attributes?org={huge}",
        f"/api/v1/organisations?after={huge}",
        f"/api/v1/users?after={huge}",
        f"/api/v1/audit?after={huge}",
    ):
        r = admin.get(url)
        assert r.status_code < 500, (url, r.status_code, r.text)
    for body in ({"limit": "abc"}, {"limit": -1}, {"page": [1]}, {"eventinfo": 5}):
        r = admin.post("/attributes/restSearch", json=body)
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
        assert "errors" in r.json()


def test_organisation_contacts_are_for_admins_and_members(admin, make_user) -> None:
    member = make_user("CONTACTS", "user")
    other = make_user("OUTSIDER", "user")
    assert (
        admin.patch(
            f"/api/v1/organisations/{member.org_id}", json={"contacts": "duty@contacts.test"}
        ).status_code
        == 200
    )
    assert (
        member.api.get(f"/api/v1/organisations/{member.org_id}").json()["contacts"]
        == "duty@contacts.test"
    )
    assert (
        admin.get(f"/api/v1/organisations/{member.org_id}").json()["contacts"]
        == "duty@contacts.test"
    )
    assert other.api.get(f"/api/v1/organisations/{member.org_id}").json()["contacts"] == ""
    listed = {o["id"]: o for o in other.api.get("/api/v1/organisations").json()["items"]}
    assert listed[member.org_id]["contacts"] == ""
    assert listed[member.org_id]["name"] == "CONTACTS"


def test_object_update_with_same_distribution_changes_nothing(admin) -> None:
    event = admin.post("/api/v1/events", json={"info": "o"}).json()
    obj = admin.post(
        f"/api/v1/events/{event['id']}/objects",
        json={
            "name": "domain-ip",
            "attributes": [{"object_relation": "ip", "type": "ip-dst", "value": "192.0.2.3"}],
        },
    ).json()
    assert admin.post(f"/api/v1/events/{event['id']}/publish").status_code == 200
    assert (
        admin.patch(
            f"/api/v1/objects/{obj['id']}", json={"distribution": obj["distribution"]}
        ).status_code
        == 200
    )
    assert admin.get(f"/api/v1/events/{event['id']}").json()["published"] is True
    assert admin.patch(f"/api/v1/objects/{obj['id']}", json={"distribution": 0}).status_code == 200
    assert admin.get(f"/api/v1/events/{event['id']}").json()["published"] is False


def test_deleting_a_tag_moves_the_timestamps_of_the_events_that_carried_it(admin) -> None:
    from datetime import UTC, datetime, timedelta

    from shieldwall.clock import set_clock

    assert admin.post("/api/v1/tags", json={"name": "gone:soon"}).status_code == 201
    tagged = admin.post(
        "/api/v1/events", json={"info": "t", "tags": [{"name": "gone:soon"}]}
    ).json()
    via_attr = admin.post(
        "/api/v1/events",
        json={
            "info": "a",
            "attributes": [
                {"type": "domain", "value": "t.example", "tags": [{"name": "gone:soon"}]}
            ],
        },
    ).json()
    untouched = admin.post("/api/v1/events", json={"info": "u"}).json()
    later = datetime.now(UTC) + timedelta(hours=1)
    set_clock(lambda: later)
    try:
        assert admin.delete("/api/v1/tags/gone:soon").status_code == 204
    finally:
        set_clock(None)
    for event, moved in ((tagged, True), (via_attr, True), (untouched, False)):
        stamp = datetime.fromisoformat(
            admin.get(f"/api/v1/events/{event['id']}").json()["timestamp"]
        )
        assert (stamp == later) is moved, (event["info"], stamp)


def test_organisation_text_longer_than_its_column_is_a_422(admin) -> None:  # type: ignore[no-untyped-def]
    for field in ("nationality", "sector", "type"):
        r = admin.post("/api/v1/organisations", json={"name": f"long-{field}", field: "x" * 256})
        assert r.status_code == 422, r.text
        assert field in r.text
    org = admin.post("/api/v1/organisations", json={"name": "fits", "sector": "x" * 255})
    assert org.status_code == 201, org.text
    r = admin.patch(f"/api/v1/organisations/{org.json()['id']}", json={"sector": "y" * 256})
    assert r.status_code == 422 and "sector" in r.text
