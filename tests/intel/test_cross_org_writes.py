"""Writes across organisations: a user of one organisation never changes or deletes another
organisation's event, attribute, object, reference, tag or sighting, nor publishes its
events, even when they may read them; an org admin manages the users of their own
organisation only. Every refused request answers 403 or 404 and leaves the database as it was.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from shieldwall.auth.models import ApiKey, Organisation, User
from shieldwall.intel.models import (
    Attribute,
    AttributeTag,
    Event,
    EventTag,
    MispObject,
    ObjectReference,
    SharingGroup,
    SharingGroupOrg,
    SharingGroupServer,
    Sighting,
    Tag,
)

INTEL = [
    Event,
    Attribute,
    MispObject,
    ObjectReference,
    EventTag,
    AttributeTag,
    Sighting,
    Tag,
    SharingGroup,
    SharingGroupOrg,
    SharingGroupServer,
]
IDENTITY = [Organisation, User, ApiKey]
REFUSED = (403, 404)


def _snapshot(instance: Any, models: list[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables, every column, in id order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with instance.db.reading() as s:
        for model in models:
            table = model.__table__
            rows = s.execute(sa.select(table).order_by(table.c.id)).all()
            out[table.name] = [tuple(r) for r in rows]
    return out


def _refused(r: Any, what: str) -> None:
    assert r.status_code in REFUSED, (what, r.status_code, r.text)
    assert r.json()["detail"], what


def _created(r: Any) -> dict[str, Any]:
    assert r.status_code in (200, 201), r.text
    return r.json()


@pytest.fixture
def world(make_user, instance) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """OWNER's events, readable to OTHER in different ways, and one that is not."""
    owner = make_user("OWNER", "org_admin")
    other = {role: make_user("OTHER", role) for role in ("org_admin", "publisher", "user")}
    sg = _created(
        owner.api.post(
            "/api/v1/sharing-groups",
            json={
                "name": "owner+other",
                "members": [{"org": "OTHER", "extend": True}],
            },
        )
    )

    def event(**kw: Any) -> dict[str, Any]:
        body = {
            "info": "owner event",
            "tags": [{"name": "tlp:green"}],
            "attributes": [
                {"type": "ip-dst", "value": "198.51.100.7", "tags": [{"name": "kill-chain:c2"}]},
                {"type": "domain", "value": "gone.example"},
            ],
            "objects": [
                {
                    "name": "domain-ip",
                    "attributes": [
                        {"object_relation": "ip", "type": "ip-dst", "value": "192.0.2.9"},
                        {"object_relation": "domain", "type": "domain", "value": "c2.example"},
                    ],
                }
            ],
        }
        body.update(kw)
        created = _created(owner.api.post("/api/v1/events", json=body))
        # The second attribute is soft-deleted, so restoring it can be tried.
        gone = next(a for a in created["attributes"] if a["value"] == "gone.example")
        assert owner.api.delete(f"/api/v1/attributes/{gone['id']}").status_code == 204
        loose = next(a for a in created["attributes"] if a["value"] == "198.51.100.7")
        obj = created["objects"][0]
        ref = _created(
            owner.api.post(
                f"/api/v1/objects/{obj['id']}/references",
                json={
                    "referenced_uuid": loose["uuid"],
                    "relationship_type": "related-to",
                },
            )
        )
        sighting = _created(owner.api.post("/api/v1/sightings", json={"attribute": loose["uuid"]}))
        return {
            "id": created["id"],
            "uuid": created["uuid"],
            "attribute": loose,
            "deleted": gone,
            "object": obj,
            "reference": ref,
            "sighting": sighting["items"][0],
        }

    events = {
        "community": event(distribution=1, published=True),
        "sharing group": event(
            distribution=4,
            sharing_group_id=sg["id"],
            tags=[{"name": "tlp:red"}, {"name": "tlp:green"}],
        ),
        "organisation only": event(distribution=0),
        "created by OTHER": event(distribution=0),
    }
    # OTHER created this one (orgc) but OWNER holds it: OTHER reads it, only OWNER edits it.
    with instance.db.writing() as s:
        s.execute(
            sa.update(Event)
            .where(Event.id == events["created by OTHER"]["id"])
            .values(orgc_id=other["user"].org_id)
        )
    return {"owner": owner, "other": other, "events": events, "sg": sg}


