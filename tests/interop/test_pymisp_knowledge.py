"""The real PyMISP against a live Shieldwall: taxonomies, warninglists and galaxies from the
MISP community packages."""

from __future__ import annotations

from collections.abc import Callable

from pymisp import MISPEvent, MISPGalaxy, MISPGalaxyCluster, MISPTaxonomy, PyMISP


def test_taxonomies(misp: PyMISP) -> None:
    listed = misp.taxonomies(pythonify=True)
    assert all(isinstance(t, MISPTaxonomy) for t in listed)
    by_ns = {t.namespace: t for t in listed}
    assert {"tlp", "admiralty-scale", "workflow"} <= set(by_ns)
    tlp = by_ns["tlp"]
    assert tlp.enabled is False
    full = misp.get_taxonomy(tlp.id)
    tags = {e["tag"] for e in full["entries"]}
    assert {"tlp:red", "tlp:amber", "tlp:green", "tlp:clear"} <= tags
    assert misp.enable_taxonomy(tlp.id)["success"] is True
    assert misp.get_taxonomy(tlp.id, pythonify=True).enabled is True
    created = misp.enable_taxonomy_tags(tlp.id)
    assert created["success"] is True
    names = {t.name for t in misp.tags(pythonify=True)}
    assert {"tlp:red", "tlp:amber+strict"} <= names
    assert misp.set_taxonomy_required(tlp.id, True)["success"] is True
    assert misp.get_taxonomy(tlp.id)["Taxonomy"]["required"] is True
    assert misp.disable_taxonomy(tlp.id)["success"] is True
    assert misp.get_taxonomy(tlp.id, pythonify=True).enabled is False
    hidden = {t.name: t.hide_tag for t in misp.tags(pythonify=True)}
    assert hidden["tlp:red"] is True  # disabling hides its tags, as MISP does
    assert misp.update_taxonomies()["success"] is True
    assert misp.get_taxonomy(999999)["errors"][0] == 404


def test_warninglists(misp: PyMISP) -> None:
    listed = misp.warninglists(pythonify=True)
    names = {w.name: w for w in listed}
    resolvers = names["List of known IPv4 public DNS resolvers"]
    assert resolvers.enabled is False
    assert misp.values_in_warninglist(["8.8.8.8"]) == []  # nothing enabled: no hits
    assert misp.enable_warninglist(resolvers.id)["saved"] is True
    hits = misp.values_in_warninglist(["8.8.8.8", "192.0.2.1"])
    assert list(hits) == ["8.8.8.8"]
    assert hits["8.8.8.8"][0]["name"] == resolvers.name
    full = misp.get_warninglist(resolvers.id, pythonify=True)
    assert full.enabled is True and full.type == "cidr"
    entries = misp.get_warninglist(resolvers.id)["Warninglist"]["WarninglistEntry"]
    assert any(e["value"].startswith("8.8.8.8") for e in entries)
    assert misp.disable_warninglist(resolvers.id)["saved"] is True
    assert misp.values_in_warninglist(["8.8.8.8"]) == []
    by_name = misp.toggle_warninglist(warninglist_name=resolvers.name, force_enable=True)
    assert by_name["saved"] is True
    assert misp.toggle_warninglist(warninglist_id=999999)["errors"][0] == 404


def test_galaxies_clusters_and_attaching(misp: PyMISP) -> None:
    listed = misp.galaxies(pythonify=True)
    assert all(isinstance(g, MISPGalaxy) for g in listed)
    by_type = {g.type: g for g in listed}
    assert {"threat-actor", "mitre-attack-pattern", "mitre-intrusion-set"} <= set(by_type)
    found = misp.search_galaxy("threat actor")
    assert "threat-actor" in {g["Galaxy"]["type"] for g in found}
    actors = by_type["threat-actor"]
    clusters = misp.search_galaxy_clusters(actors.id, searchall="APT1", pythonify=True)
    apt1 = next(c for c in clusters if c.value == "APT1")
    assert isinstance(apt1, MISPGalaxyCluster)
    assert apt1.tag_name == 'misp-galaxy:threat-actor="APT1"'
    again = misp.get_galaxy_cluster(apt1.id, pythonify=True)
    assert again.uuid == apt1.uuid and again.value == "APT1"
    by_uuid = misp.get_galaxy_cluster(apt1.uuid)
    assert by_uuid["GalaxyCluster"]["id"] == str(apt1.id)
    e = MISPEvent()
    e.info = "attributed"
    e.add_attribute("domain", "apt1.example")
    event = misp.add_event(e, pythonify=True)
    answer = misp.attach_galaxy_cluster(event, apt1)
    assert answer["saved"] is True, answer
    view = misp.get_event(event.id, pythonify=True)
    assert apt1.tag_name in {t.name for t in view.tags}
    galaxy = next(g for g in view.galaxies if g.type == "threat-actor")
    assert [c.value for c in galaxy.clusters] == ["APT1"]
    attr = view.attributes[0]
    assert misp.attach_galaxy_cluster(attr, apt1, local=True)["saved"] is True
    tags = misp.get_event(event.id, pythonify=True).attributes[0].tags
    assert [(t.name, t.local) for t in tags] == [(apt1.tag_name, True)]
    full = misp.get_galaxy(actors.id, withCluster=True, pythonify=True)
    assert len(full.clusters) > 100
    assert misp.get_galaxy_cluster(99999999)["errors"][0] == 404


def test_only_site_admins_change_knowledge(misp_as: Callable[[str, str], PyMISP]) -> None:
    org_admin = misp_as("ALPHA", "org admin")
    taxonomy = org_admin.taxonomies()[0]["Taxonomy"]
    assert org_admin.enable_taxonomy(taxonomy["id"])["errors"][0] == 403
    assert org_admin.update_taxonomies()["errors"][0] == 403
    wl = org_admin.warninglists()[0]["Warninglist"]
    assert org_admin.enable_warninglist(wl["id"])["errors"][0] == 403
    assert org_admin.update_galaxies()["errors"][0] == 403
    assert org_admin.values_in_warninglist(["example.com"]) == []
