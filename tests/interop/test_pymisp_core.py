"""The real PyMISP, unmodified, against a live Shieldwall: connect, add, view, search."""

from __future__ import annotations

from pymisp import MISPAttribute, MISPEvent, PyMISP


def test_connect_reads_user_role_and_types(misp: PyMISP) -> None:
    me = misp.get_user("me", pythonify=True)
    assert me.email == "admin@host.test"
    assert misp._current_role.perm_site_admin is True
    assert len(misp.describe_types["types"]) == 194


def test_add_view_and_search(misp: PyMISP, make_user) -> None:  # type: ignore[no-untyped-def]
    event = MISPEvent()
    event.info = "PyMISP tour"
    event.distribution = 1
    event.add_tag("tlp:green")
    event.add_attribute("ip-dst", "203.0.113.9")
    event.add_attribute("domain", "Tour.Example")
    created = misp.add_event(event, pythonify=True)
    assert isinstance(created, MISPEvent), created
    assert {a.value for a in created.attributes} == {"203.0.113.9", "tour.example"}
    fetched = misp.get_event(created.id, pythonify=True)
    assert fetched.uuid == created.uuid and fetched.tags[0].name == "tlp:green"
    assert misp.event_exists(created.uuid) is True
    hits = misp.search(controller="attributes", value="tour.example", pythonify=True)
    assert [h.value for h in hits] == ["tour.example"]
    assert isinstance(hits[0], MISPAttribute)
    events = misp.search(controller="events", value="203.0.113.9", pythonify=True)
    assert [e.uuid for e in events] == [created.uuid]
    assert misp.search(controller="attributes", value="198.51.100.1", pythonify=True) == []


def test_org_only_event_invisible_to_other_org(live_url: str, make_user) -> None:  # type: ignore[no-untyped-def]
    alpha = make_user("ALPHA", "publisher")
    beta = make_user("BETA", "user")
    a = PyMISP(live_url, alpha.api.key, ssl=False)
    b = PyMISP(live_url, beta.api.key, ssl=False)
    secret = MISPEvent()
    secret.info = "alpha only"
    secret.distribution = 0
    secret.add_attribute("ip-dst", "192.0.2.77")
    created = a.add_event(secret, pythonify=True)
    assert b.event_exists(created.uuid) is False
    assert "errors" in b.get_event(created.id)
    assert b.search(controller="attributes", value="192.0.2.77", pythonify=True) == []
    assert b.search(controller="events", value="192.0.2.77", pythonify=True) == []


def test_bad_input_gets_misp_shaped_error(misp: PyMISP) -> None:
    event = MISPEvent()
    event.info = "bad"
    event.add_attribute("ip-dst", "not-an-ip")
    answer = misp.add_event(event)
    assert "errors" in answer
    status, body = answer["errors"]
    assert status == 422 and "ip-dst" in body["message"]
