"""The real PyMISP against a live Shieldwall: tag definitions (list, view, add, edit, hide,
delete, search) and attaching tags, global and local, to events and attributes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from pymisp import MISPEvent, MISPTag, PyMISP


def _tag(name: str, **fields: Any) -> MISPTag:
    t = MISPTag()
    t.name = name
    for key, value in fields.items():
        setattr(t, key, value)
    return t


def _event(misp: PyMISP, info: str, distribution: int = 1) -> MISPEvent:
    e = MISPEvent()
    e.info = info
    e.distribution = distribution
    e.add_attribute("domain", f"{uuid.uuid4().hex[:8]}.example")
    created = misp.add_event(e, pythonify=True)
    assert isinstance(created, MISPEvent), created
    return created


def _error(answer: Any) -> tuple[int, dict[str, Any]]:
    assert isinstance(answer, dict) and "errors" in answer, answer
    status, body = answer["errors"]
    assert body["success"] is False and body["saved"] is False
    return status, body


def _tags_of(thing: Any) -> dict[str, bool]:
    return {t.name: bool(int(t.local)) for t in thing.tags}


def test_add_view_edit_hide_and_delete_a_tag(misp: PyMISP) -> None:
    created = misp.add_tag(_tag("shieldwall:life", colour="#123456"), pythonify=True)
    assert isinstance(created, MISPTag), created
    assert created.name == "shieldwall:life" and created.colour == "#123456"
    assert created.exportable is True and created.hide_tag is False and created.org_id == "0"
    # MISP's add hands back the existing tag of that name, unchanged.
    again = misp.add_tag(_tag("shieldwall:life", colour="#654321"))
    assert again["Tag"]["id"] == created.id and again["Tag"]["colour"] == "#123456"
    # Without a colour, one is derived from the name (MISP does the same).
    coloured = misp.add_tag(_tag("shieldwall:no-colour"), pythonify=True)
    assert coloured.colour.startswith("#") and len(coloured.colour) == 7

    viewed = misp.get_tag(created.id, pythonify=True)
    assert viewed.name == "shieldwall:life" and viewed.count == 0 and viewed.attribute_count == 0

    viewed.name = "shieldwall:renamed"
    viewed.colour = "#abcdef"
    viewed.numerical_value = 42
    edited = misp.update_tag(viewed, pythonify=True)
    assert isinstance(edited, MISPTag), edited
    assert (edited.id, edited.name, edited.colour) == (created.id, "shieldwall:renamed", "#abcdef")
    assert edited.numerical_value == 42

    assert misp.disable_tag(edited, pythonify=True).hide_tag is True
    assert misp.get_tag(created.id)["hide_tag"] is True
    assert misp.enable_tag(edited, pythonify=True).hide_tag is False

    listed = misp.tags()
    assert {"shieldwall:renamed", "shieldwall:no-colour"} <= {t["name"] for t in listed}
    mine = next(t for t in listed if t["name"] == "shieldwall:renamed")
    assert mine["id"] == created.id and mine["count"] == 0 and mine["favourite"] is False
    names = [t["name"] for t in listed]
    assert names == sorted(names, key=str.lower)

    deleted = misp.delete_tag(created.id)
    assert deleted["success"] is True, deleted
    status, _ = _error(misp.get_tag(created.id))
    assert status == 404
    assert "shieldwall:renamed" not in {t["name"] for t in misp.tags()}
    status, _ = _error(misp.delete_tag(created.id))
    assert status == 404


def test_search_tags_loose_and_strict(misp: PyMISP) -> None:
    for name in ("apt:alpha", "apt:beta", "Campaign:Gamma"):
        assert "errors" not in misp.add_tag(_tag(name))
    loose = misp.search_tags("apt:%", pythonify=True)
    assert sorted(t.name for t in loose) == ["apt:alpha", "apt:beta"]
    assert all(isinstance(t, MISPTag) for t in loose)
    # Loose names match whatever the case; strict ones exactly.
    assert [t.name for t in misp.search_tags("campaign:gamma", pythonify=True)] == [
        "Campaign:Gamma"
    ]
    assert misp.search_tags("campaign:gamma", strict_tagname=True) == []
    strict = misp.search_tags("Campaign:Gamma", strict_tagname=True)
    assert [t["Tag"]["name"] for t in strict] == ["Campaign:Gamma"]
    assert misp.search_tags("nothing:%") == []
    # MISP's own path form: /tags/search/<name>/<strict>.
    by_path = misp.direct_call("tags/search/apt:alpha/1")
    assert [t["Tag"]["name"] for t in by_path] == ["apt:alpha"]
    status, body = _error(misp.direct_call("tags/search", {"tagname": ""}))
    assert status == 422 and "tagname" in body["errors"]


def test_tags_index_filters_and_counts(misp: PyMISP) -> None:
    event = _event(misp, "counted")
    attribute = event.attributes[0]
    for name in ("count:event", "count:attribute", "count:unused"):
        misp.add_tag(_tag(name))
    assert misp.tag(event, "count:event")["success"] is True
    assert misp.tag(attribute, "count:attribute")["success"] is True
    counted = {t["name"]: t for t in misp.tags(searchall="count:")}
    assert set(counted) == {"count:event", "count:attribute", "count:unused"}
    assert (counted["count:event"]["count"], counted["count:event"]["attribute_count"]) == (1, 0)
    assert counted["count:attribute"]["attribute_count"] == 1
    assert counted["count:unused"]["count"] == 0
    exact = misp.tags(name="COUNT:EVENT")
    assert [t["name"] for t in exact] == ["count:event"]
    bare = misp.tags(searchall="count:", exclude_statistics=1)
    assert bare and all("count" not in t for t in bare)
    viewed = misp.get_tag(counted["count:attribute"]["id"])
    assert (viewed["count"], viewed["attribute_count"]) == (0, 1)


def test_attach_and_remove_global_and_local_tags(misp: PyMISP) -> None:
    event = _event(misp, "tag me")
    attribute = event.attributes[0]
    by_id = misp.add_tag(_tag("shieldwall:by-id"), pythonify=True)

    assert misp.tag(event, "tlp:green")["success"] is True
    assert misp.tag(event.uuid, "shieldwall:local", local=True)["success"] is True
    assert misp.tag(event.uuid, by_id.id)["success"] is True  # a tag id is accepted too
    assert misp.tag(attribute, "shieldwall:attr-global")["success"] is True
    assert misp.tag(attribute.uuid, "shieldwall:attr-local", local=True)["success"] is True
    # Attaching a tag the object already carries changes nothing and still succeeds.
    assert misp.tag(event, "tlp:green")["success"] is True

    fetched = misp.get_event(event.id, pythonify=True)
    assert _tags_of(fetched) == {
        "tlp:green": False,
        "shieldwall:local": True,
        "shieldwall:by-id": False,
    }
    assert _tags_of(fetched.attributes[0]) == {
        "shieldwall:attr-global": False,
        "shieldwall:attr-local": True,
    }

    assert misp.untag(event, "tlp:green")["success"] is True
    assert misp.untag(event.uuid, by_id.id)["success"] is True
    assert misp.untag(attribute, "SHIELDWALL:ATTR-LOCAL")["success"] is True  # any case
    fetched = misp.get_event(event.id, pythonify=True)
    assert _tags_of(fetched) == {"shieldwall:local": True}
    assert _tags_of(fetched.attributes[0]) == {"shieldwall:attr-global": False}

    status, body = _error(misp.untag(event, "tlp:green"))
    assert status == 404 and "tag" in body["errors"]


def test_tlp_guard_and_local_only_tags(misp: PyMISP) -> None:
    event = _event(misp, "community", distribution=1)
    status, body = _error(misp.tag(event, "tlp:red"))
    assert status == 422 and "tlp:red" in body["message"]
    assert "tlp:red" not in _tags_of(misp.get_event(event.id, pythonify=True))

    misp.add_tag(_tag("shieldwall:only-local", local_only=True))
    status, body = _error(misp.tag(event, "shieldwall:only-local"))
    assert status == 422 and "local" in body["errors"]
    assert misp.tag(event, "shieldwall:only-local", local=True)["success"] is True
    assert _tags_of(misp.get_event(event.id, pythonify=True)) == {"shieldwall:only-local": True}


def test_another_organisation_cannot_tag_or_untag(
    misp: PyMISP, misp_as: Callable[[str, str], PyMISP]
) -> None:
    for name in ("tlp:green", "tlp:white"):
        misp.add_tag(_tag(name))
    alpha = misp_as("ALPHA", "publisher")
    beta = misp_as("BETA", "org admin")
    event = _event(alpha, "alpha's, shared with the community")
    assert alpha.tag(event, "tlp:green")["success"] is True
    status, _ = _error(beta.tag(event, "tlp:white"))
    assert status == 403
    status, _ = _error(beta.tag(event.attributes[0], "tlp:white"))
    assert status == 403
    status, _ = _error(beta.untag(event, "tlp:green"))
    assert status == 403
    assert _tags_of(alpha.get_event(event.id, pythonify=True)) == {"tlp:green": False}

    hidden = _event(alpha, "alpha only", distribution=0)
    status, body = _error(beta.tag(hidden, "tlp:green"))
    assert status == 404 and "uuid" in body["errors"]


def test_read_only_user_cannot_tag_but_can_read_tags(
    misp: PyMISP, misp_as: Callable[[str, str], PyMISP]
) -> None:
    writer = misp_as("ALPHA", "publisher")
    reader = misp_as("ALPHA", "read only")
    event = _event(writer, "read only")
    misp.add_tag(_tag("shieldwall:existing"))
    status, _ = _error(reader.tag(event, "shieldwall:existing"))
    assert status == 403
    status, _ = _error(reader.add_tag(_tag("shieldwall:new")))
    assert status == 403
    assert "shieldwall:existing" in {t["name"] for t in reader.tags()}
    assert [t["Tag"]["name"] for t in reader.search_tags("shieldwall:existing")] == [
        "shieldwall:existing"
    ]


def test_users_tag_with_existing_tags_only_and_edit_no_shared_tag(
    misp: PyMISP, misp_as: Callable[[str, str], PyMISP]
) -> None:
    user = misp_as("ALPHA", "user")
    event = _event(user, "the user's own")
    shared = misp.add_tag(_tag("shieldwall:shared"), pythonify=True)
    assert user.tag(event, "shieldwall:shared")["success"] is True
    status, _ = _error(user.tag(event, "shieldwall:brand-new"))
    assert status == 403  # missing, and a user may not create tags
    org_admin = misp_as("ALPHA", "org admin")
    shared.colour = "#000000"
    status, _ = _error(org_admin.update_tag(shared))
    assert status == 403  # shared tags belong to the site admins
    status, _ = _error(org_admin.delete_tag(shared.id))
    assert status == 403
    assert misp.get_tag(shared.id)["colour"] != "#000000"


def test_another_organisations_private_tag(misp_as: Callable[[str, str], PyMISP]) -> None:
    alpha = misp_as("ALPHA", "org admin")
    beta = misp_as("BETA", "org admin")
    alpha_org = alpha.get_user("me", pythonify=True).org_id
    private = alpha.add_tag(_tag("alpha:private", org_id=alpha_org), pythonify=True)
    assert isinstance(private, MISPTag), private
    assert private.org_id == str(alpha_org)
    # Alpha edits its own private tag; its organisation cannot be changed through edit.
    private.colour = "#0000ff"
    assert alpha.update_tag(private, pythonify=True).colour == "#0000ff"
    private.org_id = "0"
    status, body = _error(alpha.update_tag(private))
    assert status == 422 and "org_id" in body["errors"]

    assert "alpha:private" not in {t["name"] for t in beta.tags()}
    assert beta.search_tags("alpha:%") == []
    status, _ = _error(beta.get_tag(private.id))
    assert status == 404
    status, body = _error(beta.add_tag(_tag("alpha:private")))
    assert status == 409 and "name" in body["errors"]
    event = _event(beta, "beta's")
    status, body = _error(beta.tag(event, "alpha:private"))
    assert status == 403 and "tag" in body["errors"]
    status, _ = _error(beta.tag(event, private.id))
    assert status == 404
    assert _tags_of(beta.get_event(event.id, pythonify=True)) == {}


def test_bad_input_gets_misp_shaped_errors(misp: PyMISP) -> None:
    status, body = _error(misp.direct_call("tags/add", {"colour": "#ffffff"}))
    assert status == 422 and "name" in body["errors"]
    status, body = _error(misp.add_tag(_tag("shieldwall:bad-colour", colour="red")))
    assert status == 422 and "colour" in body["errors"]
    status, body = _error(misp.add_tag(_tag("   ")))
    assert status == 422 and "name" in body["errors"]
    status, body = _error(misp.add_tag(_tag("shieldwall:user", user_id="7")))
    assert status == 422 and "user_id" in body["errors"]
    status, body = _error(misp.add_tag(_tag("shieldwall:no-org", org_id="99999")))
    assert status == 422 and "org_id" in body["errors"]
    assert misp.search_tags("shieldwall:%") == []

    status, body = _error(misp.tag(str(uuid.uuid4()), "tlp:green"))
    assert status == 404 and "uuid" in body["errors"]
    status, body = _error(misp.tag("not-a-uuid", "tlp:green"))
    assert status == 422 and "uuid" in body["errors"]
    status, body = _error(misp.untag(str(uuid.uuid4()), "tlp:green"))
    assert status == 404 and "uuid" in body["errors"]

    event = _event(misp, "bad input")
    status, body = _error(misp.direct_call("tags/attachTagToObject", {"uuid": event.uuid}))
    assert status == 422 and "tag" in body["errors"]
    status, body = _error(misp.direct_call("tags/attachTagToObject", {"tag": "tlp:green"}))
    assert status == 422 and "uuid" in body["errors"]
    status, body = _error(
        misp.direct_call(
            "tags/attachTagToObject", {"uuid": event.uuid, "tag": "tlp:green", "local": "maybe"}
        )
    )
    assert status == 422 and "local" in body["errors"]
    status, body = _error(misp.tag(event, "x" * 256))
    assert status == 422 and "tag" in body["errors"]
    status, body = _error(misp.tag(event, "nul\x00byte"))
    assert status == 422 and "tag" in body["errors"]
    status, _ = _error(misp.tag(event, 999999))
    assert status == 404
    status, body = _error(misp.direct_call("tags/search", {"tagname": "a\x00b"}))
    assert status == 422 and "tagname" in body["errors"]
    status, _ = _error(misp.get_tag(999999))
    assert status == 404
    assert _tags_of(misp.get_event(event.id, pythonify=True)) == {}
