"""Taxonomies, warninglists and galaxies in the native API."""

from __future__ import annotations


def test_warninglist_check_follows_enabled_lists(admin, make_user) -> None:  # type: ignore[no-untyped-def]
    lists = admin.get("/api/v1/warninglists").json()
    resolvers = next(w for w in lists if w["name"] == "List of known IPv4 public DNS resolvers")
    assert resolvers["enabled"] is False and resolvers["type"] == "cidr"
    check = {"values": ["8.8.8.8", "192.0.2.1"]}
    assert admin.post("/api/v1/warninglists/check", json=check).json() == {"hits": {}}
    r = admin.patch(f"/api/v1/warninglists/{resolvers['id']}", json={"enabled": True})
    assert r.status_code == 200 and r.json()["enabled"] is True
    hits = admin.post("/api/v1/warninglists/check", json=check).json()["hits"]
    assert list(hits) == ["8.8.8.8"] and hits["8.8.8.8"][0]["id"] == resolvers["id"]
    user = make_user("ALPHA", "org admin")
    assert user.api.post("/api/v1/warninglists/check", json=check).json()["hits"] == hits
    r = user.api.patch(f"/api/v1/warninglists/{resolvers['id']}", json={"enabled": False})
    assert r.status_code == 403
    bad = admin.post("/api/v1/warninglists/check", json={"values": []})
    assert bad.status_code == 422 and "values" in bad.text


def test_taxonomy_switch_and_entries(admin) -> None:  # type: ignore[no-untyped-def]
    tlp = admin.get("/api/v1/taxonomies/tlp").json()
    assert tlp["enabled"] is False
    assert "tlp:amber+strict" in {e["tag"] for e in tlp["entries"]}
    r = admin.patch(f"/api/v1/taxonomies/{tlp['id']}", json={"enabled": True})
    assert r.json()["enabled"] is True
    assert admin.get("/api/v1/taxonomies/no-such-namespace").status_code == 404


def test_attach_cluster_to_event_and_attribute(admin) -> None:  # type: ignore[no-untyped-def]
    techniques = admin.get("/api/v1/galaxies", params={"q": "attack pattern"}).json()
    attack = next(g for g in techniques if g["type"] == "mitre-attack-pattern")
    found = admin.get(
        f"/api/v1/galaxies/{attack['id']}/clusters", params={"q": "spearphishing attachment"}
    ).json()
    cluster = next(c for c in found if c["value"].startswith("Spearphishing Attachment"))
    assert cluster["tag_name"].startswith('misp-galaxy:mitre-attack-pattern="Spearphishing')
    event = admin.post(
        "/api/v1/events",
        json={"info": "phish", "attributes": [{"type": "domain", "value": "phish.example"}]},
    ).json()
    r = admin.post(
        f"/api/v1/events/{event['id']}/galaxy-clusters", json={"cluster": cluster["uuid"]}
    )
    assert r.status_code == 200 and r.json() == {"tag": cluster["tag_name"], "added": True}
    tags = [t["name"] for t in admin.get(f"/api/v1/events/{event['id']}").json()["tags"]]
    assert tags == [cluster["tag_name"]]
    attr_id = admin.get(f"/api/v1/events/{event['id']}").json()["attributes"][0]["id"]
    r = admin.post(
        f"/api/v1/attributes/{attr_id}/galaxy-clusters",
        json={"cluster": str(cluster["id"]), "local": True},
    )
    assert r.status_code == 200
    missing = admin.post(
        f"/api/v1/events/{event['id']}/galaxy-clusters", json={"cluster": "99999999"}
    )
    assert missing.status_code == 404
