"""The whole response workflow through the native API: alert -> case -> tasks -> share ->
assistance request -> approval -> team access -> deployment ends -> access gone -> closure
report, with the permission boundaries at every step."""

from __future__ import annotations

from shieldwall.jobs.response import run_response_pass


def _ok(r, status=200):  # type: ignore[no-untyped-def]
    assert r.status_code == status, (r.status_code, r.text)
    return r.json()


def test_alert_to_case_to_assistance_to_closure(instance, admin, make_user, clock) -> None:  # type: ignore[no-untyped-def]
    handler = make_user("CERT-A", "org_admin")
    analyst = make_user("CERT-A", "user")
    partner = make_user("CERT-B", "user")
    outsider = make_user("CERT-C", "org_admin")
    coordinator = make_user("ALLIANCE", "coordinator")
    responder = make_user("CERT-RRT", "user")
    spare = make_user("CERT-RRT", "user")

    # A SIEM sends an alert; the same one again is a repeat, not a second alert.
    alert_in = {
        "type": "siem",
        "source": "splunk-prod",
        "source_ref": "notable-4711",
        "title": "Beaconing to 203.0.113.77 from finance workstations",
        "severity": "high",
        "tlp": "amber",
        "observables": [
            {"type": "ip-dst", "value": "203.0.113.77", "ioc": True},
            {"type": "domain", "value": "Beacon.Evil.Example"},
        ],
    }
    first = _ok(analyst.api.post("/api/v1/alerts", json=alert_in), 201)
    again = _ok(analyst.api.post("/api/v1/alerts", json=alert_in), 200)
    assert again["id"] == first["id"] and again["count"] == 2
    assert {o["value"] for o in first["observables"]} == {"203.0.113.77", "beacon.evil.example"}
    assert outsider.api.get(f"/api/v1/alerts/{first['id']}").status_code == 404
    assert outsider.api.get("/api/v1/alerts").json()["items"] == []

    # Triage into a case from a template.
    _ok(
        handler.api.post(
            "/api/v1/case-templates",
            json={
                "name": "Intrusion",
                "title_prefix": "[INTR] ",
                "severity": "high",
                "tasks": [
                    {"title": "Scope the compromise", "group": "identification"},
                    {"title": "Contain hosts", "group": "containment"},
                ],
                "custom_fields": [{"name": "business_unit", "required": True}],
            },
        ),
        201,
    )
    r = analyst.api.post(
        "/api/v1/cases",
        json={"template": "Intrusion", "alerts": [first["id"]], "custom_fields": {}},
    )
    assert r.status_code == 422 and r.json()["field"] == "custom_fields.business_unit"
    case = _ok(
        analyst.api.post(
            "/api/v1/cases",
            json={
                "template": "Intrusion",
                "alerts": [first["id"]],
                "custom_fields": {"business_unit": "finance"},
                "techniques": ["T1071"],
            },
        ),
        201,
    )
    assert case["title"].startswith("[INTR] Beaconing")
    assert case["number"] == 1 and case["status"] == "new" and case["right"] == "full"
    assert [t["title"] for t in case["tasks"]] == ["Scope the compromise", "Contain hosts"]
    assert case["techniques"][0]["id"] == "T1071"
    merged = _ok(analyst.api.get(f"/api/v1/alerts/{first['id']}"))
    assert merged["status"] == "merged" and merged["case_id"] == case["id"]
    obs = _ok(analyst.api.get(f"/api/v1/cases/{case['id']}/observables"))["items"]
    assert {o["value"] for o in obs} == {"203.0.113.77", "beacon.evil.example"}

    # Work: a task in progress with a log and an attachment.
    task = case["tasks"][0]
    _ok(analyst.api.patch(f"/api/v1/tasks/{task['id']}", json={"status": "in_progress"}))
    import base64

    log = _ok(
        analyst.api.post(
            f"/api/v1/tasks/{task['id']}/logs",
            json={
                "message": "Three hosts beaconing.",
                "attachment": {
                    "name": "hosts.txt",
                    "data": base64.b64encode(b"ws-1\nws-2\nws-3\n").decode(),
                },
            },
        ),
        201,
    )
    att = log["attachment"]
    import hashlib

    assert att["sha256"] == hashlib.sha256(b"ws-1\nws-2\nws-3\n").hexdigest() and att["size"] == 15
    got = analyst.api.get(f"/api/v1/cases/{case['id']}/attachments/{att['id']}")
    assert got.status_code == 200 and got.content == b"ws-1\nws-2\nws-3\n"
    _ok(analyst.api.patch(f"/api/v1/cases/{case['id']}", json={"status": "in_progress"}))

    # Nobody outside reads it.
    assert outsider.api.get(f"/api/v1/cases/{case['id']}").status_code == 404
    assert partner.api.get(f"/api/v1/cases/{case['id']}").status_code == 404

    # Share read-only with CERT-B: they read, cannot write.
    _ok(analyst.api.post(f"/api/v1/cases/{case['id']}/shares", json={"org": "CERT-B"}), 201)
    seen = _ok(partner.api.get(f"/api/v1/cases/{case['id']}"))
    assert seen["right"] == "read_only"
    r = partner.api.post(f"/api/v1/cases/{case['id']}/tasks", json={"title": "help"})
    assert r.status_code == 403
    inbox = _ok(partner.api.get("/api/v1/notifications"))["items"]
    assert any(n["topic"] == "case.shared" for n in inbox)
    # Contribute: tasks and logs, not the case's own fields.
    _ok(
        analyst.api.post(
            f"/api/v1/cases/{case['id']}/shares", json={"org": "CERT-B", "profile": "contribute"}
        ),
        201,
    )
    help_task = _ok(
        partner.api.post(f"/api/v1/cases/{case['id']}/tasks", json={"title": "Check our netflow"}),
        201,
    )
    assert help_task["org_id"] == partner.org_id
    assert (
        partner.api.patch(f"/api/v1/cases/{case['id']}", json={"severity": "low"}).status_code
        == 403
    )
    assert outsider.api.get(f"/api/v1/cases/{case['id']}").status_code == 404

    # Assistance: the outsider cannot ask on this case; the owner can.
    req_in = {
        "case": str(case["id"]),
        "title": "Need forensic support for 3 hosts",
        "needed": "Memory forensics and containment advice",
        "skills": ["forensics", "malware"],
        "urgency": "high",
        "affected_networks": ["198.51.100.0/24"],
        "contacts": [{"name": "Duty officer", "email": "duty@cert-a.test", "phone": "+32 2 000"}],
    }
    assert outsider.api.post("/api/v1/assistance-requests", json=req_in).status_code == 404
    assert analyst.api.post("/api/v1/assistance-requests", json=req_in).status_code == 403
    req = _ok(handler.api.post("/api/v1/assistance-requests", json=req_in), 201)
    assert req["status"] == "requested"
    assert any(
        n["topic"] == "assistance.requested"
        for n in _ok(coordinator.api.get("/api/v1/notifications"))["items"]
    )
    # A coordinator sees the request (and what the case is), not the case itself.
    assert (
        _ok(coordinator.api.get(f"/api/v1/assistance-requests/{req['id']}"))["case"]["number"] == 1
    )
    assert coordinator.api.get(f"/api/v1/cases/{case['id']}").status_code == 404
    assert outsider.api.get(f"/api/v1/assistance-requests/{req['id']}").status_code == 404
    # Only a coordinator decides.
    r = handler.api.post(
        f"/api/v1/assistance-requests/{req['id']}/decision", json={"approve": True}
    )
    assert r.status_code == 403

    # The roster: a team with skills.
    _ok(coordinator.api.post("/api/v1/teams", json={"name": "RRT-1"}), 201)
    _ok(
        coordinator.api.put(
            "/api/v1/teams/RRT-1/members",
            json={"user": responder.email, "skills": ["Forensics"], "lead": True},
        )
    )
    _ok(
        coordinator.api.put(
            "/api/v1/teams/RRT-1/members",
            json={"user": spare.email, "skills": ["malware"], "available": False},
        )
    )
    # No deployment before approval.
    r = coordinator.api.post(
        f"/api/v1/assistance-requests/{req['id']}/deployments", json={"team": "RRT-1"}
    )
    assert r.status_code == 409
    approved = _ok(
        coordinator.api.post(
            f"/api/v1/assistance-requests/{req['id']}/decision",
            json={"approve": True, "reason": "within mandate"},
        )
    )
    assert approved["status"] == "approved"
    cands = _ok(coordinator.api.get(f"/api/v1/assistance-requests/{req['id']}/candidates"))["items"]
    assert cands[0]["team"] == "RRT-1" and cands[0]["ready_members"] == 1
    assert cands[0]["skills_covered"] == ["forensics"] and cands[0]["skills_missing"] == ["malware"]

    # Before deployment the responder reads nothing.
    assert responder.api.get(f"/api/v1/cases/{case['id']}").status_code == 404
    dep = _ok(
        coordinator.api.post(
            f"/api/v1/assistance-requests/{req['id']}/deployments",
            json={"team": "RRT-1", "hours": 48},
        ),
        201,
    )
    assert [m["email"] for m in dep["members"]] == [
        responder.email
    ]  # the unavailable one stays home
    on_case = _ok(responder.api.get(f"/api/v1/cases/{case['id']}"))
    assert on_case["right"] == "contribute"
    assert any(c["id"] == case["id"] for c in _ok(responder.api.get("/api/v1/cases"))["items"])
    _ok(
        responder.api.post(f"/api/v1/tasks/{task['id']}/logs", json={"message": "Imaged ws-1."}),
        201,
    )
    _ok(
        responder.api.post(
            f"/api/v1/deployments/{dep['id']}/log", json={"message": "On site 09:30."}
        ),
        201,
    )
    assert spare.api.get(f"/api/v1/cases/{case['id']}").status_code == 404
    assert (
        responder.api.patch(f"/api/v1/cases/{case['id']}", json={"status": "resolved"}).status_code
        == 403
    )

    # Time passes: the deployment's 48 hours end and so does the access.
    clock.move(hours=47)
    assert responder.api.get(f"/api/v1/cases/{case['id']}").status_code == 200
    clock.move(hours=2)
    assert responder.api.get(f"/api/v1/cases/{case['id']}").status_code == 404
    assert (
        responder.api.post(f"/api/v1/tasks/{task['id']}/logs", json={"message": "late"}).status_code
        == 404
    )
    r = responder.api.post(f"/api/v1/deployments/{dep['id']}/log", json={"message": "late"})
    assert r.status_code == 403
    report = run_response_pass(instance.db)
    assert report is not None and report.deployments_ended == 1
    assert _ok(handler.api.get(f"/api/v1/assistance-requests/{req['id']}"))["status"] == "ended"
    assert any(
        n["topic"] == "deployment.ended"
        for n in _ok(responder.api.get("/api/v1/notifications"))["items"]
    )

    # Unsharing removes CERT-B at once.
    assert handler.api.delete(f"/api/v1/cases/{case['id']}/shares/CERT-B").status_code == 204
    assert partner.api.get(f"/api/v1/cases/{case['id']}").status_code == 404

    # Resolve, close the request with lessons learned, close the case.
    r = analyst.api.patch(f"/api/v1/cases/{case['id']}", json={"status": "resolved"})
    assert r.status_code == 422 and r.json()["field"] == "resolution"
    _ok(
        analyst.api.patch(
            f"/api/v1/cases/{case['id']}",
            json={"status": "resolved", "resolution": "true_positive", "summary": "Contained."},
        )
    )
    closed = _ok(
        handler.api.post(
            f"/api/v1/assistance-requests/{req['id']}/close",
            json={"lessons_learned": "Pre-approved forensic kits would have saved six hours."},
        )
    )
    assert closed["status"] == "closed" and closed["lessons_learned"].startswith("Pre-approved")
    _ok(analyst.api.patch(f"/api/v1/cases/{case['id']}", json={"status": "closed"}))

    # The timeline holds every step, in order.
    kinds = [
        t["kind"] for t in _ok(analyst.api.get(f"/api/v1/cases/{case['id']}/timeline"))["items"]
    ]
    for kind in (
        "case.created",
        "template.applied",
        "alert.merged",
        "task.updated",
        "task.log",
        "case.shared",
        "assistance.requested",
        "assistance.decided",
        "deployment.started",
        "deployment.ended",
        "case.unshared",
        "assistance.closed",
    ):
        assert kind in kinds, kind
    assert (
        kinds.index("deployment.started")
        < kinds.index("deployment.ended")
        < kinds.index("assistance.closed")
    )
    # The outsider saw nothing at any point.
    assert outsider.api.get("/api/v1/cases").json()["items"] == []
    assert outsider.api.get("/api/v1/assistance-requests").json()["items"] == []
    assert outsider.api.get("/api/v1/notifications").json()["items"] == []


