"""The real PyMISP against a live Shieldwall: server settings and statistics."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from pymisp import MISPEvent, MISPTag, PyMISP


def _add(misp: PyMISP, info: str, distribution: int, *values: tuple[str, str]) -> None:
    e = MISPEvent()
    e.info, e.distribution = info, distribution
    e.add_tag("tlp:green")
    for t, v in values:
        e.add_attribute(t, v)
    assert "errors" not in misp.add_event(e)


def test_server_settings_read_with_their_source(misp: PyMISP) -> None:
    listed = {s["setting"]: s for s in misp.server_settings()["finalSettings"]}
    assert listed["Plugin.Sightings_policy"]["value"] == 0
    assert listed["MISP.unpublishedprivate"]["value"] is False
    assert listed["MISP.correlation_limit"]["editable"] is True
    assert listed["MISP.correlation_limit"]["source"] == "default"
    secret = listed["Shieldwall.secret_key"]
    assert secret["redacted"] is True and secret["value"].startswith("********")
    one = misp.get_server_setting("MISP.baseurl")
    assert one["value"].startswith("http") and "SHIELDWALL_BASE_URL" in one["description"]
    assert one["editable"] is False
    status, body = misp.get_server_setting("MISP.no_such_setting")["errors"]
    assert status == 404 and "MISP.no_such_setting is invalid" in body["message"]


def test_runtime_settings_change_at_once_and_are_audited(
    misp: PyMISP, misp_as: Callable[[str, str], PyMISP], live_url: str
) -> None:
    answer = misp.set_server_setting("MISP.correlation_limit", 7)
    assert answer["success"] is True and answer["saved"] is True
    now = misp.get_server_setting("MISP.correlation_limit")
    assert (now["value"], now["source"]) == (7, "database")
    assert misp.set_server_setting("Shieldwall.ssdeep_threshold", "55")["success"] is True
    assert misp.get_server_setting("MISP.ssdeep_correlation_threshold")["value"] == 55
    # The sightings policy takes effect on the next request: another org's sighting shows.
    alpha = misp_as("ALPHA", "publisher")
    beta = misp_as("BETA", "user")
    e = MISPEvent()
    e.info, e.distribution = "sighted", 1
    e.add_attribute("ip-dst", "203.0.113.9")
    created = alpha.add_event(e, pythonify=True)
    attr = created.attributes[0]
    assert "errors" not in misp.add_sighting({"value": "203.0.113.9"})
    assert beta.sightings(attr) == []
    assert misp.set_server_setting("Plugin.Sightings_policy", 2)["success"] is True
    assert len(beta.sightings(attr)) == 1
    assert misp.get_server_setting("Plugin.Sightings_policy")["value"] == 2
    # 3: the owner's rule plus the host organisation's sightings (the admin's organisation).
    assert misp.set_server_setting("Plugin.Sightings_policy", 3)["success"] is True
    assert misp.get_server_setting("Plugin.Sightings_policy")["value"] == 3
    assert len(beta.sightings(attr)) == 1
    # 1: sighting reporters read the event's sightings; BETA has reported none yet.
    assert misp.set_server_setting("Plugin.Sightings_policy", 1)["success"] is True
    assert beta.sightings(attr) == []
    assert "errors" not in beta.add_sighting({"value": "203.0.113.9"})
    assert len(beta.sightings(attr)) == 2
    assert misp.set_server_setting("Plugin.Sightings_policy", 0)["success"] is True
    assert len(beta.sightings(attr)) == 1  # its own only
    status, body = misp.set_server_setting("Plugin.Sightings_policy", 5)["errors"]
    assert status == 422 and "value" in body["errors"]
    changes = httpx.get(
        f"{live_url}/api/v1/audit", params={"model": "Setting"}, headers={"Authorization": misp.key}
    ).json()["items"]
    assert {c["change"]["name"] for c in changes} >= {
        "correlation_cap",
        "ssdeep_threshold",
        "sighting_policy",
    }


def test_setting_writes_refused_with_reasons(
    misp: PyMISP, misp_as: Callable[[str, str], PyMISP]
) -> None:
    status, body = misp.set_server_setting("MISP.baseurl", "https://elsewhere.example")["errors"]
    assert status == 405 and "SHIELDWALL_BASE_URL" in body["message"]
    status, body = misp.set_server_setting("Shieldwall.database_url", "sqlite://")["errors"]
    assert status == 405 and "restart" in body["message"]
    status, body = misp.set_server_setting("Shieldwall.port", 9000)["errors"]
    assert status == 405 and "port" in body["message"]
    status, body = misp.set_server_setting("MISP.no_such_setting", 1)["errors"]
    assert status == 404 and body["success"] is False
    status, body = misp.set_server_setting("MISP.correlation_limit", "many")["errors"]
    assert status == 422 and "value" in body["errors"]
    status, body = misp.set_server_setting("MISP.correlation_limit", 0)["errors"]
    assert status == 422 and "value" in body["errors"]
    status, body = misp.set_server_setting("MISP.enable_advanced_correlations", "perhaps")["errors"]
    assert status == 422
    org_admin = misp_as("ALPHA", "org admin")
    status, _ = org_admin.set_server_setting("MISP.correlation_limit", 5)["errors"]
    assert status == 403
    assert misp.get_server_setting("MISP.correlation_limit")["value"] == 100


def test_statistics_count_what_the_caller_may_read(
    misp: PyMISP, misp_as: Callable[[str, str], PyMISP]
) -> None:
    tag = MISPTag()
    tag.name = "tlp:green"
    assert "errors" not in misp.add_tag(tag)  # users attach tags; site admins create them
    alpha = misp_as("ALPHA", "user")
    beta = misp_as("BETA", "user")
    _add(alpha, "shared", 1, ("ip-dst", "192.0.2.1"), ("domain", "a.example"))
    _add(alpha, "private", 0, ("ip-dst", "192.0.2.2"), ("md5", "d41d8cd98f00b204e9800998ecf8427e"))
    mine = alpha.users_statistics()["stats"]
    theirs = beta.users_statistics()["stats"]
    assert (mine["event_count"], mine["attribute_count"]) == (2, 4)
    assert (theirs["event_count"], theirs["attribute_count"]) == (1, 2)
    assert beta.attributes_statistics("type") == {"domain": "1", "ip-dst": "1"}
    assert alpha.attributes_statistics("type") == {"domain": "1", "ip-dst": "2", "md5": "1"}
    assert alpha.attributes_statistics("category", percentage=True)["Network activity"] == "75.0%"
    assert beta.tags_statistics() == {"tlp:green": 1}
    assert alpha.tags_statistics() == {"tlp:green": 2}
    assert beta.server_settings()["errors"][0] == 403


ATTACK_TAG = 'misp-galaxy:mitre-attack-pattern="Gather Victim Network Information - T1590"'


def test_statistics_contexts_count_only_what_the_caller_may_read(
    misp: PyMISP, misp_as: Callable[[str, str], PyMISP]
) -> None:
    for name in ("tlp:green", ATTACK_TAG):
        tag = MISPTag()
        tag.name = name
        assert "errors" not in misp.add_tag(tag)
    alpha = misp_as("ALPHA", "publisher")
    beta = misp_as("BETA", "user")
    shared = MISPEvent()
    shared.info, shared.distribution = "shared", 1
    shared.add_tag("tlp:green")
    shared.add_attribute("ip-dst", "192.0.2.1")
    shared.add_attribute("domain", "a.example")
    shared = alpha.add_event(shared, pythonify=True)
    private = MISPEvent()
    private.info, private.distribution = "private", 0
    private.add_tag(ATTACK_TAG)
    private.add_attribute("ip-dst", "192.0.2.2")
    private.add_attribute("md5", "d41d8cd98f00b204e9800998ecf8427e")
    private = alpha.add_event(private, pythonify=True)

    orgs_beta = beta.users_statistics("orgs")
    orgs_alpha = alpha.users_statistics("orgs")
    assert (orgs_beta["ALPHA"]["eventCount"], orgs_beta["ALPHA"]["attributeCount"]) == (1, 2)
    assert (orgs_alpha["ALPHA"]["eventCount"], orgs_alpha["ALPHA"]["attributeCount"]) == (2, 4)
    assert "userCount" not in orgs_beta["ALPHA"] and orgs_beta["BETA"]["userCount"] == 1
    assert misp.users_statistics("orgs")["ALPHA"]["userCount"] == 1

    assert beta.users_statistics("users")["user"]["data"]["total"] == 1
    assert misp.users_statistics("users")["user"]["data"]["total"] == 3
    assert misp.users_statistics("users")["org_local"]["data"]["total"] >= 3

    histogram = beta.users_statistics("attributehistogram")
    assert histogram == [
        {"data": {"domain": 1, "ip-dst": 1}, "org_name": "All organisations", "total": 2},
        {"data": {"domain": 1, "ip-dst": 1}, "org_name": "ALPHA", "total": 2},
    ]
    assert alpha.users_statistics("attributehistogram")[0]["total"] == 4

    ip = next(a for a in shared.attributes if a.type == "ip-dst")
    assert "errors" not in alpha.add_sighting({"id": ip.id, "source": "sensor-1"})
    assert "errors" not in alpha.add_sighting({"id": ip.id, "source": "sensor-1", "type": "1"})
    assert "errors" not in beta.add_sighting({"id": ip.id})
    mine = alpha.users_statistics("sightings")
    assert mine["toplist"] == {"sensor-1": 2}
    event_ids = [str(shared.id)]
    assert mine["eventids"] == {"sensor-1": {"sighting": event_ids, "false-positive": event_ids}}
    assert beta.users_statistics("sightings")["toplist"] == {"Undefined": 1}

    theirs = beta.users_statistics("galaxyMatrix")
    ours = alpha.users_statistics("galaxyMatrix")
    assert ours["scores"] == {ATTACK_TAG: 1}
    assert theirs["scores"] == {}  # the tagged event is ALPHA's own
    recon = ours["matrix"]["attack-PRE"]["reconnaissance"]
    assert recon[0]["tag_name"] == ATTACK_TAG and recon[0]["external_id"] == "T1590"
    assert ours["instance-uuid"]

    assert beta.users_statistics("tags")["flatData"] == {
        "custom": {"tlp:green": {"name": "tlp:green", "size": 1}}
    }
    status, body = misp.direct_call("users/statistics/nonsense")["errors"]
    assert status == 404 and "galaxyMatrix" in body["message"]
