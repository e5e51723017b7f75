"""The real PyMISP, unmodified, against a live Shieldwall: MISP's sighting calls (add by
attribute and by value, listSightings, delete, restSearch), their access rules and errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pymisp import MISPAttribute, MISPEvent, MISPSighting, PyMISP

from shieldwall.auth import service as auth
from shieldwall.auth.models import Organisation, User
from shieldwall.context import system_ctx
from tests.interop.conftest import add_event


@dataclass
class Who:
    misp: PyMISP
    org_id: int
    org_uuid: str
    key: str


Connect = Callable[[str, str], Who]


@pytest.fixture
def who(live_url: str, make_user, instance) -> Connect:  # type: ignore[no-untyped-def]
    """who("ORG", "role"): PyMISP as a new user of that organisation, with its ids."""

    def connect(org: str, role: str) -> Who:
        member = make_user(org, role)
        with instance.db.read_session() as s:
            org_uuid = s.get(Organisation, member.org_id).uuid
        return Who(
            PyMISP(live_url, member.api.key, ssl=False), member.org_id, org_uuid, member.api.key
        )

    return connect


def _attr(event: MISPEvent, value: str) -> MISPAttribute:
    return next(a for a in event.attributes if a.value == value)


def _sighting(value: str | None = None, **kw: Any) -> MISPSighting:
    s = MISPSighting()
    s.from_dict(**({"value": value} if value else {}), **kw)
    return s


def _error(answer: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """PyMISP's answer to a 4xx: {"errors": (status, MISP-shaped body)}."""
    assert isinstance(answer, dict) and "errors" in answer, answer
    got, body = answer["errors"]
    assert got == status, answer
    assert body["success"] is False and body["message"], body
    if field is not None:
        assert field in body["errors"], body
    return body


def _listed(m: PyMISP, entity: Any, org: Any = None) -> list[dict[str, Any]]:
    rows = m.sightings(entity, org=org)
    assert isinstance(rows, list), rows
    return [r["Sighting"] for r in rows]


def _ago(seconds: int) -> int:
    return int(time.time()) - seconds


# ---------------------------------------------------------------- add


def test_add_by_id_uuid_value_and_values(who: Connect) -> None:
    alpha = who("ALPHA", "publisher")
    beta = who("BETA", "publisher")
    ev = add_event(
        alpha.misp,
        "sighted",
        1,
        ("ip-dst", "198.51.100.10"),
        ("domain", "sighted.example"),
    )
    ip, dom = _attr(ev, "198.51.100.10"), _attr(ev, "sighted.example")
    other = add_event(beta.misp, "also sighted", 1, ("domain", "sighted.example"))
    other_dom = _attr(other, "sighted.example")

    # By id in the path: MISP's {"Sighting": {...}} with string ids and an epoch.
    r = alpha.misp.add_sighting({"source": " ids "}, ip.id)
    s = r["Sighting"]
    assert s["attribute_id"] == str(ip.id) and s["event_id"] == str(ev.id)
    assert s["org_id"] == str(alpha.org_id) and s["type"] == "0" and s["source"] == "ids"
    assert abs(int(s["date_sighting"]) - time.time()) < 60 and len(s["uuid"]) == 36

    # By uuid (PyMISP puts a MISPAttribute's uuid in the path), as a MISPSighting.
    made = alpha.misp.add_sighting(_sighting(source="uuid"), ip, pythonify=True)
    assert isinstance(made, MISPSighting) and made.attribute_id == str(ip.id)
    # By uuid in the body, no path.
    r = alpha.misp.add_sighting({"uuid": ip.uuid, "source": "body"})
    assert r["Sighting"]["attribute_id"] == str(ip.id)

    # An attribute named wins over values, as in MISP: only the ip is sighted here.
    alpha.misp.add_sighting(_sighting("sighted.example"), ip.id)
    assert len(_listed(alpha.misp, ip)) == 4
    assert _listed(alpha.misp, dom) == []

    # By value (normalised like the stored one): every readable attribute holding it,
    # in both organisations' events.
    r = alpha.misp.add_sighting(_sighting("SIGHTED.example."))
    assert r["Sighting"]["attribute_id"] in (str(dom.id), str(other_dom.id))
    assert len(_listed(alpha.misp, dom)) == 1
    assert len(_listed(beta.misp, other_dom)) == 1
    # By values: each value, each attribute.
    alpha.misp.add_sighting({"values": ["198.51.100.10", "sighted.example"], "type": "0"})
    assert len(_listed(alpha.misp, ip)) == 5
    assert len(_listed(alpha.misp, dom)) == 2
    # Many values at once (more than one query's worth) still find each attribute.
    fillers = [f"filler-{i}.example" for i in range(600)]
    alpha.misp.add_sighting({"values": [*fillers, "SIGHTED.EXAMPLE", *fillers]})
    assert len(_listed(alpha.misp, dom)) == 3
    assert len(_listed(alpha.misp, ip)) == 5
    # The other organisation's attribute got alpha's sightings, which its owner sees.
    assert [x["org_id"] for x in _listed(beta.misp, other_dom)] == [str(alpha.org_id)] * 3


