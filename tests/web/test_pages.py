"""Every page renders for every role without an error, forms do what they say (proposals,
reports, attribute edits, freetext review, bulk triage, SLA and constituency settings),
and what a page counts or lists is only what its viewer may read."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.web.test_sessions import _token, sign_in

PAGES = [
    "/ui/",
    "/ui/?period=24h",
    "/ui/?period=90d",
    "/ui/events",
    "/ui/events/new",
    "/ui/attributes",
    "/ui/attributes?value=198.51.100.1",
    "/ui/freetext",
    "/ui/alerts",
    "/ui/cases",
    "/ui/assistance",
    "/ui/teams",
    "/ui/detection",
    "/ui/admin",
    "/ui/admin/organisations",
    "/ui/admin/roles",
    "/ui/admin/sharing-groups",
    "/ui/admin/response",
    "/ui/account",
    "/ui/notifications",
]
ADMIN_PAGES = [
    "/ui/admin/users",
    "/ui/admin/feeds",
    "/ui/admin/knowledge",
    "/ui/admin/taxii",
    "/ui/admin/audit",
    "/ui/admin/audit?check=1",
    "/ui/admin/settings",
]


def _browser(app: Any, email: str) -> TestClient:
    c = TestClient(app, base_url="http://127.0.0.1:8000")
    assert sign_in(c, email).status_code == 303
    return c


def test_every_page_renders_for_every_role(app, admin, instance, make_user) -> None:  # type: ignore[no-untyped-def]
    users = [
        make_user("CERT-A", role)
        for role in ("read_only", "user", "publisher", "org_admin", "coordinator")
    ]
    event = (
        users[2]
        .api.post(
            "/api/v1/events",
            json={
                "info": "pages",
                "distribution": 1,
                "attributes": [{"type": "ip-dst", "value": "198.51.100.1"}],
            },
        )
        .json()
    )
    case = users[1].api.post("/api/v1/cases", json={"title": "pages case"}).json()
    alert = (
        users[1]
        .api.post("/api/v1/alerts", json={"source": "s", "source_ref": "r", "title": "pages alert"})
        .json()
    )
    extra = [
        f"/ui/events/{event['id']}",
        f"/ui/events/{event['id']}/correlations",
        f"/ui/cases/{case['id']}",
        f"/ui/alerts/{alert['id']}",
    ]
    for member in users:
        c = _browser(app, member.email)
        for path in PAGES + extra:
            r = c.get(path)
            assert r.status_code == 200, (member.email, path, r.status_code, r.text[:300])
        # Administrative pages answer with a page, never an error of the server.
        for path in ADMIN_PAGES:
            assert c.get(path).status_code in (200, 403), (member.email, path)
    # The site admin has a password only the first run printed: it signs in with it.
    c = TestClient(app, base_url="http://127.0.0.1:8000")
    assert sign_in(c, "admin@host.test", instance.admin_password).status_code == 303
    for path in PAGES + ADMIN_PAGES + extra:
        r = c.get(path)
        assert r.status_code == 200, ("admin", path, r.status_code, r.text[:300])
    assert "The chain holds" in c.get("/ui/admin/audit?check=1").text


def test_proposals_reports_and_attribute_edits(app, admin, make_user) -> None:  # type: ignore[no-untyped-def]
    assert admin.post("/api/v1/tags", json={"name": "tlp:green"}).status_code == 201
    owner = make_user("CERT-A", "publisher")
    other = make_user("CERT-B", "user")
    event = owner.api.post(
        "/api/v1/events",
        json={
            "info": "shared",
            "distribution": 1,
            "attributes": [{"type": "ip-dst", "value": "198.51.100.2"}],
        },
    ).json()
    b = _browser(app, other.email)
    page = b.get(f"/ui/events/{event['id']}")
    assert "Propose a value" in page.text and "Delete event" not in page.text
    r = b.post(
        f"/ui/events/{event['id']}/proposals",
        data={"csrf_token": _token(page.text), "type": "domain", "value": "Proposed.Example.COM"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    a = _browser(app, owner.email)
    page = a.get(f"/ui/events/{event['id']}")
    assert "proposed.example.com" in page.text
    proposal = re.search(rf"/ui/events/{event['id']}/proposals/(\d+)", page.text)
    assert proposal
    a.post(
        f"/ui/events/{event['id']}/proposals/{proposal.group(1)}",
        data={"csrf_token": _token(page.text), "action": "accept"},
    )
    values = [
        x["value"] for x in owner.api.get(f"/api/v1/events/{event['id']}").json()["attributes"]
    ]
    assert "proposed.example.com" in values
    # A report, and an attribute's comment and IDS flag changed from its page.
    page = a.get(f"/ui/events/{event['id']}")
    a.post(
        f"/ui/events/{event['id']}/reports",
        data={"csrf_token": _token(page.text), "name": "Summary", "content": "# Beacon"},
    )
    assert (
        owner.api.get(f"/api/v1/events/{event['id']}/reports").json()["items"][0]["name"]
        == "Summary"
    )
    attr = owner.api.get(f"/api/v1/events/{event['id']}").json()["attributes"][0]
    page = a.get(f"/ui/events/{event['id']}/attributes/{attr['id']}/edit")
    assert page.status_code == 200
    r = a.post(
        f"/ui/events/{event['id']}/attributes/{attr['id']}/edit",
        data={
            "csrf_token": _token(page.text),
            "value": attr["value"],
            "category": attr["category"],
            "comment": "seen on the proxy",
            "distribution": "5",
            "add_tags": "tlp:green",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    got = owner.api.get(f"/api/v1/attributes/{attr['id']}").json()
    assert got["comment"] == "seen on the proxy" and got["to_ids"] is False
    assert [t["name"] for t in got["tags"]] == ["tlp:green"]
    # The other organisation cannot edit it: the form is refused, nothing changes.
    page = b.get(f"/ui/events/{event['id']}")
    b.post(
        f"/ui/events/{event['id']}/attributes/{attr['id']}/edit",
        data={
            "csrf_token": _token(page.text),
            "value": "203.0.113.1",
            "category": "Network activity",
        },
    )
    assert owner.api.get(f"/api/v1/attributes/{attr['id']}").json()["value"] == attr["value"]


def test_freetext_review_then_save(app, make_user) -> None:  # type: ignore[no-untyped-def]
    user = make_user("CERT-A", "publisher")
    c = _browser(app, user.email)
    page = c.get("/ui/freetext")
    review = c.post(
        "/ui/freetext/review",
        data={
            "csrf_token": _token(page.text),
            "text": "C2 at 198.51.100.77 and hxxp://evil-cdn.com/gate.php, hash d41d8cd98f00b204e9800998ecf8427e",
        },
    )
    assert review.status_code == 200
    for value in (
        "198.51.100.77",
        "http://evil-cdn.com/gate.php",
        "d41d8cd98f00b204e9800998ecf8427e",
    ):
        assert value in review.text
    picks = re.findall(r'name="pick" value="(\d+)"', review.text)
    data: dict[str, Any] = {
        "csrf_token": _token(review.text),
        "info": "From a mail",
        "distribution": "0",
        "pick": picks[:2],
    }
    for i in picks:
        data[f"value:{i}"] = re.search(rf'name="value:{i}" value="([^"]+)"', review.text).group(1)  # type: ignore[union-attr]
        data[f"type:{i}"] = re.search(rf'name="type:{i}"[^>]*><option>([^<]+)<', review.text).group(
            1
        )  # type: ignore[union-attr]
    r = c.post("/ui/freetext/save", data=data, follow_redirects=False)
    assert r.status_code == 303
    event_id = int(r.headers["location"].rsplit("/", 1)[1])
    event = user.api.get(f"/api/v1/events/{event_id}").json()
    assert event["info"] == "From a mail" and len(event["attributes"]) == 2


def test_bulk_triage_and_response_settings_from_the_pages(app, make_user) -> None:  # type: ignore[no-untyped-def]
    lead = make_user("CERT-A", "org_admin")
    ids = [
        lead.api.post(
            "/api/v1/alerts", json={"source": "s", "source_ref": str(i), "title": f"a{i}"}
        ).json()["id"]
        for i in range(3)
    ]
    c = _browser(app, lead.email)
    page = c.get("/ui/alerts")
    c.post(
        "/ui/alerts/bulk",
        data={"csrf_token": _token(page.text), "ids": ids[:2], "action": "ignored"},
    )
    statuses = {a["id"]: a["status"] for a in lead.api.get("/api/v1/alerts").json()["items"]}
    assert statuses == {ids[0]: "ignored", ids[1]: "ignored", ids[2]: "new"}
    page = c.get("/ui/admin/response")
    token = _token(page.text)
    c.post(
        "/ui/admin/response/sla",
        data={
            "csrf_token": token,
            "target": "case",
            "severity": "high",
            "acknowledge_minutes": "30",
            "resolve_minutes": "480",
        },
    )
    c.post(
        "/ui/admin/response/constituency",
        data={"csrf_token": token, "kind": "cidr", "value": "198.51.100.0/24"},
    )
    c.post(
        "/ui/admin/response/templates",
        data={
            "csrf_token": token,
            "name": "Phishing",
            "tasks": "Collect the mail\nBlock the sender",
        },
    )
    assert lead.api.get("/api/v1/sla-policies").json()["items"][0]["resolve_minutes"] == 480
    assert lead.api.get("/api/v1/constituency").json()["items"][0]["value"] == "198.51.100.0/24"
    assert [
        t["title"] for t in lead.api.get("/api/v1/case-templates").json()["items"][0]["tasks"]
    ] == ["Collect the mail", "Block the sender"]
    # A bad value comes back to the form, naming the field.
    r = c.post(
        "/ui/admin/response/constituency",
        data={"csrf_token": token, "kind": "cidr", "value": "nope"},
        follow_redirects=True,
    )
    assert "(value)" in r.text and len(lead.api.get("/api/v1/constituency").json()["items"]) == 1


def test_the_picture_counts_only_what_the_viewer_may_read(app, admin, make_user) -> None:  # type: ignore[no-untyped-def]
    assert admin.post("/api/v1/tags", json={"name": "secret:tag"}).status_code == 201
    a = make_user("CERT-A", "publisher")
    b = make_user("CERT-B", "user")
    private = a.api.post(
        "/api/v1/events",
        json={
            "info": "org only",
            "distribution": 0,
            "tags": [{"name": "secret:tag"}],
            "attributes": [{"type": "ip-dst", "value": "198.51.100.9"}],
        },
    ).json()
    assert private["id"]
    a.api.post("/api/v1/cases", json={"title": "private case", "severity": "critical"})
    a.api.post("/api/v1/alerts", json={"source": "s", "source_ref": "x", "title": "private alert"})

    def kpi(html: str, name: str) -> int:
        m = re.search(rf"<b>(\d+)</b><span>{name}</span>", html)
        assert m, name
        return int(m.group(1))

    seen_a = _browser(app, a.email).get("/ui/").text
    seen_b = _browser(app, b.email).get("/ui/").text
    assert (kpi(seen_a, "new events"), kpi(seen_a, "open cases"), kpi(seen_a, "open alerts")) == (
        1,
        1,
        1,
    )
    assert (kpi(seen_b, "new events"), kpi(seen_b, "open cases"), kpi(seen_b, "open alerts")) == (
        0,
        0,
        0,
    )
    assert "secret:tag" in seen_a and "secret:tag" not in seen_b


def test_objects_from_templates_are_built_and_edited_from_the_pages(app, make_user) -> None:  # type: ignore[no-untyped-def]
    user = make_user("CERT-A", "publisher")
    event = user.api.post("/api/v1/events", json={"info": "objects", "distribution": 0}).json()
    c = _browser(app, user.email)
    form = c.get(f"/ui/events/{event['id']}/objects/new", params={"template": "domain-ip"})
    assert form.status_code == 200 and 'name="attr:domain"' in form.text
    r = c.post(
        f"/ui/events/{event['id']}/objects",
        data={
            "csrf_token": _token(form.text),
            "template": "domain-ip",
            "attr:domain": "Evil.Example.NET",
            "attr:ip": "198.51.100.40",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    detail = user.api.get(f"/api/v1/events/{event['id']}").json()
    (obj,) = detail["objects"]
    assert {(a["object_relation"], a["value"]) for a in obj["attributes"]} == {
        ("domain", "evil.example.net"),
        ("ip", "198.51.100.40"),
    }
    page = c.get(f"/ui/events/{event['id']}")
    token = _token(page.text)
    c.post(
        f"/ui/events/{event['id']}/objects/{obj['id']}/attributes",
        data={"csrf_token": token, "relation": "ip", "value": "198.51.100.41"},
    )
    c.post(
        f"/ui/events/{event['id']}/objects/{obj['id']}/attributes",
        data={"csrf_token": token, "relation": "nonsense", "value": "x"},
    )
    other = user.api.post(
        f"/api/v1/events/{event['id']}/attributes", json={"type": "sha256", "value": "a" * 64}
    ).json()["items"][0]
    c.post(
        f"/ui/events/{event['id']}/objects/{obj['id']}/references",
        data={
            "csrf_token": token,
            "relationship_type": "downloads",
            "referenced_uuid": other["uuid"],
        },
    )
    detail = user.api.get(f"/api/v1/events/{event['id']}").json()
    (obj,) = detail["objects"]
    assert sorted(a["value"] for a in obj["attributes"] if a["object_relation"] == "ip") == [
        "198.51.100.40",
        "198.51.100.41",
    ]
    assert [r["relationship_type"] for r in obj["references"]] == ["downloads"]
    c.post(f"/ui/events/{event['id']}/objects/{obj['id']}/delete", data={"csrf_token": token})
    assert user.api.get(f"/api/v1/events/{event['id']}").json()["objects"] == []


def test_site_admins_edit_roles_and_sharing_groups_from_the_pages(app, instance, make_user) -> None:  # type: ignore[no-untyped-def]
    member = make_user("CERT-B", "user")
    c = TestClient(app, base_url="http://127.0.0.1:8000")
    assert sign_in(c, "admin@host.test", instance.admin_password).status_code == 303
    page = c.get("/ui/admin/roles")
    token = _token(page.text)
    c.post(
        "/ui/admin/roles/6",
        data={"csrf_token": token, "permission": ["auth:key:use", "intel:sighting:add"]},
    )
    roles = {r["id"]: r for r in member.api.get("/api/v1/roles").json()["items"]}
    assert roles[6]["permissions"] == ["auth:key:use", "intel:sighting:add"]
    c.post("/ui/admin/roles/4", data={"csrf_token": token, "make_default": "1"})
    roles = {r["id"]: r for r in member.api.get("/api/v1/roles").json()["items"]}
    assert roles[4]["default_role"] and not roles[3]["default_role"]
    # Sharing groups: create with a member, add and remove another.
    page = c.get("/ui/admin/sharing-groups")
    token = _token(page.text)
    c.post(
        "/ui/admin/sharing-groups",
        data={"csrf_token": token, "name": "Alliance core", "members": "CERT-B"},
    )
    page = c.get("/ui/admin/sharing-groups")
    assert "Alliance core" in page.text and "CERT-B" in page.text
    group = re.search(r"/ui/admin/sharing-groups/(\d+)/members", page.text)
    assert group
    make_user("CERT-C", "user")
    c.post(
        f"/ui/admin/sharing-groups/{group.group(1)}/members",
        data={"csrf_token": token, "org": "CERT-C"},
    )
    assert "CERT-C" in c.get("/ui/admin/sharing-groups").text
    c.post(
        f"/ui/admin/sharing-groups/{group.group(1)}/members",
        data={"csrf_token": token, "org": "CERT-C", "remove": "1"},
    )
    text = c.get("/ui/admin/sharing-groups").text
    assert "CERT-C" not in text.split("Alliance core", 1)[1].split("</tr>", 1)[0]
    # A plain user cannot change roles: refused, nothing changes.
    u = TestClient(app, base_url="http://127.0.0.1:8000")
    sign_in(u, member.email)
    u.post(
        "/ui/admin/roles/6",
        data={"csrf_token": _token(u.get("/ui/admin/roles").text), "permission": ["auth:key:use"]},
    )
    roles = {r["id"]: r for r in member.api.get("/api/v1/roles").json()["items"]}
    assert roles[6]["permissions"] == ["auth:key:use", "intel:sighting:add"]


def test_webhook_deliveries_are_shown_to_their_organisation(app, instance, make_user) -> None:  # type: ignore[no-untyped-def]
    from shieldwall.response import delivery

    boss = make_user("CERT-A", "org_admin")
    other = make_user("CERT-B", "org_admin")
    # Port 9 (discard) is closed here: the delivery fails and waits for its next try.
    made = boss.api.post(
        "/api/v1/webhooks",
        json={"name": "soar-hook", "url": "http://127.0.0.1:9/hook", "topics": ["case.*"]},
    )
    assert made.status_code == 201, made.text
    page = _browser(app, boss.email).get("/ui/admin/response").text
    assert "soar-hook" in page and "Latest deliveries (0)" in page and "Nothing sent yet." in page
    assert boss.api.post("/api/v1/cases", json={"title": "Hook me"}).status_code == 201
    assert delivery.deliver_webhooks(instance.db) == (0, 1)
    page = _browser(app, boss.email).get("/ui/admin/response").text
    assert "Latest deliveries (1)" in page
    row = re.search(r"<td>case\.created</td>.*?</tr>", page, re.S)
    assert row is not None
    assert "pending" in row.group(0) and "<td>1</td>" in row.group(0)
    # Another organisation's admin sees neither the webhook nor what it sent.
    page = _browser(app, other.email).get("/ui/admin/response").text
    assert "soar-hook" not in page and "case.created" not in page
