"""The audit log: one entry per write, in the write's transaction; the hash chain and its checks."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shieldwall.audit.models import AuditEntry
from shieldwall.audit.service import GENESIS, compute_hash
from shieldwall.auth import service as auth
from shieldwall.auth.models import ApiKey, Organisation, User
from shieldwall.cli.main import app as cli
from shieldwall.context import system_ctx

PASSWORD = "a-long-test-password"


def _entries(instance: Any, **where: Any) -> list[AuditEntry]:
    with instance.db.reading() as s:
        q = sa.select(AuditEntry).order_by(AuditEntry.id)
        for k, v in where.items():
            q = q.where(getattr(AuditEntry, k) == v)
        return list(s.execute(q).scalars())


def _count(instance: Any) -> int:
    with instance.db.reading() as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) or 0)


def _last(instance: Any) -> AuditEntry:
    return _entries(instance)[-1]


def _key_id(instance: Any, raw: str) -> int:
    with instance.db.reading() as s:
        return int(s.scalar(sa.select(ApiKey.id).where(ApiKey.key_hash == auth.hash_api_key(raw))))


def _assert_who(
    entry: AuditEntry,
    *,
    user_id: int,
    org_id: int,
    key_id: int | None,
    request_id: str | None = None,
) -> None:
    assert (entry.user_id, entry.org_id, entry.api_key_id) == (user_id, org_id, key_id)
    assert entry.ip == "testclient"
    assert abs((entry.created_at - datetime.now(UTC)).total_seconds()) < 60
    if request_id is not None:
        assert entry.request_id == request_id


# ---------------------------------------------------------------- one entry per write


def test_event_lifecycle_is_audited(admin, instance) -> None:
    key_id = _key_id(instance, instance.admin_key)
    n = _count(instance)
    r = admin.client.post(
        "/api/v1/events",
        headers={**admin.headers, "X-Request-ID": "req-create-1"},
        json={
            "info": "phishing wave",
            "distribution": 1,
            "attributes": [
                {"type": "domain", "value": "evil.example"},
                {"type": "ip-dst", "value": "192.0.2.1"},
            ],
        },
    )
    assert r.status_code == 201, r.text
    event = r.json()
    created = [e for e in _entries(instance) if e.id > n and e.model == "Event"]
    assert [e.action for e in created] == ["create"]
    entry = created[0]
    assert (entry.model_id, entry.model_uuid, entry.title) == (
        event["id"],
        event["uuid"],
        "phishing wave",
    )
    assert entry.change["attributes"] == 2 and entry.change["distribution"] == 1
    _assert_who(
        entry,
        user_id=instance.admin_id,
        org_id=instance.host_org_id,
        key_id=key_id,
        request_id="req-create-1",
    )

    n = _count(instance)
    assert (
        admin.patch(f"/api/v1/events/{event['id']}", json={"info": "phishing wave 2"}).status_code
        == 200
    )
    [entry] = _entries(instance)[n:]
    assert (entry.action, entry.model, entry.model_id) == ("update", "Event", event["id"])
    assert entry.change == {"info": ["phishing wave", "phishing wave 2"]}
    _assert_who(entry, user_id=instance.admin_id, org_id=instance.host_org_id, key_id=key_id)

    n = _count(instance)
    assert admin.post(f"/api/v1/events/{event['uuid']}/publish").status_code == 200
    [entry] = _entries(instance)[n:]
    assert (entry.action, entry.model, entry.model_uuid) == ("publish", "Event", event["uuid"])

    n = _count(instance)
    assert admin.delete(f"/api/v1/events/{event['id']}").status_code == 204
    [entry] = _entries(instance)[n:]
    assert (entry.action, entry.model, entry.model_id, entry.title) == (
        "delete",
        "Event",
        event["id"],
        "phishing wave 2",
    )
    _assert_who(entry, user_id=instance.admin_id, org_id=instance.host_org_id, key_id=key_id)


def test_entries_name_the_acting_user_and_key(make_user, instance) -> None:
    member = make_user("CERT-A", "publisher")
    key_id = _key_id(instance, member.api.key)
    event = member.api.post("/api/v1/events", json={"info": "theirs", "distribution": 0}).json()
    entry = _entries(instance, model="Event", action="create")[-1]
    assert entry.model_id == event["id"]
    _assert_who(entry, user_id=member.user_id, org_id=member.org_id, key_id=key_id)
    member.api.post(f"/api/v1/events/{event['id']}/publish")
    entry = _entries(instance, model="Event", action="publish")[-1]
    _assert_who(entry, user_id=member.user_id, org_id=member.org_id, key_id=key_id)


def test_login_and_login_failure_are_audited(client, make_user, instance) -> None:
    member = make_user("CERT-A", "user")
    n = _count(instance)
    r = client.post(
        "/api/v1/auth/login", json={"email": member.email, "password": "wrong-password-1"}
    )
    assert r.status_code == 401
    [failed] = _entries(instance)[n:]
    assert (failed.action, failed.model, failed.model_id) == (
        "login_failed",
        "User",
        member.user_id,
    )
    assert failed.ip == "testclient" and failed.user_id is None
    assert "wrong-password-1" not in str(failed.change) + failed.title

    n = _count(instance)
    client.post(
        "/api/v1/auth/login", json={"email": "ghost@nowhere.test", "password": "whatever-123"}
    )
    [unknown] = _entries(instance)[n:]
    assert (
        unknown.action == "login_failed"
        and "ghost@nowhere.test" in unknown.title
        and unknown.model_id is None
    )

    n = _count(instance)
    r = client.post(
        "/api/v1/auth/login",
        json={"email": member.email, "password": PASSWORD},
        headers={"X-Request-ID": "login-42"},
    )
    assert r.status_code == 200
    [ok] = _entries(instance)[n:]
    assert (ok.action, ok.model, ok.model_id, ok.title) == (
        "login",
        "User",
        member.user_id,
        member.email,
    )
    _assert_who(
        ok, user_id=member.user_id, org_id=member.org_id, key_id=None, request_id="login-42"
    )
    assert PASSWORD not in str(ok.change)
    client.cookies.clear()


def test_key_creation_and_revocation_are_audited(make_user, instance) -> None:
    member = make_user("CERT-A", "user")
    acting_key = _key_id(instance, member.api.key)
    n = _count(instance)
    created = member.api.post(
        "/api/v1/keys", json={"comment": "ci", "allowed_networks": ["10.0.0.0/8"]}
    ).json()
    [entry] = _entries(instance)[n:]
    assert (entry.action, entry.model, entry.model_id, entry.model_uuid) == (
        "key_create",
        "ApiKey",
        created["id"],
        created["uuid"],
    )
    assert entry.change["user_id"] == member.user_id and entry.change["allowed_networks"] == [
        "10.0.0.0/8"
    ]
    assert created["key"] not in entry.title and created["key"] not in str(entry.change)
    assert entry.title.startswith(created["key"][:4])
    _assert_who(entry, user_id=member.user_id, org_id=member.org_id, key_id=acting_key)

    n = _count(instance)
    assert member.api.delete(f"/api/v1/keys/{created['id']}").status_code == 200
    [entry] = _entries(instance)[n:]
    assert (entry.action, entry.model, entry.model_id) == ("key_revoke", "ApiKey", created["id"])
    assert entry.change == {"user_id": member.user_id}
    _assert_who(entry, user_id=member.user_id, org_id=member.org_id, key_id=acting_key)


def test_role_change_is_audited_with_before_and_after(admin, make_user, instance) -> None:
    member = make_user("CERT-A", "user")
    n = _count(instance)
    assert (
        admin.patch(f"/api/v1/users/{member.user_id}", json={"role": "read-only"}).status_code
        == 200
    )
    [entry] = _entries(instance)[n:]
    assert (entry.action, entry.model, entry.model_id) == ("role_change", "User", member.user_id)
    assert entry.change == {"role_id": [3, 6]}
    _assert_who(
        entry,
        user_id=instance.admin_id,
        org_id=instance.host_org_id,
        key_id=_key_id(instance, instance.admin_key),
    )


def test_identity_writes_are_audited(admin, instance) -> None:
    n = _count(instance)
    org = admin.post("/api/v1/organisations", json={"name": "CERT-C", "sector": "health"}).json()
    user = admin.post("/api/v1/users", json={"email": "u@cert-c.test", "org": "CERT-C"}).json()
    admin.patch(f"/api/v1/users/{user['id']}", json={"disabled": True})
    admin.delete(f"/api/v1/users/{user['id']}")
    admin.delete(f"/api/v1/organisations/{org['id']}")
    got = [(e.action, e.model, e.model_id) for e in _entries(instance)[n:]]
    assert got == [
        ("create", "Organisation", org["id"]),
        ("create", "User", user["id"]),
        ("update", "User", user["id"]),
        ("delete", "User", user["id"]),
        ("delete", "Organisation", org["id"]),
    ]
    entries = _entries(instance)[n:]
    assert entries[0].change["sector"] == "health"
    assert entries[2].change == {"disabled": [False, True]}


# ---------------------------------------------------------------- failed writes leave nothing


def test_failed_writes_leave_no_audit_entry(admin, make_user, instance) -> None:
    member = make_user("CERT-A", "user")
    admin.post("/api/v1/organisations", json={"name": "CERT-D"})
    n = _count(instance)
    head = _last(instance).hash
    failures = [
        admin.post(
            "/api/v1/events",
            json={
                "info": "x",
                "attributes": [
                    {"type": "domain", "value": "ok.example"},
                    {"type": "ip-dst", "value": "not-an-ip"},
                ],
            },
        ),
        admin.post("/api/v1/events", json={"info": "x", "distribution": 9}),
        admin.post("/api/v1/organisations", json={"name": "CERT-D"}),
        admin.post("/api/v1/users", json={"email": "w@cert-d.test", "password": "short"}),
        admin.post("/api/v1/keys", json={"allowed_networks": ["no-network"]}),
        admin.patch(f"/api/v1/users/{member.user_id}", json={"role": "wizard"}),
        member.api.post("/api/v1/organisations", json={"name": "CERT-E"}),
        member.api.patch("/api/v1/roles/3", json={"permissions": []}),
    ]
    for r in failures:
        assert r.status_code in (403, 409, 422), r.text
    assert _count(instance) == n
    assert _last(instance).hash == head


def test_a_write_failing_after_its_audit_entry_rolls_both_back(admin, instance) -> None:
    """The user row and its audit entry are written, then the key fails: nothing lands."""
    assert admin.patch("/api/v1/roles/6", json={"permissions": []}).status_code == 200
    n = _count(instance)
    r = admin.post(
        "/api/v1/users", json={"email": "ro@host.test", "role": "read-only", "create_key": True}
    )
    assert r.status_code == 403, r.text
    assert _count(instance) == n
    with instance.db.reading() as s:
        assert s.scalar(sa.select(User.id).where(User.email == "ro@host.test")) is None


def test_service_write_and_entry_share_the_transaction(instance) -> None:
    ctx = system_ctx(instance.host_org_id)
    n = _count(instance)
    with pytest.raises(RuntimeError), instance.db.writing() as session:
        auth.create_org(session, ctx, {"name": "ROLLED-BACK"})
        raise RuntimeError("boom")
    assert _count(instance) == n
    with instance.db.reading() as s:
        assert (
            s.scalar(sa.select(Organisation.id).where(Organisation.name == "ROLLED-BACK")) is None
        )
    with instance.db.writing() as session:
        auth.create_org(session, ctx, {"name": "KEPT"})
    assert _count(instance) == n + 1 and _last(instance).title == "KEPT"


# ---------------------------------------------------------------- the chain


def test_chain_links_every_entry(admin, instance) -> None:
    admin.post("/api/v1/organisations", json={"name": "CERT-F"})
    entries = _entries(instance)
    assert entries[0].id == 1 and entries[0].prev_hash == GENESIS
    for prev, entry in itertools.pairwise(entries):
        assert entry.id == prev.id + 1 and entry.prev_hash == prev.hash
    for entry in entries:
        assert compute_hash(entry) == entry.hash


class _Run:
    def __init__(self, exit_code: int, output: str) -> None:
        self.exit_code = exit_code
        self.output = output


def _verify(instance: Any) -> _Run:
    """`shieldwall audit verify`; the output with Rich's line wrapping undone."""
    result = CliRunner().invoke(cli, ["audit", "verify"])
    return _Run(result.exit_code, " ".join(result.output.split()))