def test_types_timestamps_and_expiration_replaced(who: Connect) -> None:
    alpha = who("ALPHA", "user")
    beta = who("BETA", "user")
    ev = add_event(alpha.misp, "typed", 1, ("url", "http://typed.example/x"))
    url = ev.attributes[0]
    then = _ago(7200)
    fp = alpha.misp.add_sighting(
        _sighting("http://typed.example/x", type=1, source="fp", timestamp=then)
    )
    assert fp["Sighting"]["type"] == "1" and fp["Sighting"]["date_sighting"] == str(then)
    # MISP's date and time fields together (UTC here).
    r = alpha.misp.add_sighting({"date": "2024-03-01", "time": "10:30:00"}, url.id)
    expected = int(datetime(2024, 3, 1, 10, 30, tzinfo=UTC).timestamp())
    assert r["Sighting"]["date_sighting"] == str(expected)

    first = alpha.misp.add_sighting({"type": "2", "timestamp": _ago(3600)}, url.id)
    theirs = beta.misp.add_sighting({"type": "2"}, url.id)
    second = alpha.misp.add_sighting({"type": "2"}, url.id)
    assert first["Sighting"]["type"] == second["Sighting"]["type"] == "2"
    listed = _listed(alpha.misp, url)
    # One expiration per organisation: alpha's second replaced its first, beta's stays.
    expirations = {x["uuid"]: x["org_id"] for x in listed if x["type"] == "2"}
    assert expirations == {
        second["Sighting"]["uuid"]: str(alpha.org_id),
        theirs["Sighting"]["uuid"]: str(beta.org_id),
    }
    assert sorted(x["type"] for x in listed) == ["0", "1", "2", "2"]


# ---------------------------------------------------------------- listSightings


