"""Alerts and cases through the native API: identity and repeats, triage in bulk, filters
and searches, the case workflow, custom fields and techniques, TLP on shares, observables
promoted to intel with sightings flowing back, and bad input answered 4xx naming the field."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from shieldwall.audit.models import AuditEntry


def _ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, (r.status_code, r.text)
    return r.json()


def _alert(api: Any, ref: str, **kw: Any) -> Any:
    body = {"source": "siem", "source_ref": ref, "title": f"alert {ref}", **kw}
    r = api.post("/api/v1/alerts", json=body)
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_alert_identity_repeats_and_bad_input(make_user) -> None:  # type: ignore[no-untyped-def]
    a = make_user("CERT-A")
    b = make_user("CERT-B")
    first = _alert(a.api, "x-1", severity="low", tags=["phishing"])
    # Another organisation's alert with the same source and ref is its own alert.
    other = _alert(b.api, "x-1")
    assert other["id"] != first["id"] and other["count"] == 1
    # A repeat counts, adds tags and raises (never lowers) the severity.
    again = _alert(a.api, "x-1", severity="critical", tags=["finance"])
    assert again["count"] == 2 and again["severity"] == "critical"
    assert again["tags"] == ["finance", "phishing"]
    again = _alert(a.api, "x-1", severity="low")
    assert again["severity"] == "critical"
    for body, field in (
        ({"source": "s", "source_ref": "r"}, "title"),
        ({"source": "s", "source_ref": "r", "title": "t", "severity": "urgent"}, "severity"),
        ({"source": "s", "source_ref": "r", "title": "t", "tlp": "white"}, "tlp"),
        (
            {
                "source": "s",
                "source_ref": "r",
                "title": "t",
                "observables": [{"type": "ip-dst", "value": "not-an-ip"}],
            },
            "observables[0].value",
        ),
        (
            {
                "source": "s",
                "source_ref": "r",
                "title": "t",
                "observables": [{"type": "no-such-type", "value": "x"}],
            },
            "observables[0].type",
        ),
        ({"source": "", "source_ref": "r", "title": "t"}, "source"),
    ):
        r = a.api.post("/api/v1/alerts", json=body)
        assert r.status_code == 422, (body, r.text)
        assert field in (r.json().get("field") or ""), (field, r.json())
    # Read-only users cannot send or triage.
    ro = make_user("CERT-A", "read_only")
    assert (
        ro.api.post(
            "/api/v1/alerts", json={"source": "s", "source_ref": "r", "title": "t"}
        ).status_code
        == 403
    )
    assert (
        ro.api.patch(f"/api/v1/alerts/{first['id']}", json={"status": "ignored"}).status_code == 403
    )
    assert len(ro.api.get("/api/v1/alerts").json()["items"]) == 1  # but they read


def test_triage_in_bulk_is_all_or_nothing(make_user, instance) -> None:  # type: ignore[no-untyped-def]
    a = make_user("CERT-A")
    b = make_user("CERT-B")
    ids = [_alert(a.api, f"r-{i}")["id"] for i in range(3)]
    foreign = _alert(b.api, "theirs")["id"]
    r = a.api.post("/api/v1/alerts/bulk", json={"ids": [*ids, foreign], "status": "ignored"})
    assert r.status_code == 404 and r.json()["field"] == "ids[3]"
    assert {x["status"] for x in a.api.get("/api/v1/alerts").json()["items"]} == {"new"}
    done = _ok(
        a.api.post(
            "/api/v1/alerts/bulk",
            json={"ids": ids, "status": "acknowledged", "add_tags": ["triaged"]},
        )
    )
    assert done["count"] == 3
    items = a.api.get("/api/v1/alerts?status=acknowledged").json()["items"]
    assert {x["id"] for x in items} == set(ids) and all(x["tags"] == ["triaged"] for x in items)
    assert all(x["acknowledged_at"] for x in items)
    # Merged alerts cannot be set back by bulk triage.
    case = _ok(a.api.post("/api/v1/cases", json={"alerts": [ids[0]]}), 201)
    assert case["title"] == "alert r-0"
    r = a.api.post("/api/v1/alerts/bulk", json={"ids": ids, "status": "new"})
    assert r.status_code == 409 and r.json()["field"] == "ids[0]"
    r = a.api.post(f"/api/v1/cases/{case['id']}/alerts", json={"alerts": [ids[0]]})
    assert r.status_code == 409
    with instance.db.reading() as s:
        actions = (
            s.execute(sa.select(AuditEntry.action).where(AuditEntry.model == "Alert"))
            .scalars()
            .all()
        )
    assert "bulk_update" in actions


def test_alert_queue_filters_and_search(make_user) -> None:  # type: ignore[no-untyped-def]
    a = make_user("CERT-A")
    _alert(
        a.api,
        "1",
        title="Phishing wave on finance",
        severity="high",
        observables=[{"type": "domain", "value": "login.example.net"}],
    )
    _alert(a.api, "2", title="Port scan", severity="low", tags=["scan"])
    _alert(a.api, "3", title="phishing again", severity="medium", type="mail-gateway")
    titles = lambda **q: [x["title"] for x in a.api.get("/api/v1/alerts", params=q).json()["items"]]  # noqa: E731
    assert titles(q="PHISHING") == ["phishing again", "Phishing wave on finance"]
    assert titles(observable="login.example.net") == ["Phishing wave on finance"]
    assert titles(tag="scan") == ["Port scan"]
    assert titles(type="mail-gateway") == ["phishing again"]
    assert titles(severity="low") == ["Port scan"]
    assert titles(order="oldest")[0] == "Phishing wave on finance"
    assert a.api.get("/api/v1/alerts", params={"status": "done"}).status_code == 422


def test_case_workflow_and_its_refusals(make_user) -> None:  # type: ignore[no-untyped-def]
    a = make_user("CERT-A")
    other = make_user("CERT-A")
    foreign = make_user("CERT-B")
    c = _ok(
        a.api.post("/api/v1/cases", json={"title": "Credential stuffing", "assignee": other.email}),
        201,
    )
    assert c["assignee"] == other.email and c["status"] == "new"
    assert any(
        n["topic"] == "case.assigned"
        for n in other.api.get("/api/v1/notifications").json()["items"]
    )
    # A user of another organisation cannot be assigned (cannot read the case).
    r = a.api.patch(f"/api/v1/cases/{c['id']}", json={"assignee": foreign.email})
    assert r.status_code == 422 and r.json()["field"] == "assignee"
    r = a.api.patch(f"/api/v1/cases/{c['id']}", json={"status": "closed"})
    assert r.status_code == 422 and r.json()["field"] == "status"
    _ok(a.api.patch(f"/api/v1/cases/{c['id']}", json={"status": "in_progress"}))
    r = a.api.patch(
        f"/api/v1/cases/{c['id']}", json={"status": "resolved", "resolution": "duplicate"}
    )
    assert r.status_code == 422 and r.json()["field"] == "duplicate_of"
    dup = _ok(a.api.post("/api/v1/cases", json={"title": "earlier"}), 201)
    done = _ok(
        a.api.patch(
            f"/api/v1/cases/{c['id']}",
            json={"status": "resolved", "resolution": "duplicate", "duplicate_of": dup["id"]},
        )
    )
    assert (
        done["resolution"] == "duplicate"
        and done["duplicate_of"] == dup["id"]
        and done["resolved_at"]
    )
    # Reopening clears the resolution.
    back = _ok(a.api.patch(f"/api/v1/cases/{c['id']}", json={"status": "in_progress"}))
    assert back["resolution"] is None and back["resolved_at"] is None
    # Numbers count per organisation.
    b_case = _ok(foreign.api.post("/api/v1/cases", json={"title": "theirs"}), 201)
    assert (c["number"], dup["number"], b_case["number"]) == (1, 2, 1)
    for body, field in (
        ({"title": ""}, "title"),
        ({}, "title"),
        ({"title": "x", "severity": "urgent"}, "severity"),
        ({"title": "x", "techniques": ["T9999"]}, "techniques[0]"),
        ({"title": "x", "template": "nope"}, "template"),
        ({"title": "x", "alerts": [999999]}, "alerts[0]"),
    ):
        r = a.api.post("/api/v1/cases", json=body)
        assert r.status_code in (404, 422), (body, r.text)
        assert field in (r.json().get("field") or ""), (body, r.json())
    assert a.api.get("/api/v1/cases?status=open").status_code == 422
    board = a.api.get("/api/v1/cases", params={"status": ["new", "in_progress"]}).json()["items"]
    assert {x["id"] for x in board} == {c["id"], dup["id"]}
    assert [x["id"] for x in a.api.get("/api/v1/cases", params={"q": "stuff"}).json()["items"]] == [
        c["id"]
    ]
    assert [
        x["id"]
        for x in a.api.get("/api/v1/cases", params={"assignee": other.email}).json()["items"]
    ] == [c["id"]]


def test_tlp_amber_strict_cases_stay_home(make_user) -> None:  # type: ignore[no-untyped-def]
    a = make_user("CERT-A", "org_admin")
    make_user("CERT-B")
    c = _ok(a.api.post("/api/v1/cases", json={"title": "insider", "tlp": "amber+strict"}), 201)
    r = a.api.post(f"/api/v1/cases/{c['id']}/shares", json={"org": "CERT-B"})
    assert r.status_code == 422 and "AMBER+STRICT" in r.json()["detail"]
    r = a.api.post(
        "/api/v1/assistance-requests",
        json={"case": str(c["id"]), "title": "t", "needed": "n", "contacts": [{"name": "x"}]},
    )
    assert r.status_code == 422
    open_case = _ok(a.api.post("/api/v1/cases", json={"title": "shared"}), 201)
    _ok(a.api.post(f"/api/v1/cases/{open_case['id']}/shares", json={"org": "CERT-B"}), 201)
    r = a.api.patch(f"/api/v1/cases/{open_case['id']}", json={"tlp": "amber+strict"})
    assert r.status_code == 422 and r.json()["field"] == "tlp"


def test_observables_become_intel_and_sightings_flow_back(make_user, instance) -> None:  # type: ignore[no-untyped-def]
    a = make_user("CERT-A", "publisher")
    b = make_user("CERT-B")
    c = _ok(
        a.api.post(
            "/api/v1/cases",
            json={
                "title": "C2 traffic",
                "observables": [
                    {"type": "ip-dst", "value": "198.51.100.23", "ioc": True, "tlp": "green"},
                    {"type": "domain", "value": "c2.bad.example", "ioc": True, "tlp": "red"},
                    {"type": "comment", "value": "internal note"},
                ],
            },
        ),
        201,
    )
    obs = {o["value"]: o for o in _ok(a.api.get(f"/api/v1/cases/{c['id']}/observables"))["items"]}
    assert obs["198.51.100.23"]["intel"]["event_count"] == 0
    # A tlp:red observable cannot go into a community-wide event: the TLP guard says no.
    r = a.api.post(
        f"/api/v1/cases/{c['id']}/observables/share",
        json={"observables": [obs["c2.bad.example"]["id"]], "distribution": 1},
    )
    assert r.status_code == 422, r.text
    shared = _ok(
        a.api.post(
            f"/api/v1/cases/{c['id']}/observables/share",
            json={"observables": [obs["198.51.100.23"]["id"]], "distribution": 1, "publish": True},
        ),
        201,
    )
    assert shared["linked"] == 1 and shared["event"]["distribution"] == 1
    event_id = shared["event"]["id"]
    # B reads the new intel and sights it.
    attrs = b.api.get("/api/v1/search/attributes", params={"value": "198.51.100.23"}).json()[
        "items"
    ]
    assert [x["event_id"] for x in attrs] == [event_id]
    _ok(
        b.api.post("/api/v1/sightings", json={"attribute": attrs[0]["uuid"], "source": "b-sensor"}),
        201,
    )
    back = {o["value"]: o for o in _ok(a.api.get(f"/api/v1/cases/{c['id']}/observables"))["items"]}
    linked = back["198.51.100.23"]
    assert linked["attribute"]["event_id"] == event_id
    assert linked["attribute"]["sightings"]["count"] == 1 and linked["sighted"] is True
    assert linked["intel"]["events"][0]["id"] == event_id
    kinds = [t["kind"] for t in a.api.get(f"/api/v1/cases/{c['id']}/timeline").json()["items"]]
    assert "intel.shared" in kinds
    # B cannot read the case, so cannot promote its observables either.
    r = b.api.post(
        f"/api/v1/cases/{c['id']}/observables/share", json={"observables": [linked["id"]]}
    )
    assert r.status_code == 404


def test_attachments_respect_the_size_limit(make_user, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import base64

    from shieldwall import server_settings

    a = make_user("CERT-A")
    c = _ok(a.api.post("/api/v1/cases", json={"title": "big file"}), 201)
    task = _ok(a.api.post(f"/api/v1/cases/{c['id']}/tasks", json={"title": "collect"}), 201)
    monkeypatch.setenv("SHIELDWALL_ATTACHMENT_MAX_MB", "1")
    from shieldwall.config import get_settings

    get_settings.cache_clear()
    server_settings.forget()
    try:
        big = base64.b64encode(b"x" * (1024 * 1024 + 1)).decode()
        r = a.api.post(
            f"/api/v1/tasks/{task['id']}/logs",
            json={"message": "m", "attachment": {"name": "a.bin", "data": big}},
        )
        assert r.status_code == 413 and r.json()["field"] == "attachment.data"
        r = a.api.post(
            f"/api/v1/tasks/{task['id']}/logs",
            json={"message": "m", "attachment": {"name": "a.bin", "data": "***"}},
        )
        assert r.status_code == 422 and r.json()["field"] == "attachment.data"
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        server_settings.forget()
    # Nothing half-written: no log, no attachment.
    assert a.api.get(f"/api/v1/tasks/{task['id']}/logs").json()["items"] == []


def test_a_sensor_sends_alerts_with_its_own_key(world, client, make_user) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": world.sensor_a.key}
    body = {
        "type": "ids",
        "source": "suricata",
        "source_ref": "flow-77",
        "title": "ET TROJAN beacon",
        "severity": "high",
        "observables": [{"type": "ip-dst", "value": "192.0.2.44", "ioc": True}],
    }
    r = client.post("/api/v1/alerts", json=body, headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["sensor"] == "zeek-a" and r.json()["org_id"] == world.org_a
    # A sensor key sends; it does not read or triage.
    assert client.get("/api/v1/alerts", headers=headers).status_code == 403
    assert (
        client.patch(
            f"/api/v1/alerts/{r.json()['id']}", json={"status": "ignored"}, headers=headers
        ).status_code
        == 403
    )
    member = make_user("ORG-A")
    got = member.api.get("/api/v1/alerts", params={"sensor": "zeek-a"}).json()["items"]
    assert [a["source_ref"] for a in got] == ["flow-77"]


def test_case_search_by_title_words_and_tags(make_user) -> None:  # type: ignore[no-untyped-def]
    a = make_user("CERT-A")
    first = _ok(
        a.api.post(
            "/api/v1/cases",
            json={"title": "Ransomware on big-ws-03247", "tags": ["VIP", "finance"]},
        ),
        201,
    )
    second = _ok(
        a.api.post(
            "/api/v1/cases", json={"title": "Phishing wave (ransom notes)", "tags": ["vip"]}
        ),
        201,
    )

    def found(**q: Any) -> list[int]:
        return [c["id"] for c in a.api.get("/api/v1/cases", params=q).json()["items"]]

    assert found(q="ransom") == [second["id"], first["id"]]  # a word's beginning
    assert found(q="RANSOMWARE") == [first["id"]]
    assert found(q="03247") == [first["id"]] and found(q="big-ws") == [first["id"]]
    assert found(q="ransom wave") == [second["id"]]  # every word
    assert found(q="ware") == []  # not the middle of a word
    assert found(tag="vip") == [second["id"], first["id"]] and found(tag="Finance") == [first["id"]]
    # A new title or new tags are what is found from then on.
    _ok(
        a.api.patch(
            f"/api/v1/cases/{first['id']}",
            json={"title": "Wiper on big-ws-03247", "tags": ["finance"]},
        )
    )
    assert found(q="ransom") == [second["id"]] and found(q="wiper") == [first["id"]]
    assert found(tag="vip") == [second["id"]]
