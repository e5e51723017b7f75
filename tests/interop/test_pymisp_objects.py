"""The real PyMISP against a live Shieldwall: objects from templates, references, templates."""

from __future__ import annotations

from collections.abc import Callable

from pymisp import MISPEvent, MISPObject, MISPObjectReference, PyMISP


def _event(misp: PyMISP, info: str, distribution: int = 1) -> MISPEvent:
    e = MISPEvent()
    e.info = info
    e.distribution = distribution
    e.add_attribute("ip-dst", "203.0.113.50")
    created = misp.add_event(e, pythonify=True)
    assert isinstance(created, MISPEvent), created
    return created


def _domain_ip(domain: str, ip: str) -> MISPObject:
    obj = MISPObject("domain-ip")
    obj.add_attribute("domain", value=domain)
    obj.add_attribute("ip", value=ip)
    return obj


def test_add_view_edit_delete_object(misp: PyMISP) -> None:
    event = _event(misp, "objects")
    added = misp.add_object(event, _domain_ip("Obj.Example", "198.51.100.7"), pythonify=True)
    assert isinstance(added, MISPObject), added
    assert added.name == "domain-ip" and int(added.event_id) == event.id
    assert {(a.object_relation, a.value) for a in added.attributes} == {
        ("domain", "obj.example"),
        ("ip", "198.51.100.7"),
    }
    assert misp.object_exists(added.uuid) is True
    fetched = misp.get_object(added.id, pythonify=True)
    assert fetched.uuid == added.uuid and len(fetched.attributes) == 2
    # Edit: a comment and one more attribute (a second ip is allowed by the template).
    fetched.comment = "seen together"
    fetched.add_attribute("ip", value="198.51.100.8")
    edited = misp.update_object(fetched, pythonify=True)
    assert edited.comment == "seen together"
    assert sorted(a.value for a in edited.attributes if a.object_relation == "ip") == [
        "198.51.100.7",
        "198.51.100.8",
    ]
    view = misp.get_event(event.id, pythonify=True)
    assert [o.uuid for o in view.objects] == [added.uuid]
    assert misp.delete_object(added)["success"] is True
    assert misp.object_exists(added.uuid) is False
    assert misp.get_event(event.id, pythonify=True).objects == []
    assert misp.delete_object(added, hard=True)["success"] is True
    assert misp.get_object(added.id)["errors"][0] == 404


def test_duplicate_object_refused_only_when_asked(misp: PyMISP) -> None:
    event = _event(misp, "duplicate objects")
    misp.add_object(event, _domain_ip("dup.example", "192.0.2.61"))
    status, body = misp.add_object(
        event, _domain_ip("dup.example", "192.0.2.61"), break_on_duplicate=True
    )["errors"]
    assert status == 409 and "identical" in body["message"]
    assert "errors" not in misp.add_object(event, _domain_ip("dup.example", "192.0.2.61"))
    assert len(misp.get_event(event.id, pythonify=True).objects) == 2


def test_references(misp: PyMISP) -> None:
    event = _event(misp, "references")
    obj = misp.add_object(event, _domain_ip("ref.example", "192.0.2.70"), pythonify=True)
    target = misp.get_event(event.id, pythonify=True).attributes[0]
    ref = MISPObjectReference()
    ref.object_uuid = obj.uuid
    ref.referenced_uuid = target.uuid
    ref.relationship_type = "communicates-with"
    made = misp.add_object_reference(ref, pythonify=True)
    assert isinstance(made, MISPObjectReference), made
    assert made.referenced_uuid == target.uuid and made.relationship_type == "communicates-with"
    refs = misp.get_object(obj.id, pythonify=True).references
    assert [(r.referenced_uuid, r.relationship_type) for r in refs] == [
        (target.uuid, "communicates-with")
    ]
    elsewhere = _event(misp, "another event").attributes[0]
    ref.referenced_uuid = elsewhere.uuid
    status, _ = misp.add_object_reference(ref)["errors"]
    assert status == 422  # references stay inside their event
    assert misp.delete_object_reference(made.id)["success"] is True
    assert misp.get_object(obj.id, pythonify=True).references == []


def test_templates(misp: PyMISP) -> None:
    listed = misp.object_templates()
    names = {t["ObjectTemplate"]["name"] for t in listed}
    assert {"domain-ip", "file", "email"} <= names
    domain_ip = next(t for t in listed if t["ObjectTemplate"]["name"] == "domain-ip")
    full = misp.get_object_template(domain_ip["ObjectTemplate"]["uuid"])
    relations = {e["object_relation"] for e in full["ObjectTemplateElement"]}
    assert {"domain", "ip"} <= relations
    raw = misp.get_raw_object_template("domain-ip")
    assert raw["name"] == "domain-ip" and "attributes" in raw
    assert misp.get_raw_object_template("no-such-template")["errors"][0] == 404


def test_bad_objects_and_other_organisations(misp_as: Callable[[str, str], PyMISP]) -> None:
    alpha = misp_as("ALPHA", "user")
    beta = misp_as("BETA", "user")
    event = _event(alpha, "alpha objects")
    bad = MISPObject("domain-ip", strict=False)
    bad.add_attribute("no-such-relation", value="x", type="text")
    status, body = alpha.add_object(event, bad)["errors"]
    assert status == 422 and "no-such-relation" in body["message"]
    obj = alpha.add_object(event, _domain_ip("alpha.example", "192.0.2.80"), pythonify=True)
    # Another organisation reads the community event's object but cannot change it.
    seen = beta.get_object(obj.id, pythonify=True)
    seen.comment = "beta was here"
    assert beta.update_object(seen)["errors"][0] in (403, 404)
    assert beta.delete_object(obj.id)["errors"][0] in (403, 404)
    assert beta.add_object(event, _domain_ip("b.example", "192.0.2.81"))["errors"][0] in (
        403,
        404,
    )
    private = _event(alpha, "alpha private objects", distribution=0)
    hidden = alpha.add_object(private, _domain_ip("hidden.example", "192.0.2.82"), pythonify=True)
    assert beta.object_exists(hidden.uuid) is False
    assert beta.get_object(hidden.id)["errors"][0] == 404