def test_list_per_attribute_and_event_with_org_filter(who: Connect, misp: PyMISP) -> None:
    alpha = who("ALPHA", "publisher")
    beta = who("BETA", "user")
    gamma = who("GAMMA", "user")
    ev = add_event(alpha.misp, "listed", 1, ("ip-dst", "203.0.113.20"), ("domain", "list.example"))
    ip, dom = _attr(ev, "203.0.113.20"), _attr(ev, "list.example")
    alpha.misp.add_sighting({"timestamp": _ago(300)}, ip.id)
    beta.misp.add_sighting({"timestamp": _ago(100)}, ip.id)
    misp.add_sighting({"timestamp": _ago(200)}, ip.id)
    beta.misp.add_sighting({"timestamp": _ago(50)}, dom.id)

    # The event's owner sees every organisation's sightings, newest first, with the org.
    rows = alpha.misp.sightings(ip)
    assert [r["Sighting"]["org_id"] for r in rows] == [
        str(beta.org_id),
        str(misp.get_user("me", pythonify=True).org_id),
        str(alpha.org_id),
    ]
    assert rows[0]["Organisation"]["name"] == "BETA"
    # pythonify gives MISPSightings.
    objs = alpha.misp.sightings(ip, pythonify=True)
    assert all(isinstance(o, MISPSighting) for o in objs) and len(objs) == 3
    # Event context: the sightings of all its attributes.
    assert len(_listed(alpha.misp, ev)) == 4
    # org filter by id, by uuid (PyMISP sends a MISPOrganisation's uuid), and an unknown one.
    only_beta = _listed(alpha.misp, ip, org=beta.org_id)
    assert [x["org_id"] for x in only_beta] == [str(beta.org_id)]
    assert len(_listed(alpha.misp, ev, org=beta.org_uuid)) == 2
    assert _listed(alpha.misp, ip, org="NO SUCH ORG") == []
    # Sighting policy (owner): another organisation sees only its own sightings.
    assert [x["org_id"] for x in _listed(beta.misp, ip)] == [str(beta.org_id)]
    assert _listed(gamma.misp, ev) == []
    # MISP's path form (GET /sightings/listSightings/{id}/{context}/{org}).
    path = gamma.misp.direct_call(f"sightings/listSightings/{ev.id}/event")
    assert path == []
    path = alpha.misp.direct_call(f"sightings/listSightings/{ip.id}/attribute/{beta.org_id}")
    assert [x["Sighting"]["org_id"] for x in path] == [str(beta.org_id)]


# ---------------------------------------------------------------- delete


def test_delete_only_by_own_organisation(who: Connect, misp: PyMISP) -> None:
    alpha = who("ALPHA", "publisher")
    beta = who("BETA", "user")
    beta_reader = who("BETA", "read only")
    gamma = who("GAMMA", "org admin")
    ev = add_event(alpha.misp, "deleted", 1, ("ip-dst", "203.0.113.30"))
    attr = ev.attributes[0]
    theirs = beta.misp.add_sighting({}, attr.id, pythonify=True)
    mine = alpha.misp.add_sighting({}, attr.id, pythonify=True)

    # The event owner sees beta's sighting but may not delete it.
    assert theirs.id in [x["id"] for x in _listed(alpha.misp, attr)]
    _error(alpha.misp.delete_sighting(theirs.id), 403)
    # A read-only user of beta may not delete beta's sighting either.
    _error(beta_reader.misp.delete_sighting(theirs.id), 403)
    # Gamma cannot see alpha's sighting (sighting policy), so for gamma it does not exist.
    _error(gamma.misp.delete_sighting(mine.id), 404, "id")
    # Beta deletes its own, by the MISPSighting (PyMISP sends its uuid).
    answer = beta.misp.delete_sighting(theirs)
    assert answer["message"] == "Sighting successfully deleted." and answer["success"] is True
    assert theirs.id not in [x["id"] for x in _listed(alpha.misp, attr)]
    _error(beta.misp.delete_sighting(theirs.id), 404, "id")
    # The site admin deletes anyone's.
    assert misp.delete_sighting(mine.id)["success"] is True
    assert _listed(alpha.misp, attr) == []


# ---------------------------------------------------------------- restSearch