def _write_some(admin: Any) -> None:
    for name in ("CERT-G", "CERT-H", "CERT-I"):
        assert admin.post("/api/v1/organisations", json={"name": name}).status_code == 201
    assert (
        admin.post("/api/v1/events", json={"info": "chained", "distribution": 1}).status_code == 201
    )


def test_cli_verify_passes_on_intact_chain(admin, instance) -> None:
    _write_some(admin)
    total = _count(instance)
    result = _verify(instance)
    assert result.exit_code == 0, result.output
    assert "intact" in result.output and f"{total} entries" in result.output


def test_cli_verify_reports_first_altered_entry(admin, instance) -> None:
    _write_some(admin)
    target = _entries(instance, model="Organisation", title="CERT-H")[0].id
    with instance.db.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE audit_log SET title = 'innocent' WHERE id = :id"), {"id": target}
        )
    result = _verify(instance)
    assert result.exit_code == 1
    assert f"broken at entry {target}" in result.output and "altered" in result.output
    assert f"({target - 1} entries verified before it)" in result.output
    r = admin.get("/api/v1/audit/verify").json()
    assert r == {
        "ok": False,
        "checked": target - 1,
        "first_bad_id": target,
        "reason": "content does not match its hash (altered)",
    }


def test_cli_verify_catches_an_alteration_with_recomputed_hash(admin, instance) -> None:
    _write_some(admin)
    target = _entries(instance, model="Organisation", title="CERT-G")[0]
    target.title = "innocent"
    forged = compute_hash(target)
    with instance.db.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE audit_log SET title = 'innocent', hash = :h WHERE id = :id"),
            {"h": forged, "id": target.id},
        )
    result = _verify(instance)
    assert result.exit_code == 1
    assert f"broken at entry {target.id + 1}" in result.output and "link broken" in result.output


