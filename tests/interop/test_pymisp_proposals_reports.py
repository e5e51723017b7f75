"""The real PyMISP against a live Shieldwall: proposals (shadow attributes) between
organisations, and event reports, with MISP's paths, answers and errors."""

from __future__ import annotations

from collections.abc import Callable

from pymisp import MISPAttribute, MISPEvent, MISPEventReport, MISPShadowAttribute, PyMISP

# PyMISP strips the ends of strings it sends; everything inside must come back unchanged.
MARKDOWN = (
    "# Incident 42\r\n\r\n"
    "| host | role |\n|---|---|\n| `db01` | *primary* |\n\n"
    "- [x] contained\t(tab)   \n"
    "> quoted <b>html</b> & ampersands \\* escaped\n\n"
    "Ünïcödé 🛡️ — the end."
)


def _event(info: str, *values: tuple[str, str], distribution: int = 1) -> MISPEvent:
    e = MISPEvent()
    e.info = info
    e.distribution = distribution
    for t, v in values:
        e.add_attribute(t, v)
    return e


def _report(name: str, content: str, distribution: int | None = None) -> MISPEventReport:
    r = MISPEventReport()
    fields: dict[str, object] = {"name": name, "content": content}
    if distribution is not None:
        fields["distribution"] = distribution
    r.from_dict(**fields)
    return r


def _attribute(**fields: object) -> MISPAttribute:
    a = MISPAttribute()
    for name, value in fields.items():
        setattr(a, name, value)
    return a


def test_proposals_between_organisations(misp_as: Callable[[str, str], PyMISP]) -> None:
    owner = misp_as("ORG A", "publisher")
    proposer = misp_as("ORG B", "user")
    outsider = misp_as("ORG C", "user")
    event = owner.add_event(
        _event(
            "proposals",
            ("ip-dst", "198.51.100.7"),
            ("domain", "keep.example"),
            ("domain", "remove.example"),
        ),
        pythonify=True,
    )
    owner.publish(event)
    by_value = {a.value: a for a in event.attributes}

    new = proposer.add_attribute_proposal(
        event.id, _attribute(type="domain", value="new.example", comment="ours"), pythonify=True
    )
    assert isinstance(new, MISPShadowAttribute), new
    assert (new.value, new.old_id, new.event_id, new.comment) == (
        "new.example",
        "0",
        str(event.id),
        "ours",
    )
    ip = by_value["198.51.100.7"]
    change = proposer.update_attribute_proposal(
        ip.id, _attribute(value="198.51.100.8", comment="typo"), pythonify=True
    )
    assert isinstance(change, MISPShadowAttribute), change
    assert (change.old_id, change.old_uuid, change.type) == (str(ip.id), ip.uuid, "ip-dst")
    deletion = proposer.delete_attribute_proposal(by_value["remove.example"].uuid)
    assert deletion["saved"] is True and "delete" in deletion["success"]
    deletion_id = deletion["id"]

    # The owner and the proposer see the three; a third organisation none of them.
    mine = proposer.attribute_proposals(event, pythonify=True)
    theirs = owner.attribute_proposals(event.uuid, pythonify=True)
    assert {p.id for p in mine} == {p.id for p in theirs} == {new.id, change.id, deletion_id}
    assert {p.proposal_to_delete for p in theirs} == {True, False}
    assert outsider.get_event(event.id, pythonify=True).info == "proposals"
    assert outsider.attribute_proposals(event) == []
    assert outsider.attribute_proposals() == []
    status, body = outsider.get_attribute_proposal(change.id)["errors"]
    assert status == 404 and body["success"] is False
    viewed = owner.get_attribute_proposal(change, pythonify=True)
    assert (viewed.value, viewed.email) == ("198.51.100.8", change.email)

    # The proposer may not accept; the event's owner does, and the event is unpublished.
    status, _ = proposer.accept_attribute_proposal(change)["errors"]
    assert status == 403
    status, _ = outsider.discard_attribute_proposal(change)["errors"]
    assert status == 404
    accepted = owner.accept_attribute_proposal(change)
    assert accepted["message"] == "Proposed change accepted."
    after = owner.get_event(event.id, pythonify=True)
    assert after.published is False
    changed = next(a for a in after.attributes if a.uuid == ip.uuid)
    assert (changed.value, changed.comment) == ("198.51.100.8", "typo")
    assert owner.accept_attribute_proposal(new.id)["message"] == "Proposal accepted."
    assert owner.discard_attribute_proposal(deletion_id)["message"] == "Proposal discarded."
    values = {a.value for a in owner.get_event(event.id, pythonify=True).attributes}
    assert values == {"198.51.100.8", "keep.example", "remove.example", "new.example"}
    # Decided proposals are closed: gone from view, flagged in the index.
    status, _ = owner.get_attribute_proposal(change.id)["errors"]
    assert status == 404
    listed = owner.attribute_proposals(event, pythonify=True)
    assert {p.id: p.deleted for p in listed} == {new.id: True, change.id: True, deletion_id: True}
    open_only = owner._check_json_response(
        owner._prepare_request("GET", f"shadowAttributes/index/{event.id}/deleted:0")
    )
    assert open_only == []


