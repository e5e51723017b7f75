"""The native API of detection: sensors managed by org admins (their organisation) and
site admins (all), sensor keys that reach only POST /api/v1/hunt, hunts shipped in batches
recorded as the sensor's sightings and alerts, and alerts read by their organisation."""

from __future__ import annotations

import gzip

import sqlalchemy as sa

from shieldwall.audit.models import AuditEntry
from shieldwall.context import system_ctx
from shieldwall.intel import sharing_groups
from shieldwall.intel.models import Sighting
from shieldwall.intel.schemas import SharingGroupIn

CONN = (
    b'{"ts":1.0,"uid":"C1","id.orig_h":"10.1.0.5","id.orig_p":5,"id.resp_h":"203.0.113.9",'
    b'"id.resp_p":443,"conn_state":"SF"}\n'
)


def test_sensor_management_rights(world, admin, make_user) -> None:
    org_admin_a = make_user("ORG-A", "org-admin")
    user_a = make_user("ORG-A", "user")
    org_admin_b = make_user("ORG-B", "org-admin")
    r = org_admin_a.api.post("/api/v1/sensors", json={"name": "edge", "networks": ["10.5.0.0/16"]})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["org_id"] == world.org_a and len(created["key"]) == 40
    assert created["keys"][0]["key"].endswith(created["key"][-4:])
    # An org admin manages only its own organisation's sensors.
    r = org_admin_a.api.post("/api/v1/sensors", json={"name": "x", "org": "ORG-B"})
    assert r.status_code == 403
    assert org_admin_b.api.get(f"/api/v1/sensors/{created['id']}").status_code == 404
    assert (
        org_admin_b.api.patch(
            f"/api/v1/sensors/{created['id']}", json={"disabled": True}
        ).status_code
        == 404
    )
    assert {s["name"] for s in org_admin_b.api.get("/api/v1/sensors").json()["items"]} == {
        "suricata-b"
    }
    assert user_a.api.get("/api/v1/sensors").status_code == 403
    assert user_a.api.post("/api/v1/sensors", json={"name": "y"}).status_code == 403
    # Site admins manage all.
    names = {s["name"] for s in admin.get("/api/v1/sensors").json()["items"]}
    assert names == {"edge", "zeek-a", "suricata-b"}
    # Bad input names the field; nothing is written.
    r = org_admin_a.api.post("/api/v1/sensors", json={"name": "bad", "networks": ["10.0.0.0/33"]})
    assert r.status_code == 422 and r.json()["field"] == "networks[0]"
    r = org_admin_a.api.post("/api/v1/sensors", json={"name": "edge"})
    assert r.status_code == 409 and r.json()["field"] == "name"
    r = org_admin_a.api.patch(
        f"/api/v1/sensors/{created['id']}", json={"networks": ["10.6.0.0/16"], "disabled": True}
    )
    assert r.status_code == 200 and r.json()["networks"] == ["10.6.0.0/16"] and r.json()["disabled"]
    assert org_admin_a.api.delete(f"/api/v1/sensors/{created['id']}").status_code == 204
    with world.instance.db.reading() as s:
        actions = (
            s.execute(
                sa.select(AuditEntry.action)
                .where(AuditEntry.model.in_(["Sensor", "SensorKey"]))
                .order_by(AuditEntry.id)
            )
            .scalars()
            .all()
        )
    assert actions[-4:] == ["create", "key_create", "update", "delete"]