def test_rest_search_filters(who: Connect) -> None:
    alpha = who("ALPHA", "publisher")
    beta = who("BETA", "user")
    ev = add_event(
        alpha.misp, "searched", 1, ("ip-dst", "192.0.2.40"), ("domain", "search.example")
    )
    ip, dom = _attr(ev, "192.0.2.40"), _attr(ev, "search.example")
    day = 86400
    old = alpha.misp.add_sighting({"type": "2", "timestamp": _ago(40 * day)}, ip.id)
    a_ip = alpha.misp.add_sighting({"source": "ids", "timestamp": _ago(10 * day)}, ip.id)
    a_dom = alpha.misp.add_sighting(
        {"type": "1", "source": "analyst", "timestamp": _ago(3 * day)}, dom.id
    )
    b_ip = beta.misp.add_sighting({"source": "ids", "timestamp": _ago(3600)}, ip.id)

    def ids(**kw: Any) -> list[str]:
        found = alpha.misp.search_sightings(**kw)
        assert isinstance(found, list), found
        return [x["Sighting"]["id"] for x in found]

    def sid(r: dict[str, Any]) -> str:
        return str(r["Sighting"]["id"])

    # MISP's default window is the last 30 days; results come oldest first.
    assert ids() == [sid(a_ip), sid(a_dom), sid(b_ip)]
    assert ids(type_sighting="1") == [sid(a_dom)]
    assert ids(type_sighting="2") == []
    assert ids(date_from=_ago(5 * day), date_to=_ago(60)) == [sid(a_dom), sid(b_ip)]
    # An explicit range reaches past the default window.
    assert ids(date_from=_ago(50 * day), date_to=_ago(20 * day)) == [sid(old)]
    assert ids(date_from=datetime.fromtimestamp(_ago(50 * day), UTC)) == [
        sid(old),
        sid(a_ip),
        sid(a_dom),
        sid(b_ip),
    ]
    assert ids(publish_timestamp="2d") == [sid(b_ip)]
    assert ids(publish_timestamp=(_ago(11 * day), _ago(2 * day))) == [sid(a_ip), sid(a_dom)]
    assert ids(org=beta.org_id) == [sid(b_ip)]
    assert ids(org=beta.org_uuid) == [sid(b_ip)]
    assert ids(org=f"!{alpha.org_id}") == [sid(b_ip)]
    assert ids(org="NO SUCH ORG") == []
    assert ids(source="ids") == [sid(a_ip), sid(b_ip)]
    assert ids(source="ids", org=alpha.org_id) == [sid(a_ip)]
    assert ids(context="attribute", context_id=ip.id) == [sid(a_ip), sid(b_ip)]
    # PyMISP sends a MISPAttribute's uuid as the id.
    assert ids(context="attribute", context_id=dom) == [sid(a_dom)]
    assert ids(context="event", context_id=ev.id, type_sighting="0") == [sid(a_ip), sid(b_ip)]

    # The sighting carries the value and the organisation; the includes add their parts.
    plain = alpha.misp.search_sightings(context="attribute", context_id=dom.id)
    assert plain[0]["Sighting"]["value"] == "search.example"
    assert plain[0]["Sighting"]["Organisation"]["uuid"] == alpha.org_uuid
    assert "Attribute" not in plain[0]["Sighting"] and "Event" not in plain[0]["Sighting"]
    rich = alpha.misp.search_sightings(
        context="event",
        context_id=ev.id,
        source="analyst",
        include_attribute=True,
        include_event_meta=True,
        pythonify=True,
    )
    assert len(rich) == 1
    assert isinstance(rich[0]["sighting"], MISPSighting)
    assert rich[0]["sighting"].event_id == str(ev.id) and rich[0]["sighting"].type == "1"
    assert isinstance(rich[0]["event"], MISPEvent) and rich[0]["event"].uuid == ev.uuid
    assert rich[0]["event"].info == "searched"
    assert isinstance(rich[0]["attribute"], MISPAttribute)
    assert rich[0]["attribute"].uuid == dom.uuid and rich[0]["attribute"].type == "domain"

    # The MISP path form restSearch/{context}/{id}, includeUuid, and limit/page.
    raw = alpha.misp.direct_call(f"sightings/restSearch/attribute/{ip.id}", {"includeUuid": 1})
    assert [x["Sighting"]["attribute_uuid"] for x in raw] == [ip.uuid, ip.uuid]
    assert raw[0]["Sighting"]["event_uuid"] == ev.uuid
    pages = [
        [x["Sighting"]["id"] for x in alpha.misp.direct_call("sightings/restSearch", q)]
        for q in ({"limit": 2, "page": 1}, {"limit": 2, "page": 2}, {"limit": 2, "page": 3})
    ]
    assert pages == [[sid(a_ip), sid(a_dom)], [sid(b_ip)], []]

    # Sighting policy (owner): beta, not the event's owner, finds only its own sighting.
    found = beta.misp.search_sightings(context="event", context_id=ev.id)
    assert [x["Sighting"]["id"] for x in found] == [sid(b_ip)]