def test_cli_verify_reports_a_removed_entry(admin, instance) -> None:
    _write_some(admin)
    total = _count(instance)
    middle = total // 2
    with instance.db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE id = :id"), {"id": middle})
    result = _verify(instance)
    assert result.exit_code == 1
    assert f"broken at entry {middle}" in result.output and "missing (removed)" in result.output
    r = admin.get("/api/v1/audit/verify").json()
    assert r["ok"] is False and r["first_bad_id"] == middle and "removed" in r["reason"]


def test_cli_verify_reports_removal_even_when_ids_are_renumbered(admin, instance) -> None:
    _write_some(admin)
    total = _count(instance)
    middle = total // 2
    with instance.db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE id = :id"), {"id": middle})
        for i in range(middle + 1, total + 1):
            conn.execute(
                sa.text("UPDATE audit_log SET id = :new WHERE id = :old"), {"new": i - 1, "old": i}
            )
    result = _verify(instance)
    assert result.exit_code == 1
    assert f"broken at entry {middle}" in result.output


# ---------------------------------------------------------------- reading the log


def test_audit_read_permissions(admin, make_user, instance) -> None:
    boss = make_user("CERT-A", "org-admin")
    user = make_user("CERT-A", "user")
    reader = make_user("CERT-A", "read-only")
    outsider = make_user("CERT-B", "org-admin")
    user.api.post("/api/v1/events", json={"info": "in A", "distribution": 1})
    outsider.api.post("/api/v1/events", json={"info": "in B", "distribution": 1})

    everything = admin.get("/api/v1/audit", params={"limit": 1000}).json()["items"]
    assert len(everything) == _count(instance)
    assert [e["id"] for e in everything] == sorted(e["id"] for e in everything)
    first = everything[0]
    assert {
        "id",
        "created_at",
        "user_id",
        "org_id",
        "api_key_id",
        "ip",
        "action",
        "model",
        "model_id",
        "title",
        "change",
        "hash",
        "prev_hash",
    } <= set(first)

    # Org admins (admin:audit:read) see their organisation's entries only.
    scoped = boss.api.get("/api/v1/audit", params={"limit": 1000}).json()["items"]
    assert scoped and {e["org_id"] for e in scoped} == {boss.org_id}
    assert "in A" in {e["title"] for e in scoped} and "in B" not in {e["title"] for e in scoped}

    for member in (user, reader):
        r = member.api.get("/api/v1/audit")
        assert r.status_code == 403 and "admin:audit:read" in r.json()["detail"]
    for member in (boss, user, reader):
        assert member.api.get("/api/v1/audit/verify").status_code == 403
    r = admin.get("/api/v1/audit/verify")
    assert r.status_code == 200 and r.json() == {
        "ok": True,
        "checked": _count(instance),
        "first_bad_id": None,
        "reason": "",
    }


