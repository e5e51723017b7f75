"""Tags, sightings, sharing groups and event life cycle through the native API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa

from shieldwall.intel.models import (
    Attribute,
    AttributeTag,
    Event,
    EventTag,
    MispObject,
    ObjectReference,
    Sighting,
)


def _event(api: Any, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"info": "fixture", "distribution": 1}
    body.update(kw)
    r = api.post("/api/v1/events", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _problem(r: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["detail"]
    if field is not None:
        assert body.get("field") == field, body
    return body


def _count(instance: Any, model: Any, *where: Any) -> int:
    with instance.db.reading() as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)


# ---------------------------------------------------------------- tags


def test_tag_crud_needs_tag_editor(admin, make_user) -> None:
    editor = make_user("CERT-A", "org-admin")
    user = make_user("CERT-A", "user")
    r = editor.api.post(
        "/api/v1/tags", json={"name": "custom:alpha", "colour": "#112233", "numerical_value": 50}
    )
    assert r.status_code == 201, r.text
    tag = r.json()
    assert (tag["name"], tag["colour"], tag["numerical_value"], tag["org_id"]) == (
        "custom:alpha",
        "#112233",
        50,
        None,
    )
    assert user.api.get(f"/api/v1/tags/{tag['id']}").json()["name"] == "custom:alpha"
    assert user.api.get("/api/v1/tags/custom:alpha").json()["id"] == tag["id"]
    assert [
        t["name"] for t in user.api.get("/api/v1/tags", params={"q": "custom:*"}).json()["items"]
    ] == ["custom:alpha"]

    _problem(user.api.post("/api/v1/tags", json={"name": "custom:beta"}), 403)
    _problem(user.api.patch(f"/api/v1/tags/{tag['id']}", json={"colour": "#000000"}), 403)
    _problem(user.api.delete(f"/api/v1/tags/{tag['id']}"), 403)

    _problem(editor.api.post("/api/v1/tags", json={"name": "custom:alpha"}), 409, "name")
    _problem(
        editor.api.post("/api/v1/tags", json={"name": "custom:x", "colour": "red"}), 422, "colour"
    )
    _problem(editor.api.post("/api/v1/tags", json={"name": ""}), 422, "name")
    _problem(
        editor.api.post("/api/v1/tags", json={"name": "custom:y", "org_id": 999999}), 422, "org_id"
    )

    # A shared tag marks every organisation's data: a tag editor may not change it ...
    _problem(editor.api.patch(f"/api/v1/tags/{tag['id']}", json={"colour": "#445566"}), 403, "tag")
    _problem(editor.api.delete(f"/api/v1/tags/{tag['id']}"), 403, "tag")
    # ... a site admin may.
    r = admin.patch(
        f"/api/v1/tags/{tag['id']}", json={"colour": "#445566", "name": "custom:renamed"}
    )
    assert (
        r.status_code == 200
        and r.json()["colour"] == "#445566"
        and r.json()["name"] == "custom:renamed"
    )
    editor.api.post("/api/v1/tags", json={"name": "custom:other"})
    _problem(admin.patch(f"/api/v1/tags/{tag['id']}", json={"name": "custom:other"}), 409, "name")
    _problem(admin.patch(f"/api/v1/tags/{tag['id']}", json={"colour": None}), 422, "colour")

    ev = _event(editor.api, tags=[{"name": "custom:renamed"}])
    assert admin.delete(f"/api/v1/tags/{tag['id']}").status_code == 204
    _problem(editor.api.get(f"/api/v1/tags/{tag['id']}"), 404, "tag")
    assert editor.api.get(f"/api/v1/events/{ev['id']}").json()["tags"] == []
    assert admin.post("/api/v1/tags", json={"name": "site:tag"}).status_code == 201


def test_missing_tag_attached_without_tag_edit_is_refused_naming_the_field(
    admin, make_user, instance
) -> None:
    user = make_user("CERT-A", "user")
    admin.post("/api/v1/tags", json={"name": "known:tag"})
    _problem(
        user.api.post("/api/v1/events", json={"info": "x", "tags": [{"name": "unknown:tag"}]}),
        403,
        "tags",
    )
    _problem(
        user.api.post(
            "/api/v1/events",
            json={
                "info": "x",
                "attributes": [
                    {"type": "domain", "value": "a.example", "tags": [{"name": "unknown:tag"}]}
                ],
            },
        ),
        403,
        "attributes.tags",
    )
    assert _count(instance, Event) == 0
    ev = _event(
        user.api,
        tags=[{"name": "known:tag"}],
        attributes=[{"type": "domain", "value": "a.example", "tags": [{"name": "known:tag"}]}],
    )
    _problem(
        user.api.post(f"/api/v1/events/{ev['id']}/tags", json=[{"name": "unknown:tag"}]),
        403,
        "tags",
    )
    attr = ev["attributes"][0]
    _problem(
        user.api.post(f"/api/v1/attributes/{attr['id']}/tags", json=[{"name": "unknown:tag"}]),
        403,
        "tags",
    )
    _problem(
        user.api.post(
            f"/api/v1/events/{ev['id']}/attributes",
            json={"type": "domain", "value": "b.example", "tags": [{"name": "unknown:tag"}]},
        ),
        403,
        "attributes.tags",
    )
    assert admin.get("/api/v1/tags/unknown:tag").status_code == 404
    # A tag editor creates missing tags on the fly.
    editor = make_user("CERT-A", "org-admin")
    r = editor.api.post(f"/api/v1/events/{ev['id']}/tags", json=[{"name": "new:tag"}])
    assert r.status_code == 200 and r.json()["added"] == ["new:tag"]


def test_org_restricted_tags_are_invisible_to_other_orgs(admin, make_user) -> None:
    a = make_user("CERT-A", "org-admin")
    b_user = make_user("CERT-B", "user")
    b_admin = make_user("CERT-B", "org-admin")
    tag = a.api.post("/api/v1/tags", json={"name": "cert-a:secret", "org_id": a.org_id}).json()
    assert tag["org_id"] == a.org_id
    assert a.api.get(f"/api/v1/tags/{tag['id']}").status_code == 200
    _problem(b_user.api.get(f"/api/v1/tags/{tag['id']}"), 404, "tag")
    _problem(b_user.api.get("/api/v1/tags/cert-a:secret"), 404, "tag")
    assert "cert-a:secret" not in [
        t["name"] for t in b_user.api.get("/api/v1/tags").json()["items"]
    ]
    assert "cert-a:secret" in [t["name"] for t in admin.get("/api/v1/tags").json()["items"]]
    _problem(b_admin.api.patch(f"/api/v1/tags/{tag['id']}", json={"colour": "#000000"}), 404, "tag")
    _problem(b_admin.api.delete(f"/api/v1/tags/{tag['id']}"), 404, "tag")

    ev = _event(
        a.api,
        tags=[{"name": "cert-a:secret"}, {"name": "tlp:green"}],
        attributes=[{"type": "domain", "value": "x.example", "tags": [{"name": "cert-a:secret"}]}],
    )
    assert [t["name"] for t in ev["tags"]] == ["cert-a:secret", "tlp:green"]
    seen_by_b = b_user.api.get(f"/api/v1/events/{ev['id']}").json()
    assert [t["name"] for t in seen_by_b["tags"]] == ["tlp:green"]
    assert seen_by_b["attributes"][0]["tags"] == []
    # B cannot use the tag: for B it does not exist.
    own = _event(b_user.api)
    _problem(
        b_user.api.post(f"/api/v1/events/{own['id']}/tags", json=[{"name": "cert-a:secret"}]),
        403,
        "tags",
    )
    r = b_admin.api.post(f"/api/v1/events/{own['id']}/tags", json=[{"name": "cert-a:secret"}])
    assert 400 <= r.status_code < 500, r.text
    assert b_user.api.get(f"/api/v1/events/{own['id']}").json()["tags"] == []


def test_tag_and_untag_events_and_attributes_with_local_flag(admin, instance) -> None:
    ev = _event(admin, attributes=[{"type": "domain", "value": "t.example"}])
    attr = ev["attributes"][0]
    galaxy = 'misp-galaxy:threat-actor="APT 28"'
    r = admin.post(
        f"/api/v1/events/{ev['id']}/tags",
        json=[{"name": "tlp:green"}, {"name": "local:note", "local": True}],
    )
    assert r.status_code == 200 and sorted(r.json()["added"]) == ["local:note", "tlp:green"]
    # Tagging again adds nothing.
    assert (
        admin.post(f"/api/v1/events/{ev['id']}/tags", json=[{"name": "tlp:green"}]).json()["added"]
        == []
    )
    r = admin.post(
        f"/api/v1/attributes/{attr['uuid']}/tags",
        json=[{"name": galaxy}, {"name": "local:seen", "local": "1"}],
    )
    assert r.status_code == 200 and sorted(r.json()["added"]) == sorted([galaxy, "local:seen"])
    detail = admin.get(f"/api/v1/events/{ev['uuid']}").json()
    assert {t["name"]: t["local"] for t in detail["tags"]} == {
        "tlp:green": False,
        "local:note": True,
    }
    assert {t["name"]: t["local"] for t in detail["attributes"][0]["tags"]} == {
        galaxy: False,
        "local:seen": True,
    }

    assert admin.delete(f"/api/v1/events/{ev['id']}/tags/local:note").status_code == 204
    _problem(admin.delete(f"/api/v1/events/{ev['id']}/tags/local:note"), 404, "tag")
    assert admin.delete(f"/api/v1/attributes/{attr['id']}/tags/{quote(galaxy)}").status_code == 204
    _problem(admin.delete(f"/api/v1/attributes/{attr['id']}/tags/{quote(galaxy)}"), 404, "tag")
    detail = admin.get(f"/api/v1/events/{ev['id']}").json()
    assert [t["name"] for t in detail["tags"]] == ["tlp:green"]
    assert [t["name"] for t in detail["attributes"][0]["tags"]] == ["local:seen"]
    assert _count(instance, EventTag) == 1 and _count(instance, AttributeTag) == 1


def test_tagging_needs_edit_rights_on_the_event(admin, make_user) -> None:
    a = make_user("CERT-A")
    b = make_user("CERT-B")
    admin.post("/api/v1/tags", json={"name": "tlp:green"})
    ev = _event(a.api, attributes=[{"type": "domain", "value": "e.example"}])
    _problem(
        b.api.post(f"/api/v1/events/{ev['id']}/tags", json=[{"name": "tlp:green"}]), 403, "event"
    )
    _problem(
        b.api.post(
            f"/api/v1/attributes/{ev['attributes'][0]['id']}/tags", json=[{"name": "tlp:green"}]
        ),
        403,
        "event",
    )
    reader = make_user("CERT-A", "read-only")
    r = reader.api.post(f"/api/v1/events/{ev['id']}/tags", json=[{"name": "tlp:green"}])
    assert r.status_code == 403


# ---------------------------------------------------------------- sightings


def test_sightings_by_id_uuid_and_values(admin, make_user) -> None:
    a = make_user("CERT-A")
    b = make_user("CERT-B")
    shared = _event(
        a.api,
        attributes=[
            {"type": "domain", "value": "sighted.example"},
            {"type": "ip-dst", "value": "192.0.2.44"},
        ],
    )
    also = _event(a.api, attributes=[{"type": "domain", "value": "sighted.example"}])
    private = _event(
        a.api, distribution=0, attributes=[{"type": "domain", "value": "sighted.example"}]
    )
    dom = next(x for x in shared["attributes"] if x["type"] == "domain")
    ip = next(x for x in shared["attributes"] if x["type"] == "ip-dst")

    r = b.api.post("/api/v1/sightings", json={"attribute": str(dom["id"])})
    assert r.status_code == 201 and r.json()["count"] == 1
    s = r.json()["items"][0]
    assert (s["attribute_id"], s["event_id"], s["org_id"], s["type"]) == (
        dom["id"],
        shared["id"],
        b.org_id,
        0,
    )
    r = b.api.post("/api/v1/sightings", json={"attribute": ip["uuid"], "type": 1, "source": "ids"})
    assert r.status_code == 201 and r.json()["items"][0]["type"] == 1
    # By value: every attribute B may read holding it, and no other.
    r = b.api.post("/api/v1/sightings", json={"value": "SIGHTED.example.", "type": 2})
    assert r.status_code == 201, r.text
    sighted = {x["attribute_id"] for x in r.json()["items"]}
    assert sighted == {dom["id"], also["attributes"][0]["id"]}
    assert private["attributes"][0]["id"] not in sighted
    r = a.api.post("/api/v1/sightings", json={"values": ["sighted.example", "192.0.2.44"]})
    assert r.json()["count"] == 4
    _problem(
        b.api.post("/api/v1/sightings", json={"attribute": str(private["attributes"][0]["id"])}),
        404,
        "attribute",
    )
    _problem(b.api.post("/api/v1/sightings", json={"value": "unknown.example"}), 404, "value")
    _problem(b.api.post("/api/v1/sightings", json={}), 422, "attribute")
    _problem(
        b.api.post("/api/v1/sightings", json={"attribute": str(dom["id"]), "type": 3}), 422, "type"
    )

    counts = a.api.get(f"/api/v1/events/{shared['id']}").json()
    by_id = {x["id"]: x["sightings"] for x in counts["attributes"]}
    assert by_id[dom["id"]] == {"sighting": 2, "false_positive": 0, "expiration": 1}
    assert by_id[ip["id"]] == {"sighting": 1, "false_positive": 1, "expiration": 0}

    listed = a.api.get("/api/v1/sightings", params={"attribute": dom["uuid"]}).json()["items"]
    assert [x["type"] for x in listed] == [0, 2, 0]
    assert all(x["attribute_uuid"] == dom["uuid"] for x in listed)
    by_event = a.api.get("/api/v1/sightings", params={"event": shared["uuid"]}).json()["items"]
    assert {x["attribute_id"] for x in by_event} == {dom["id"], ip["id"]} and len(by_event) == 5
    # Paging by keyset.
    page = a.api.get("/api/v1/sightings", params={"limit": 2}).json()
    rest = a.api.get("/api/v1/sightings", params={"after": page["next"], "limit": 100}).json()
    assert [x["id"] for x in page["items"] + rest["items"]] == sorted(
        x["id"] for x in a.api.get("/api/v1/sightings", params={"limit": 100}).json()["items"]
    )


def test_sighting_delete_only_by_own_org_and_future_dates_refused(admin, make_user) -> None:
    a = make_user("CERT-A")
    b = make_user("CERT-B")
    ev = _event(a.api, attributes=[{"type": "domain", "value": "d.example"}])
    attr = ev["attributes"][0]
    b_sighting = b.api.post("/api/v1/sightings", json={"attribute": attr["uuid"]}).json()["items"][
        0
    ]
    a_sighting = a.api.post("/api/v1/sightings", json={"attribute": attr["uuid"]}).json()["items"][
        0
    ]
    # The event owner sees B's sighting but may not delete it.
    assert b_sighting["id"] in [x["id"] for x in a.api.get("/api/v1/sightings").json()["items"]]
    _problem(a.api.delete(f"/api/v1/sightings/{b_sighting['id']}"), 403)
    # B does not see A's sighting of A's own event under the owner policy; cannot delete it.
    r = b.api.delete(f"/api/v1/sightings/{a_sighting['id']}")
    assert r.status_code in (403, 404)
    assert b.api.delete(f"/api/v1/sightings/{b_sighting['id']}").status_code == 204
    _problem(b.api.delete(f"/api/v1/sightings/{b_sighting['id']}"), 404, "sighting")
    assert admin.delete(f"/api/v1/sightings/{a_sighting['id']}").status_code == 204

    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    _problem(
        b.api.post("/api/v1/sightings", json={"attribute": attr["uuid"], "date_sighting": future}),
        422,
        "date_sighting",
    )
    past = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
    r = b.api.post(
        "/api/v1/sightings",
        json={"attribute": attr["uuid"], "date_sighting": int(past.timestamp())},
    )
    assert r.status_code == 201
    assert datetime.fromisoformat(r.json()["items"][0]["date_sighting"]) == past
    reader = make_user("CERT-B", "read-only")
    _problem(reader.api.post("/api/v1/sightings", json={"attribute": attr["uuid"]}), 403)


# ---------------------------------------------------------------- sharing groups


def test_sharing_group_crud_members_and_visibility(admin, make_user) -> None:
    a = make_user("CERT-A", "org-admin")
    b = make_user("CERT-B", "org-admin")
    c = make_user("CERT-C", "org-admin")
    d = make_user("CERT-D", "org-admin")
    plain = make_user("CERT-A", "user")
    _problem(plain.api.post("/api/v1/sharing-groups", json={"name": "nope"}), 403)

    r = a.api.post(
        "/api/v1/sharing-groups",
        json={
            "name": "Benelux CERTs",
            "releasability": "Benelux only",
            "members": [{"org": "CERT-B", "extend": True}],
        },
    )
    assert r.status_code == 201, r.text
    sg = r.json()
    assert sg["org"]["id"] == a.org_id and sg["all_local_orgs"] is False
    assert {(m["org"]["id"], m["extend"]) for m in sg["members"]} == {
        (a.org_id, True),
        (b.org_id, True),
    }
    _problem(a.api.post("/api/v1/sharing-groups", json={"name": "Benelux CERTs"}), 409, "name")
    _problem(
        a.api.post(
            "/api/v1/sharing-groups", json={"name": "x", "members": [{"org": "NO-SUCH-ORG"}]}
        ),
        404,
    )

    # Visible to members and the creator, not to others.
    assert b.api.get(f"/api/v1/sharing-groups/{sg['uuid']}").status_code == 200
    _problem(c.api.get(f"/api/v1/sharing-groups/{sg['id']}"), 404, "sharing_group")
    assert [x["id"] for x in c.api.get("/api/v1/sharing-groups").json()["items"]] == []
    assert [x["id"] for x in plain.api.get("/api/v1/sharing-groups").json()["items"]] == [sg["id"]]

    # An event shared with the group: members read it, others do not.
    ev = _event(
        a.api,
        distribution=4,
        sharing_group_id=sg["id"],
        attributes=[{"type": "domain", "value": "benelux.example"}],
    )
    assert ev["sharing_group"]["uuid"] == sg["uuid"]
    assert b.api.get(f"/api/v1/events/{ev['id']}").status_code == 200
    _problem(c.api.get(f"/api/v1/events/{ev['id']}"), 404, "event")
    assert (
        c.api.get("/api/v1/search/attributes", params={"value": "benelux.example"}).json()["items"]
        == []
    )
    assert (
        len(
            b.api.get("/api/v1/search/attributes", params={"value": "benelux.example"}).json()[
                "items"
            ]
        )
        == 1
    )
    # C may not use a group it cannot see.
    _problem(
        c.api.post(
            "/api/v1/events", json={"info": "x", "distribution": 4, "sharing_group_id": sg["id"]}
        ),
        422,
        "sharing_group_id",
    )

    # Extend: B (extend) adds D without extend; D may not add C.
    r = b.api.post(f"/api/v1/sharing-groups/{sg['id']}/organisations", json={"org": "CERT-D"})
    assert r.status_code == 200 and d.org_id in {m["org"]["id"] for m in r.json()["members"]}
    assert d.api.get(f"/api/v1/events/{ev['uuid']}").status_code == 200
    _problem(
        d.api.post(f"/api/v1/sharing-groups/{sg['id']}/organisations", json={"org": "CERT-C"}), 403
    )
    _problem(d.api.patch(f"/api/v1/sharing-groups/{sg['id']}", json={"name": "hijacked"}), 403)
    _problem(c.api.patch(f"/api/v1/sharing-groups/{sg['id']}", json={"name": "hijacked"}), 404)

    # all_local_orgs opens the group to every local organisation.
    r = a.api.patch(
        f"/api/v1/sharing-groups/{sg['id']}",
        json={"all_local_orgs": True, "description": "all of us"},
    )
    assert (
        r.status_code == 200
        and r.json()["all_local_orgs"] is True
        and r.json()["description"] == "all of us"
    )
    assert c.api.get(f"/api/v1/sharing-groups/{sg['id']}").status_code == 200
    assert c.api.get(f"/api/v1/events/{ev['id']}").status_code == 200
    a.api.patch(f"/api/v1/sharing-groups/{sg['id']}", json={"all_local_orgs": False})
    _problem(c.api.get(f"/api/v1/events/{ev['id']}"), 404, "event")

    # Members leave; the creator stays.
    r = a.api.delete(f"/api/v1/sharing-groups/{sg['id']}/organisations/CERT-D")
    assert r.status_code == 200 and d.org_id not in {m["org"]["id"] for m in r.json()["members"]}
    _problem(d.api.get(f"/api/v1/events/{ev['id']}"), 404, "event")
    _problem(a.api.delete(f"/api/v1/sharing-groups/{sg['id']}/organisations/CERT-D"), 404, "org")
    _problem(a.api.delete(f"/api/v1/sharing-groups/{sg['id']}/organisations/CERT-A"), 409, "org")

    # Deleting: refused while in use, only by the creator.
    _problem(b.api.delete(f"/api/v1/sharing-groups/{sg['id']}"), 403)
    _problem(a.api.delete(f"/api/v1/sharing-groups/{sg['id']}"), 409, "sharing_group")
    assert a.api.delete(f"/api/v1/events/{ev['id']}").status_code == 204
    assert a.api.delete(f"/api/v1/sharing-groups/{sg['id']}").status_code == 204
    _problem(a.api.get(f"/api/v1/sharing-groups/{sg['id']}"), 404, "sharing_group")


def test_sharing_group_in_use_by_an_attribute_cannot_be_deleted(admin, make_user) -> None:
    a = make_user("CERT-A", "org-admin")
    sg = a.api.post("/api/v1/sharing-groups", json={"name": "attr-only"}).json()
    ev = _event(
        a.api,
        attributes=[
            {
                "type": "domain",
                "value": "sg.example",
                "distribution": 4,
                "sharing_group_id": sg["id"],
            }
        ],
    )
    assert ev["attributes"][0]["sharing_group_id"] == sg["id"]
    _problem(a.api.delete(f"/api/v1/sharing-groups/{sg['uuid']}"), 409, "sharing_group")
    _problem(
        a.api.post("/api/v1/events", json={"info": "x", "distribution": 4}), 422, "sharing_group_id"
    )


# ---------------------------------------------------------------- events


def test_update_unpublishes_and_unpublish_route(admin, make_user) -> None:
    ev = _event(admin, published=True, attributes=[{"type": "domain", "value": "u.example"}])
    assert ev["published"] is True and ev["publish_timestamp"]
    r = admin.patch(
        f"/api/v1/events/{ev['id']}", json={"info": "renamed", "threat_level_id": 1, "analysis": 2}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["info"], body["threat_level_id"], body["analysis"], body["published"]) == (
        "renamed",
        1,
        2,
        False,
    )
    assert body["timestamp"] >= ev["timestamp"]
    _problem(admin.patch(f"/api/v1/events/{ev['id']}", json={"info": None}), 422, "info")
    _problem(
        admin.patch(f"/api/v1/events/{ev['id']}", json={"threat_level_id": 7}),
        422,
        "threat_level_id",
    )
    assert admin.post(f"/api/v1/events/{ev['id']}/publish").json()["published"] is True
    assert (
        admin.post(
            f"/api/v1/events/{ev['id']}/attributes", json={"type": "domain", "value": "v.example"}
        ).status_code
        == 201
    )
    assert admin.get(f"/api/v1/events/{ev['id']}").json()["published"] is False
    assert admin.post(f"/api/v1/events/{ev['id']}/publish").json()["published"] is True
    r = admin.post(f"/api/v1/events/{ev['id']}/unpublish")
    assert r.status_code == 200 and r.json()["published"] is False
    other = make_user("CERT-B", "org-admin")
    _problem(other.api.patch(f"/api/v1/events/{ev['id']}", json={"info": "mine now"}), 403, "event")
    _problem(other.api.delete(f"/api/v1/events/{ev['id']}"), 403, "event")


def test_delete_event_cascades(admin, instance) -> None:
    ev = _event(
        admin,
        tags=[{"name": "tlp:green"}],
        attributes=[
            {
                "type": "domain",
                "value": "cascade.example",
                "tags": [{"name": "kill-chain:c2"}],
                "sightings": [{"type": 0}],
            },
        ],
        objects=[
            {
                "name": "domain-ip",
                "attributes": [
                    {"object_relation": "ip", "type": "ip-dst", "value": "192.0.2.60"},
                    {"object_relation": "domain", "type": "domain", "value": "obj.example"},
                ],
            }
        ],
    )
    obj = ev["objects"][0]
    admin.post(
        f"/api/v1/objects/{obj['id']}/references",
        json={"referenced_uuid": ev["attributes"][0]["uuid"], "relationship_type": "resolves-to"},
    )
    keep = _event(
        admin,
        tags=[{"name": "tlp:green"}],
        attributes=[{"type": "domain", "value": "keep.example"}],
    )
    admin.post("/api/v1/sightings", json={"value": "keep.example"})
    assert _count(instance, Sighting) == 2 and _count(instance, ObjectReference) == 1

    assert admin.delete(f"/api/v1/events/{ev['uuid']}").status_code == 204
    _problem(admin.get(f"/api/v1/events/{ev['id']}"), 404, "event")
    _problem(
        admin.get(f"/api/v1/attributes/{ev['attributes'][0]['id']}?include_deleted=true"),
        404,
        "attribute",
    )
    _problem(admin.get(f"/api/v1/objects/{obj['id']}"), 404, "object")
    eid = ev["id"]
    for model in (Attribute, AttributeTag, EventTag, MispObject, ObjectReference, Sighting):
        assert _count(instance, model, model.event_id == eid) == 0, model
    assert _count(instance, Attribute, Attribute.event_id == keep["id"]) == 1
    assert _count(instance, Sighting) == 1 and _count(instance, EventTag) == 1
    _problem(admin.delete(f"/api/v1/events/{ev['id']}"), 404, "event")


def test_extends_uuid(admin) -> None:
    base = _event(admin, info="base")
    ext = _event(admin, info="extension", extends_uuid=base["uuid"].upper())
    assert ext["extends_uuid"] == base["uuid"]
    _problem(
        admin.post("/api/v1/events", json={"info": "x", "extends_uuid": "not-a-uuid"}),
        422,
        "extends_uuid",
    )
    _problem(
        admin.patch(f"/api/v1/events/{base['id']}", json={"extends_uuid": base["uuid"]}),
        422,
        "extends_uuid",
    )
    _problem(
        admin.patch(f"/api/v1/events/{base['id']}", json={"extends_uuid": "zzz"}),
        422,
        "extends_uuid",
    )
    r = admin.patch(f"/api/v1/events/{base['id']}", json={"extends_uuid": ext["uuid"]})
    assert r.status_code == 200 and r.json()["extends_uuid"] == ext["uuid"]
    r = admin.patch(f"/api/v1/events/{base['id']}", json={"extends_uuid": None})
    assert r.status_code == 200 and r.json()["extends_uuid"] is None


def test_first_seen_last_seen_validation(admin) -> None:
    first, last = "2024-05-01T00:00:00Z", "2024-04-01T00:00:00Z"
    _problem(
        admin.post(
            "/api/v1/events",
            json={
                "info": "x",
                "attributes": [
                    {
                        "type": "domain",
                        "value": "fs.example",
                        "first_seen": first,
                        "last_seen": last,
                    }
                ],
            },
        ),
        422,
        "attributes[0].last_seen",
    )
    _problem(
        admin.post(
            "/api/v1/events",
            json={
                "info": "x",
                "objects": [
                    {
                        "name": "domain-ip",
                        "first_seen": first,
                        "last_seen": last,
                        "attributes": [
                            {"object_relation": "ip", "type": "ip-dst", "value": "192.0.2.1"}
                        ],
                    }
                ],
            },
        ),
        422,
        "objects[0].last_seen",
    )
    ev = _event(
        admin,
        attributes=[
            {"type": "domain", "value": "fs.example", "first_seen": last, "last_seen": first}
        ],
    )
    attr = ev["attributes"][0]
    assert datetime.fromisoformat(attr["first_seen"]) == datetime(2024, 4, 1, tzinfo=UTC)
    assert datetime.fromisoformat(attr["last_seen"]) == datetime(2024, 5, 1, tzinfo=UTC)
    _problem(
        admin.post(
            f"/api/v1/events/{ev['id']}/attributes",
            json={
                "type": "domain",
                "value": "other.example",
                "first_seen": first,
                "last_seen": last,
            },
        ),
        422,
        "attributes[0].last_seen",
    )
    _problem(
        admin.patch(f"/api/v1/attributes/{attr['id']}", json={"last_seen": "2024-03-01T00:00:00Z"}),
        422,
        "last_seen",
    )
    _problem(
        admin.patch(
            f"/api/v1/attributes/{attr['id']}", json={"first_seen": "2024-06-01T00:00:00Z"}
        ),
        422,
        "last_seen",
    )
    unchanged = admin.get(f"/api/v1/attributes/{attr['id']}").json()
    assert (unchanged["first_seen"], unchanged["last_seen"]) == (
        attr["first_seen"],
        attr["last_seen"],
    )
    r = admin.patch(
        f"/api/v1/attributes/{attr['id']}", json={"last_seen": "2024-07-01T00:00:00+02:00"}
    )
    assert r.status_code == 200
    assert datetime.fromisoformat(r.json()["last_seen"]) == datetime(2024, 6, 30, 22, tzinfo=UTC)


def test_object_soft_and_hard_delete_hide_their_attributes(admin, make_user) -> None:
    reader = make_user("CERT-B")
    ev = _event(admin, attributes=[{"type": "domain", "value": "loose.example"}])
    objs = []
    for ip in ("192.0.2.71", "192.0.2.72"):
        r = admin.post(
            f"/api/v1/events/{ev['id']}/objects",
            json={
                "name": "domain-ip",
                "attributes": [{"object_relation": "ip", "type": "ip-dst", "value": ip}],
            },
        )
        assert r.status_code == 201, r.text
        objs.append(r.json())
    soft, hard = objs
    soft_attr = soft["attributes"][0]
    hard_attr = hard["attributes"][0]

    assert admin.delete(f"/api/v1/objects/{soft['uuid']}").status_code == 204
    _problem(admin.get(f"/api/v1/objects/{soft['id']}"), 404, "object")
    _problem(admin.get(f"/api/v1/attributes/{soft_attr['id']}"), 404, "attribute")
    _problem(reader.api.get(f"/api/v1/attributes/{soft_attr['id']}"), 404, "attribute")
    detail = admin.get(f"/api/v1/events/{ev['id']}").json()
    assert [o["id"] for o in detail["objects"]] == [hard["id"]]
    assert (
        admin.get("/api/v1/search/attributes", params={"value": "192.0.2.71"}).json()["items"] == []
    )
    assert (
        reader.api.get("/api/v1/search/attributes", params={"value": "192.0.2.71"}).json()["items"]
        == []
    )
    with_deleted = admin.get(
        f"/api/v1/events/{ev['id']}", params={"include_deleted": "true"}
    ).json()
    kept = next(o for o in with_deleted["objects"] if o["id"] == soft["id"])
    assert kept["deleted"] is True and kept["attributes"][0]["deleted"] is True
    assert (
        len(
            admin.get(
                "/api/v1/search/attributes",
                params={"value": "192.0.2.71", "include_deleted": "true"},
            ).json()["items"]
        )
        == 1
    )

    assert admin.delete(f"/api/v1/objects/{hard['id']}?hard=true").status_code == 204
    _problem(
        admin.get(f"/api/v1/attributes/{hard_attr['id']}?include_deleted=true"), 404, "attribute"
    )
    assert (
        admin.get(
            "/api/v1/search/attributes", params={"value": "192.0.2.72", "include_deleted": "true"}
        ).json()["items"]
        == []
    )
    # A soft-deleted object can be removed for good too.
    assert admin.delete(f"/api/v1/objects/{soft['id']}?hard=true").status_code == 204
    detail = admin.get(f"/api/v1/events/{ev['id']}", params={"include_deleted": "true"}).json()
    assert detail["objects"] == [] and [a["value"] for a in detail["attributes"]] == [
        "loose.example"
    ]


def test_another_orgs_private_tag_is_refused_by_name(admin, make_user) -> None:
    owner = make_user("TAGOWNER", "org-admin")
    other = make_user("TAGOTHER", "org-admin")
    r = owner.api.post("/api/v1/tags", json={"name": "private:watch", "org_id": owner.org_id})
    assert r.status_code == 201, r.text
    event = other.api.post("/api/v1/events", json={"info": "x"}).json()
    r = other.api.post(f"/api/v1/events/{event['id']}/tags", json=[{"name": "private:watch"}])
    assert r.status_code == 403 and r.json()["field"] == "tags"
    assert "not available" in r.json()["detail"]
    assert other.api.get(f"/api/v1/events/{event['id']}").json()["tags"] == []


def test_ids_out_of_range_or_not_ascii_are_not_found(admin) -> None:
    for ref in ("99999999999999999999", "2147483648"):
        assert admin.get(f"/api/v1/events/{ref}").status_code == 404
        assert admin.get(f"/api/v1/attributes/{ref}").status_code == 404
        assert admin.get(f"/api/v1/tags/{ref}").status_code == 404
        assert admin.get(f"/api/v1/users/{ref}").status_code == 404
        assert admin.get(f"/api/v1/organisations/{ref}").status_code == 404
    r = admin.get("/api/v1/events/²")
    assert r.status_code == 422 and r.json()["field"] == "event"