# ---------------------------------------------------------------- access


def test_invisible_attributes_cannot_be_sighted_or_listed(who: Connect, misp: PyMISP) -> None:
    alpha = who("ALPHA", "publisher")
    beta = who("BETA", "publisher")
    secret = add_event(
        alpha.misp, "alpha only", 0, ("ip-dst", "192.0.2.55"), ("domain", "secret.example")
    )
    shared = add_event(alpha.misp, "shared", 1, ("ip-dst", "192.0.2.55"))
    hidden_ip, hidden_dom = _attr(secret, "192.0.2.55"), _attr(secret, "secret.example")
    open_ip = shared.attributes[0]
    alpha.misp.add_sighting({}, hidden_ip.id)

    # Beta can neither sight nor list the org-only event's attribute, by id or by uuid.
    _error(beta.misp.add_sighting({}, hidden_ip.id), 404, "id")
    _error(beta.misp.add_sighting({}, hidden_ip.uuid), 404, "id")
    _error(beta.misp.add_sighting({"id": hidden_dom.id}), 404, "id")
    _error(beta.misp.sightings(hidden_ip), 404, "id")
    _error(beta.misp.sightings(secret), 404, "id")
    _error(beta.misp.direct_call(f"sightings/listSightings/{hidden_ip.id}/attribute"), 404)
    assert beta.misp.search_sightings(context="attribute", context_id=hidden_ip.id) == []
    assert beta.misp.search_sightings(context="event", context_id=secret.uuid) == []

    # By value: only the attribute beta may read is sighted.
    r = beta.misp.add_sighting(_sighting("192.0.2.55"))
    assert r["Sighting"]["attribute_id"] == str(open_ip.id)
    # A value held only by invisible attributes matches nothing.
    _error(beta.misp.add_sighting(_sighting("secret.example")), 404, "value")
    _error(beta.misp.add_sighting({"values": ["secret.example", "nowhere.example"]}), 404)
    # The site admin sees every sighting: beta's never reached the hidden attributes.
    assert [x["org_id"] for x in _listed(misp, hidden_ip)] == [str(alpha.org_id)]
    assert _listed(misp, hidden_dom) == []
    assert [x["org_id"] for x in _listed(misp, open_ip)] == [str(beta.org_id)]


def test_roles_and_read_only_keys(who: Connect, instance, live_url: str) -> None:  # type: ignore[no-untyped-def]
    alpha = who("ALPHA", "publisher")
    reader = who("ALPHA", "read only")
    ev = add_event(alpha.misp, "roles", 1, ("ip-dst", "198.51.100.66"))
    attr = ev.attributes[0]
    alpha.misp.add_sighting({}, attr.id)
    # The read-only role has no perm_sighting, but reads.
    _error(reader.misp.add_sighting({}, attr.id), 403)
    _error(reader.misp.add_sighting(_sighting("198.51.100.66")), 403)
    assert len(_listed(reader.misp, attr)) == 1
    assert len(reader.misp.search_sightings(context="attribute", context_id=attr.id)) == 1
    # A read-only key reads through GET and restSearch but cannot write.
    with instance.db.writing() as s:
        user = (
            s.execute(sa.select(User).where(User.org_id == alpha.org_id).order_by(User.id))
            .scalars()
            .first()
        )
        _, key = auth.create_key(s, system_ctx(instance.host_org_id), user, read_only=True)
    headers = {"Authorization": key, "Accept": "application/json"}
    got = httpx.get(f"{live_url}/sightings/listSightings/{attr.id}/attribute", headers=headers)
    assert got.status_code == 200 and len(got.json()) == 1
    found = httpx.post(f"{live_url}/sightings/restSearch", headers=headers, json={})
    assert found.status_code == 200 and len(found.json()["response"]) == 1
    refused = httpx.post(f"{live_url}/sightings/add/{attr.id}", headers=headers, json={})
    assert refused.status_code == 403