def test_proposer_withdraws_and_private_events_refuse(
    misp_as: Callable[[str, str], PyMISP],
) -> None:
    owner = misp_as("ORG A", "user")
    proposer = misp_as("ORG B", "user")
    colleague = misp_as("ORG B", "user")
    reader = misp_as("ORG B", "read only")
    shared = owner.add_event(_event("shared", ("domain", "shared.example")), pythonify=True)
    proposal = proposer.update_attribute_proposal(
        shared.attributes[0].id, _attribute(comment="context"), pythonify=True
    )
    assert colleague.discard_attribute_proposal(proposal)["message"] == "Proposal discarded."
    status, _ = reader.add_attribute_proposal(shared, _attribute(type="domain", value="x.example"))[
        "errors"
    ]
    assert status == 403
    private = owner.add_event(
        _event("org only", ("domain", "private.example"), distribution=0), pythonify=True
    )
    status, _ = proposer.add_attribute_proposal(
        private.id, _attribute(type="domain", value="x.example")
    )["errors"]
    assert status == 404
    status, _ = proposer.update_attribute_proposal(
        private.attributes[0].id, _attribute(value="y.example")
    )["errors"]
    assert status == 404
    status, _ = proposer.delete_attribute_proposal(private.attributes[0].id)["errors"]
    assert status == 404
    assert owner.attribute_proposals(private) == []


def test_bad_proposals_are_misp_errors(misp: PyMISP) -> None:
    event = misp.add_event(_event("bad proposals", ("domain", "ok.example")), pythonify=True)
    status, body = misp.add_attribute_proposal(event, _attribute(type="ip-dst", value="nope"))[
        "errors"
    ]
    assert status == 422 and "value" in body["errors"] and body["success"] is False
    status, body = misp.add_attribute_proposal(event, _attribute(type="no-such", value="x"))[
        "errors"
    ]
    assert status == 422 and "type" in body["errors"]
    status, body = misp.update_attribute_proposal(event.attributes[0].id, {})["errors"]
    assert status == 422 and "value" in body["errors"]
    status, _ = misp.add_attribute_proposal(999999, _attribute(type="domain", value="x.example"))[
        "errors"
    ]
    assert status == 404
    status, _ = misp.accept_attribute_proposal(999999)["errors"]
    assert status == 404
    status, body = misp._check_json_response(
        misp._prepare_request("GET", "shadowAttributes/index/sort:value")
    )["errors"]
    assert status == 422 and "sort" in body["errors"]


def test_event_reports(misp_as: Callable[[str, str], PyMISP]) -> None:
    owner = misp_as("ORG A", "publisher")
    other = misp_as("ORG B", "user")
    event = owner.add_event(_event("reports", ("domain", "r.example")), pythonify=True)
    owner.publish(event)
    report = owner.add_event_report(event, _report("Timeline", MARKDOWN), pythonify=True)
    assert isinstance(report, MISPEventReport), report
    assert (report.name, report.content, report.event_id) == ("Timeline", MARKDOWN, int(event.id))
    assert int(report.distribution) == 5 and report.deleted is False
    assert owner.get_event(event.id, pythonify=True).published is False
    by_uuid = other.get_event_report(report.uuid, pythonify=True)
    assert by_uuid.content == MARKDOWN and by_uuid.id == report.id
    raw = owner.get_event_report(report.id)
    assert raw["EventReport"]["id"] == str(report.id) and raw["Event"]["id"] == str(event.id)

    private = owner.add_event_report(event, _report("Ours", "org only", 0), pythonify=True)
    assert int(private.distribution) == 0
    assert {r.id for r in owner.get_event_reports(event.id, pythonify=True)} == {
        report.id,
        private.id,
    }
    assert [r.id for r in other.get_event_reports(event.id, pythonify=True)] == [report.id]
    status, body = other.get_event_report(private.id)["errors"]
    assert status == 404 and body["success"] is False

    report.name = "Timeline v2"
    report.content = MARKDOWN + "\n\nUpdated."
    updated = owner.update_event_report(report, pythonify=True)
    assert (updated.name, updated.content) == ("Timeline v2", MARKDOWN + "\n\nUpdated.")
    status, _ = other.update_event_report(report)["errors"]
    assert status == 403
    status, _ = other.add_event_report(event, _report("Theirs", "x"))["errors"]
    assert status == 403

    soft = owner.delete_event_report(report)
    assert soft["success"] is True and soft["message"] == f"Event Report {report.uuid} soft deleted"
    assert [r.id for r in owner.get_event_reports(event.id, pythonify=True)] == [private.id]
    assert owner.get_event_report(report.id, pythonify=True).deleted is True
    status, _ = other.get_event_report(report.id)["errors"]
    assert status == 404
    hard = owner.delete_event_report(report.id, hard=True)
    assert hard["message"] == f"Event Report {report.id} hard deleted"
    status, _ = owner.get_event_report(report.id)["errors"]
    assert status == 404


def test_bad_reports_are_misp_errors(misp: PyMISP) -> None:
    event = misp.add_event(_event("bad reports"), pythonify=True)
    status, body = misp.add_event_report(event, {"name": "", "content": "x"})["errors"]  # type: ignore[arg-type]
    assert status == 422 and "name" in body["errors"]
    status, body = misp.add_event_report(event, {"name": "n", "distribution": "9"})["errors"]  # type: ignore[arg-type]
    assert status == 422 and "distribution" in body["errors"]
    status, body = misp.add_event_report(event, {"name": "n", "distribution": 4})["errors"]  # type: ignore[arg-type]
    assert status == 422 and "sharing_group_id" in body["errors"]
    status, _ = misp.add_event_report(999999, _report("n", "c"))["errors"]
    assert status == 404
    status, _ = misp.delete_event_report(999999)["errors"]
    assert status == 404
    status, body = misp._check_json_response(
        misp._prepare_request("GET", "eventReports/index/context:sideways")
    )["errors"]
    assert status == 422 and "context" in body["errors"]
