"""Proposals (shadow attributes) and event reports through the native API: who may propose,
see, accept and discard; who may write and read reports; bad input named by field."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from shieldwall.audit.models import AuditEntry
from shieldwall.audit.service import Actor
from shieldwall.auth.models import User
from shieldwall.auth.service import principal_for
from shieldwall.context import Ctx
from shieldwall.intel.collab_models import EventReport, ShadowAttribute
from shieldwall.intel.models import Attribute, Event
from shieldwall.intel.proposals import proposals_for_event
from shieldwall.intel.reports import reports_for_event

MARKDOWN = (
    "  # Incident 42\r\n\r\n"
    "| host | role |\n|---|---|\n| `db01` | *primary* |\n\n"
    "- [x] contained\t(tab)\n"
    "> quoted <b>html</b> & ampersands \\* escaped\n"
    "Ünïcödé 🛡️ — trailing spaces   \n\n\n"
)


def _event(api: Any, *values: tuple[str, str], distribution: int = 1) -> dict[str, Any]:
    body = {
        "info": "collaboration",
        "distribution": distribution,
        "attributes": [{"type": t, "value": v} for t, v in values],
    }
    r = api.post("/api/v1/events", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _problem(r: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    if field is not None:
        assert body.get("field") == field, body
    return body


def _count(instance: Any, model: Any, *where: Any) -> int:
    with instance.db.reading() as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)


def _audit_actions(instance: Any, model: str) -> list[str]:
    with instance.db.reading() as s:
        return list(
            s.scalars(
                sa.select(AuditEntry.action)
                .where(AuditEntry.model == model)
                .order_by(AuditEntry.id)
            )
        )


# ---------------------------------------------------------------- proposals


def test_proposals_from_another_organisation(instance, make_user) -> None:
    owner = make_user("ORG-A", "publisher")
    proposer = make_user("ORG-B", "user")
    outsider = make_user("ORG-C", "user")
    event = _event(
        owner.api,
        ("ip-dst", "198.51.100.7"),
        ("domain", "keep.example"),
        ("domain", "remove.example"),
    )
    attrs = {a["value"]: a for a in event["attributes"]}
    assert owner.api.post(f"/api/v1/events/{event['id']}/publish").status_code == 200

    r = proposer.api.post(
        f"/api/v1/events/{event['uuid']}/proposals",
        json={"type": "domain", "value": "New.Example.", "comment": "seen in our logs"},
    )
    assert r.status_code == 201, r.text
    new = r.json()
    assert (new["value"], new["old_id"], new["org"]["id"]) == ("new.example", None, proposer.org_id)
    assert new["category"] == "Network activity" and new["email"] == proposer.email
    r = proposer.api.post(
        f"/api/v1/attributes/{attrs['198.51.100.7']['id']}/proposals",
        json={"value": "198.51.100.8", "comment": "typo in the last octet"},
    )
    assert r.status_code == 201, r.text
    change = r.json()
    assert change["old_id"] == attrs["198.51.100.7"]["id"]
    assert change["old_uuid"] == attrs["198.51.100.7"]["uuid"]
    assert (change["type"], change["value"]) == ("ip-dst", "198.51.100.8")
    r = proposer.api.post(
        f"/api/v1/attributes/{attrs['remove.example']['uuid']}/deletion-proposals"
    )
    assert r.status_code == 201, r.text
    deletion = r.json()
    assert deletion["proposal_to_delete"] is True and deletion["value"] == "remove.example"

    # The owner and the proposer see them; a third organisation, which reads the event, does not.
    ids = {new["id"], change["id"], deletion["id"]}
    for member in (owner, proposer):
        listed = member.api.get(f"/api/v1/events/{event['id']}/proposals").json()["items"]
        assert {p["id"] for p in listed} == ids
    assert outsider.api.get(f"/api/v1/events/{event['id']}").status_code == 200
    assert outsider.api.get(f"/api/v1/events/{event['id']}/proposals").json()["items"] == []
    assert outsider.api.get("/api/v1/proposals").json()["items"] == []
    _problem(outsider.api.get(f"/api/v1/proposals/{change['id']}"), 404, "proposal")

    # Only the event's editors accept; the proposer may not, the outsider cannot even find it.
    _problem(proposer.api.post(f"/api/v1/proposals/{change['id']}/accept"), 403)
    _problem(outsider.api.post(f"/api/v1/proposals/{change['id']}/accept"), 404)
    _problem(outsider.api.post(f"/api/v1/proposals/{change['id']}/discard"), 404)

    r = owner.api.post(f"/api/v1/proposals/{change['id']}/accept")
    assert r.status_code == 200, r.text
    assert r.json()["applied"] == "changed" and r.json()["proposal"]["deleted"] is True
    ip = owner.api.get(f"/api/v1/attributes/{attrs['198.51.100.7']['id']}").json()
    assert (ip["value"], ip["comment"]) == ("198.51.100.8", "typo in the last octet")
    assert owner.api.get(f"/api/v1/events/{event['id']}").json()["published"] is False

    r = owner.api.post(f"/api/v1/proposals/{new['uuid']}/accept")
    assert r.status_code == 200 and r.json()["applied"] == "added"
    added = owner.api.get(f"/api/v1/attributes/{new['uuid']}").json()
    assert (added["value"], added["distribution"], added["comment"]) == (
        "new.example",
        5,
        "seen in our logs",
    )

    r = owner.api.post(f"/api/v1/proposals/{deletion['id']}/discard")
    assert r.status_code == 200 and r.json()["deleted"] is True
    assert owner.api.get(f"/api/v1/attributes/{attrs['remove.example']['id']}").status_code == 200
    # Closed proposals are no longer open, and cannot be decided twice.
    assert owner.api.get(f"/api/v1/events/{event['id']}/proposals").json()["items"] == []
    closed = owner.api.get(f"/api/v1/events/{event['id']}/proposals?include_closed=true").json()
    assert {p["id"] for p in closed["items"]} == ids
    _problem(owner.api.post(f"/api/v1/proposals/{deletion['id']}/accept"), 404)
    assert _audit_actions(instance, "ShadowAttribute") == [
        "propose",
        "propose",
        "propose",
        "accept",
        "accept",
        "discard",
    ]


def test_accepted_deletion_and_withdrawn_proposal(make_user) -> None:
    owner = make_user("ORG-A", "user")
    proposer = make_user("ORG-B", "user")
    event = _event(owner.api, ("domain", "a.example"), ("domain", "b.example"))
    a, b = event["attributes"]
    deletion = proposer.api.post(f"/api/v1/attributes/{a['id']}/deletion-proposals").json()
    r = owner.api.post(f"/api/v1/proposals/{deletion['id']}/accept")
    assert r.status_code == 200 and r.json()["applied"] == "deleted"
    assert owner.api.get(f"/api/v1/attributes/{a['id']}").status_code == 404
    gone = owner.api.get(f"/api/v1/attributes/{a['id']}?include_deleted=true").json()
    assert gone["deleted"] is True
    # The proposing organisation may withdraw its own proposal; another member of it too.
    mine = proposer.api.post(f"/api/v1/attributes/{b['id']}/proposals", json={"to_ids": False})
    assert mine.status_code == 201, mine.text
    colleague = make_user("ORG-B", "user")
    r = colleague.api.post(f"/api/v1/proposals/{mine.json()['id']}/discard")
    assert r.status_code == 200, r.text
    assert owner.api.get(f"/api/v1/attributes/{b['id']}").json()["to_ids"] is True


def test_proposals_need_a_readable_event_and_the_add_permission(instance, make_user) -> None:
    owner = make_user("ORG-A", "user")
    proposer = make_user("ORG-B", "user")
    reader = make_user("ORG-B", "read-only")
    private = _event(owner.api, ("domain", "private.example"), distribution=0)
    attr = private["attributes"][0]
    _problem(
        proposer.api.post(
            f"/api/v1/events/{private['id']}/proposals",
            json={"type": "domain", "value": "x.example"},
        ),
        404,
        "event",
    )
    _problem(
        proposer.api.post(
            f"/api/v1/attributes/{attr['id']}/proposals", json={"value": "y.example"}
        ),
        404,
        "attribute",
    )
    _problem(proposer.api.post(f"/api/v1/attributes/{attr['id']}/deletion-proposals"), 404)
    shared = _event(owner.api, ("domain", "shared.example"))
    _problem(
        reader.api.post(
            f"/api/v1/events/{shared['id']}/proposals",
            json={"type": "domain", "value": "x.example"},
        ),
        403,
    )
    assert _count(instance, ShadowAttribute) == 0


def test_bad_proposals_name_the_field_and_write_nothing(instance, make_user) -> None:
    owner = make_user("ORG-A", "user")
    proposer = make_user("ORG-B", "user")
    event = _event(owner.api, ("domain", "dup.example"))
    attr = event["attributes"][0]
    url = f"/api/v1/events/{event['id']}/proposals"
    _problem(proposer.api.post(url, json={"type": "ip-dst", "value": "not-an-ip"}), 422, "value")
    _problem(proposer.api.post(url, json={"type": "no-such-type", "value": "x"}), 422, "type")
    _problem(
        proposer.api.post(url, json={"type": "domain", "value": "x.example", "category": "Nope"}),
        422,
        "category",
    )
    _problem(proposer.api.post(url, json={"value": "x.example"}), 422, "type")
    _problem(
        proposer.api.post(
            url,
            json={
                "type": "domain",
                "value": "x.example",
                "first_seen": "2024-02-01T00:00:00Z",
                "last_seen": "2024-01-01T00:00:00Z",
            },
        ),
        422,
        "last_seen",
    )
    _problem(
        proposer.api.post(url, json={"type": "domain", "value": "x\x00.example"}), 422, "value"
    )
    change = f"/api/v1/attributes/{attr['id']}/proposals"
    _problem(proposer.api.post(change, json={}), 422, "value")
    _problem(proposer.api.post(change, json={"value": "not a domain"}), 422, "value")
    _problem(proposer.api.post("/api/v1/proposals/not-a-ref/accept"), 422, "proposal")
    assert _count(instance, ShadowAttribute) == 0
    # A proposal that would duplicate a live attribute is refused at acceptance, and stays open.
    dup = proposer.api.post(url, json={"type": "domain", "value": "dup.example"}).json()
    _problem(owner.api.post(f"/api/v1/proposals/{dup['id']}/accept"), 422, "value")
    assert owner.api.get(f"/api/v1/proposals/{dup['id']}").json()["deleted"] is False
    assert _count(instance, Attribute, Attribute.event_id == event["id"]) == 1


# ---------------------------------------------------------------- reports


def test_report_lifecycle_keeps_markdown_exactly(instance, make_user) -> None:
    owner = make_user("ORG-A", "publisher")
    event = _event(owner.api, ("domain", "report.example"))
    owner.api.post(f"/api/v1/events/{event['id']}/publish")
    r = owner.api.post(
        f"/api/v1/events/{event['uuid']}/reports", json={"name": "Timeline", "content": MARKDOWN}
    )
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["content"] == MARKDOWN and report["distribution"] == 5
    assert report["event_uuid"] == event["uuid"]
    with instance.db.reading() as s:
        stored = s.scalar(sa.select(EventReport.content).where(EventReport.id == report["id"]))
    assert stored == MARKDOWN
    assert owner.api.get(f"/api/v1/events/{event['id']}").json()["published"] is False
    assert owner.api.get(f"/api/v1/reports/{report['uuid']}").json()["content"] == MARKDOWN

    r = owner.api.patch(f"/api/v1/reports/{report['id']}", json={"name": "Timeline v2"})
    assert r.status_code == 200 and r.json()["name"] == "Timeline v2"
    assert r.json()["content"] == MARKDOWN
    listed = owner.api.get(f"/api/v1/events/{event['id']}/reports").json()["items"]
    assert [x["id"] for x in listed] == [report["id"]]
    assert [x["id"] for x in owner.api.get("/api/v1/reports?q=DB01").json()["items"]] == [
        report["id"]
    ]

    assert owner.api.delete(f"/api/v1/reports/{report['id']}").status_code == 204
    assert owner.api.get(f"/api/v1/events/{event['id']}/reports").json()["items"] == []
    _problem(owner.api.get(f"/api/v1/reports/{report['id']}"), 404, "report")
    soft = owner.api.get(f"/api/v1/reports/{report['id']}?include_deleted=true").json()
    assert soft["deleted"] is True
    only = owner.api.get(f"/api/v1/events/{event['id']}/reports?deleted=only").json()["items"]
    assert [x["id"] for x in only] == [report["id"]]
    r = owner.api.post(f"/api/v1/reports/{report['id']}/restore")
    assert r.status_code == 200 and r.json()["deleted"] is False
    _problem(owner.api.post(f"/api/v1/reports/{report['id']}/restore"), 409)
    assert owner.api.delete(f"/api/v1/reports/{report['id']}?hard=true").status_code == 204
    assert _count(instance, EventReport) == 0
    _problem(owner.api.get(f"/api/v1/reports/{report['id']}?include_deleted=true"), 404)
    assert _audit_actions(instance, "EventReport") == [
        "create",
        "update",
        "soft_delete",
        "restore",
        "delete",
    ]


def test_report_distribution_and_who_may_write(make_user) -> None:
    owner = make_user("ORG-A", "user")
    other = make_user("ORG-B", "user")
    event = _event(owner.api, ("domain", "dist.example"))
    url = f"/api/v1/events/{event['id']}/reports"
    private = owner.api.post(url, json={"name": "ours", "content": "x", "distribution": 0}).json()
    public = owner.api.post(url, json={"name": "shared", "content": "y"}).json()
    assert other.api.get(f"/api/v1/reports/{public['id']}").status_code == 200
    _problem(other.api.get(f"/api/v1/reports/{private['id']}"), 404, "report")
    _problem(other.api.get(f"/api/v1/reports/{private['uuid']}?include_deleted=true"), 404)
    seen = other.api.get(f"/api/v1/events/{event['id']}/reports").json()["items"]
    assert [x["id"] for x in seen] == [public["id"]]
    assert [x["id"] for x in other.api.get("/api/v1/reports").json()["items"]] == [public["id"]]
    # Readers of the event may not write its reports.
    _problem(other.api.post(url, json={"name": "mine", "content": "z"}), 403, "event")
    _problem(other.api.patch(f"/api/v1/reports/{public['id']}", json={"name": "hijack"}), 403)
    _problem(other.api.delete(f"/api/v1/reports/{public['id']}"), 403)
    _problem(other.api.patch(f"/api/v1/reports/{private['id']}", json={"name": "x"}), 404)
    # Narrowing a report hides it; an org-only event's reports stay with the organisation.
    r = owner.api.patch(f"/api/v1/reports/{public['id']}", json={"distribution": 0})
    assert r.status_code == 200 and r.json()["distribution"] == 0
    assert other.api.get(f"/api/v1/events/{event['id']}/reports").json()["items"] == []
    hidden = _event(owner.api, ("domain", "hidden.example"), distribution=0)
    owner.api.post(f"/api/v1/events/{hidden['id']}/reports", json={"name": "n", "content": "c"})
    _problem(other.api.get(f"/api/v1/events/{hidden['id']}/reports"), 404, "event")
    assert other.api.get("/api/v1/reports").json()["items"] == []


def test_bad_reports_name_the_field_and_write_nothing(instance, make_user) -> None:
    owner = make_user("ORG-A", "user")
    event = _event(owner.api, ("domain", "bad.example"))
    url = f"/api/v1/events/{event['id']}/reports"
    _problem(owner.api.post(url, json={"content": "x"}), 422, "name")
    _problem(owner.api.post(url, json={"name": "   ", "content": "x"}), 422, "name")
    _problem(owner.api.post(url, json={"name": "n" * 256}), 422, "name")
    _problem(owner.api.post(url, json={"name": "n", "distribution": 9}), 422, "distribution")
    _problem(owner.api.post(url, json={"name": "n", "distribution": 4}), 422, "sharing_group_id")
    _problem(
        owner.api.post(url, json={"name": "n", "distribution": 4, "sharing_group_id": 99999}),
        422,
        "sharing_group_id",
    )
    _problem(owner.api.post(url, json={"name": "n", "content": "a\x00b"}), 422, "content")
    _problem(owner.api.post(url, json={"name": "n", "uuid": "nope"}), 422, "uuid")
    _problem(owner.api.post("/api/v1/events/999999/reports", json={"name": "n"}), 404, "event")
    assert _count(instance, EventReport) == 0
    created = owner.api.post(
        url, json={"name": "n", "uuid": "5f0c7a3e-1b7e-4f8e-9a55-0d3c2f8e1a11"}
    )
    assert created.status_code == 201
    _problem(
        owner.api.post(url, json={"name": "again", "uuid": "5f0c7a3e-1b7e-4f8e-9a55-0d3c2f8e1a11"}),
        409,
        "uuid",
    )


def test_tlp_red_event_keeps_its_reports_off_community_distribution(admin, make_user) -> None:
    owner = make_user("ORG-A", "org-admin")
    sg = owner.api.post("/api/v1/sharing-groups", json={"name": "red-sg"}).json()
    r = owner.api.post(
        "/api/v1/events",
        json={
            "info": "red",
            "distribution": 4,
            "sharing_group_id": sg["id"],
            "tags": [{"name": "tlp:red"}],
        },
    )
    assert r.status_code == 201, r.text
    url = f"/api/v1/events/{r.json()['id']}/reports"
    _problem(owner.api.post(url, json={"name": "n", "distribution": 1}), 422, "distribution")
    assert owner.api.post(url, json={"name": "n"}).status_code == 201


# ---------------------------------------------------------------- for the event view


def test_serialisations_for_the_event_view(instance, make_user) -> None:
    owner = make_user("ORG-A", "user")
    proposer = make_user("ORG-B", "user")
    outsider = make_user("ORG-C", "user")
    event = _event(owner.api, ("domain", "view.example"))
    proposer.api.post(
        f"/api/v1/events/{event['id']}/proposals", json={"type": "domain", "value": "p.example"}
    )
    owner.api.post(
        f"/api/v1/events/{event['id']}/reports",
        json={"name": "private", "content": "c", "distribution": 0},
    )
    owner.api.post(f"/api/v1/events/{event['id']}/reports", json={"name": "open", "content": "c"})

    def ctx_of(member: Any) -> Ctx:
        with instance.db.reading() as s:
            user = s.get(User, member.user_id)
            assert user is not None
            return Ctx(principal_for(user), Actor(user_id=user.id, org_id=user.org_id))

    with instance.db.reading() as s:
        assert s.get(Event, event["id"]) is not None
        for member, proposals, reports in (
            (owner, ["p.example"], ["private", "open"]),
            (proposer, ["p.example"], ["open"]),
            (outsider, [], ["open"]),
        ):
            ctx = ctx_of(member)
            assert [p["value"] for p in proposals_for_event(s, ctx, event["id"])] == proposals
            assert [r["name"] for r in reports_for_event(s, ctx, event["id"])] == reports


def test_deleting_an_attribute_or_event_takes_its_proposals_and_reports(
    instance, make_user
) -> None:
    owner = make_user("ORG-A", "user")
    proposer = make_user("ORG-B", "user")
    event = _event(owner.api, ("domain", "a.example"), ("domain", "b.example"))
    a, b = event["attributes"]
    chosen = "0b7e4c1a-9f3d-4e2b-8c6a-5d4f3e2a1b0c"
    r = proposer.api.post(
        f"/api/v1/events/{event['id']}/proposals",
        json={"type": "domain", "value": "c.example", "uuid": chosen},
    )
    assert r.status_code == 201 and r.json()["uuid"] != chosen  # the server's uuid, always
    proposer.api.post(f"/api/v1/attributes/{a['id']}/deletion-proposals")
    proposer.api.post(f"/api/v1/attributes/{b['id']}/proposals", json={"comment": "more"})
    owner.api.post(f"/api/v1/events/{event['id']}/reports", json={"name": "n", "content": "c"})
    assert owner.api.delete(f"/api/v1/attributes/{a['id']}?hard=true").status_code == 204
    assert _count(instance, ShadowAttribute) == 2
    assert owner.api.delete(f"/api/v1/events/{event['id']}").status_code == 204
    assert _count(instance, ShadowAttribute) == 0
    assert _count(instance, EventReport) == 0
