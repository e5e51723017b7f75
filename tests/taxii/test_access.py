"""Access rules on every TAXII path: per organisation, sharing group, TLP marking, attribute
and object distribution, collection rights and saved searches, read-only keys."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import requests
from taxii2client.exceptions import AccessError

from tests.taxii.conftest import TAXII_MEDIA, ip


def _ids(envelope: dict[str, Any]) -> set[str]:
    return {o["id"] for o in envelope.get("objects", [])}


def _container(envelope: dict[str, Any], event_uuid: str) -> dict[str, Any] | None:
    for o in envelope.get("objects", []):
        if o["type"] in ("report", "grouping") and o["id"].endswith(event_uuid):
            return dict(o)
    return None


@pytest.fixture
def orgs(make_user):  # type: ignore[no-untyped-def]
    return {
        "A": make_user("CERT-A", "org-admin"),
        "B": make_user("CERT-B", "org-admin"),
        "C": make_user("CERT-C", "org-admin"),
    }


@pytest.fixture
def open_collection(make_collection):  # type: ignore[no-untyped-def]
    return make_collection("open", readers=["CERT-A", "CERT-B", "CERT-C"], writers=["CERT-A"])


def _read(taxii: Any, member: Any, coll: dict[str, Any]) -> dict[str, Any]:
    return dict(taxii(member.email, member.api.key, coll["uuid"]).get_objects())


def test_attribute_distribution_and_tlp_hide_renderings_and_references(
    orgs, open_collection, add_event, taxii
) -> None:
    a, b = orgs["A"], orgs["B"]
    ev = add_event(
        a.api,
        "mixed audience",
        [
            ip("192.0.2.1"),
            ip("192.0.2.2", distribution=0),
            ip("192.0.2.3", distribution=0, Tag=[{"name": "tlp:red"}]),
        ],
    )
    public, private, red = (x["uuid"] for x in ev["Attribute"])
    mine = _read(taxii, a, open_collection)
    theirs = _read(taxii, b, open_collection)
    for u in (public, private, red):
        assert f"indicator--{u}" in _ids(mine)
        assert f"ipv4-addr--{u}" in _ids(mine)
    assert f"indicator--{public}" in _ids(theirs)
    for u in (private, red):
        hidden = {i for i in _ids(mine) if i.endswith(u)}
        assert hidden and not hidden & _ids(theirs), u
        # not through the container's object_refs, the manifest, by id or as versions
        refs = _container(theirs, ev["uuid"])["object_refs"]  # type: ignore[index]
        assert not [r for r in refs if r.endswith(u)]
        c = taxii(b.email, b.api.key, open_collection["uuid"])
        assert not {m["id"] for m in c.get_manifest().get("objects", [])} & hidden
        for ident in hidden:
            with pytest.raises(requests.HTTPError):
                c.get_object(ident)
            with pytest.raises(requests.HTTPError):
                c.object_versions(ident)
    # Relationships are shown only when both ends are.
    for o in theirs["objects"]:
        if o["type"] == "relationship":
            assert o["source_ref"] in _ids(theirs) and o["target_ref"] in _ids(theirs)
    # The owner's container lists everything.
    assert {f"indicator--{u}" for u in (public, private, red)} <= set(
        _container(mine, ev["uuid"])["object_refs"]  # type: ignore[index]
    )


def test_event_distribution_and_sharing_groups(orgs, open_collection, add_event, taxii) -> None:
    a, c = orgs["A"], orgs["C"]
    r = a.api.post(
        "/api/v1/sharing-groups", json={"name": "A and C", "members": [{"org": "CERT-C"}]}
    )
    assert r.status_code == 201, r.text
    sg = r.json()
    own = add_event(a.api, "own org only", [ip("192.0.2.10")], distribution=0)
    grouped = add_event(
        a.api, "A and C", [ip("192.0.2.11")], distribution=4, sharing_group_id=sg["id"]
    )
    in_group_attr = add_event(
        a.api,
        "community event, one attribute for A and C, one marked tlp:red for A and C",
        [
            ip("192.0.2.12"),
            ip("192.0.2.13", distribution=4, sharing_group_id=sg["id"]),
            ip("192.0.2.14", distribution=4, sharing_group_id=sg["id"], Tag=[{"name": "tlp:red"}]),
        ],
    )
    seen = {name: _ids(_read(taxii, m, open_collection)) for name, m in orgs.items()}

    def has(name: str, event: dict[str, Any], index: int = 0) -> bool:
        return f"indicator--{event['Attribute'][index]['uuid']}" in seen[name]

    assert has("A", own) and not has("B", own) and not has("C", own)
    assert has("A", grouped) and has("C", grouped) and not has("B", grouped)
    assert has("B", in_group_attr, 0) and not has("B", in_group_attr, 1)
    assert has("C", in_group_attr, 1)
    assert has("C", in_group_attr, 2) and not has("B", in_group_attr, 2)
    # Nothing of the event for A alone reaches B or C, its container included.
    assert not any(i.endswith(own["uuid"]) for i in seen["B"] | seen["C"])
    # Lowering the distribution takes effect on the next read.
    r = a.api.post(
        f"/events/edit/{grouped['uuid']}", json={"info": "A only now", "distribution": 0}
    )
    assert r.status_code == 200, r.text
    assert f"indicator--{grouped['Attribute'][0]['uuid']}" not in _ids(
        _read(taxii, c, open_collection)
    )


def test_misp_object_with_a_hidden_attribute_is_hidden(
    orgs, open_collection, add_event, taxii
) -> None:
    a, b = orgs["A"], orgs["B"]
    ev = add_event(
        a.api,
        "object with a private part",
        [],
        Object=[
            {
                "name": "domain-ip",
                "meta-category": "network",
                "distribution": 5,
                "Attribute": [
                    {"type": "domain", "object_relation": "domain", "value": "shown.example"},
                    {
                        "type": "ip-dst",
                        "object_relation": "ip",
                        "value": "192.0.2.40",
                        "distribution": 0,
                    },
                ],
            }
        ],
    )
    obj_uuid = ev["Object"][0]["uuid"]
    mine, theirs = _read(taxii, a, open_collection), _read(taxii, b, open_collection)
    rendered = {i for i in _ids(mine) if i.endswith(obj_uuid)}
    assert rendered
    assert not rendered & _ids(theirs)
    assert "192.0.2.40" not in str(theirs)
    assert "192.0.2.40" in str(mine)


def test_collection_rights_searches_and_keys(
    orgs, make_collection, add_event, taxii, admin, live_url
) -> None:
    a, b, c = orgs["A"], orgs["B"], orgs["C"]
    tagged = add_event(a.api, "tagged", [ip("192.0.2.50")], Tag=[{"name": "shared:taxii"}])
    plain = add_event(
        b.api,
        "plain",
        [
            ip("192.0.2.51"),
            {
                "type": "domain",
                "value": "x.example",
                "category": "Network activity",
                "to_ids": True,
            },
        ],
    )
    by_tag = make_collection("by tag", tags=["shared:taxii"], readers=["CERT-A", "CERT-B"])
    by_org = make_collection("by org", orgs=["CERT-B"], readers=["CERT-A"])
    by_type = make_collection("domains", types=["domain"], readers=["CERT-A"])
    published = make_collection("published", published_only=True, readers=["CERT-A"])
    write_only = make_collection("drop box", writers=["CERT-C"])

    def ind(event: dict[str, Any], i: int = 0) -> str:
        return f"indicator--{event['Attribute'][i]['uuid']}"

    tag_ids = _ids(_read(taxii, b, by_tag))
    assert ind(tagged) in tag_ids and ind(plain) not in tag_ids
    org_ids = _ids(_read(taxii, a, by_org))
    assert ind(plain) in org_ids and ind(tagged) not in org_ids
    by_type_page = _read(taxii, a, by_type)
    type_ids = _ids(by_type_page)
    assert ind(plain, 1) in type_ids and ind(plain, 0) not in type_ids
    assert not [i for i in type_ids if i.startswith(("grouping--", "report--"))]
    # The identity the domain's objects name as their creator comes with them.
    creators = {o.get("created_by_ref") for o in by_type_page["objects"]} - {None}
    assert creators and creators <= set(type_ids)
    assert {i for i in type_ids if i.startswith("identity--")} == creators
    assert ind(tagged) not in _ids(_read(taxii, a, published))
    assert b.api.post(f"/events/publish/{plain['uuid']}").status_code == 200
    assert ind(plain) in _ids(_read(taxii, a, published))

    # A writer that may not read gets 403 on reads; nobody else even sees the collection.
    with pytest.raises(AccessError):
        _read(taxii, c, write_only)
    r = httpx.get(
        f"{live_url}/taxii2/intel/collections/{write_only['uuid']}/objects/",
        headers={"Accept": TAXII_MEDIA},
        auth=(c.email, c.api.key),
    )
    assert r.status_code == 403 and r.json()["http_status"] == "403"
    with pytest.raises(requests.HTTPError) as hidden:
        _read(taxii, c, by_tag)
    assert hidden.value.response.status_code == 404
    # A reader may not write; a read-only key may not write even where its org may.
    body = {
        "objects": [
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": f"indicator--{uuid.uuid4()}",
                "created": "2024-01-01T00:00:00.000Z",
                "modified": "2024-01-01T00:00:00.000Z",
                "pattern": "[ipv4-addr:value = '192.0.2.99']",
                "pattern_type": "stix",
                "valid_from": "2024-01-01T00:00:00Z",
            }
        ]
    }
    post_headers = {"Accept": TAXII_MEDIA, "Content-Type": TAXII_MEDIA}
    url = f"{live_url}/taxii2/intel/collections/{by_tag['uuid']}/objects/"
    r = httpx.post(url, json=body, headers=post_headers, auth=(b.email, b.api.key))
    assert r.status_code == 403 and r.json()["http_status"] == "403"
    ro = a.api.post("/api/v1/keys", json={"read_only": True}).json()["key"]
    inbox = make_collection("a inbox", readers=["CERT-A"], writers=["CERT-A"])
    url = f"{live_url}/taxii2/intel/collections/{inbox['uuid']}/objects/"
    assert httpx.post(url, json=body, headers=post_headers, auth=(a.email, ro)).status_code == 403
    ok = httpx.post(url, json=body, headers=post_headers, auth=(a.email, a.api.key))
    assert ok.status_code == 202
    # Another organisation cannot read the status of A's POST.
    status_url = f"{live_url}/taxii2/intel/status/{ok.json()['id']}/"
    assert (
        httpx.get(
            status_url, headers={"Accept": TAXII_MEDIA}, auth=(b.email, b.api.key)
        ).status_code
        == 404
    )
    assert (
        httpx.get(
            status_url, headers={"Accept": TAXII_MEDIA}, auth=(a.email, a.api.key)
        ).status_code
        == 200
    )
    assert (
        httpx.delete(
            f"{url}{ind(tagged)}/", headers={"Accept": TAXII_MEDIA}, auth=(a.email, ro)
        ).status_code
        == 403
    )


def test_delete_needs_edit_rights_on_the_event(orgs, make_collection, add_event, taxii) -> None:
    a, b = orgs["A"], orgs["B"]
    both = make_collection("both write", readers=["CERT-A", "CERT-B"], writers=["CERT-A", "CERT-B"])
    ev = add_event(a.api, "A's", [ip("192.0.2.60")])
    ind = f"indicator--{ev['Attribute'][0]['uuid']}"
    with pytest.raises(requests.HTTPError) as refused:
        taxii(b.email, b.api.key, both["uuid"]).delete_object(ind)
    assert refused.value.response.status_code == 403
    assert ind in _ids(_read(taxii, b, both))


def test_collection_admin_api_is_audited_and_for_site_admins(admin, orgs) -> None:
    a = orgs["A"]
    r = a.api.post("/api/v1/taxii/collections", json={"title": "mine"})
    assert r.status_code == 403
    r = admin.post("/api/v1/taxii/collections", json={"title": "t", "readers": ["NO-SUCH"]})
    assert r.status_code == 422 and r.json()["field"] == "readers[0]"
    r = admin.post("/api/v1/taxii/collections", json={"title": "t", "types": ["not-a-type"]})
    assert r.status_code == 422 and r.json()["field"] == "types[0]"
    made = admin.post(
        "/api/v1/taxii/collections", json={"title": "t", "readers": ["CERT-A"]}
    ).json()
    assert admin.post("/api/v1/taxii/collections", json={"title": "t"}).status_code == 409
    listed = a.api.get("/api/v1/taxii/collections").json()["items"]
    assert [(x["uuid"], x["can_read"], x["can_write"]) for x in listed] == [
        (made["uuid"], True, False)
    ]
    r = admin.patch(f"/api/v1/taxii/collections/{made['uuid']}", json={"writers": ["CERT-A"]})
    assert r.status_code == 200 and r.json()["writers"] == [a.org_id]
    assert a.api.get("/api/v1/taxii/collections").json()["items"][0]["can_write"] is True
    assert admin.delete(f"/api/v1/taxii/collections/{made['id']}").status_code == 204
    assert a.api.get("/api/v1/taxii/collections").json()["items"] == []
    audit = admin.get("/api/v1/audit", params={"model": "TaxiiCollection"})
    assert audit.status_code == 200
    assert {"create", "update", "delete"} <= {e["action"] for e in audit.json()["items"]}


def test_paging_past_what_a_reader_may_not_see(
    orgs, open_collection, add_event, taxii, monkeypatch
) -> None:
    """Pages read the collection a slice at a time; a slice of objects hidden from the reader
    gives a short (even empty) page with `more`, and paging on reaches everything visible
    exactly once."""
    a, b = orgs["A"], orgs["B"]
    add_event(a.api, "hidden", [ip(f"192.0.2.{i}") for i in range(150, 160)], distribution=0)
    shown = add_event(a.api, "shown", [ip("192.0.2.170"), ip("192.0.2.171")])
    add_event(a.api, "hidden too", [ip(f"192.0.2.{i}") for i in range(180, 190)], distribution=0)
    c = taxii(b.email, b.api.key, open_collection["uuid"])
    everything = [o["id"] for o in c.get_objects(limit=1000)["objects"]]
    assert {f"indicator--{x['uuid']}" for x in shown["Attribute"]} <= set(everything)
    monkeypatch.setattr("shieldwall.taxii.query.SLICES", 1)
    paged: list[str] = []
    pages = 0
    envelope = c.get_objects(limit=3)
    while True:
        pages += 1
        paged.extend(o["id"] for o in envelope.get("objects", []))
        if not envelope.get("more"):
            break
        envelope = c.get_objects(limit=3, next=envelope["next"])
    assert paged == everything
    assert pages > len(everything) / 3  # short pages were given