def test_audit_filters_and_paging(admin, make_user, instance) -> None:
    member = make_user("CERT-A", "user")
    member.api.post("/api/v1/events", json={"info": "one", "distribution": 1})
    member.api.post("/api/v1/events", json={"info": "two", "distribution": 1})
    r = admin.get("/api/v1/audit", params={"model": "Event", "action": "create"}).json()["items"]
    assert [e["title"] for e in r] == ["one", "two"]
    r = admin.get("/api/v1/audit", params={"user_id": member.user_id}).json()["items"]
    assert [e["title"] for e in r] == ["one", "two"]
    page1 = admin.get("/api/v1/audit", params={"limit": 2}).json()
    assert len(page1["items"]) == 2 and page1["next"] == page1["items"][-1]["id"]
    page2 = admin.get("/api/v1/audit", params={"limit": 2, "after": page1["next"]}).json()
    assert page2["items"][0]["id"] == page1["next"] + 1


def test_unauthenticated_audit_read_refused(app) -> None:
    with TestClient(app) as anonymous:
        assert anonymous.get("/api/v1/audit").status_code == 401
        assert anonymous.get("/api/v1/audit/verify").status_code == 401


# ---------------------------------------------------------------- the sealed head


def test_cli_verify_reports_removal_of_the_newest_entries(admin, instance) -> None:
    _write_some(admin)
    total = _count(instance)
    with instance.db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE id > :id"), {"id": total - 2})
    result = _verify(instance)
    assert result.exit_code == 1
    assert f"broken at entry {total - 1}" in result.output and "missing (removed)" in result.output


def test_cli_verify_reports_a_forged_head(admin, instance) -> None:
    _write_some(admin)
    total = _count(instance)
    with instance.db.engine.begin() as conn:
        last_hash = conn.execute(
            sa.text("SELECT hash FROM audit_log WHERE id = :id"), {"id": total - 1}
        ).scalar()
        conn.execute(sa.text("DELETE FROM audit_log WHERE id = :id"), {"id": total})
        # Someone with database access only moves the head back, without the instance secret.
        conn.execute(
            sa.text("UPDATE audit_head SET last_id = :i, last_hash = :h"),
            {"i": total - 1, "h": last_hash},
        )
    result = _verify(instance)
    assert result.exit_code == 1
    assert "seal does not match" in result.output
