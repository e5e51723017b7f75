"""Organisations, users, roles, API keys and password login through the native API."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient

from shieldwall.audit.models import AuditEntry
from shieldwall.auth.models import ApiKey, User
from shieldwall.auth.permissions import DEFAULT_ROLES, Permission
from shieldwall.clock import set_clock
from shieldwall.config import get_settings
from shieldwall.db.models import metadata

PASSWORD = "a-long-test-password"


def _audit(instance: Any, **where: Any) -> list[AuditEntry]:
    with instance.db.reading() as s:
        q = sa.select(AuditEntry).order_by(AuditEntry.id)
        for k, v in where.items():
            q = q.where(getattr(AuditEntry, k) == v)
        return list(s.execute(q).scalars())


def _user_row(instance: Any, user_id: int) -> User:
    with instance.db.reading() as s:
        user = s.get(User, user_id)
        assert user is not None
        return user


@pytest.fixture
def moved_clock() -> Iterator[Any]:
    """move(delta): the application clock jumps ahead; restored after the test."""
    offset = timedelta()

    def move(delta: timedelta) -> None:
        nonlocal offset
        offset += delta
        set_clock(lambda: datetime.now(UTC) + offset)

    yield move
    set_clock(None)


# ---------------------------------------------------------------- organisations


def test_site_admin_manages_organisations(admin, instance) -> None:
    r = admin.post(
        "/api/v1/organisations", json={"name": "CERT-EE", "nationality": "Estonia", "sector": "gov"}
    )
    assert r.status_code == 201, r.text
    org = r.json()
    assert org["name"] == "CERT-EE" and org["nationality"] == "Estonia" and org["local"] is True
    assert admin.get(f"/api/v1/organisations/{org['uuid']}").json()["id"] == org["id"]
    assert admin.get(f"/api/v1/organisations/{org['id']}").json()["name"] == "CERT-EE"
    names = [o["name"] for o in admin.get("/api/v1/organisations").json()["items"]]
    assert names == ["HOST-CERT", "CERT-EE"]

    r = admin.patch(
        f"/api/v1/organisations/{org['id']}", json={"sector": "finance", "description": "banks"}
    )
    assert (
        r.status_code == 200
        and r.json()["sector"] == "finance"
        and r.json()["description"] == "banks"
    )

    dup = admin.post("/api/v1/organisations", json={"name": "CERT-EE"})
    assert (
        dup.status_code == 409
        and dup.json()["field"] == "name"
        and "CERT-EE" in dup.json()["detail"]
    )
    other = admin.post("/api/v1/organisations", json={"name": "CERT-LV"}).json()
    clash = admin.patch(f"/api/v1/organisations/{other['id']}", json={"name": "CERT-EE"})
    assert clash.status_code == 409 and clash.json()["field"] == "name"

    assert admin.delete(f"/api/v1/organisations/{other['uuid']}").status_code == 204
    assert admin.get(f"/api/v1/organisations/{other['id']}").status_code == 404
    # The host organisation and organisations with users stay.
    assert admin.delete(f"/api/v1/organisations/{instance.host_org_id}").status_code == 409
    admin.post("/api/v1/users", json={"email": "a@cert-ee.test", "org": "CERT-EE"})
    r = admin.delete(f"/api/v1/organisations/{org['id']}")
    assert r.status_code == 409 and r.json()["field"] == "org"
    assert admin.post("/api/v1/organisations", json={"name": ""}).json()["field"] == "name"


def test_only_site_admin_creates_or_deletes_organisations(admin, make_user) -> None:
    user = make_user("CERT-A", "user")
    org_admin = make_user("CERT-A", "org-admin")
    target = admin.post("/api/v1/organisations", json={"name": "CERT-B"}).json()
    for member in (user, org_admin):
        r = member.api.post("/api/v1/organisations", json={"name": "CERT-X"})
        assert r.status_code == 403, r.text
        assert member.api.delete(f"/api/v1/organisations/{target['id']}").status_code == 403
        assert (
            member.api.patch(
                f"/api/v1/organisations/{target['id']}", json={"sector": "x"}
            ).status_code
            == 403
        )
        # Reading organisations is open to every signed-in user.
        assert member.api.get("/api/v1/organisations").status_code == 200
    assert (
        user.api.patch(f"/api/v1/organisations/{user.org_id}", json={"sector": "x"}).status_code
        == 403
    )
    # An org admin edits its own organisation, but not whether it is local.
    r = org_admin.api.patch(f"/api/v1/organisations/{org_admin.org_id}", json={"sector": "energy"})
    assert r.status_code == 200 and r.json()["sector"] == "energy"
    assert (
        org_admin.api.patch(
            f"/api/v1/organisations/{org_admin.org_id}", json={"local": False}
        ).status_code
        == 403
    )
    names = {o["name"] for o in admin.get("/api/v1/organisations").json()["items"]}
    assert "CERT-X" not in names and "CERT-B" in names


# ---------------------------------------------------------------- users


def test_site_admin_manages_users_anywhere(admin, instance) -> None:
    admin.post("/api/v1/organisations", json={"name": "CERT-B"})
    r = admin.post(
        "/api/v1/users",
        json={
            "email": "Alice@CERT-B.test",
            "org": "CERT-B",
            "role": "publisher",
            "password": PASSWORD,
        },
    )
    assert r.status_code == 201, r.text
    alice = r.json()
    assert alice["email"] == "alice@cert-b.test"
    assert alice["org"]["name"] == "CERT-B" and alice["role"] == {"id": 4, "name": "Publisher"}
    assert alice["last_login"] is None and "password" not in alice and "password_hash" not in alice

    dup = admin.post("/api/v1/users", json={"email": "alice@cert-b.test", "org": "CERT-B"})
    assert dup.status_code == 409 and dup.json()["field"] == "email"
    assert (
        admin.post("/api/v1/users", json={"email": "no-at-sign", "org": "CERT-B"}).json()["field"]
        == "email"
    )
    weak = admin.post("/api/v1/users", json={"email": "b@cert-b.test", "password": "short"})
    assert weak.status_code == 422 and weak.json()["field"] == "password"
    assert (
        admin.post("/api/v1/users", json={"email": "c@cert-b.test", "role": "wizard"}).json()[
            "field"
        ]
        == "role"
    )

    r = admin.patch(
        f"/api/v1/users/{alice['uuid']}", json={"role": "org-admin", "org": "HOST-CERT"}
    )
    assert r.status_code == 200 and r.json()["role"]["name"] == "Org Admin"
    assert r.json()["org"]["id"] == instance.host_org_id
    assert admin.get(f"/api/v1/users/{alice['email']}").json()["id"] == alice["id"]
    emails = [u["email"] for u in admin.get("/api/v1/users").json()["items"]]
    assert emails == ["admin@host.test", "alice@cert-b.test"]

    assert admin.delete(f"/api/v1/users/{alice['id']}").status_code == 204
    assert admin.get(f"/api/v1/users/{alice['id']}").status_code == 404
    r = admin.delete(f"/api/v1/users/{instance.admin_id}")
    assert r.status_code == 409  # nobody deletes themselves


def test_org_admin_manages_only_its_own_organisation(admin, make_user) -> None:
    boss = make_user("CERT-A", "org-admin")
    outsider = make_user("CERT-B", "user")

    r = boss.api.post("/api/v1/users", json={"email": "new@cert-a.test", "role": "publisher"})
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["org"]["id"] == boss.org_id and new["role"]["name"] == "Publisher"

    # Not in another organisation.
    r = boss.api.post("/api/v1/users", json={"email": "x@cert-b.test", "org": "CERT-B"})
    assert r.status_code == 403
    assert boss.api.get(f"/api/v1/users/{outsider.user_id}").status_code == 404
    assert (
        boss.api.patch(f"/api/v1/users/{outsider.user_id}", json={"disabled": True}).status_code
        == 404
    )
    assert boss.api.delete(f"/api/v1/users/{outsider.user_id}").status_code == 404
    listed = {u["email"] for u in boss.api.get("/api/v1/users").json()["items"]}
    assert listed == {boss.email, "new@cert-a.test"}

    # Not a role holding permissions the org admin lacks (site admin, sync).
    for role in ("admin", "sync", "1", "5"):
        r = boss.api.post("/api/v1/users", json={"email": f"r{role}@cert-a.test", "role": role})
        assert r.status_code == 403, (role, r.text)
        assert boss.api.patch(f"/api/v1/users/{new['id']}", json={"role": role}).status_code == 403
    assert admin.get(f"/api/v1/users/{new['id']}").json()["role"]["name"] == "Publisher"
    # Nor move a user to another organisation.
    assert boss.api.patch(f"/api/v1/users/{new['id']}", json={"org": "CERT-B"}).status_code == 403

    r = boss.api.patch(f"/api/v1/users/{new['id']}", json={"role": "read-only", "disabled": True})
    assert (
        r.status_code == 200
        and r.json()["role"]["name"] == "Read Only"
        and r.json()["disabled"] is True
    )
    assert boss.api.delete(f"/api/v1/users/{new['id']}").status_code == 204
    with_users = {u["email"] for u in admin.get("/api/v1/users").json()["items"]}
    assert "new@cert-a.test" not in with_users


def test_plain_user_sees_only_itself(admin, make_user) -> None:
    alice = make_user("CERT-A", "user")
    bob = make_user("CERT-A", "user")
    items = alice.api.get("/api/v1/users").json()["items"]
    assert [u["id"] for u in items] == [alice.user_id]
    assert alice.api.get(f"/api/v1/users/{alice.user_id}").json()["email"] == alice.email
    assert alice.api.get(f"/api/v1/users/{bob.user_id}").status_code == 404
    assert alice.api.post("/api/v1/users", json={"email": "z@cert-a.test"}).status_code == 403
    # A user may change its own password but not its role.
    assert (
        alice.api.patch(
            f"/api/v1/users/{alice.user_id}", json={"password": "another-long-password"}
        ).status_code
        == 200
    )
    assert (
        alice.api.patch(f"/api/v1/users/{alice.user_id}", json={"role": "publisher"}).status_code
        == 403
    )
    assert admin.get(f"/api/v1/users/{alice.user_id}").json()["role"]["name"] == "User"
    me = alice.api.get("/api/v1/me").json()
    assert me["id"] == alice.user_id and me["org"]["id"] == alice.org_id
    assert (
        Permission.EVENT_ADD.value in me["permissions"]
        and Permission.SITE_ADMIN.value not in me["permissions"]
    )


# ---------------------------------------------------------------- roles


def test_roles_are_misps_six_defaults_and_the_coordinator(admin, make_user) -> None:
    user = make_user("CERT-A", "user")
    body = user.api.get("/api/v1/roles").json()
    roles = body["items"]
    assert [(r["id"], r["name"]) for r in roles] == [
        (1, "admin"),
        (2, "Org Admin"),
        (3, "User"),
        (4, "Publisher"),
        (5, "Sync user"),
        (6, "Read Only"),
        (7, "Coordinator"),
    ]
    assert body["permissions"] == [p.value for p in Permission]
    for p in body["permissions"]:
        scope, resource, action = p.split(":")
        assert scope and resource and action
    expected = {rid: sorted(p.value for p in perms) for rid, _, perms in DEFAULT_ROLES}
    assert {r["id"]: r["permissions"] for r in roles} == expected
    by_name = {r["name"]: set(r["permissions"]) for r in roles}
    assert by_name["admin"] == {p.value for p in Permission}
    assert by_name["Read Only"] == {"auth:key:use"}
    # Coordinators decide on assistance and deploy teams; org admins ask for help.
    assert "response:assistance:coordinate" in by_name["Coordinator"]
    assert "response:assistance:coordinate" not in by_name["Org Admin"]
    assert "response:assistance:request" in by_name["Org Admin"]
    assert "response:assistance:request" not in by_name["User"]
    assert (
        "intel:event:publish" in by_name["Publisher"]
        and "intel:event:publish" not in by_name["User"]
    )
    assert "sync:server:sync" in by_name["Sync user"]
    assert (
        "admin:organisation:manage" in by_name["Org Admin"]
        and "admin:site:manage" not in by_name["Org Admin"]
    )
    assert [r["id"] for r in roles if r["default_role"]] == [3]
    assert user.api.get("/api/v1/roles/4").json()["name"] == "Publisher"
    assert user.api.get("/api/v1/roles/99").status_code == 404


def test_role_changes_are_audited(admin, make_user, instance) -> None:
    member = make_user("CERT-A", "user")
    r = admin.patch(f"/api/v1/users/{member.user_id}", json={"role": "publisher"})
    assert r.status_code == 200
    entry = _audit(instance, action="role_change", model="User")[-1]
    assert entry.model_id == member.user_id
    assert entry.change["role_id"] == [3, 4]
    assert entry.user_id == instance.admin_id and entry.org_id == instance.host_org_id
    assert entry.api_key_id is not None and entry.ip == "testclient"

    # Changing a role's permissions: site admins only, audited with before and after.
    assert member.api.patch("/api/v1/roles/6", json={"permissions": []}).status_code == 403
    r = admin.patch("/api/v1/roles/6", json={"permissions": ["auth:key:use", "intel:sighting:add"]})
    assert r.status_code == 200 and r.json()["permissions"] == [
        "auth:key:use",
        "intel:sighting:add",
    ]
    entry = _audit(instance, action="role_change", model="Role")[-1]
    assert entry.model_id == 6
    assert entry.change["before"]["permissions"] == ["auth:key:use"]
    assert entry.change["after"]["permissions"] == ["auth:key:use", "intel:sighting:add"]
    bad = admin.patch("/api/v1/roles/6", json={"permissions": ["intel:event:fly"]})
    assert bad.status_code == 422 and bad.json()["field"] == "permissions"


# ---------------------------------------------------------------- API keys


def test_api_key_is_40_chars_shown_once_and_stored_hashed(admin, make_user, instance) -> None:
    member = make_user("CERT-A", "user")
    r = member.api.post("/api/v1/keys", json={"comment": "laptop"})
    assert r.status_code == 201, r.text
    created = r.json()
    raw = created["key"]
    assert len(raw) == 40 and raw.isalnum()
    assert created["key_start"] == raw[:4] and created["key_end"] == raw[-4:]
    listed = member.api.get("/api/v1/keys").json()["items"]
    assert {k["id"] for k in listed} >= {created["id"]}
    for k in listed:
        assert "key" not in k and "key_hash" not in k
    assert raw not in member.api.get("/api/v1/keys").text
    with instance.db.reading() as s:
        row = s.get(ApiKey, created["id"])
        assert row is not None and row.key_hash == hashlib.sha256(raw.encode()).hexdigest()
        # The clear key is in no column of any table (audit log included).
        for table in metadata.sorted_tables:
            for db_row in s.execute(sa.select(table)).all():
                for value in db_row:
                    assert raw not in str(value), f"clear key stored in {table.name}"
                    assert instance.admin_key not in str(value), f"clear key stored in {table.name}"


def test_key_accepted_in_misp_and_bearer_style(client, make_user) -> None:
    member = make_user("CERT-A", "user")
    for header in (member.api.key, f"Bearer {member.api.key}", f"bearer  {member.api.key} "):
        r = client.get("/api/v1/me", headers={"Authorization": header})
        assert r.status_code == 200, (header, r.text)
        assert r.json()["id"] == member.user_id
    for header in ("", "Bearer ", "x" * 40, member.api.key[:-1], member.api.key + "x"):
        r = client.get("/api/v1/me", headers={"Authorization": header})
        assert r.status_code == 401, header
    r = client.get("/api/v1/me")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_several_keys_and_revocation_takes_effect_at_once(client, make_user, instance) -> None:
    member = make_user("CERT-A", "user")
    k2 = member.api.post("/api/v1/keys", json={"comment": "second"}).json()
    k3 = member.api.post("/api/v1/keys", json={"comment": "third"}).json()
    keys = [member.api.key, k2["key"], k3["key"]]
    assert len(set(keys)) == 3
    for key in keys:
        assert client.get("/api/v1/me", headers={"Authorization": key}).status_code == 200
    r = member.api.delete(f"/api/v1/keys/{k2['uuid']}")
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    r = client.get("/api/v1/me", headers={"Authorization": k2["key"]})
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    for key in (member.api.key, k3["key"]):
        assert client.get("/api/v1/me", headers={"Authorization": key}).status_code == 200
    # A user cannot see or revoke another user's key.
    other = make_user("CERT-A", "user")
    assert other.api.delete(f"/api/v1/keys/{k3['id']}").status_code == 404
    assert client.get("/api/v1/me", headers={"Authorization": k3["key"]}).status_code == 200
    assert k3["id"] not in {k["id"] for k in other.api.get("/api/v1/keys").json()["items"]}
    # The revocation is audited once; revoking again changes nothing.
    assert member.api.delete(f"/api/v1/keys/{k2['id']}").status_code == 200
    assert len(_audit(instance, action="key_revoke", model_id=k2["id"])) == 1


def test_expired_key_refused(client, make_user, moved_clock) -> None:
    member = make_user("CERT-A", "user")
    expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    created = member.api.post("/api/v1/keys", json={"expires_at": expires}).json()
    assert client.get("/api/v1/me", headers={"Authorization": created["key"]}).status_code == 200
    moved_clock(timedelta(hours=2))
    r = client.get("/api/v1/me", headers={"Authorization": created["key"]})
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    assert member.api.get("/api/v1/me").status_code == 200  # the key without expiry still works
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    r = member.api.post("/api/v1/keys", json={"expires_at": past})
    assert r.status_code == 422 and r.json()["field"] == "expires_at"


def test_expiry_without_zone_is_refused_with_field(make_user) -> None:
    member = make_user("CERT-A", "user")
    r = member.api.post("/api/v1/keys", json={"expires_at": "2099-01-01T00:00:00"})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "expires_at"


def test_network_restricted_key_refused_for_non_ip_client(client, make_user) -> None:
    """TestClient's client address is "testclient": not an address, so a restricted key fails."""
    member = make_user("CERT-A", "user")
    r = member.api.post("/api/v1/keys", json={"allowed_networks": ["0.0.0.0/0", "::/0"]})
    assert r.status_code == 201 and r.json()["allowed_networks"] == ["0.0.0.0/0", "::/0"]
    r = client.get("/api/v1/me", headers={"Authorization": r.json()["key"]})
    assert r.status_code == 401 and "address" in r.json()["detail"]
    bad = member.api.post("/api/v1/keys", json={"allowed_networks": ["10.0.0.0/8", "nonsense"]})
    assert bad.status_code == 422 and bad.json()["field"] == "allowed_networks[1]"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(instance) -> Iterator[str]:
    """The app served by a real uvicorn on 127.0.0.1, so requests carry a real client address."""
    from shieldwall.app import create_app

    port = _free_port()
    config = uvicorn.Config(
        create_app(get_settings()), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_allowed_networks_enforced_on_real_addresses(live_server, make_user, instance) -> None:
    member = make_user("CERT-A", "user")
    with httpx.Client(base_url=live_server, timeout=10) as http:

        def new_key(networks: list[str]) -> str:
            r = http.post(
                "/api/v1/keys",
                headers={"Authorization": member.api.key},
                json={"allowed_networks": networks},
            )
            assert r.status_code == 201, r.text
            return str(r.json()["key"])

        loopback = new_key(["127.0.0.0/8"])
        single = new_key(["192.0.2.0/24", "127.0.0.1"])
        elsewhere = new_key(["10.0.0.0/8"])
        v6_only = new_key(["::1/128"])
        for key in (loopback, single):
            r = http.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 200, r.text
        for key in (elsewhere, v6_only):
            r = http.get("/api/v1/me", headers={"Authorization": key})
            assert r.status_code == 401 and "address" in r.json()["detail"]
    # The address is the one the audit log records.
    entry = _audit(instance, action="key_create")[-1]
    assert entry.ip == "127.0.0.1" and entry.user_id == member.user_id


def test_disabled_users_keys_refused(admin, client, make_user) -> None:
    member = make_user("CERT-A", "user")
    second = member.api.post("/api/v1/keys", json={}).json()["key"]
    assert member.api.get("/api/v1/me").status_code == 200
    assert (
        admin.patch(f"/api/v1/users/{member.user_id}", json={"disabled": True}).status_code == 200
    )
    for key in (member.api.key, second):
        r = client.get("/api/v1/me", headers={"Authorization": key})
        assert r.status_code == 401 and "disabled" in r.json()["detail"]
    assert (
        admin.patch(f"/api/v1/users/{member.user_id}", json={"disabled": False}).status_code == 200
    )
    assert member.api.get("/api/v1/me").status_code == 200


def test_read_only_role_reads_but_cannot_write(admin, make_user) -> None:
    event = admin.post("/api/v1/events", json={"info": "shared", "distribution": 1}).json()
    reader = make_user("CERT-A", "read-only")
    assert reader.api.get("/api/v1/events").status_code == 200
    assert reader.api.get(f"/api/v1/events/{event['uuid']}").json()["info"] == "shared"
    assert (
        reader.api.post("/api/v1/events", json={"info": "x", "distribution": 1}).status_code == 403
    )
    assert (
        reader.api.patch(f"/api/v1/events/{event['id']}", json={"info": "changed"}).status_code
        == 403
    )
    assert reader.api.post(f"/api/v1/events/{event['id']}/publish").status_code == 403
    assert admin.get(f"/api/v1/events/{event['id']}").json()["info"] == "shared"


def test_read_only_key_of_a_writer_cannot_write(make_user) -> None:
    writer = make_user("CERT-A", "user")
    ro = writer.api.post("/api/v1/keys", json={"read_only": True}).json()
    headers = {"Authorization": ro["key"]}
    assert writer.api.client.get("/api/v1/events", headers=headers).status_code == 200
    r = writer.api.client.post(
        "/api/v1/events", headers=headers, json={"info": "x", "distribution": 1}
    )
    assert r.status_code == 403
    assert (
        writer.api.post("/api/v1/events", json={"info": "x", "distribution": 1}).status_code == 201
    )


def test_role_without_api_access_cannot_use_keys(admin, make_user) -> None:
    member = make_user("CERT-A", "read-only")
    assert member.api.get("/api/v1/me").status_code == 200
    assert admin.patch("/api/v1/roles/6", json={"permissions": []}).status_code == 200
    assert member.api.get("/api/v1/me").status_code == 403


# ---------------------------------------------------------------- password login


@pytest.fixture
def browser(app) -> Iterator[TestClient]:
    """A client of its own, so its cookie jar is not shared with the key-based clients."""
    with TestClient(app) as c:
        yield c


def test_login_sets_session_cookie_and_csrf_guards_changes(browser, make_user, instance) -> None:
    member = make_user("CERT-A", "user")
    before = _user_row(instance, member.user_id).last_login
    assert before is None
    r = browser.post(
        "/api/v1/auth/login", json={"email": member.email.upper(), "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    csrf = r.json()["csrf_token"]
    assert r.json()["user"]["id"] == member.user_id
    cookie = r.headers["set-cookie"]
    assert (
        cookie.startswith("shieldwall_session=")
        and "HttpOnly" in cookie
        and "samesite=strict" in cookie.lower()
    )
    assert PASSWORD not in cookie

    me = browser.get("/api/v1/me")
    assert (
        me.status_code == 200
        and me.json()["id"] == member.user_id
        and me.json()["api_key_id"] is None
    )

    body = {"info": "from the browser", "distribution": 1}
    r = browser.post("/api/v1/events", json=body)
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    r = browser.post("/api/v1/events", json=body, headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403
    r = browser.post("/api/v1/events", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    assert r.json()["orgc"]["id"] == member.org_id
    with instance.db.reading() as s:
        from shieldwall.intel.models import Event

        assert s.scalar(sa.select(sa.func.count()).select_from(Event)) == 1

    user = _user_row(instance, member.user_id)
    assert user.last_login is not None
    assert abs((user.last_login - datetime.now(UTC)).total_seconds()) < 60
    assert browser.get(f"/api/v1/users/{member.user_id}").json()["last_login"] is not None

    # A tampered cookie is refused; logging out drops the cookie.
    browser.post("/api/v1/auth/logout")
    assert browser.get("/api/v1/me").status_code == 401
    browser.cookies.set("shieldwall_session", "forged.value")
    assert browser.get("/api/v1/me").status_code == 401


def test_wrong_password_and_unknown_user_refused(browser, make_user) -> None:
    member = make_user("CERT-A", "user")
    r = browser.post(
        "/api/v1/auth/login", json={"email": member.email, "password": "not-the-password"}
    )
    assert r.status_code == 401 and "set-cookie" not in r.headers
    r = browser.post(
        "/api/v1/auth/login", json={"email": "ghost@nowhere.test", "password": PASSWORD}
    )
    assert r.status_code == 401
    assert r.json()["detail"] == "wrong e-mail or password"
    assert browser.get("/api/v1/me").status_code == 401


@pytest.fixture
def three_failures(monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("SHIELDWALL_LOGIN_MAX_FAILURES", "3")
    monkeypatch.setenv("SHIELDWALL_LOGIN_LOCKOUT_SECONDS", "600")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_lockout_after_max_failures(
    three_failures, browser, make_user, instance, moved_clock
) -> None:
    member = make_user("CERT-A", "user")
    assert get_settings().login_max_failures == 3
    for _ in range(2):
        r = browser.post(
            "/api/v1/auth/login", json={"email": member.email, "password": "bad-password-123"}
        )
        assert r.status_code == 401
    assert _user_row(instance, member.user_id).failed_logins == 2
    r = browser.post(
        "/api/v1/auth/login", json={"email": member.email, "password": "bad-password-123"}
    )
    assert r.status_code == 401
    assert _user_row(instance, member.user_id).locked_until is not None
    # Locked: even the right password is refused until the lockout ends.
    r = browser.post("/api/v1/auth/login", json={"email": member.email, "password": PASSWORD})
    assert r.status_code == 401 and "too many" in r.json()["detail"]
    assert _user_row(instance, member.user_id).last_login is None
    failures = _audit(instance, action="login_failed", model_id=member.user_id)
    assert len(failures) == 4 and failures[-1].title == "locked"
    moved_clock(timedelta(seconds=601))
    r = browser.post("/api/v1/auth/login", json={"email": member.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    user = _user_row(instance, member.user_id)
    assert user.failed_logins == 0 and user.locked_until is None and user.last_login is not None


def test_disabled_user_cannot_log_in_and_session_ends(browser, admin, make_user) -> None:
    member = make_user("CERT-A", "user")
    assert (
        browser.post(
            "/api/v1/auth/login", json={"email": member.email, "password": PASSWORD}
        ).status_code
        == 200
    )
    assert browser.get("/api/v1/me").status_code == 200
    admin.patch(f"/api/v1/users/{member.user_id}", json={"disabled": True})
    assert browser.get("/api/v1/me").status_code == 401
    r = browser.post("/api/v1/auth/login", json={"email": member.email, "password": PASSWORD})
    assert r.status_code == 401


def test_org_admin_cannot_take_over_a_more_privileged_user_of_its_org(
    admin, client, make_user, instance
) -> None:
    """The site admin lives in the host organisation; the host's org admin must not become it."""
    boss = make_user("HOST-CERT", "org-admin")
    sync = make_user("HOST-CERT", "sync")
    for target in (instance.admin_id, sync.user_id):
        r = boss.api.post("/api/v1/keys", json={"user": str(target)})
        assert r.status_code in (403, 404), r.text
        assert "key" not in r.json()
        for change in (
            {"password": "taken-over-password"},
            {"disabled": True},
            {"email": "boss@evil.test"},
            {"role": "user"},
        ):
            r = boss.api.patch(f"/api/v1/users/{target}", json=change)
            assert r.status_code in (403, 404), (change, r.text)
        assert boss.api.delete(f"/api/v1/users/{target}").status_code in (403, 404)
    admin_keys = admin.get("/api/v1/keys", params={"user": str(instance.admin_id)}).json()["items"]
    assert len(admin_keys) == 1
    assert boss.api.delete(f"/api/v1/keys/{admin_keys[0]['id']}").status_code in (403, 404)
    # Nothing changed: the admin still logs in with its own password and its key works.
    assert admin.get("/api/v1/me").status_code == 200
    assert client.get("/api/v1/me", headers={"Authorization": sync.api.key}).status_code == 200
    r = client.post(
        "/api/v1/auth/login", json={"email": "admin@host.test", "password": instance.admin_password}
    )
    assert r.status_code == 200
    client.cookies.clear()
    with instance.db.reading() as s:
        assert (
            s.scalar(
                sa.select(sa.func.count())
                .select_from(ApiKey)
                .where(ApiKey.user_id == instance.admin_id)
            )
            == 1
        )
    # Users with no more rights than the org admin stay manageable.
    plain = make_user("HOST-CERT", "publisher")
    assert (
        boss.api.patch(f"/api/v1/users/{plain.user_id}", json={"disabled": True}).status_code == 200
    )
    assert boss.api.post("/api/v1/keys", json={"user": plain.email}).status_code == 201


def test_session_cookie_is_secure_behind_https(monkeypatch, make_user, app) -> None:
    member = make_user("CERT-A", "user")
    monkeypatch.setenv("SHIELDWALL_BASE_URL", "https://intel.example.org")
    get_settings.cache_clear()
    try:
        with TestClient(app, base_url="https://testserver") as c:
            r = c.post("/api/v1/auth/login", json={"email": member.email, "password": PASSWORD})
            assert r.status_code == 200
            assert "secure" in r.headers["set-cookie"].lower()
            assert c.get("/api/v1/me").status_code == 200
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