def test_a_declined_request_grants_nothing(instance, make_user, clock) -> None:  # type: ignore[no-untyped-def]
    handler = make_user("CERT-A", "org_admin")
    coordinator = make_user("ALLIANCE", "coordinator")
    responder = make_user("CERT-RRT", "user")
    case = _ok(handler.api.post("/api/v1/cases", json={"title": "Ransomware at the port"}), 201)
    req = _ok(
        handler.api.post(
            "/api/v1/assistance-requests",
            json={
                "case": case["uuid"],
                "title": "help",
                "needed": "negotiation advice",
                "contacts": [{"name": "CISO"}],
            },
        ),
        201,
    )
    _ok(coordinator.api.post("/api/v1/teams", json={"name": "RRT-2"}), 201)
    _ok(coordinator.api.put("/api/v1/teams/RRT-2/members", json={"user": responder.email}))
    r = coordinator.api.post(
        f"/api/v1/assistance-requests/{req['id']}/decision", json={"approve": False}
    )
    assert r.status_code == 422 and r.json()["field"] == "reason"
    declined = _ok(
        coordinator.api.post(
            f"/api/v1/assistance-requests/{req['id']}/decision",
            json={"approve": False, "reason": "outside the alliance's mandate"},
        )
    )
    assert declined["status"] == "declined"
    r = coordinator.api.post(
        f"/api/v1/assistance-requests/{req['id']}/deployments", json={"team": "RRT-2"}
    )
    assert r.status_code == 409
    assert responder.api.get(f"/api/v1/cases/{case['id']}").status_code == 404
    inbox = _ok(handler.api.get("/api/v1/notifications"))["items"]
    assert any(
        n["topic"] == "assistance.decided" and "outside the alliance" in n["title"] for n in inbox
    )
    # Decided once only.
    r = coordinator.api.post(
        f"/api/v1/assistance-requests/{req['id']}/decision", json={"approve": True}
    )
    assert r.status_code == 409


