"""The real PyMISP against a live Shieldwall: server settings and statistics."""

from __future__ import annotations

from collections.abc import Callable

from pymisp import MISPEvent, MISPTag, PyMISP


def _add(misp: PyMISP, info: str, distribution: int, *values: tuple[str, str]) -> None:
    e = MISPEvent()
    e.info, e.distribution = info, distribution
    e.add_tag("tlp:green")
    for t, v in values:
        e.add_attribute(t, v)
    assert "errors" not in misp.add_event(e)


def test_server_settings_read_and_say_how_to_change(misp: PyMISP) -> None:
    listed = {s["setting"]: s for s in misp.server_settings()["finalSettings"]}
    assert listed["Plugin.Sightings_policy"]["value"] == 0
    assert listed["MISP.unpublishedprivate"]["value"] is False
    one = misp.get_server_setting("MISP.baseurl")
    assert one["value"].startswith("http") and "SHIELDWALL_BASE_URL" in one["description"]
    status, body = misp.set_server_setting("MISP.baseurl", "https://elsewhere.example")["errors"]
    assert status == 422 and "SHIELDWALL_BASE_URL" in body["message"]
    assert misp.get_server_setting("MISP.no_such_setting")["errors"][0] == 404


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
    assert misp.users_statistics("orgs")["errors"][0] == 422
    assert beta.server_settings()["errors"][0] == 403