# ---------------------------------------------------------------- errors


def test_bad_input_gets_misp_shaped_4xx(who: Connect) -> None:
    alpha = who("ALPHA", "publisher")
    ev = add_event(
        alpha.misp, "bad", 1, ("domain", "bad.example"), ("url", "http://bad.example/%41")
    )
    attr = _attr(ev, "bad.example")
    m = alpha.misp
    _error(m.add_sighting({"type": "5"}, attr.id), 422, "type")
    _error(m.add_sighting({"type": "x", "value": "bad.example"}), 422, "type")
    _error(m.add_sighting({}), 422, "value")
    _error(m.add_sighting({"source": "x"}, "not-an-id"), 422, "id")
    _error(m.add_sighting({"timestamp": int(time.time()) + 3600}, attr.id), 422, "timestamp")
    _error(m.add_sighting({"timestamp": "soon"}, attr.id), 422, "timestamp")
    _error(m.add_sighting({"date": "2024-13-01", "time": "10:00:00"}, attr.id), 422, "date")
    _error(m.add_sighting({"values": [{"a": 1}]}), 422, "values")
    _error(m.add_sighting({"value": "a\x00b"}), 422, "value")
    _error(m.add_sighting({"source": "x" * 300}, attr.id), 422, "source")
    _error(m.add_sighting({"value": "bad.example", "filters": {"type": "x"}}), 422, "filters")
    # "%" is a character in a sighting value, not a wildcard that reaches every attribute.
    _error(m.add_sighting(_sighting("%")), 404, "value")
    _error(m.add_sighting(_sighting("http://bad.example/%")), 404, "value")
    url = next(a for a in ev.attributes if a.type == "url")
    assert _listed(m, attr) == [] and _listed(m, url) == []
    r = m.add_sighting(_sighting(url.value))
    assert r["Sighting"]["attribute_id"] == str(url.id)
    # listSightings
    _error(m.direct_call("sightings/listSightings", {"id": attr.id, "context": "org"}), 422)
    _error(m.direct_call("sightings/listSightings", {"context": "event"}), 422, "id")
    _error(m.direct_call("sightings/listSightings", {"id": "x!"}), 422, "id")
    # restSearch
    _error(m.search_sightings(context="attribute"), 422, "id")
    _error(m.direct_call("sightings/restSearch", {"id": attr.id}), 422, "context")
    _error(m.direct_call("sightings/restSearch/org/1", {}), 422, "context")
    _error(m.search_sightings(type_sighting="7"), 422, "type")
    _error(m.search_sightings(date_from="yesterday"), 422, "from")
    _error(m.search_sightings(publish_timestamp="soonish"), 422, "last")
    _error(m.search_sightings(source="a\x00b"), 422, "source")
    _error(m.direct_call("sightings/restSearch", {"returnFormat": "csv"}), 422, "returnFormat")
    _error(m.direct_call("sightings/restSearch", {"limit": "many"}), 422, "limit")
    _error(m.search_sightings(context="event", context_id="not-an-id"), 422, "id")
    _error(m.search_sightings(context="event", context_id=list(range(1, 1500))), 422, "id")
    # delete
    _error(m.delete_sighting("abc"), 422, "id")
    _error(m.delete_sighting(999999), 404, "id")
