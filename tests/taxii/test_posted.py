"""Events made from TAXII POSTs after later edits (rendered into their collection as new
versions), the distribution they get, and identities every reader of an event can get."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from shieldwall.taxii.store import catch_up
from tests.taxii.conftest import TAXII_MEDIA, ip
from tests.web.test_sessions import _token, sign_in

STAMP = "2024-03-01T10:00:00.000Z"


def _indicator(value: str) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": STAMP,
        "modified": STAMP,
        "name": f"address {value}",
        "pattern": f"[ipv4-addr:value = '{value}']",
        "pattern_type": "stix",
        "valid_from": "2024-03-01T10:00:00Z",
    }


def _report(refs: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "type": "report",
        "spec_version": "2.1",
        "id": f"report--{uuid.uuid4()}",
        "created": STAMP,
        "modified": STAMP,
        "name": "posted wave",
        "published": "2024-03-01T10:00:00Z",
        "object_refs": refs,
        **extra,
    }


def _post(collection: Any, objects: list[dict[str, Any]]) -> Any:
    status = collection.add_objects(
        {"objects": objects}, wait_for_completion=True, poll_interval=0.2, timeout=30
    )
    assert status.status == "complete" and status.failure_count == 0, status.failures
    return status


def _by_id(envelope: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for o in envelope.get("objects", []):
        out.setdefault(o["id"], []).append(o)
    return out


@pytest.fixture
def members(make_user):  # type: ignore[no-untyped-def]
    return {"W": make_user("CERT-W", "org-admin"), "R": make_user("CERT-R", "user")}


def test_a_posted_event_follows_its_edits_as_new_versions(
    members, make_collection, taxii, instance
) -> None:
    w, r = members["W"], members["R"]
    # The collection's search holds nothing of the posted event: what it renders into after
    # an edit is in the collection because it was posted there.
    coll = make_collection(
        "inbox", tags=["never:posted"], readers=["CERT-W", "CERT-R"], writers=["CERT-W"]
    )
    first, second = _indicator("203.0.113.1"), _indicator("203.0.113.2")
    report = _report([first["id"], second["id"]])
    _post(taxii(w.email, w.api.key, coll["uuid"]), [first, second, report])
    reader = taxii(r.email, r.api.key, coll["uuid"])
    posted = _by_id(reader.get_objects())
    assert posted[first["id"]] == [first] and posted[report["id"]] == [report]
    event_uuid = report["id"].split("--", 1)[1]
    attribute_of = {o["id"]: o["id"].split("--", 1)[1] for o in (first, second)}

    time.sleep(1.1)  # MISP timestamps are seconds: the edits come a second after the post
    edited = w.api.post(
        f"/attributes/edit/{attribute_of[first['id']]}", json={"comment": "seen again"}
    )
    assert edited.status_code == 200, edited.text
    added = w.api.post(
        f"/attributes/add/{event_uuid}",
        json={"type": "domain", "category": "Network activity", "value": "new.example"},
    )
    assert added.status_code == 200, added.text
    new_uuid = added.json()["Attribute"]["uuid"]

    now = _by_id(reader.get_objects())  # the first page renders what changed
    # The edited attribute: a later version of the posted indicator, the posted one first.
    latest = now[first["id"]][0]
    assert latest["modified"] > first["modified"] and latest["description"] == "seen again"
    assert reader.get_object(first["id"], version="first")["objects"] == [first]
    versions = reader.object_versions(first["id"])["versions"]
    assert versions == [first["modified"], latest["modified"]]
    assert len(reader.get_objects(id=first["id"], version="all")["objects"]) == 2
    # The untouched one stands as posted, alone: no rendering added beside it.
    assert now[second["id"]] == [second]
    assert f"observed-data--{attribute_of[second['id']]}" not in now
    assert reader.object_versions(second["id"])["versions"] == [STAMP]
    # The added attribute is rendered into the collection.
    assert f"indicator--{new_uuid}" in now and f"observed-data--{new_uuid}" in now
    # The event, edited (so unpublished), is rendered as a grouping referring to what stands
    # and what was rendered; the posted report stays as posted.
    [grouping] = now[f"grouping--{event_uuid}"]
    assert {first["id"], second["id"], f"observed-data--{new_uuid}"} <= set(grouping["object_refs"])
    assert set(grouping["object_refs"]) <= set(now)
    assert now[report["id"]] == [report]
    # Every object's creator is there to be read.
    creators = {o["created_by_ref"] for objs in now.values() for o in objs if "created_by_ref" in o}
    assert creators and creators <= set(now)

    # A deleted attribute's posted indicator goes, and the next report version drops it.
    time.sleep(1.1)
    assert w.api.post(f"/attributes/delete/{attribute_of[second['id']]}").status_code == 200
    after = _by_id(reader.get_objects())
    assert second["id"] not in after
    for container in (f"grouping--{event_uuid}", report["id"]):
        refs = after[container][0]["object_refs"]
        assert first["id"] in refs and second["id"] not in refs

    # Published, the event is rendered as a report: a later version of the posted one.
    time.sleep(1.1)
    assert w.api.post(f"/events/publish/{event_uuid}").status_code == 200
    published = _by_id(reader.get_objects())
    [current] = published[report["id"]]
    assert current["modified"] > report["modified"] and first["id"] in current["object_refs"]
    # The posted version, its references cut to what the reader may still see.
    assert reader.get_object(report["id"], version="first")["objects"] == [
        {**report, "object_refs": [first["id"]]}
    ]
    assert f"grouping--{event_uuid}" not in published
    assert catch_up(instance.db) == 0  # nothing left to render


def _distribution(member: Any, event_uuid: str) -> Any:
    r = member.api.get(f"/events/view/{event_uuid}")
    return r.json()["Event"]["distribution"] if r.status_code == 200 else r.status_code


def test_posted_events_are_shared_as_the_collection_says(
    members, make_user, make_collection, taxii, admin
) -> None:
    w, r = members["W"], members["R"]
    other = make_user("CERT-O", "user")
    # By default the community: every reader of the collection sees what was posted.
    shared = make_collection("shared", readers=["CERT-W", "CERT-R"], writers=["CERT-W"])
    assert shared["distribution"] == 1 and shared["sharing_group_id"] is None
    report = _report([(ind := _indicator("198.51.100.1"))["id"]])
    _post(taxii(w.email, w.api.key, shared["uuid"]), [ind, report])
    event_uuid = report["id"].split("--", 1)[1]
    assert _distribution(r, event_uuid) == "1"
    assert ind["id"] in _by_id(taxii(r.email, r.api.key, shared["uuid"]).get_objects())

    # A TLP:RED post is kept to the writer's organisation rather than refused.
    red = _report(
        [(red_ind := _indicator("198.51.100.2"))["id"]],
        object_marking_refs=["marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"],
    )
    _post(taxii(w.email, w.api.key, shared["uuid"]), [red_ind, red])
    red_uuid = red["id"].split("--", 1)[1]
    assert _distribution(w, red_uuid) == "0" and _distribution(r, red_uuid) == 404
    assert red_ind["id"] not in _by_id(taxii(r.email, r.api.key, shared["uuid"]).get_objects())

    # A sharing group keeps posts to a circle: R is in it, O (also a reader) is not.
    sg = admin.post(
        "/api/v1/sharing-groups",
        json={"name": "W and R", "members": [{"org": "CERT-W"}, {"org": "CERT-R"}]},
    )
    assert sg.status_code == 201, sg.text
    circle = make_collection(
        "circle",
        readers=["CERT-W", "CERT-R", "CERT-O"],
        writers=["CERT-W"],
        distribution=4,
        sharing_group=sg.json()["uuid"],
    )
    assert circle["distribution"] == 4 and circle["sharing_group_id"] == sg.json()["id"]
    report = _report([(ind := _indicator("198.51.100.3"))["id"]])
    _post(taxii(w.email, w.api.key, circle["uuid"]), [ind, report])
    assert _distribution(r, report["id"].split("--", 1)[1]) == "4"
    assert ind["id"] in _by_id(taxii(r.email, r.api.key, circle["uuid"]).get_objects())
    assert ind["id"] not in _by_id(taxii(other.email, other.api.key, circle["uuid"]).get_objects())

    # Distribution 0: the writer's organisation only.
    private = make_collection("private", readers=["CERT-W", "CERT-R"], writers=["CERT-W"])
    changed = admin.patch(f"/api/v1/taxii/collections/{private['uuid']}", json={"distribution": 0})
    assert changed.status_code == 200 and changed.json()["distribution"] == 0
    report = _report([(ind := _indicator("198.51.100.4"))["id"]])
    _post(taxii(w.email, w.api.key, private["uuid"]), [ind, report])
    assert _distribution(r, report["id"].split("--", 1)[1]) == 404


def test_collection_distribution_is_checked(admin, make_collection) -> None:
    r = admin.post("/api/v1/taxii/collections", json={"title": "bad", "distribution": 4})
    assert r.status_code == 422 and r.json()["field"] == "sharing_group"
    r = admin.post("/api/v1/taxii/collections", json={"title": "bad", "distribution": 5})
    assert r.status_code == 422 and r.json()["field"] == "distribution"
    r = admin.post(
        "/api/v1/taxii/collections", json={"title": "bad", "distribution": 4, "sharing_group": 999}
    )
    assert r.status_code == 422 and r.json()["field"] == "sharing_group"
    sg = admin.post("/api/v1/sharing-groups", json={"name": "circle"}).json()
    r = admin.post(
        "/api/v1/taxii/collections",
        json={"title": "bad", "distribution": 1, "sharing_group": sg["id"]},
    )
    assert r.status_code == 422 and "distribution 4" in r.json()["detail"]
    made = make_collection("circle", distribution=4, sharing_group=sg["id"])
    # Leaving distribution 4 leaves the sharing group.
    r = admin.patch(f"/api/v1/taxii/collections/{made['uuid']}", json={"distribution": 1})
    assert r.status_code == 200 and r.json()["sharing_group_id"] is None


def test_every_reader_of_an_event_gets_its_creators_latest_identity(
    members, make_user, make_collection, add_event, taxii, admin, instance
) -> None:
    w, r = members["W"], members["R"]
    coll = make_collection("all", readers=["CERT-W", "CERT-R"])
    older = add_event(w.api, "older, shared", [ip("192.0.2.61")], distribution=1)
    time.sleep(1.1)  # a later event timestamp, hence a later rendering of the identity
    newer = add_event(w.api, "newer, private", [ip("192.0.2.62")], distribution=0)
    assert catch_up(instance.db) == 2
    identity = f"identity--{w.api.get('/api/v1/me').json()['org']['uuid']}"
    reader = taxii(r.email, r.api.key, coll["uuid"])
    seen = _by_id(reader.get_objects())
    # R reads only the older event, and gets the identity its objects name (last, default).
    assert f"indicator--{older['Attribute'][0]['uuid']}" in seen
    assert f"indicator--{newer['Attribute'][0]['uuid']}" not in seen
    assert [o["name"] for o in seen[identity]] == ["CERT-W"]
    # One version while the organisation is unchanged, whatever the events' timestamps.
    assert len(reader.object_versions(identity)["versions"]) == 1

    # Renamed, and only the newer event rendered again: R still gets the latest identity.
    org_id = w.api.get("/api/v1/me").json()["org"]["id"]
    assert (
        admin.patch(f"/api/v1/organisations/{org_id}", json={"name": "CERT-W2"}).status_code == 200
    )
    time.sleep(1.1)
    assert (
        w.api.post(f"/events/edit/{newer['uuid']}", json={"info": "newer, edited"}).status_code
        == 200
    )
    assert catch_up(instance.db) == 1
    now = _by_id(reader.get_objects())
    assert [o["name"] for o in now[identity]] == ["CERT-W2"]
    versions = reader.get_object(identity, version="all")["objects"]
    assert [o["name"] for o in versions] == ["CERT-W", "CERT-W2"]
    assert versions[0]["created"] == versions[1]["created"]
    assert versions[1]["modified"] > versions[0]["modified"]


def test_unknown_taxii_paths_answer_taxii_errors(live_url, instance) -> None:
    auth = ("admin@host.test", instance.admin_key)
    for path in ("/taxii2/nowhere/", "/taxii2/intel/collections/x/objects/y/z/", "/taxii2/a/b"):
        r = httpx.get(f"{live_url}{path}", headers={"Accept": TAXII_MEDIA}, auth=auth)
        assert r.status_code == 404, (path, r.text)
        assert r.headers["content-type"] == TAXII_MEDIA
        body = r.json()
        assert body["http_status"] == "404" and body["title"] and body["description"]
    # Whatever the client accepts.
    r = httpx.get(f"{live_url}/taxii2/a/b/c/d/e/f/g/", headers={"Accept": "text/html"})
    assert r.status_code == 404 and r.headers["content-type"] == TAXII_MEDIA
    # A method an endpoint does not answer: 405 with the ones it does.
    r = httpx.put(f"{live_url}/taxii2/", headers={"Accept": TAXII_MEDIA}, auth=auth)
    assert r.status_code == 405 and r.headers["allow"] == "GET"
    assert r.headers["content-type"] == TAXII_MEDIA and r.json()["http_status"] == "405"
    # A known endpoint without its final slash is redirected to it.
    r = httpx.get(f"{live_url}/taxii2/intel", headers={"Accept": TAXII_MEDIA}, auth=auth)
    assert r.status_code == 307 and r.headers["location"].endswith("/taxii2/intel/")


def test_the_admin_page_sets_how_posts_are_shared(app, admin, instance) -> None:
    sg = admin.post("/api/v1/sharing-groups", json={"name": "Finance circle"}).json()
    c = TestClient(app, base_url="http://127.0.0.1:8000")
    assert sign_in(c, "admin@host.test", instance.admin_password).status_code == 303
    token = _token(c.get("/ui/admin/taxii").text)
    form = {"csrf_token": token, "title": "finance inbox", "readers": "HOST-CERT"}
    c.post("/ui/admin/taxii", data={**form, "distribution": "4", "sharing_group": sg["uuid"]})
    c.post("/ui/admin/taxii", data={**form, "title": "default inbox"})
    made = {x["title"]: x for x in admin.get("/api/v1/taxii/collections").json()["items"]}
    assert (made["finance inbox"]["distribution"], made["finance inbox"]["sharing_group_id"]) == (
        4,
        sg["id"],
    )
    assert made["default inbox"]["distribution"] == 1
    assert "sharing group" in c.get("/ui/admin/taxii").text