def test_sensor_key_ships_telemetry_and_records(world, admin, client) -> None:
    world.publish(world.org_a, [("ip-dst", "203.0.113.9")])
    headers = {"Authorization": world.sensor_a.key}
    r = client.post("/api/v1/hunt", content=CONN * 2, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [m["line"] for m in body["matches"]] == [1, 2]
    assert body["matches"][0]["sensor"] == "zeek-a"
    assert body["summary"]["lines"] == 2 and body["recorded"] == {
        "sightings": 1,
        "alerts_new": 1,
        "alerts_updated": 0,
        "alerts_routed": 0,
    }
    # gzip bodies too; the alert counts up.
    r = client.post(
        "/api/v1/hunt",
        content=gzip.compress(CONN),
        headers={"Authorization": f"Bearer {world.sensor_a.key}"},
    )
    assert r.status_code == 200 and r.json()["recorded"]["alerts_updated"] == 1
    with world.instance.db.reading() as s:
        assert s.execute(sa.select(Sighting.source)).scalars().all() == ["zeek-a", "zeek-a"]
    # A sensor key reaches nothing else.
    assert client.get("/api/v1/events", headers=headers).status_code == 403
    assert client.get("/api/v1/alerts", headers=headers).status_code == 403
    assert client.get("/servers/getVersion", headers=headers).status_code in (401, 403)
    # Bad input: a clear 4xx naming the field.
    r = client.post("/api/v1/hunt?format=pcap", content=CONN, headers=headers)
    assert r.status_code == 422 and r.json()["field"] == "format"
    r = client.post("/api/v1/hunt", content=b"no known format\n", headers=headers)
    assert r.status_code == 422 and r.json()["field"] == "format"
    r = client.post(
        "/api/v1/hunt?format=json&map=client", content=b'{"client":"x"}\n', headers=headers
    )
    assert r.status_code == 422 and r.json()["field"] == "map"


def test_revoked_key_and_disabled_sensor(world, admin, client) -> None:
    headers = {"Authorization": world.sensor_b.key}
    assert client.post("/api/v1/hunt", content=CONN, headers=headers).status_code == 200
    key_id = admin.get(f"/api/v1/sensors/{world.sensor_b.id}").json()["keys"][0]["id"]
    r = admin.delete(f"/api/v1/sensors/{world.sensor_b.id}/keys/{key_id}")
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert client.post("/api/v1/hunt", content=CONN, headers=headers).status_code == 401
    new = admin.post(
        f"/api/v1/sensors/{world.sensor_b.id}/keys", json={"comment": "rotated"}
    ).json()
    fresh = {"Authorization": new["key"]}
    assert client.post("/api/v1/hunt", content=CONN, headers=fresh).status_code == 200
    admin.patch(f"/api/v1/sensors/{world.sensor_b.id}", json={"disabled": True})
    r = client.post("/api/v1/hunt", content=CONN, headers=fresh)
    assert r.status_code == 401 and "disabled" in r.json()["detail"]


def test_access_rules_through_the_hunt_api(world, admin, client, make_user) -> None:
    """A sensor of org B never matches an org-A-only indicator, nor one shared in a
    sharing group B is not in; it does match one shared with B."""
    ctx_a = system_ctx(world.org_a)
    with world.instance.db.writing() as s:
        only_a = sharing_groups.create_sharing_group(s, ctx_a, SharingGroupIn(name="A-only")).id
        with_b = sharing_groups.create_sharing_group(s, ctx_a, SharingGroupIn(name="A-and-B")).id
        sharing_groups.add_member(s, ctx_a, with_b, "ORG-B")
    world.publish(world.org_a, [("ip-dst", "203.0.113.9")], distribution=0)
    world.publish(
        world.org_a, [("ip-dst", "203.0.113.10")], distribution=4, sharing_group_id=only_a
    )
    world.publish(
        world.org_a, [("ip-dst", "203.0.113.11")], distribution=4, sharing_group_id=with_b
    )
    body = b"".join(CONN.replace(b"203.0.113.9", f"203.0.113.{i}".encode()) for i in (9, 10, 11))
    seen_b = client.post(
        "/api/v1/hunt", content=body, headers={"Authorization": world.sensor_b.key}
    ).json()
    assert [m["observable"] for m in seen_b["matches"]] == ["203.0.113.11"]
    seen_a = client.post(
        "/api/v1/hunt", content=body, headers={"Authorization": world.sensor_a.key}
    ).json()
    assert [m["observable"] for m in seen_a["matches"]] == [
        "203.0.113.9",
        "203.0.113.10",
        "203.0.113.11",
    ]
    # A user hunting as a sensor of its organisation reads with the sensor's view.
    org_admin_b = make_user("ORG-B", "org-admin")
    r = org_admin_b.api.post("/api/v1/hunt?sensor=suricata-b&record=false", content=body)
    assert [m["observable"] for m in r.json()["matches"]] == ["203.0.113.11"]
    assert "recorded" not in r.json()
    # ... and may not use another organisation's sensor.
    r = org_admin_b.api.post("/api/v1/hunt?sensor=zeek-a", content=body)
    assert r.status_code == 404 and r.json()["field"] == "sensor"
    # Site admins see everything.
    r = admin.post("/api/v1/hunt", content=body)
    assert len(r.json()["matches"]) == 3


def test_alerts_are_read_by_their_organisation(world, admin, client, make_user) -> None:
    world.publish(world.org_a, [("ip-dst", "203.0.113.9")], threat_level_id=3)
    world.publish(world.org_b, [("ip-dst", "203.0.113.9")], threat_level_id=1, distribution=0)
    for sensor in (world.sensor_a, world.sensor_b):
        assert (
            client.post(
                "/api/v1/hunt", content=CONN, headers={"Authorization": sensor.key}
            ).status_code
            == 200
        )
    user_a = make_user("ORG-A", "user")
    user_b = make_user("ORG-B", "read-only")
    items_a = user_a.api.get("/api/v1/alerts").json()["items"]
    assert [(a["sensor"], a["severity"], a["count"], a["status"]) for a in items_a] == [
        ("zeek-a", "low", 1, "new")
    ]
    items_b = user_b.api.get("/api/v1/alerts").json()["items"]
    # B's sensor sees A's community event and B's own: one alert per attribute.
    assert sorted(a["severity"] for a in items_b) == ["high", "low"]
    assert {a["sensor"] for a in items_b} == {"suricata-b"}
    assert user_b.api.get(f"/api/v1/alerts/{items_a[0]['id']}").status_code == 404
    assert (
        user_a.api.get(f"/api/v1/alerts/{items_a[0]['uuid']}").json()["observable"] == "203.0.113.9"
    )
    everything = admin.get("/api/v1/alerts").json()["items"]
    assert len(everything) == 3
    assert len(admin.get("/api/v1/alerts?sensor=zeek-a").json()["items"]) == 1
    assert len(admin.get("/api/v1/alerts?severity=high").json()["items"]) == 1
    page = admin.get("/api/v1/alerts?limit=2").json()
    assert len(page["items"]) == 2 and page["next"] == page["items"][-1]["id"]
    rest = admin.get(f"/api/v1/alerts?after={page['next']}").json()["items"]
    assert len(rest) == 1
    assert page["items"][0]["id"] > page["items"][1]["id"] > rest[0]["id"]  # newest first
    r = admin.get("/api/v1/alerts?severity=urgent")
    assert r.status_code == 422 and r.json()["field"] == "severity"