def test_ending_a_deployment_early_ends_access_at_once(instance, make_user, clock) -> None:  # type: ignore[no-untyped-def]
    handler = make_user("CERT-A", "org_admin")
    coordinator = make_user("ALLIANCE", "coordinator")
    responder = make_user("CERT-RRT", "user")
    case = _ok(handler.api.post("/api/v1/cases", json={"title": "DDoS on the ministry"}), 201)
    req = _ok(
        handler.api.post(
            "/api/v1/assistance-requests",
            json={
                "case": str(case["id"]),
                "title": "t",
                "needed": "n",
                "contacts": [{"name": "x"}],
            },
        ),
        201,
    )
    _ok(
        coordinator.api.post(
            f"/api/v1/assistance-requests/{req['id']}/decision", json={"approve": True}
        )
    )
    _ok(coordinator.api.post("/api/v1/teams", json={"name": "RRT-3"}), 201)
    _ok(coordinator.api.put("/api/v1/teams/RRT-3/members", json={"user": responder.email}))
    dep = _ok(
        coordinator.api.post(
            f"/api/v1/assistance-requests/{req['id']}/deployments", json={"team": "RRT-3"}
        ),
        201,
    )
    assert responder.api.get(f"/api/v1/cases/{case['id']}").status_code == 200
    # The team is busy: it cannot deploy twice at once.
    cands = _ok(coordinator.api.get(f"/api/v1/assistance-requests/{req['id']}/candidates"))["items"]
    assert cands[0]["ready_members"] == 0 and not cands[0]["available"]
    ended = _ok(handler.api.post(f"/api/v1/deployments/{dep['id']}/end"))
    assert ended["running"] is False
    assert responder.api.get(f"/api/v1/cases/{case['id']}").status_code == 404
    assert handler.api.post(f"/api/v1/deployments/{dep['id']}/end").status_code == 409
    # The end is announced once, not again by the periodic pass.
    report = run_response_pass(instance.db)
    assert report is not None and report.deployments_ended == 0
    ended_notes = [
        n
        for n in _ok(responder.api.get("/api/v1/notifications"))["items"]
        if n["topic"] == "deployment.ended"
    ]
    assert len(ended_notes) == 1
