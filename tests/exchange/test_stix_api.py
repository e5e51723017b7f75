"""STIX 2.1 through the native API, MISP's restSearch and upload path, and the CLI: round
trips through the store, one transaction per import, and the access rules on every export
path across organisations and sharing groups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from typer.testing import CliRunner

from shieldwall.audit.models import AuditEntry
from shieldwall.cli.main import app as cli
from shieldwall.exchange.stix import event_objects
from shieldwall.intel.models import Attribute, Event
from tests.exchange.stix_helpers import assert_valid, attack_bundle, oasis_bundle


def _event(api: Any, info: str, attributes: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    r = api.post(
        "/api/v1/events",
        json={"info": info, "distribution": 1, "attributes": attributes, **fields},
    )
    assert r.status_code == 201, r.text
    return r.json()


def _counts(instance: Any) -> tuple[int, int]:
    with instance.db.reading() as s:
        return (
            s.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one(),
            s.execute(sa.select(sa.func.count()).select_from(Attribute)).scalar_one(),
        )


def _rich(api: Any) -> dict[str, Any]:
    return _event(
        api,
        "Phishing wave against finance ministries",
        [
            {
                "type": "domain",
                "value": "login-secure.example.com",
                "tags": [{"name": "tlp:amber"}],
            },
            {"type": "ip-dst", "value": "203.0.113.17", "comment": "C2"},
            {"type": "domain|ip", "value": "cdn.bad.example|198.51.100.7"},
            {
                "type": "sha256",
                "value": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            },
            {"type": "url", "value": "https://login-secure.example.com/owa"},
            {"type": "email-src", "value": "phisher@bad.example"},
            {"type": "filename", "value": "invoice.pdf.exe", "to_ids": False},
            {"type": "text", "value": "campaign notes", "to_ids": False},
        ],
        tags=[
            {"name": "tlp:green"},
            {"name": 'misp-galaxy:mitre-attack-pattern="Spearphishing Link - T1566.002"'},
        ],
        objects=[
            {
                "name": "file",
                "attributes": [
                    {"object_relation": "filename", "type": "filename", "value": "evil.exe"},
                    {
                        "object_relation": "sha256",
                        "type": "sha256",
                        "value": "4bac27393bdd9777ce02453256c5577cd02275510b2227f473d03f533924f877",
                    },
                ],
            }
        ],
    )


def test_event_round_trip_through_the_store(admin, make_user, instance) -> None:
    a = make_user("CERT-A", "org-admin")
    original = _rich(a.api)
    r = a.api.get(f"/api/v1/events/{original['id']}/stix")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/stix+json")
    bundle = assert_valid(r.content)
    types = {o["type"] for o in bundle["objects"]}
    assert {
        "grouping",
        "indicator",
        "observed-data",
        "attack-pattern",
        "marking-definition",
    } <= types
    # Gone from the store, then back from its bundle.
    assert a.api.delete(f"/api/v1/events/{original['id']}").status_code == 204
    r = a.api.post("/api/v1/stix/import?distribution=1", content=r.content)
    assert r.status_code == 201, r.text
    (created,) = r.json()["events"]
    back = a.api.get(f"/api/v1/events/{created['id']}").json()
    assert back["uuid"] == original["uuid"] and back["info"] == original["info"]
    assert back["distribution"] == 1
    assert {t["name"] for t in back["tags"]} == {t["name"] for t in original["tags"]}
    mine = {x["uuid"]: x for x in back["attributes"]}
    for attr in original["attributes"]:
        got = mine[attr["uuid"]]
        for field in ("type", "category", "value", "to_ids", "comment"):
            assert got[field] == attr[field], (field, attr["type"])
        assert {t["name"] for t in got["tags"]} == {t["name"] for t in attr["tags"]}
    (obj,) = back["objects"]
    assert obj["uuid"] == original["objects"][0]["uuid"] and obj["name"] == "file"
    assert sorted((x["object_relation"], x["value"]) for x in obj["attributes"]) == sorted(
        (x["object_relation"], x["value"]) for x in original["objects"][0]["attributes"]
    )
    with instance.db.reading() as s:
        actions = list(
            s.execute(
                sa.select(AuditEntry.action)
                .where(AuditEntry.model == "Event", AuditEntry.model_uuid == original["uuid"])
                .order_by(AuditEntry.id)
            ).scalars()
        )
    assert actions[0] == "create" and actions[-1] == "create" and len(actions) == 3


def test_third_party_bundles_import_as_events(make_user) -> None:
    a = make_user("CERT-A", "org-admin")
    r = a.api.post("/api/v1/stix/import", content=json.dumps(oasis_bundle()))
    assert r.status_code == 201, r.text
    (summary,) = r.json()["events"]
    event = a.api.get(f"/api/v1/events/{summary['id']}").json()
    assert event["distribution"] == 0
    values = {x["value"]: x for x in event["attributes"]}
    assert {t["name"] for t in values["c2.poison-ivy.example"]["tags"]} == {"tlp:green"}
    assert 'misp-galaxy:malware="Poison Ivy"' in {
        t["name"]
        for t in values["4bac27393bdd9777ce02453256c5577cd02275510b2227f473d03f533924f877"]["tags"]
    }
    assert [o["name"] for o in event["objects"]] == ["domain-ip"]
    r = a.api.post("/api/v1/stix/import", content=json.dumps(attack_bundle()))
    assert r.status_code == 201, r.text
    event = a.api.get(f"/api/v1/events/{r.json()['events'][0]['id']}").json()
    assert 'misp-galaxy:attack-pattern="Spearphishing Attachment"' in {
        t["name"] for t in event["tags"]
    }


def test_bad_bundles_get_a_4xx_naming_the_object_and_write_nothing(make_user, instance) -> None:
    a = make_user("CERT-A", "org-admin")
    before = _counts(instance)
    dangling = oasis_bundle()
    dangling["objects"] = [o for o in dangling["objects"] if o["type"] != "malware"]
    bad_pattern = oasis_bundle()
    bad_pattern["objects"][2]["pattern"] = "[file:hashes.MD5 = "
    no_id = oasis_bundle()
    del no_id["objects"][3]["id"]
    cases = [
        (b"{not json", "bundle", "not valid JSON"),
        (json.dumps({"type": "grouping"}).encode(), "bundle", "type must be 'bundle'"),
        (json.dumps(dangling).encode(), "relationship--44298a74", "not in the bundle"),
        (json.dumps(bad_pattern).encode(), "indicator--8e2e2d2b", "pattern"),
        (json.dumps(no_id).encode(), "objects[3]", "no id"),
    ]
    for body, where, problem in cases:
        r = a.api.post("/api/v1/stix/import", content=body)
        assert r.status_code == 422, r.text
        detail = r.json()
        assert detail["field"].startswith(where) and problem in detail["detail"], detail
    assert _counts(instance) == before


def test_a_bad_event_anywhere_leaves_the_whole_bundle_out(make_user, instance) -> None:
    """Two events in one bundle; the store refuses the second's attribute value, so the
    first is not written either."""
    a = make_user("CERT-A", "org-admin")
    first = _event(a.api, "first", [{"type": "domain", "value": "first.example"}])
    second = _event(a.api, "second", [{"type": "ip-src", "value": "192.0.2.1"}])
    r = a.api.get("/api/v1/stix/export")
    bundle = assert_valid(r.content)
    for e in (first, second):
        assert a.api.delete(f"/api/v1/events/{e['id']}").status_code == 204
    for o in bundle["objects"]:
        if o["type"] == "ipv4-addr":
            o["value"] = "192.0.2.999"
        if o["type"] == "indicator" and "ipv4-addr" in o["pattern"]:
            o["pattern"] = o["pattern"].replace("192.0.2.1", "192.0.2.999")
    before = _counts(instance)
    r = a.api.post("/api/v1/stix/import", content=json.dumps(bundle))
    assert 400 <= r.status_code < 500, r.text
    assert _counts(instance) == before


def _secret_setup(make_user) -> dict[str, Any]:
    """CERT-A shares one event with the community, keeps one to itself, shares one with a
    sharing group CERT-B is not in, and hides one attribute of the shared event."""
    a_admin = make_user("CERT-A", "org-admin")
    a = make_user("CERT-A", "org-admin")
    b = make_user("CERT-B", "publisher")
    sg = a_admin.api.post("/api/v1/sharing-groups", json={"name": "A and friends"}).json()
    shared = _event(
        a.api,
        "shared wave",
        [
            {"type": "domain", "value": "shared.example"},
            {"type": "domain", "value": "hidden-attr.example", "distribution": 0},
            {
                "type": "ip-dst",
                "value": "203.0.113.99",
                "tags": [{"name": "a-team:local", "local": True}],
            },
        ],
        tags=[{"name": "tlp:green"}],
    )
    private = _event(
        a.api, "A only", [{"type": "domain", "value": "private.example"}], distribution=0
    )
    grouped = _event(
        a.api,
        "group only",
        [{"type": "domain", "value": "group.example"}],
        distribution=4,
        sharing_group_id=sg["id"],
    )
    return {"a": a, "b": b, "shared": shared, "private": private, "grouped": grouped, "sg": sg}


_HIDDEN = ("hidden-attr.example", "private.example", "group.example", "A only", "group only")


def _assert_b_sees_only_what_it_may(body: bytes, setup: dict[str, Any]) -> None:
    bundle = assert_valid(body)
    text = body.decode()
    for secret in _HIDDEN:
        assert secret not in text, secret
    assert setup["sg"]["uuid"] not in text and setup["sg"]["name"] not in text
    assert "CERT-C" not in text and "c-only.example" not in text
    identities = [o["name"] for o in bundle["objects"] if o["type"] == "identity"]
    assert identities == ["CERT-A"]
    assert "a-team:local" not in text
    assert "shared.example" in text and "203.0.113.99" in text
    groupings = [o for o in bundle["objects"] if o["type"] == "grouping"]
    assert [g["id"] for g in groupings] == [f"grouping--{setup['shared']['uuid']}"]


def test_every_export_path_follows_the_access_rules(make_user, client) -> None:
    setup = _secret_setup(make_user)
    a, b = setup["a"], setup["b"]
    # An organisation whose only event B may not read: its identity must not show either.
    c = make_user("CERT-C", "org-admin")
    _event(c.api, "C to itself", [{"type": "domain", "value": "c-only.example"}], distribution=0)
    # Native: one event, and the search export.
    r = b.api.get(f"/api/v1/events/{setup['shared']['id']}/stix")
    _assert_b_sees_only_what_it_may(r.content, setup)
    for hidden in ("private", "grouped"):
        assert b.api.get(f"/api/v1/events/{setup[hidden]['id']}/stix").status_code == 404
    _assert_b_sees_only_what_it_may(b.api.get("/api/v1/stix/export").content, setup)
    # MISP restSearch, events and attributes.
    for controller in ("events", "attributes"):
        r = b.api.post(f"/{controller}/restSearch", json={"returnFormat": "stix2"})
        assert r.status_code == 200, r.text
        _assert_b_sees_only_what_it_may(r.content, setup)
    # The owner sees all of it, its local tag excepted (local tags never leave).
    text = a.api.get("/api/v1/stix/export").content.decode()
    for secret in ("hidden-attr.example", "private.example", "group.example"):
        assert secret in text
    assert "a-team:local" not in text


def test_attribute_restsearch_stix2_holds_only_the_matches(make_user) -> None:
    a = make_user("CERT-A", "org-admin")
    _event(
        a.api,
        "two values",
        [
            {"type": "domain", "value": "wanted.example"},
            {"type": "domain", "value": "other.example"},
        ],
    )
    r = a.api.post(
        "/attributes/restSearch", json={"returnFormat": "stix2", "value": "wanted.example"}
    )
    text = assert_valid(r.content) and r.content.decode()
    assert "wanted.example" in text and "other.example" not in text


RESOLVERS = "List of known IPv4 public DNS resolvers"


def test_enforce_warninglist_leaves_warned_values_out_of_bundles(admin, make_user) -> None:
    lists = {w["name"]: w["id"] for w in admin.get("/api/v1/warninglists").json()}
    r = admin.patch(f"/api/v1/warninglists/{lists[RESOLVERS]}", json={"enabled": True})
    assert r.status_code == 200, r.text
    a = make_user("CERT-A", "org-admin")
    made = _event(
        a.api,
        "warned values",
        [
            {"type": "ip-dst", "value": "8.8.8.8"},
            {"type": "ip-dst", "value": "192.0.2.44"},
        ],
        objects=[
            {
                "name": "domain-ip",
                "uuid": "5b2d4c1e-1f7e-4d3c-9b8a-2c1d0e9f8a71",
                "attributes": [
                    {"object_relation": "ip", "type": "ip-dst", "value": "8.8.4.4"},
                    {"object_relation": "domain", "type": "domain", "value": "c2.example"},
                ],
                "references": [
                    {
                        "referenced_uuid": "0c9a8b7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d",
                        "relationship_type": "connected-to",
                    }
                ],
            },
            {
                "name": "domain-ip",
                "uuid": "0c9a8b7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d",
                "attributes": [{"object_relation": "ip", "type": "ip-dst", "value": "1.1.1.1"}],
            },
        ],
    )
    kept = ("192.0.2.44", "c2.example")
    warned = ("8.8.8.8", "8.8.4.4", "1.1.1.1")
    searches = [
        ("events", {}),
        ("attributes", {"type": "ip-dst"}),
        ("attributes", {"eventid": made["id"]}),
    ]
    for controller, query in searches:
        body = {"returnFormat": "stix2", **query}
        whole = a.api.post(f"/{controller}/restSearch", json=body)
        assert all(v in whole.text for v in (*warned, "192.0.2.44")), controller
        r = a.api.post(f"/{controller}/restSearch", json={**body, "enforceWarninglist": 1})
        bundle = assert_valid(r.content)
        for value in warned:
            assert value not in r.text, (controller, query, value)
        assert "192.0.2.44" in r.text
        if controller == "events" or "eventid" in query:
            assert all(v in r.text for v in kept)
            # The object left without attributes went, and the reference to it with it.
            assert "0c9a8b7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d" not in r.text
            assert _relationships(bundle) == []
    # The native exports take the same option.
    for url in (f"/api/v1/events/{made['id']}/stix", "/api/v1/stix/export"):
        plain = a.api.get(url)
        assert plain.status_code == 200 and all(v in plain.text for v in warned)
        r = a.api.get(url, params={"enforce_warninglist": "true"})
        assert_valid(r.content)
        assert not any(v in r.text for v in warned) and all(v in r.text for v in kept), url
    # Unfiltered, the reference is written as a relationship to the second object.
    whole = assert_valid(a.api.post("/events/restSearch", json={"returnFormat": "stix2"}).content)
    assert [t.endswith("0c9a8b7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d") for t in _relationships(whole)] == [
        True
    ]


def _relationships(bundle: dict[str, Any]) -> list[str]:
    """The targets of the bundle's connected-to relationships."""
    return [
        o["target_ref"]
        for o in bundle["objects"]
        if o["type"] == "relationship" and o["relationship_type"] == "connected-to"
    ]


