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
    status, body = misp.set_server_setting("Plugin.Sightings_policy", 1)["errors"]
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
    status, body = misp.set_server_setting("MISP.enable_advanced_correlations", "perhaps")[
        "errors"
    ]
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
