"""The real PyMISP administering a live Shieldwall: organisations, users, roles, API keys and
sharing groups, with MISP's rules on who may do what."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pymisp import (
    MISPOrganisation,
    MISPRole,
    MISPSharingGroup,
    MISPUser,
    PyMISP,
    PyMISPError,
)

MispAs = Callable[[str, str], PyMISP]

# MISP's seeded roles, by MISP's ids.
MISP_ROLES = {
    "1": "admin",
    "2": "Org Admin",
    "3": "User",
    "4": "Publisher",
    "5": "Sync user",
    "6": "Read Only",
}
# Beyond MISP's six: the alliance's coordinators (assistance requests, rapid reaction).
ROLES = {**MISP_ROLES, "7": "Coordinator"}


def _org(misp: PyMISP, name: str, **fields: Any) -> MISPOrganisation:
    org = MISPOrganisation()
    org.name = name
    for key, value in fields.items():
        setattr(org, key, value)
    created = misp.add_organisation(org, pythonify=True)
    assert isinstance(created, MISPOrganisation), created
    return created


def _user(misp: PyMISP, email: str, **fields: Any) -> MISPUser:
    user = MISPUser()
    user.email = email
    for key, value in fields.items():
        setattr(user, key, value)
    created = misp.add_user(user, pythonify=True)
    assert isinstance(created, MISPUser), created
    return created


def _new(cls: Any, **fields: Any) -> Any:
    """A PyMISP object with these fields (not every class takes them in its constructor)."""
    obj = cls()
    for key, value in fields.items():
        setattr(obj, key, value)
    return obj


def _error(answer: Any) -> tuple[int, dict[str, Any]]:
    """PyMISP's answer to a 4xx: {"errors": (status, MISP's error body)}."""
    assert isinstance(answer, dict) and "errors" in answer, answer
    status, body = answer["errors"]
    assert body["saved"] is False and body["success"] is False, body
    return status, body


# ---------------------------------------------------------------- organisations and users


def test_site_admin_creates_organisations_and_a_user_of_every_role(
    misp: PyMISP, live_url: str
) -> None:
    alpha = _org(misp, "Alpha CERT", nationality="Belgium", sector="Energy")
    beta = _org(misp, "BETA", local=True)
    assert alpha.name == "Alpha CERT" and alpha.nationality == "Belgium"
    assert isinstance(alpha.id, str) and alpha.id != beta.id and len(alpha.uuid) == 36
    assert misp.organisation_exists(alpha.uuid) is True
    assert misp.organisation_exists("8a7d1c33-0000-4000-8000-000000000000") is False
    # PyMISP sends the space of a name as "+", as MISP expects.
    by_name = misp.get_organisation("Alpha CERT", pythonify=True)
    assert by_name.uuid == alpha.uuid and by_name.sector == "Energy"
    names = {o.name for o in misp.organisations(pythonify=True)}
    assert {"HOST-CERT", "Alpha CERT", "BETA"} <= names
    assert [o.name for o in misp.organisations(search="alpha", pythonify=True)] == ["Alpha CERT"]
    assert misp.organisations(scope="external", pythonify=True) == []

    roles = misp.roles(pythonify=True)
    assert all(isinstance(r, MISPRole) for r in roles)
    assert {r.id: r.name for r in roles} == ROLES
    by_id = {r.id: r for r in roles}
    assert by_id["1"].perm_site_admin is True and by_id["2"].perm_admin is True
    assert by_id["4"].perm_publish is True and by_id["3"].perm_publish is False
    assert by_id["6"].perm_add is False and by_id["5"].perm_sync is True
    assert [r.id for r in roles if r.default_role] == ["3"]

    for role_id, role_name in MISP_ROLES.items():
        org = alpha if int(role_id) % 2 else beta
        email = f"role{role_id}@{org.name.split()[0].lower()}.test"
        created = _user(misp, email, org_id=org.id, role_id=role_id)
        assert created.email == email and created.role_id == role_id
        assert created.org_id == org.id and isinstance(created.id, str)
        assert len(created.authkey) == 40  # the new API key, shown this once
        as_new = PyMISP(live_url, created.authkey, ssl=False)
        me = as_new.get_user("me", pythonify=True)
        assert me.email == email and me.org_id == org.id
        assert as_new._current_role.name == role_name
        assert misp.get_user(created.id, pythonify=True).email == email
        # The key is never shown again.
        assert not misp.get_user(created.id)["User"].get("authkey")

    alpha_users = misp.users(organisation=alpha.id, pythonify=True)
    assert sorted(u.role_id for u in alpha_users) == ["1", "3", "5"]
    assert [u.email for u in misp.users(search="role4", pythonify=True)] == ["role4@beta.test"]
    orgs = {o.name: o for o in misp.organisations(pythonify=True)}
    assert orgs["Alpha CERT"].user_count == 3


def test_edit_and_delete_users_and_organisations(misp: PyMISP, live_url: str) -> None:
    org = _org(misp, "GAMMA", description="before")
    user = _user(misp, "gamma.user@gamma.test", org_id=org.id, role_id="3")
    key = user.authkey

    user.email = "Gamma.Renamed@gamma.test"
    user.role_id = "4"
    edited = misp.update_user(user, pythonify=True)
    assert isinstance(edited, MISPUser), edited
    assert edited.email == "gamma.renamed@gamma.test" and edited.role_id == "4"
    fetched = misp.get_user(user.id, pythonify=True)
    assert fetched.email == "gamma.renamed@gamma.test" and fetched.role_id == "4"
    assert PyMISP(live_url, key, ssl=False)._current_role.perm_publish is True

    # Sending the fetched user back unchanged is not a change of anything.
    assert isinstance(misp.update_user(fetched, pythonify=True), MISPUser)

    fetched.disabled = True
    assert misp.update_user(fetched, pythonify=True).disabled is True
    with pytest.raises(PyMISPError):
        PyMISP(live_url, key, ssl=False)

    org.description = "after"
    org.nationality = "Estonia"
    misp.update_organisation(org)
    again = misp.get_organisation(org.id, pythonify=True)
    assert again.description == "after" and again.nationality == "Estonia"
    assert again.name == "GAMMA"

    # An organisation that still has users is not deleted.
    status, body = _error(misp.delete_organisation(org))
    assert status == 409 and "users" in body["message"]
    assert misp.organisation_exists(org.id) is True

    deleted = misp.delete_user(user)
    assert deleted["success"] is True and deleted["id"] == user.id
    status, _ = _error(misp.get_user(user.id))
    assert status == 404

    deleted = misp.delete_organisation(org)
    assert deleted["success"] is True
    assert misp.organisation_exists(org.id) is False
    status, _ = _error(misp.get_organisation(org.id))
    assert status == 404


def test_get_new_authkey(misp: PyMISP, live_url: str) -> None:
    org = _org(misp, "KAPPA")
    user = _user(misp, "k@kappa.test", org_id=org.id, role_id="3")
    fresh = misp.get_new_authkey(user.id)
    assert len(fresh) == 40 and fresh != user.authkey
    assert PyMISP(live_url, fresh, ssl=False).get_user("me", pythonify=True).email == "k@kappa.test"
    mine = misp.get_new_authkey()
    assert PyMISP(live_url, mine, ssl=False)._current_role.perm_site_admin is True


# ---------------------------------------------------------------- who may administer


def test_org_admin_manages_users_of_their_own_organisation_only(
    misp: PyMISP, misp_as: MispAs
) -> None:
    org_admin = misp_as("DELTA", "org admin")
    delta_id = org_admin._current_user.org_id
    other = _org(misp, "EPSILON")

    created = _user(org_admin, "new@delta.test", role_id="4")
    assert created.org_id == delta_id and created.role_id == "4"
    assert len(created.authkey) == 40

    status, body = _error(org_admin.add_user(MISPUser(email="x@eps.test", org_id=other.id)))
    assert status == 403 and "own organisation" in body["message"]
    for privileged in ("1", "5"):  # site admin, sync user
        status, _ = _error(org_admin.add_user(MISPUser(email="y@delta.test", role_id=privileged)))
        assert status == 403
    assert org_admin.users(search="y@delta.test") == []

    created.role_id = "1"
    status, _ = _error(org_admin.update_user(created))
    assert status == 403
    assert misp.get_user(created.id, pythonify=True).role_id == "4"

    listed = org_admin.users(pythonify=True)
    assert {u.org_id for u in listed} == {delta_id}
    assert "new@delta.test" in {u.email for u in listed}
    status, _ = _error(org_admin.get_user(1))  # the site admin, in another organisation
    assert status == 404
    status, _ = _error(org_admin.delete_user(1))
    assert status == 404

    status, _ = _error(org_admin.add_organisation(_new(MISPOrganisation, name="NOPE")))
    assert status == 403
    status, _ = _error(org_admin.delete_organisation(other))
    assert status == 403
    assert org_admin.delete_user(created)["success"] is True


def test_plain_user_cannot_administer(misp: PyMISP, misp_as: MispAs, live_url: str) -> None:
    user = misp_as("ZETA", "user")
    status, body = _error(user.users())
    assert status == 403 and "admin:organisation:manage" in body["message"]
    status, _ = _error(user.add_organisation(_new(MISPOrganisation, name="MINE")))
    assert status == 403
    status, _ = _error(user.add_user(MISPUser(email="friend@zeta.test")))
    assert status == 403
    status, _ = _error(user.set_default_role(4))
    assert status == 403
    assert len(user.roles()) == len(ROLES)  # roles are readable by everyone, as in MISP

    # A user edits their own password, not their own role.
    me = user.get_user("me", pythonify=True)
    me.password = "a-brand-new-long-password"
    assert isinstance(user.update_user(me, pythonify=True), MISPUser)
    me = user.get_user("me", pythonify=True)
    me.role_id = "2"
    status, _ = _error(user.update_user(me))
    assert status == 403
    assert user.get_user("me", pythonify=True).role_id == "3"
    status, _ = _error(user.get_user(1))
    assert status == 404


def test_set_default_role(misp: PyMISP) -> None:
    org = _org(misp, "IOTA")
    answer = misp.set_default_role(4)
    assert answer["success"] is True and answer["message"] == "Default role set."
    assert [r.id for r in misp.roles(pythonify=True) if r.default_role] == ["4"]
    assert _user(misp, "d@iota.test", org_id=org.id).role_id == "4"
    status, body = _error(misp.set_default_role("publisher"))
    assert status == 422 and "role_id" in body["errors"]
    status, _ = _error(misp.set_default_role(99))
    assert status == 404


# ---------------------------------------------------------------- sharing groups


def test_sharing_group_lifecycle_and_visibility(misp: PyMISP, misp_as: MispAs) -> None:
    creator = misp_as("ETA", "org admin")
    member = misp_as("THETA", "user")
    outsider = misp_as("LAMBDA", "user")
    eta = creator._current_user.org_id
    theta = member._current_user.org_id

    new = MISPSharingGroup()
    new.name = "Energy ISAC"
    new.releasability = "energy sector members"
    new.description = "grid operators"
    sg = creator.add_sharing_group(new, pythonify=True)
    assert isinstance(sg, MISPSharingGroup), sg
    assert sg.name == "Energy ISAC" and sg.releasability == "energy sector members"
    assert [(o.org_id, o.extend) for o in sg.sgorgs] == [(eta, True)]

    for reader in (member, outsider):
        assert reader.sharing_groups() == []
        assert reader.sharing_group_exists(sg) is False
        status, _ = _error(reader.get_sharing_group(sg.id))
        assert status == 404

    added = creator.add_org_to_sharing_group(sg, theta)
    assert added["success"] is True
    assert member.sharing_group_exists(sg) is True
    seen = member.get_sharing_group(sg.uuid)
    assert seen["SharingGroup"]["name"] == "Energy ISAC"
    assert seen["Organisation"]["id"] == eta
    assert sorted(o["org_id"] for o in seen["SharingGroupOrg"]) == sorted([eta, theta])
    listed = member.sharing_groups(pythonify=True)
    assert [s.uuid for s in listed] == [sg.uuid]
    raw = member.sharing_groups()[0]
    assert raw["editable"] is False and raw["deletable"] is False
    assert creator.sharing_groups()[0]["deletable"] is True
    assert outsider.sharing_group_exists(sg) is False
    # Only the creating organisation (or an extending member) changes the group.
    status, _ = _error(member.delete_sharing_group(sg))
    assert status == 403

    sg.name = "Energy ISAC (grid)"
    updated = creator.update_sharing_group(sg, pythonify=True)
    assert isinstance(updated, MISPSharingGroup), updated
    assert updated.name == "Energy ISAC (grid)"
    assert misp.get_sharing_group(sg.id)["SharingGroup"]["name"] == "Energy ISAC (grid)"

    removed = creator.remove_org_from_sharing_group(sg, theta)
    assert removed["success"] is True
    assert member.sharing_group_exists(sg) is False
    status, _ = _error(creator.remove_org_from_sharing_group(sg, theta))
    assert status == 404

    status, body = _error(creator.add_server_to_sharing_group(sg, 1))
    assert status == 404 and "no servers" in body["message"]
    status, body = _error(creator.remove_server_from_sharing_group(sg, 1))
    assert status == 404 and "no servers" in body["message"]

    assert [s.uuid for s in misp.sharing_groups(pythonify=True)] == [sg.uuid]
    deleted = creator.delete_sharing_group(sg)
    assert deleted["success"] is True
    assert creator.sharing_group_exists(sg) is False
    assert misp.sharing_groups() == []


def test_sharing_group_created_with_members(misp: PyMISP, misp_as: MispAs) -> None:
    creator = misp_as("MU", "org admin")
    member = misp_as("NU", "user")
    nu = misp.get_organisation(member._current_user.org_id, pythonify=True)
    new = MISPSharingGroup()
    new.name = "with members"
    new.SharingGroupOrg = [{"extend": True, "Organisation": {"uuid": nu.uuid, "name": "NU"}}]
    sg = creator.add_sharing_group(new, pythonify=True)
    assert {(o.Organisation.name, o.extend) for o in sg.sgorgs} == {("MU", True), ("NU", True)}
    assert member.sharing_group_exists(sg.uuid) is True
    # A user without the sharing-group permission cannot create one.
    status, _ = _error(member.add_sharing_group(_new(MISPSharingGroup, name="mine")))
    assert status == 403


# ---------------------------------------------------------------- bad input


def test_bad_input_gets_misp_shaped_errors(misp: PyMISP, live_url: str) -> None:
    org = _org(misp, "OMICRON")

    status, body = _error(misp.add_organisation(_new(MISPOrganisation, description="no name")))
    assert status == 422 and "name" in body["errors"]
    status, body = _error(misp.add_organisation(_new(MISPOrganisation, name="OMICRON")))
    assert status == 409 and "name" in body["errors"]
    status, body = _error(
        misp.add_organisation(_new(MISPOrganisation, name="X", uuid="not-a-uuid"))
    )
    assert status == 422 and "uuid" in body["errors"]
    status, body = _error(misp.add_organisation(_new(MISPOrganisation, name="Y", sector="s" * 300)))
    assert status == 422 and "sector" in body["errors"]

    cases = [
        ({"org_id": org.id}, "email"),
        ({"email": "no-at-sign", "org_id": org.id}, "email"),
        ({"email": "p@omicron.test", "org_id": org.id, "password": "short"}, "password"),
        ({"email": "r@omicron.test", "org_id": org.id, "role_id": "99"}, "role"),
        ({"email": "o@omicron.test", "org_id": "99999"}, "org"),
        ({"email": ["a@b.test"]}, "email"),
    ]
    for fields, field in cases:
        answer = misp.add_user(MISPUser(**fields))
        status, body = _error(answer)
        assert 400 <= status < 500 and field in body["errors"], (fields, answer)
    assert misp.users(search="omicron.test") == []

    status, body = _error(misp.add_sharing_group(_new(MISPSharingGroup, description="no name")))
    assert status == 422 and "name" in body["errors"]
    remote = _new(MISPSharingGroup, name="remote")
    remote.SharingGroupServer = [{"server_id": "7", "all_orgs": False}]
    status, body = _error(misp.add_sharing_group(remote))
    assert status == 422 and "no servers" in body["message"]
    status, body = _error(misp.add_org_to_sharing_group(12345, org.id))
    assert status == 404
    status, _ = _error(misp.get_user(424242))
    assert status == 404

    answer = httpx.post(
        f"{live_url}/admin/users/add",
        content=b"{not json",
        headers={"Authorization": misp.key, "Accept": "application/json"},
    )
    assert answer.status_code == 422 and "body" in answer.json()["errors"]
    answer = httpx.post(
        f"{live_url}/sharingGroups/addOrg",
        json={"org_id": org.id},
        headers={"Authorization": misp.key},
    )
    assert answer.status_code == 422 and "sg_id" in answer.json()["errors"]
    answer = httpx.get(
        f"{live_url}/organisations/index/scope:nowhere", headers={"Authorization": misp.key}
    )
    assert answer.status_code == 422 and "scope" in answer.json()["errors"]