def test_export_reads_only_what_stix_carries_and_writes_the_same_bundle(make_user) -> None:
    # Sighting counts, proposals and sharing groups are not read for a bundle: the bundle is
    # the one the whole events/view (which has them all) converts to.
    a = make_user("CERT-A", "org-admin")
    b = make_user("CERT-B", "org-admin")
    sg = a.api.post("/api/v1/sharing-groups", json={"name": "A alone"}).json()
    made = _rich(a.api)
    extra = _event(
        a.api,
        "grouped",
        [{"type": "domain", "value": "grouped.example"}],
        distribution=4,
        sharing_group_id=sg["id"],
    )
    view = a.api.get(f"/events/view/{made['uuid']}").json()["Event"]
    target = next(x for x in view["Attribute"] if x["type"] == "ip-dst")
    r = a.api.post("/sightings/add", json={"uuid": target["uuid"]})
    assert r.status_code == 200, r.text
    r = b.api.post(
        f"/shadow_attributes/add/{made['uuid']}",
        json={"type": "domain", "category": "Network activity", "value": "proposed.example"},
    )
    assert r.status_code == 200, r.text
    proposed = a.api.get(f"/events/view/{made['uuid']}").json()["Event"]
    assert [p["value"] for p in proposed["ShadowAttribute"]] == ["proposed.example"]
    grouped = a.api.get(f"/events/view/{extra['uuid']}").json()["Event"]
    assert grouped["SharingGroup"]["name"] == "A alone"
    for full in (proposed, grouped):
        exported = assert_valid(a.api.get(f"/api/v1/events/{full['uuid']}/stix").content)
        assert exported["objects"] == json.loads(json.dumps(event_objects(full)))


