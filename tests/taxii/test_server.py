"""The TAXII 2.1 server driven by real clients: taxii2-client and stix2's data source/sink."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
import requests
import stix2
from taxii2client.v21 import as_pages

from tests.taxii.conftest import TAXII_MEDIA, ip

ADMIN = "admin@host.test"


def _ids(envelope: dict[str, Any]) -> list[str]:
    return [o["id"] for o in envelope.get("objects", [])]


def _indicator(attr_uuid: str) -> str:
    return f"indicator--{attr_uuid}"


def _bundle_objects(n: int, prefix: str = "203.0.113") -> list[dict[str, Any]]:
    return [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.uuid4()}",
            "created": "2024-03-01T10:00:00.000Z",
            "modified": "2024-03-01T10:00:00.000Z",
            "name": f"address {i}",
            "pattern": f"[ipv4-addr:value = '{prefix}.{i}']",
            "pattern_type": "stix",
            "valid_from": "2024-03-01T10:00:00Z",
        }
        for i in range(1, n + 1)
    ]


@pytest.fixture
def world(admin, instance, add_event, make_collection):  # type: ignore[no-untyped-def]
    ev = add_event(admin, "campaign", [ip("198.51.100.1"), ip("198.51.100.2")])
    coll = make_collection(
        "everything", description="all intel", alias="all", readers=["HOST-CERT"]
    )
    return ev, coll


def test_discovery_api_root_and_collections(
    world, taxii, instance, make_user, make_collection
) -> None:
    _, coll = world
    server, root = taxii(ADMIN, instance.admin_key)
    assert server.title == "Shieldwall TAXII"
    assert [r.url for r in server.api_roots] == [root.url]
    assert server.default.url == root.url
    assert "application/taxii+json;version=2.1" in root.versions
    assert root.max_content_length > 0
    found = {c.id: c for c in root.collections}
    assert found[coll["uuid"]].title == "everything"
    assert found[coll["uuid"]].alias == "all"
    assert found[coll["uuid"]].can_read and found[coll["uuid"]].can_write  # site admin
    assert found[coll["uuid"]].media_types == ["application/stix+json;version=2.1"]

    # Another organisation lists only what it may read or write, with its own rights.
    reader = make_user("CERT-READ")
    writer = make_user("CERT-WRITE")
    stranger = make_user("CERT-OTHER")
    shared = make_collection("shared", readers=["CERT-READ"], writers=["CERT-WRITE"])
    _, r_root = taxii(reader.email, reader.api.key)
    assert [(c.id, c.can_read, c.can_write) for c in r_root.collections] == [
        (shared["uuid"], True, False)
    ]
    _, w_root = taxii(writer.email, writer.api.key)
    assert [(c.id, c.can_read, c.can_write) for c in w_root.collections] == [
        (shared["uuid"], False, True)
    ]
    _, s_root = taxii(stranger.email, stranger.api.key)
    assert s_root.collections == []
    with pytest.raises(requests.HTTPError) as hidden:
        taxii(stranger.email, stranger.api.key, coll["uuid"]).refresh()
    assert hidden.value.response.status_code == 404


def test_get_objects_filters_and_paging(world, taxii, instance, admin, add_event) -> None:
    ev, coll = world
    c = taxii(ADMIN, instance.admin_key, coll["uuid"])
    everything = c.get_objects()
    ids = _ids(everything)
    attr_uuids = [a["uuid"] for a in ev["Attribute"]]
    assert f"grouping--{ev['uuid']}" in ids or f"report--{ev['uuid']}" in ids
    for u in attr_uuids:
        assert _indicator(u) in ids
    assert everything["more"] is False

    # match[type], match[id] (several, comma-separated), match[spec_version]
    indicators = c.get_objects(type="indicator")
    assert sorted(_ids(indicators)) == sorted(_indicator(u) for u in attr_uuids)
    two = c.get_objects(type=["indicator", "observed-data"])
    assert {o["type"] for o in two["objects"]} == {"indicator", "observed-data"}
    one = c.get_objects(id=_indicator(attr_uuids[0]))
    assert _ids(one) == [_indicator(attr_uuids[0])]
    assert _ids(c.get_objects(spec_version="2.1")) == ids
    assert c.get_objects(spec_version="2.0") == {"more": False}

    # added_after is strictly after, and date_added headers bound the page.
    r = httpx.get(
        c.url + "objects/",
        params={"limit": 3},
        headers={"Accept": TAXII_MEDIA},
        auth=(ADMIN, instance.admin_key),
    )
    assert r.status_code == 200 and r.headers["content-type"] == TAXII_MEDIA
    first, last = r.headers["X-TAXII-Date-Added-First"], r.headers["X-TAXII-Date-Added-Last"]
    assert first < last
    page = r.json()
    assert page["more"] is True and page["next"] and len(page["objects"]) == 3
    after = c.get_objects(added_after=last)
    assert _ids(after) == ids[3:]

    # Paging with as_pages and a small page reaches every object exactly once.
    paged: list[str] = []
    for envelope in as_pages(c.get_objects, per_request=2):
        paged.extend(_ids(envelope))
    assert paged == ids

    # New intel appears at the end, after what was there.
    ev2 = add_event(admin, "later", [ip("198.51.100.99")])
    newer = c.get_objects(added_after=everything and c.get_objects()["objects"][-1] and last)
    assert _indicator(ev2["Attribute"][0]["uuid"]) in _ids(newer)


def test_versions_manifest_object_and_delete(world, taxii, instance, admin) -> None:
    ev, coll = world
    c = taxii(ADMIN, instance.admin_key, coll["uuid"])
    attr = ev["Attribute"][0]
    ind = _indicator(attr["uuid"])
    v1 = c.object_versions(ind)["versions"]
    assert len(v1) == 1
    time.sleep(1.1)  # MISP timestamps are seconds: the edit must be a later second
    r = admin.post(f"/attributes/edit/{attr['uuid']}", json={"comment": "now with a comment"})
    assert r.status_code == 200, r.text
    versions = c.object_versions(ind)["versions"]
    assert len(versions) == 2 and versions[0] == v1[0] and versions[1] > versions[0]

    assert c.get_object(ind)["objects"][0]["modified"] == versions[1]  # default: last
    assert c.get_object(ind, version="first")["objects"][0]["modified"] == versions[0]
    assert len(c.get_object(ind, version="all")["objects"]) == 2
    assert c.get_object(ind, version=versions[0])["objects"][0]["modified"] == versions[0]
    assert len(c.get_objects(id=ind, version="all")["objects"]) == 2
    assert len(c.get_objects(id=ind, version="first,last")["objects"]) == 2

    manifest = c.get_manifest()
    entries = {m["id"]: m for m in manifest["objects"]}
    assert entries[ind]["version"] == versions[1]
    assert entries[ind]["media_type"] == "application/stix+json;version=2.1"
    assert set(entries) == set(_ids(c.get_objects()))
    assert len(c.get_manifest(id=ind, version="all")["objects"]) == 2

    # DELETE of an attribute's rendering deletes the attribute (soft, audited) with it.
    c.delete_object(ind)
    with pytest.raises(requests.HTTPError) as missing:
        c.get_object(ind)
    assert missing.value.response.status_code == 404
    assert ind not in _ids(c.get_objects())
    assert admin.get(f"/attributes/view/{attr['uuid']}").status_code == 404


def test_add_objects_completes_and_reads_back_verbatim(
    world, taxii, instance, make_user, make_collection
) -> None:
    writer = make_user("CERT-W", "publisher")
    coll = make_collection("inbox", readers=["CERT-W"], writers=["CERT-W"])
    objects = _bundle_objects(3)
    objects[0]["x_custom_note"] = {"kept": [1, 2, 3]}
    c = taxii(writer.email, writer.api.key, coll["uuid"])
    status = c.add_objects(
        {"objects": objects}, wait_for_completion=True, poll_interval=0.2, timeout=30
    )
    assert status.status == "complete"
    assert (
        status.total_count,
        status.success_count,
        status.failure_count,
        status.pending_count,
    ) == (
        3,
        3,
        0,
        0,
    )
    assert {s["id"] for s in status.successes} == {o["id"] for o in objects}
    back = c.get_object(objects[0]["id"])["objects"][0]
    assert back == objects[0]
    # The bundle became an event owned by the writer's organisation.
    events = writer.api.get("/events/index").json()
    assert any(e["org_id"] == str(writer.org_id) for e in events)
    # Posting the same objects again keeps one copy of each version.
    again = c.add_objects(
        {"objects": objects[:1]}, wait_for_completion=True, poll_interval=0.2, timeout=30
    )
    assert again.status == "complete"
    assert len(c.get_object(objects[0]["id"], version="all")["objects"]) == 1


def test_add_objects_reports_each_bad_object(taxii, instance, make_collection) -> None:
    coll = make_collection("mixed", readers=["HOST-CERT"], writers=["HOST-CERT"])
    good = _bundle_objects(2)
    bad = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": "2024-01-01T00:00:00.000Z",
    }
    c = taxii(ADMIN, instance.admin_key, coll["uuid"])
    status = c.add_objects(
        {"objects": [*good, bad]}, wait_for_completion=True, poll_interval=0.2, timeout=30
    )
    assert status.status == "complete"
    assert status.success_count == 2 and status.failure_count == 1
    assert status.failures[0]["id"] == bad["id"] and "pattern" in status.failures[0]["message"]
    assert sorted(_ids(c.get_objects(type="indicator"))) == sorted(o["id"] for o in good)


def test_stix2_data_source_and_sink(world, taxii, instance, make_collection) -> None:
    ev, coll = world
    source = stix2.TAXIICollectionSource(taxii(ADMIN, instance.admin_key, coll["uuid"]))
    ind = source.get(_indicator(ev["Attribute"][0]["uuid"]))
    assert ind is not None and "198.51.100.1" in ind.pattern
    found = source.query([stix2.Filter("type", "=", "indicator")])
    assert {o.id for o in found} == {_indicator(a["uuid"]) for a in ev["Attribute"]}

    inbox = make_collection("sink", readers=["HOST-CERT"], writers=["HOST-CERT"])
    sink_coll = taxii(ADMIN, instance.admin_key, inbox["uuid"])
    new = stix2.Indicator(pattern="[domain-name:value = 'sink.example']", pattern_type="stix")
    stix2.TAXIICollectionSink(sink_coll).add(new)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = stix2.TAXIICollectionSource(sink_coll).get(new.id)
        if got is not None:
            break
        time.sleep(0.2)
    assert got is not None and got.pattern == new.pattern


def _raw(url: str, key: str, email: str = ADMIN, **kw: Any) -> httpx.Response:
    headers = {"Accept": TAXII_MEDIA, **kw.pop("headers", {})}
    return httpx.request(kw.pop("method", "GET"), url, headers=headers, auth=(email, key), **kw)


def _error(r: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == TAXII_MEDIA
    body = r.json()
    assert body["http_status"] == str(status) and body["title"] and body["description"]
    if field:
        assert body["details"]["field"] == field
    return dict(body)


def test_media_types_auth_and_bad_requests(world, live_url, instance) -> None:
    _, coll = world
    base = f"{live_url}/taxii2/intel/collections/{coll['uuid']}"
    key = instance.admin_key
    _error(_raw(f"{live_url}/taxii2/", key, headers={"Accept": "application/json"}), 406, "Accept")
    _error(
        _raw(f"{base}/objects/", key, headers={"Accept": "application/taxii+json;version=2.0"}), 406
    )
    assert (
        _raw(f"{live_url}/taxii2/", key, headers={"Accept": "application/taxii+json"}).status_code
        == 200
    )

    # 401 with a Basic challenge; the e-mail must be the key's user's; the key header works too.
    r = httpx.get(f"{live_url}/taxii2/", headers={"Accept": TAXII_MEDIA})
    _error(r, 401)
    assert r.headers["www-authenticate"].startswith("Basic")
    _error(_raw(f"{live_url}/taxii2/", key, email="someone@else.test"), 401)
    _error(_raw(f"{live_url}/taxii2/", "x" * 40), 401)
    assert (
        httpx.get(
            f"{live_url}/taxii2/", headers={"Accept": TAXII_MEDIA, "Authorization": key}
        ).status_code
        == 200
    )

    _error(_raw(f"{live_url}/taxii2/nope/", key), 404, "api_root")
    _error(_raw(f"{live_url}/taxii2/intel/collections/{uuid.uuid4()}/", key), 404, "collection")
    _error(_raw(f"{base}/objects/", key, params={"added_after": "yesterday"}), 400, "added_after")
    _error(
        _raw(f"{base}/objects/", key, params={"match[version]": "newest"}), 400, "match[version]"
    )
    _error(
        _raw(f"{base}/objects/", key, params={"match[spec_version]": "3.0"}),
        400,
        "match[spec_version]",
    )
    _error(_raw(f"{base}/objects/", key, params={"match[id]": "indicator"}), 400, "match[id]")
    _error(_raw(f"{base}/objects/", key, params={"match[colour]": "red"}), 400, "match[colour]")
    _error(_raw(f"{base}/objects/", key, params={"limit": "0"}), 400, "limit")
    _error(_raw(f"{base}/objects/", key, params={"limit": "ten"}), 400, "limit")
    _error(_raw(f"{base}/objects/", key, params={"next": "forged"}), 400, "next")
    # A real next from another set of filters is refused too.
    token = _raw(f"{base}/objects/", key, params={"limit": 1}).json()["next"]
    assert _raw(f"{base}/objects/", key, params={"limit": 1, "next": token}).status_code == 200
    _error(
        _raw(f"{base}/objects/", key, params={"next": token, "match[type]": "indicator"}),
        400,
        "next",
    )
    _error(_raw(f"{base}/manifest/", key, params={"next": token}), 400, "next")
    _error(_raw(f"{base}/objects/indicator--{uuid.uuid4()}/", key), 404, "object_id")
    _error(_raw(f"{base}/objects/indicator--{uuid.uuid4()}/versions/", key), 404, "object_id")
    _error(_raw(f"{live_url}/taxii2/intel/status/{uuid.uuid4()}/", key), 404, "status_id")

    # POST: media type (415), then the envelope's shape (400).
    post = {"method": "POST", "headers": {"Content-Type": TAXII_MEDIA}}
    _error(
        _raw(
            f"{base}/objects/",
            key,
            method="POST",
            headers={"Content-Type": "application/json"},
            content=b"{}",
        ),
        415,
        "Content-Type",
    )
    _error(_raw(f"{base}/objects/", key, content=b"{not json", **post), 400, "body")
    _error(_raw(f"{base}/objects/", key, content=b"[]", **post), 400, "body")
    _error(_raw(f"{base}/objects/", key, content=b'{"objects": []}', **post), 400, "objects")
    _error(_raw(f"{base}/objects/", key, content=b'{"objects": [1]}', **post), 400, "objects[0]")
    r = _raw(f"{base}/objects/", key, json={"objects": _bundle_objects(1)}, **post)
    assert r.status_code == 202 and r.json()["status"] in ("pending", "complete")
    assert r.json()["total_count"] == 1
