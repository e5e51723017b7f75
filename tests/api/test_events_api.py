"""Events, attributes, objects and tags through the native API."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from shieldwall.intel.models import Attribute, Event


def _event(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"info": "phishing wave", "distribution": 1, "attributes": []}
    body.update(kw)
    return body


def test_create_event_with_attributes_objects_and_tags(admin, instance) -> None:
    r = admin.post(
        "/api/v1/events",
        json=_event(
            tags=[{"name": "tlp:green"}],
            attributes=[
                {"type": "ip-dst", "value": "2001:DB8::0001"},
                {"type": "domain", "value": "Evil.Example."},
                {
                    "type": "ip-dst|port",
                    "value": "10.1.1.1|8443",
                    "tags": [{"name": "kill-chain:c2"}],
                },
            ],
            objects=[
                {
                    "name": "domain-ip",
                    "attributes": [
                        {"object_relation": "ip", "type": "ip-dst", "value": "192.0.2.7"},
                        {"object_relation": "domain", "type": "domain", "value": "c2.example"},
                    ],
                }
            ],
        ),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    values = {a["value"] for a in body["attributes"]}
    assert values == {"2001:db8::1", "evil.example", "10.1.1.1|8443"}
    composite = next(a for a in body["attributes"] if a["type"] == "ip-dst|port")
    assert (composite["value1"], composite["value2"]) == ("10.1.1.1", "8443")
    assert [t["name"] for t in composite["tags"]] == ["kill-chain:c2"]
    assert [t["name"] for t in body["tags"]] == ["tlp:green"]
    assert body["objects"][0]["name"] == "domain-ip"
    assert {a["object_relation"] for a in body["objects"][0]["attributes"]} == {"ip", "domain"}
    assert body["orgc"]["id"] == instance.host_org_id
    # Category and to_ids come from pymisp's type table when not given.
    ip = next(a for a in body["attributes"] if a["type"] == "ip-dst")
    assert ip["category"] == "Network activity" and ip["to_ids"] is True


def test_event_by_id_and_uuid(admin) -> None:
    created = admin.post("/api/v1/events", json=_event()).json()
    assert admin.get(f"/api/v1/events/{created['id']}").json()["uuid"] == created["uuid"]
    assert admin.get(f"/api/v1/events/{created['uuid']}").json()["id"] == created["id"]
    r = admin.get("/api/v1/events/not-a-ref")
    assert r.status_code == 422 and r.json()["field"] == "event"
    assert admin.get("/api/v1/events/999999").status_code == 404


def test_bad_input_names_field_and_writes_nothing(admin, instance) -> None:
    cases = [
        (
            {"info": "x", "attributes": [{"type": "ip-dst", "value": "not-an-ip"}]},
            "attributes[0].value",
        ),
        (
            {"info": "x", "attributes": [{"type": "no-such-type", "value": "1"}]},
            "attributes[0].type",
        ),
        ({"info": "x", "attributes": [{"type": "md5", "value": "abc"}]}, "attributes[0].value"),
        (
            {
                "info": "x",
                "attributes": [{"type": "ip-dst", "value": "1.2.3.4", "category": "Person"}],
            },
            "attributes[0].category",
        ),
        ({"info": "x", "distribution": 4, "sharing_group_id": 4242}, "sharing_group_id"),
        ({"info": "x", "distribution": 9}, "distribution"),
        ({"info": "x", "attributes": [{"type": "port", "value": "70000"}]}, "attributes[0].value"),
    ]
    for body, field in cases:
        # A valid attribute first: the failure must roll it back too.
        body.setdefault("attributes", []).insert(0, {"type": "domain", "value": "ok.example"})
        r = admin.post("/api/v1/events", json=body)
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
        problem = r.json()
        assert (
            problem["field"] == field.replace("[0]", "[1]")
            if field.startswith("attributes")
            else problem["field"] == field
        ), problem
        assert problem["detail"]
    with instance.db.reading() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Event)) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(Attribute)) == 0


def test_malformed_json_and_oversized_body(admin, client) -> None:
    r = client.post(
        "/api/v1/events",
        content=b"{not json",
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["title"] == "Malformed JSON"
    big = b'{"info": "' + b"a" * (51 * 1024 * 1024) + b'"}'
    r = client.post(
        "/api/v1/events", content=big, headers={**admin.headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["field"] == "body"


def test_tlp_guard_refuses_with_reason(admin) -> None:
    r = admin.post("/api/v1/events", json=_event(distribution=1, tags=[{"name": "tlp:red"}]))
    assert r.status_code == 422 and "tlp:red" in r.json()["detail"]
    r = admin.post("/api/v1/events", json=_event(distribution=0, tags=[{"name": "tlp:red"}]))
    assert r.status_code == 201
    event_id = r.json()["id"]
    r = admin.patch(f"/api/v1/events/{event_id}", json={"distribution": 3})
    assert r.status_code == 422 and r.json()["field"] == "distribution"
    ok = admin.post("/api/v1/events", json=_event(distribution=1)).json()
    r = admin.post(f"/api/v1/events/{ok['id']}/tags", json=[{"name": "tlp:amber+strict"}])
    assert r.status_code == 422 and "amber+strict" in r.json()["detail"]


def test_bulk_attributes_duplicates_and_soft_delete(admin) -> None:
    event = admin.post("/api/v1/events", json=_event()).json()
    items = [{"type": "domain", "value": f"host{i}.example"} for i in range(50)]
    r = admin.post(f"/api/v1/events/{event['id']}/attributes", json=items)
    assert r.status_code == 201 and r.json()["count"] == 50
    r = admin.post(
        f"/api/v1/events/{event['id']}/attributes",
        json={"type": "domain", "value": "HOST1.example"},
    )
    assert r.status_code == 422 and "already has" in r.json()["detail"]
    r = admin.post(
        f"/api/v1/events/{event['id']}/attributes?break_on_duplicate=false",
        json=[{"type": "domain", "value": "host1.example"}],
    )
    assert r.status_code == 201 and r.json()["count"] == 0
    attr = admin.get("/api/v1/search/attributes", params={"value": "host7.example"}).json()[
        "items"
    ][0]
    assert admin.delete(f"/api/v1/attributes/{attr['uuid']}").status_code == 204
    assert admin.get(f"/api/v1/attributes/{attr['id']}").status_code == 404
    assert (
        admin.get(f"/api/v1/attributes/{attr['id']}?include_deleted=true").json()["deleted"] is True
    )
    assert admin.post(f"/api/v1/attributes/{attr['id']}/restore").status_code == 200
    assert admin.get(f"/api/v1/attributes/{attr['id']}").json()["deleted"] is False
    assert admin.delete(f"/api/v1/attributes/{attr['id']}?hard=true").status_code == 204
    assert admin.get(f"/api/v1/attributes/{attr['id']}?include_deleted=true").status_code == 404


def test_object_template_validation(admin) -> None:
    event = admin.post("/api/v1/events", json=_event()).json()
    r = admin.post(
        f"/api/v1/events/{event['id']}/objects",
        json={
            "name": "domain-ip",
            "attributes": [{"object_relation": "text", "type": "text", "value": "only text"}],
        },
    )
    assert r.status_code == 422 and "requires one of" in r.json()["detail"]
    r = admin.post(
        f"/api/v1/events/{event['id']}/objects",
        json={
            "name": "domain-ip",
            "attributes": [{"object_relation": "nope", "type": "domain", "value": "a.example"}],
        },
    )
    assert r.status_code == 422 and r.json()["field"] == "object.Attribute[0].object_relation"
    r = admin.post(
        f"/api/v1/events/{event['id']}/objects",
        json={
            "name": "domain-ip",
            "attributes": [{"object_relation": "ip", "type": "domain", "value": "a.example"}],
        },
    )
    assert r.status_code == 422 and "takes type 'ip-dst'" in r.json()["detail"]
    good = admin.post(
        f"/api/v1/events/{event['id']}/objects",
        json={
            "name": "domain-ip",
            "attributes": [{"object_relation": "ip", "type": "ip-dst", "value": "198.51.100.1"}],
        },
    )
    assert good.status_code == 201, good.text
    target = admin.post(
        f"/api/v1/events/{event['id']}/attributes",
        json={"type": "url", "value": "https://EVIL.example/Path"},
    ).json()["items"][0]
    assert target["value"] == "https://evil.example/Path"
    ref = admin.post(
        f"/api/v1/objects/{good.json()['id']}/references",
        json={"referenced_uuid": target["uuid"], "relationship_type": "connects-to"},
    )
    assert ref.status_code == 201 and ref.json()["referenced_type"] == "Attribute"
    assert (
        admin.get(f"/api/v1/objects/{good.json()['uuid']}").json()["references"][0][
            "relationship_type"
        ]
        == "connects-to"
    )
    tpl = admin.get("/api/v1/object-templates/domain-ip").json()
    assert "ip" in tpl["attributes"] and tpl["required_one_of"]


def test_publish_needs_permission(make_user) -> None:
    user = make_user("CERT-A", "user")
    publisher = make_user("CERT-A", "publisher")
    event = user.api.post("/api/v1/events", json=_event()).json()
    r = user.api.post(f"/api/v1/events/{event['id']}/publish")
    assert r.status_code == 403
    r = publisher.api.post(f"/api/v1/events/{event['id']}/publish")
    assert r.status_code == 200 and r.json()["published"] is True and r.json()["publish_timestamp"]


def test_nul_characters_are_refused_on_both_engines(admin) -> None:
    r = admin.post("/api/v1/events", json={"info": "a\u0000b"})
    assert r.status_code == 422 and r.json()["field"] == "info"
    assert "NUL" in r.json()["detail"]
    event = admin.post("/api/v1/events", json=_event()).json()
    r = admin.post(
        f"/api/v1/events/{event['id']}/objects",
        json={
            "name": "domain-ip\u0000",
            "attributes": [{"object_relation": "ip", "type": "ip-dst", "value": "192.0.2.1"}],
        },
    )
    assert r.status_code == 422 and r.json()["field"] == "name"
    r = admin.post(
        f"/api/v1/events/{event['id']}/attributes", json={"type": "text", "value": "x\u0000y"}
    )
    assert r.status_code == 422 and r.json()["field"] == "value"
    assert admin.get(f"/api/v1/events/{event['id']}").json()["objects"] == []