def test_misp_upload_stix(make_user) -> None:
    a = make_user("CERT-A", "org-admin")
    r = a.api.post("/events/upload_stix/2", content=json.dumps(oasis_bundle()))
    assert r.status_code == 200, r.text
    event = r.json()["Event"]
    assert event["distribution"] == "0" and len(event["Attribute"]) == 2
    bad = oasis_bundle()
    bad["objects"][2]["pattern"] = "[nonsense"
    r = a.api.post("/events/upload_stix/2", content=json.dumps(bad))
    assert r.status_code == 422 and "indicator--8e2e2d2b" in r.json()["message"]


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "250"})


def test_cli_export_as_a_user_and_import(make_user, instance, tmp_path: Path) -> None:
    setup = _secret_setup(make_user)
    out = tmp_path / "b.json"
    result = _run("export", "stix", "-o", str(out), "--as", setup["b"].email, "-q")
    assert result.exit_code == 0, result.output
    assert "1 events written" in result.output
    _assert_b_sees_only_what_it_may(out.read_bytes(), setup)
    result = _run(
        "export", "stix", "-o", str(out), "--as", setup["b"].email, "--type", "ip-dst", "-q"
    )
    assert result.exit_code == 0, result.output
    bundle = tmp_path / "oasis.json"
    bundle.write_text(json.dumps(oasis_bundle()))
    result = _run("event", "import", "--format", "stix", str(bundle), "-q")
    assert result.exit_code == 0, result.output
    assert "1 events created" in result.output
    broken = oasis_bundle()
    broken["objects"][2]["pattern"] = "[nonsense"
    bundle.write_text(json.dumps(broken))
    before = _counts(instance)
    result = _run("event", "import", "--format", "stix", str(bundle), "-q")
    assert result.exit_code == 1
    assert "indicator--8e2e2d2b" in result.output
    assert _counts(instance) == before


def test_import_into_a_sharing_group(make_user) -> None:
    a = make_user("CERT-A", "org-admin")
    sg = a.api.post("/api/v1/sharing-groups", json={"name": "A circle"}).json()
    r = a.api.post(
        f"/api/v1/stix/import?distribution=4&sharing_group_id={sg['id']}",
        content=json.dumps(oasis_bundle()),
    )
    assert r.status_code == 201, r.text
    [made] = r.json()["events"]
    assert (made["distribution"], made["sharing_group_id"]) == (4, sg["id"])
    r = a.api.post("/api/v1/stix/import?distribution=4", content=json.dumps(oasis_bundle()))
    assert r.status_code == 422 and "sharing group" in r.text