def _attempts(e: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(method, url, json body) of every write on the event and what it holds."""
    ev, attr, gone = (
        f"/api/v1/events/{e['id']}",
        f"/api/v1/attributes/{e['attribute']['id']}",
        e["deleted"],
    )
    obj = f"/api/v1/objects/{e['object']['id']}"
    return [
        ("PATCH", ev, {"info": "taken over"}),
        ("PATCH", f"/api/v1/events/{e['uuid']}", {"distribution": 3}),
        ("POST", f"{ev}/publish", None),
        ("POST", f"{ev}/unpublish", None),
        ("POST", f"{ev}/attributes", {"type": "domain", "value": "planted.example"}),
        ("POST", f"{ev}/attributes", [{"type": "ip-dst", "value": "203.0.113.1"}]),
        ("POST", f"{ev}/tags", [{"name": "tlp:green"}]),
        ("POST", f"{ev}/tags", [{"name": "tlp:clear"}]),
        ("DELETE", f"{ev}/tags/tlp:green", None),
        ("DELETE", f"{ev}/tags/tlp:red", None),
        (
            "POST",
            f"{ev}/objects",
            {
                "name": "domain-ip",
                "attributes": [
                    {"object_relation": "domain", "type": "domain", "value": "planted.example"}
                ],
            },
        ),
        ("PATCH", attr, {"comment": "taken over"}),
        ("PATCH", attr, {"distribution": 0}),
        ("POST", f"{attr}/tags", [{"name": "tlp:green"}]),
        ("DELETE", f"{attr}/tags/kill-chain:c2", None),
        ("DELETE", attr, None),
        ("DELETE", f"{attr}?hard=true", None),
        ("POST", f"/api/v1/attributes/{gone['id']}/restore", None),
        ("DELETE", f"/api/v1/attributes/{gone['id']}?hard=true", None),
        ("PATCH", obj, {"comment": "taken over"}),
        (
            "POST",
            f"{obj}/references",
            {"referenced_uuid": e["attribute"]["uuid"], "relationship_type": "x"},
        ),
        ("DELETE", f"/api/v1/references/{e['reference']['id']}", None),
        ("DELETE", obj, None),
        ("DELETE", f"{obj}?hard=true", None),
        ("DELETE", f"/api/v1/sightings/{e['sighting']['id']}", None),
        ("DELETE", ev, None),
    ]


def _send(api: Any, method: str, url: str, body: Any) -> Any:
    return api.client.request(method, url, headers=api.headers, json=body)


@pytest.mark.parametrize("role", ["org_admin", "publisher", "user"])
def test_no_write_reaches_another_organisations_event(world, instance, role) -> None:  # type: ignore[no-untyped-def]
    attacker = world["other"][role]
    readable = {"community", "sharing group", "created by OTHER"}
    for name, e in world["events"].items():
        # The reads the writes must not turn into: readable events really are readable.
        expected = 200 if name in readable else 404
        assert attacker.api.get(f"/api/v1/events/{e['id']}").status_code == expected, name
        assert (
            attacker.api.get(f"/api/v1/attributes/{e['attribute']['id']}").status_code == expected
        ), name
        assert attacker.api.get(f"/api/v1/objects/{e['object']['id']}").status_code == expected, (
            name
        )
    before = _snapshot(instance, INTEL)
    for name, e in world["events"].items():
        for method, url, body in _attempts(e):
            _refused(
                _send(attacker.api, method, url, body), f"{role} {method} {url} on the {name} event"
            )
            assert _snapshot(instance, INTEL) == before, (
                f"{role} {method} {url} changed the {name} event"
            )


def test_the_owner_can_do_what_others_cannot(world, instance) -> None:  # type: ignore[no-untyped-def]
    """The control: the refusals above come from the organisation, not from broken routes."""
    owner = world["owner"]
    e = world["events"]["community"]
    ev, attr = f"/api/v1/events/{e['id']}", f"/api/v1/attributes/{e['attribute']['id']}"
    assert _send(owner.api, "PATCH", attr, {"comment": "mine"}).status_code == 200
    assert (
        _send(
            owner.api, "POST", f"{ev}/attributes", {"type": "domain", "value": "more.example"}
        ).status_code
        == 201
    )
    assert (
        _send(
            owner.api, "POST", f"/api/v1/attributes/{e['deleted']['id']}/restore", None
        ).status_code
        == 200
    )
    assert (
        _send(
            owner.api, "PATCH", f"/api/v1/objects/{e['object']['id']}", {"comment": "mine"}
        ).status_code
        == 200
    )
    assert _send(owner.api, "DELETE", f"{ev}/tags/tlp:green", None).status_code == 204
    assert _send(owner.api, "POST", f"{ev}/publish", None).status_code == 200
    assert _send(owner.api, "PATCH", ev, {"info": "mine"}).status_code == 200
    assert _send(owner.api, "DELETE", ev, None).status_code == 204
    with instance.db.reading() as s:
        assert s.get(Event, e["id"]) is None


def test_a_site_admin_may_write_any_event(world, admin) -> None:  # type: ignore[no-untyped-def]
    e = world["events"]["organisation only"]
    assert admin.patch(f"/api/v1/events/{e['id']}", json={"info": "moderated"}).status_code == 200


def test_the_creator_organisation_reads_but_does_not_edit(world, instance) -> None:  # type: ignore[no-untyped-def]
    e = world["events"]["created by OTHER"]
    with instance.db.reading() as s:
        event = s.get(Event, e["id"])
        assert event is not None and event.orgc_id == world["other"]["user"].org_id
    for role, member in world["other"].items():
        assert member.api.get(f"/api/v1/events/{e['id']}").json()["orgc"]["name"] == "OTHER", role
        r = member.api.patch(f"/api/v1/events/{e['id']}", json={"info": "ours"})
        assert r.status_code == 403, (role, r.text)


# ---------------------------------------------------------------- users


@pytest.fixture
def orgs(make_user, instance) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        "owner_admin": make_user("OWNER", "org_admin"),
        "owner_user": make_user("OWNER", "user"),
        "other_admin": make_user("OTHER", "org_admin"),
        "other_user": make_user("OTHER", "user"),
    }


def test_an_org_admin_manages_only_their_own_organisations_users(orgs, instance) -> None:  # type: ignore[no-untyped-def]
    admin = orgs["other_admin"].api
    victim = orgs["owner_user"]
    with instance.db.reading() as s:
        victim_key = s.execute(
            sa.select(ApiKey.id).where(ApiKey.user_id == victim.user_id)
        ).scalar_one()
        owner_org = s.get(Organisation, victim.org_id)
        assert owner_org is not None

    listed = admin.get("/api/v1/users").json()["items"]
    assert {u["org"]["name"] for u in listed} == {"OTHER"}
    assert {u["id"] for u in listed} == {orgs["other_admin"].user_id, orgs["other_user"].user_id}
    assert admin.get("/api/v1/users", params={"org": "OWNER"}).json()["items"] == []

    before = _snapshot(instance, IDENTITY)
    attempts = [
        ("GET", f"/api/v1/users/{victim.user_id}", None),
        ("GET", f"/api/v1/users/{victim.email}", None),
        ("PATCH", f"/api/v1/users/{victim.user_id}", {"disabled": True}),
        ("PATCH", f"/api/v1/users/{victim.user_id}", {"role": "org_admin"}),
        ("PATCH", f"/api/v1/users/{victim.user_id}", {"email": "stolen@other.test"}),
        ("PATCH", f"/api/v1/users/{victim.user_id}", {"password": "a-new-long-password"}),
        ("PATCH", f"/api/v1/users/{victim.user_id}", {"org": "OTHER"}),
        ("DELETE", f"/api/v1/users/{victim.user_id}", None),
        ("POST", "/api/v1/users", {"email": "new@owner.test", "org": "OWNER"}),
        (
            "POST",
            "/api/v1/users",
            {"email": "new2@owner.test", "org": str(victim.org_id), "create_key": True},
        ),
        ("POST", "/api/v1/keys", {"user": str(victim.user_id)}),
        ("POST", "/api/v1/keys", {"user": victim.email}),
        ("GET", f"/api/v1/keys?user={victim.user_id}", None),
        ("DELETE", f"/api/v1/keys/{victim_key}", None),
        ("PATCH", "/api/v1/organisations/OWNER", {"description": "taken over"}),
        ("DELETE", "/api/v1/organisations/OWNER", None),
        # Nor may they lift their own users out of reach or above themselves.
        ("PATCH", f"/api/v1/users/{orgs['other_user'].user_id}", {"org": "OWNER"}),
        ("PATCH", f"/api/v1/users/{orgs['other_user'].user_id}", {"role": "admin"}),
        ("POST", "/api/v1/users", {"email": "boss@other.test", "role": "site_admin"}),
        ("POST", "/api/v1/organisations", {"name": "NEW-ORG"}),
    ]
    for method, url, body in attempts:
        _refused(_send(admin, method, url, body), f"org admin {method} {url}")
        assert _snapshot(instance, IDENTITY) == before, (
            f"org admin {method} {url} changed identities"
        )
    # Their own organisation's keys only.
    keys = admin.get("/api/v1/keys").json()["items"]
    assert victim_key not in {k["id"] for k in keys}
    assert {k["user_id"] for k in keys} <= {orgs["other_admin"].user_id, orgs["other_user"].user_id}


def test_an_org_admin_does_manage_their_own_users(orgs, instance) -> None:  # type: ignore[no-untyped-def]
    """The control: the same routes work inside the admin's own organisation."""
    admin = orgs["other_admin"].api
    own = orgs["other_user"]
    created = admin.post("/api/v1/users", json={"email": "new@other.test", "create_key": True})
    assert created.status_code == 201, created.text
    assert created.json()["org"]["name"] == "OTHER"
    assert admin.patch(f"/api/v1/users/{own.user_id}", json={"disabled": True}).status_code == 200
    assert admin.post("/api/v1/keys", json={"user": str(own.user_id)}).status_code == 201
    assert admin.delete(f"/api/v1/users/{created.json()['id']}").status_code == 204
    with instance.db.reading() as s:
        user = s.get(User, own.user_id)
        assert user is not None and user.disabled


def test_a_plain_user_manages_nobody_else(orgs, instance) -> None:  # type: ignore[no-untyped-def]
    user = orgs["other_user"].api
    colleague = orgs["other_admin"]
    assert {u["id"] for u in user.get("/api/v1/users").json()["items"]} == {
        orgs["other_user"].user_id
    }
    before = _snapshot(instance, IDENTITY)
    for method, url, body in [
        ("GET", f"/api/v1/users/{colleague.user_id}", None),
        ("PATCH", f"/api/v1/users/{colleague.user_id}", {"disabled": True}),
        ("DELETE", f"/api/v1/users/{colleague.user_id}", None),
        ("POST", "/api/v1/users", {"email": "friend@other.test"}),
        ("POST", "/api/v1/keys", {"user": str(colleague.user_id)}),
        ("PATCH", f"/api/v1/users/{orgs['other_user'].user_id}", {"role": "org_admin"}),
    ]:
        _refused(_send(user, method, url, body), f"user {method} {url}")
        assert _snapshot(instance, IDENTITY) == before, f"user {method} {url} changed identities"
