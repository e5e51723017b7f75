"""The `shieldwall` command, run in-process against the test database."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from shieldwall.auth.models import ApiKey, Organisation, User
from shieldwall.cli.main import app as cli
from shieldwall.config import get_settings
from shieldwall.db.engine import get_database
from shieldwall.db.migrate import current_revision, head_revision
from shieldwall.intel.models import Attribute, Event

KEY_RE = re.compile(r"^[A-Za-z0-9]{40}$")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "250"})


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def cli_db(instance) -> Any:
    """The CLI reaches the test database through the same process-wide Database."""
    assert get_database() is instance.db
    assert (
        make_url(get_settings().effective_database_url).database == instance.db.engine.url.database
    )
    return instance


def _key_from(result: Result) -> str:
    keys = [line.strip() for line in result.stdout.splitlines() if KEY_RE.match(line.strip())]
    assert len(keys) == 1, result.output
    return keys[0]


# ---------------------------------------------------------------- organisations and users


def test_org_add_and_list(cli_db) -> None:
    r = run("org", "add", "CERT-NO", "--nationality", "Norway", "--sector", "government")
    assert r.exit_code == 0, r.output
    assert "CERT-NO" in r.stdout
    r = run("org", "add", "PEER-CERT", "--remote")
    assert r.exit_code == 0, r.output
    with cli_db.db.reading() as s:
        org = s.execute(sa.select(Organisation).where(Organisation.name == "CERT-NO")).scalar_one()
        assert (org.nationality, org.sector, org.local) == ("Norway", "government", True)
        assert (
            s.execute(
                sa.select(Organisation.local).where(Organisation.name == "PEER-CERT")
            ).scalar_one()
            is False
        )
    r = run("org", "list")
    assert r.exit_code == 0
    lines = [line for line in r.stdout.splitlines() if "CERT" in line]
    assert [
        n for n in ("HOST-CERT", "CERT-NO", "PEER-CERT") if any(n in line for line in lines)
    ] == ["HOST-CERT", "CERT-NO", "PEER-CERT"]
    assert "Norway" in r.stdout and org.uuid in r.stdout
    peer_line = next(line for line in lines if "PEER-CERT" in line)
    assert re.search(r"\bno\b", peer_line)

    dup = run("org", "add", "CERT-NO")
    assert dup.exit_code == 2
    assert "exists" in flat(dup.output) and "(name)" in flat(dup.output)


def test_user_add_prints_a_working_key(cli_db, client) -> None:
    run("org", "add", "CERT-NO")
    r = run(
        "user",
        "add",
        "--email",
        "Analyst@cert-no.test",
        "--org",
        "CERT-NO",
        "--role",
        "publisher",
        "--print-key",
    )
    assert r.exit_code == 0, r.output
    key = _key_from(r)
    assert "analyst@cert-no.test" in r.stdout and "Publisher" in r.stdout
    password = re.search(r"password: (\S+)", r.stdout)
    assert password is not None and len(password.group(1)) >= 12

    me = client.get("/api/v1/me", headers={"Authorization": key})
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["email"] == "analyst@cert-no.test" and body["org"]["name"] == "CERT-NO"
    assert body["role"]["name"] == "Publisher"
    # The generated password works for a login too.
    login = client.post(
        "/api/v1/auth/login", json={"email": "analyst@cert-no.test", "password": password.group(1)}
    )
    assert login.status_code == 200
    client.cookies.clear()
    with cli_db.db.reading() as s:
        stored = s.execute(sa.select(ApiKey.key_hash)).scalars().all()
        assert key not in stored and all(len(h) == 64 for h in stored)


def test_user_add_without_key_and_with_given_password(cli_db, client) -> None:
    r = run("user", "add", "--email", "quiet@host.test", "--password", "a-long-enough-password")
    assert r.exit_code == 0, r.output
    assert "password:" not in r.stdout
    assert not any(KEY_RE.match(line.strip()) for line in r.stdout.splitlines())
    with cli_db.db.reading() as s:
        user = s.execute(sa.select(User).where(User.email == "quiet@host.test")).scalar_one()
        assert user.org_id == cli_db.host_org_id and user.role.name == "User"
        assert (
            s.scalar(
                sa.select(sa.func.count()).select_from(ApiKey).where(ApiKey.user_id == user.id)
            )
            == 0
        )
    r = client.post(
        "/api/v1/auth/login",
        json={"email": "quiet@host.test", "password": "a-long-enough-password"},
    )
    assert r.status_code == 200
    client.cookies.clear()


def test_user_add_errors_name_the_field(cli_db) -> None:
    r = run("user", "add", "--email", "x@host.test", "--org", "NO-SUCH-ORG")
    assert r.exit_code == 2 and "(org)" in flat(r.output)
    r = run("user", "add", "--email", "x@host.test", "--role", "wizard")
    assert r.exit_code == 2 and "(role)" in flat(r.output)
    r = run("user", "add", "--email", "admin@host.test")
    assert r.exit_code == 2 and "(email)" in flat(r.output)
    r = run("user", "add", "--email", "x@host.test", "--password", "short")
    assert r.exit_code == 2 and "(password)" in flat(r.output)
    with cli_db.db.reading() as s:
        assert s.execute(sa.select(User.id).where(User.email == "x@host.test")).first() is None


def test_user_list(cli_db) -> None:
    run("org", "add", "CERT-NO")
    run("user", "add", "--email", "one@cert-no.test", "--org", "CERT-NO", "--role", "read-only")
    run("user", "add", "--email", "two@host.test")
    r = run("user", "list")
    assert r.exit_code == 0, r.output
    for text in ("admin@host.test", "one@cert-no.test", "two@host.test", "Read Only", "CERT-NO"):
        assert text in r.stdout
    assert (
        r.stdout.index("admin@host.test")
        < r.stdout.index("one@cert-no.test")
        < r.stdout.index("two@host.test")
    )
    r = run("user", "list", "--org", "CERT-NO")
    assert r.exit_code == 0 and "one@cert-no.test" in r.stdout
    assert "two@host.test" not in r.stdout and "admin@host.test" not in r.stdout
    r = run("user", "list", "--org", "NOWHERE")
    assert r.exit_code == 2 and "(org)" in flat(r.output)


def test_user_disable_stops_keys_at_once(cli_db, client) -> None:
    key = _key_from(run("user", "add", "--email", "soon-gone@host.test", "--print-key"))
    assert client.get("/api/v1/me", headers={"Authorization": key}).status_code == 200
    r = run("user", "disable", "soon-gone@host.test")
    assert r.exit_code == 0, r.output
    assert "disabled" in r.stdout
    refused = client.get("/api/v1/me", headers={"Authorization": key})
    assert refused.status_code == 401 and "disabled" in refused.json()["detail"]
    r = run("user", "disable", "soon-gone@host.test", "--enable")
    assert r.exit_code == 0 and "enabled" in r.stdout
    assert client.get("/api/v1/me", headers={"Authorization": key}).status_code == 200
    assert run("user", "disable", "nobody@host.test").exit_code == 2


# ---------------------------------------------------------------- keys


def test_key_create_list_and_revoke(cli_db, client) -> None:
    run("user", "add", "--email", "k@host.test")
    r = run("key", "create", "k@host.test", "--comment", "siem")
    assert r.exit_code == 0, r.output
    # The key alone on stdout, so `$(shieldwall key create ...)` captures it.
    key = r.stdout.strip()
    assert KEY_RE.match(key)
    assert "k@host.test" in r.stderr
    second = run("key", "create", "k@host.test").stdout.strip()
    assert KEY_RE.match(second) and second != key
    for k in (key, second):
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {k}"})
        assert me.status_code == 200 and me.json()["email"] == "k@host.test"

    listed = run("key", "list", "--user", "k@host.test")
    assert listed.exit_code == 0
    assert f"{key[:4]}...{key[-4:]}" in listed.stdout and "siem" in listed.stdout
    assert key not in listed.stdout and second not in listed.stdout

    with cli_db.db.reading() as s:
        key_id = s.execute(sa.select(ApiKey.id).where(ApiKey.comment == "siem")).scalar_one()
    r = run("key", "revoke", str(key_id))
    assert r.exit_code == 0, r.output
    assert f"key {key_id} revoked" in r.stdout
    refused = client.get("/api/v1/me", headers={"Authorization": key})
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    assert client.get("/api/v1/me", headers={"Authorization": second}).status_code == 200
    assert run("key", "revoke", "999999").exit_code == 2


def test_key_create_options(cli_db, client) -> None:
    run("user", "add", "--email", "k@host.test")
    r = run("key", "create", "k@host.test", "--expires", "2000-01-01T00:00:00")
    assert r.exit_code == 2 and "(expires_at)" in flat(r.output)
    r = run("key", "create", "k@host.test", "--allow", "10.0.0.0/8", "--allow", "not-a-net")
    assert r.exit_code == 2 and "(allowed_networks[1])" in flat(r.output)

    future = run("key", "create", "k@host.test", "--expires", "2999-01-01T00:00:00").stdout.strip()
    assert client.get("/api/v1/me", headers={"Authorization": future}).status_code == 200
    ro = run("key", "create", "k@host.test", "--read-only").stdout.strip()
    assert client.get("/api/v1/events", headers={"Authorization": ro}).status_code == 200
    assert (
        client.post("/api/v1/events", headers={"Authorization": ro}, json={"info": "x"}).status_code
        == 403
    )
    restricted = run("key", "create", "k@host.test", "--allow", "10.0.0.0/8").stdout.strip()
    assert client.get("/api/v1/me", headers={"Authorization": restricted}).status_code == 401
    with cli_db.db.reading() as s:
        rows = s.execute(sa.select(ApiKey).order_by(ApiKey.id)).scalars().all()
        by_hash = {row.key_hash: row for row in rows}
        from shieldwall.auth.service import hash_api_key

        assert by_hash[hash_api_key(future)].expires_at.year == 2999
        assert by_hash[hash_api_key(restricted)].allowed_networks == ["10.0.0.0/8"]
        assert by_hash[hash_api_key(ro)].read_only is True


# ---------------------------------------------------------------- events


def _misp_event(info: str, value: str, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "info": info,
        "date": "2024-03-01",
        "threat_level_id": "2",
        "analysis": "1",
        "distribution": "1",
        "published": False,
        "timestamp": "1709251200",
        "Orgc": {"name": "CIRCL", "uuid": "55f6ea5e-2c60-40e5-964f-47a8950d210f"},
        "Tag": [{"name": "tlp:green"}],
        "Attribute": [
            {
                "uuid": str(uuid.uuid4()),
                "type": "domain",
                "category": "Network activity",
                "value": value,
                "to_ids": True,
                "distribution": "5",
                "timestamp": "1709251200",
            },
        ],
    }
    event.update(extra)
    return event


@pytest.fixture
def misp_files(tmp_path: Path) -> dict[str, Any]:
    single = _misp_event("single", "single.example")
    r1, r2 = _misp_event("resp one", "resp1.example"), _misp_event("resp two", "resp2.example")
    bad = _misp_event("broken", "bad.example")
    bad["Attribute"].append(
        {"type": "ip-dst", "value": "999.1.1.1", "category": "Network activity"}
    )
    l1, l2 = _misp_event("list one", "list1.example"), _misp_event("list two bare", "list2.example")
    d1, d2 = _misp_event("dir one", "dir1.example"), _misp_event("dir two", "dir2.example")
    (tmp_path / "single.json").write_text(json.dumps({"Event": single}))
    (tmp_path / "response.json").write_text(
        json.dumps({"response": [{"Event": r1}, {"Event": bad}, {"Event": r2}]})
    )
    (tmp_path / "list.json").write_text(json.dumps([{"Event": l1}, l2]))
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / f"{d1['uuid']}.json").write_text(json.dumps({"Event": d1}))
    (feed / "sub").mkdir()
    (feed / "sub" / f"{d2['uuid']}.json").write_text(json.dumps({"Event": d2}))
    (feed / "manifest.json").write_text(json.dumps({d1["uuid"]: {"info": "dir one"}}))
    good = [single, r1, r2, l1, l2, d1, d2]
    return {"dir": tmp_path, "feed": feed, "good": good, "bad": bad}


def test_event_import_all_shapes(cli_db, misp_files, admin) -> None:
    d: Path = misp_files["dir"]
    r = run(
        "event",
        "import",
        "--quiet",
        str(d / "single.json"),
        str(d / "response.json"),
        str(d / "list.json"),
        str(misp_files["feed"]),
    )
    out = flat(r.output)
    assert "7 events created (7 attributes" in out
    assert "0 already present, 1 failed" in out
    # The bad event is reported with its uuid and the offending field; the others still landed.
    bad = misp_files["bad"]
    assert f"failed: event {bad['uuid']}: attributes[1].value" in out
    assert r.exit_code == 1
    with cli_db.db.reading() as s:
        uuids = set(s.execute(sa.select(Event.uuid)).scalars())
        assert uuids == {e["uuid"] for e in misp_files["good"]}
        assert s.scalar(sa.select(sa.func.count()).select_from(Attribute)) == 7
        circl = s.execute(sa.select(Organisation).where(Organisation.name == "CIRCL")).scalar_one()
        assert circl.uuid == "55f6ea5e-2c60-40e5-964f-47a8950d210f" and circl.local is False
    event = admin.get(f"/api/v1/events/{misp_files['good'][0]['uuid']}").json()
    assert event["info"] == "single" and event["orgc"]["name"] == "CIRCL"
    assert [a["value"] for a in event["attributes"]] == ["single.example"]
    assert [t["name"] for t in event["tags"]] == ["tlp:green"]

    # Again: everything already present is skipped, the bad one still fails.
    r = run(
        "event",
        "import",
        "--quiet",
        str(d / "single.json"),
        str(d / "response.json"),
        str(d / "list.json"),
        str(misp_files["feed"]),
    )
    assert "0 events created" in flat(r.output) and "7 already present, 1 failed" in flat(r.output)
    assert r.exit_code == 1
    with cli_db.db.reading() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Event)) == 7


def test_event_import_clean_run_succeeds(cli_db, tmp_path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"Event": _misp_event("clean", "clean.example")}))
    r = run("event", "import", str(path))  # with the progress bar
    assert r.exit_code == 0, r.output
    assert "1 events created (1 attributes" in flat(r.stdout) and "0 failed" in flat(r.stdout)


def test_event_import_reports_bad_files(cli_db, tmp_path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"Event": {"info": "cut off", ')
    r = run("event", "import", "--quiet", str(broken))
    assert r.exit_code == 1 and "not valid JSON" in flat(r.output)
    r = run("event", "import", "--quiet", str(tmp_path / "missing.json"))
    assert r.exit_code == 1 and "no such file" in flat(r.output)
    noinfo = tmp_path / "noinfo.json"
    noinfo.write_text(json.dumps({"Event": {"uuid": str(uuid.uuid4()), "Attribute": []}}))
    r = run("event", "import", "--quiet", str(noinfo))
    assert r.exit_code == 1 and ": info:" in flat(r.output)


def test_search(cli_db, tmp_path) -> None:
    path = tmp_path / "events.json"
    path.write_text(
        json.dumps(
            [
                {"Event": _misp_event("c2 wave", "c2.evil.example")},
                {"Event": _misp_event("other", "benign.example")},
            ]
        )
    )
    assert run("event", "import", "--quiet", str(path)).exit_code == 0
    r = run("search", "c2.evil.example")
    assert r.exit_code == 0, r.output
    assert "c2.evil.example" in r.stdout and "benign.example" not in r.stdout
    assert "1 attributes" in r.stdout
    r = run("search", "%.example", "--json")
    assert r.exit_code == 0
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert sorted(row["value"] for row in rows) == ["benign.example", "c2.evil.example"]
    assert all(row["type"] == "domain" for row in rows)
    r = run("search", "nothing.example")
    assert r.exit_code == 0 and "0 attributes" in r.stdout


# ---------------------------------------------------------------- configuration and schema


@pytest.fixture
def env_settings(monkeypatch) -> Iterator[Any]:
    """Set SHIELDWALL_* variables for one test; the settings cache follows."""

    def setenv(**values: str) -> None:
        for k, v in values.items():
            monkeypatch.setenv(k, v)
        get_settings.cache_clear()

    yield setenv
    monkeypatch.undo()
    get_settings.cache_clear()


def test_config_show_masks_secrets(cli_db, env_settings) -> None:
    env_settings(
        SHIELDWALL_DATABASE_URL="postgresql+psycopg://shield:s3cr3t-Pa55@db.example:5432/shieldwall",
        SHIELDWALL_SECRET_KEY="super-secret-signing-key-" + "z" * 20,
        SHIELDWALL_PORT="8443",
    )
    r = run("config", "show")
    assert r.exit_code == 0, r.output
    assert "s3cr3t-Pa55" not in r.output and "super-secret-signing-key" not in r.output
    assert "shield:***@db.example:5432/shieldwall" in r.stdout
    assert "SHIELDWALL_SECRET_KEY" in r.stdout and "********" in r.stdout
    assert "8443" in r.stdout and "127.0.0.1" in r.stdout


def test_config_show_defaults_to_sqlite_and_generated_secret(
    cli_db, env_settings, tmp_path, monkeypatch
) -> None:
    monkeypatch.delenv("SHIELDWALL_DATABASE_URL")
    monkeypatch.delenv("SHIELDWALL_SECRET_KEY", raising=False)
    env_settings(SHIELDWALL_VAR_DIR=str(tmp_path))
    r = run("config", "show")
    assert r.exit_code == 0, r.output
    out = flat(r.stdout)
    assert f"sqlite:///{tmp_path / 'shieldwall.db'}" in out
    assert "generated in" in out


def test_db_upgrade_is_idempotent(cli_db) -> None:
    head = head_revision()
    for _ in range(2):
        r = run("db", "upgrade")
        assert r.exit_code == 0, r.output
        assert f"database at revision {head} (was {head})" in flat(r.stdout)
    assert current_revision(cli_db.db.engine) == head
    # The data is untouched.
    with cli_db.db.reading() as s:
        assert s.scalar(sa.select(User.email)) == "admin@host.test"


def _config_rows() -> dict[str, list[str]]:
    r = run("config", "show")
    assert r.exit_code == 0, r.output
    rows = {}
    for line in r.stdout.splitlines():
        cells = [c.strip() for c in line.split("│")]
        cells = [c for c in cells if c]
        if cells and cells[0].startswith("SHIELDWALL_"):
            rows[cells[0]] = cells[1:]
    return rows


def test_config_set_show_and_unset_runtime_settings(cli_db) -> None:
    r = run("config", "set", "correlation_cap", "25")
    assert r.exit_code == 0, r.output
    assert "correlation_cap = 25 (database)" in flat(r.stdout)
    rows = _config_rows()
    assert rows["SHIELDWALL_CORRELATION_CAP"] == ["25", "database", "at runtime"]
    assert rows["SHIELDWALL_PORT"][1:] == ["default", "on restart"]
    assert rows["SHIELDWALL_DATABASE_URL"][1:] == ["environment", "on restart"]
    r = run("config", "set", "SHIELDWALL_SIGHTING_POLICY", "event")
    assert r.exit_code == 0, r.output
    assert _config_rows()["SHIELDWALL_SIGHTING_POLICY"] == ["event", "database", "at runtime"]
    r = run("config", "set", "port", "9000")
    assert r.exit_code == 2 and "SHIELDWALL_PORT" in flat(r.output) and "restart" in flat(r.output)
    r = run("config", "set", "correlation_cap", "zero")
    assert r.exit_code == 2 and "correlation_cap" in flat(r.output)
    r = run("config", "set", "no_such_thing", "1")
    assert r.exit_code == 2 and "no setting no_such_thing" in flat(r.output)
    assert run("config", "unset", "correlation_cap").exit_code == 0
    assert _config_rows()["SHIELDWALL_CORRELATION_CAP"] == ["100", "default", "at runtime"]
