"""MISP's administration calls: organisations, users, API keys, roles and sharing groups."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Request, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from shieldwall.api.deps import CurrentCtx, ReadDB, SettingsDep, WriteDB
from shieldwall.api.deps import require as needs
from shieldwall.api.search import parse_time
from shieldwall.auth import service as auth
from shieldwall.auth.models import ApiKey, Organisation, Role, User
from shieldwall.auth.permissions import Permission
from shieldwall.context import Ctx
from shieldwall.ids import as_id
from shieldwall.intel import sharing_groups as sgs
from shieldwall.intel.common import check_uuid
from shieldwall.intel.errors import InvalidInput, NotFound
from shieldwall.intel.models import SharingGroup, SharingGroupServer
from shieldwall.intel.schemas import OptFlag, SharingGroupIn, SharingGroupUpdate
from shieldwall.misp.common import flag, json_body, misp_ok, misp_router, validated
from shieldwall.misp.shapes import epoch, org_shape, role_shape, user_shape
from shieldwall.text import Text

router = misp_router()

# MISP's admin/... paths: organisations and roles are for site admins, users for org admins.
SITE_ADMIN = [needs(Permission.SITE_ADMIN)]
ORG_ADMIN = [needs(Permission.ORG_ADMIN)]

# MISP answers its index calls with every row; we read them from the services a page at a time.
PAGE = 500

NO_SERVERS = (
    "this instance has no servers (peer instances) configured, so none can be added to or "
    "removed from a sharing group"
)


# ---------------------------------------------------------------- input


def _as_text(v: Any) -> Any:
    """MISP clients send ids as numbers or as strings."""
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return v


Ref = Annotated[Text, BeforeValidator(_as_text)]


class _MispIn(BaseModel):
    # MISP clients send back whole objects (ids, dates, counts): what we do not use is ignored.
    model_config = ConfigDict(extra="ignore")


class OrgFields(_MispIn):
    name: Text | None = Field(default=None, min_length=1, max_length=255)
    uuid: Text | None = None
    description: Text | None = None
    nationality: Text | None = Field(default=None, max_length=255)
    sector: Text | None = Field(default=None, max_length=255)
    type: Text | None = Field(default=None, max_length=255)
    contacts: Text | None = None
    local: OptFlag = None


class UserFields(_MispIn):
    email: Text | None = Field(default=None, max_length=255)
    org_id: Ref | None = None
    role_id: Ref | None = None
    password: Text | None = Field(default=None, max_length=1024)
    disabled: OptFlag = None


class KeyFields(_MispIn):
    comment: Text = Field(default="", max_length=1000)
    read_only: OptFlag = None
    allowed_ips: list[Text] | Text | None = None
    expiration: Ref | None = None


class SharingGroupFields(_MispIn):
    name: Text | None = None
    description: Text | None = None
    releasability: Text | None = None
    uuid: Text | None = None
    active: OptFlag = None
    roaming: OptFlag = None
    SharingGroupOrg: list[Any] | dict[str, Any] | None = None
    SharingGroupServer: list[Any] | dict[str, Any] | None = None


def _unwrap(body: dict[str, Any], key: str) -> dict[str, Any]:
    """MISP accepts {"User": {...}}, {"request": {"User": {...}}} and the bare object."""
    if isinstance(body.get("request"), dict):
        body = body["request"]
    inner = body.get(key)
    if inner is None:
        return body
    if not isinstance(inner, dict):
        raise InvalidInput(f"{key} must be a JSON object", field=key)
    # Lists sent next to the wrapped object (SharingGroupOrg, ...) belong to it.
    return {**{k: v for k, v in body.items() if k != key}, **inner}


def _named(params: str) -> dict[str, str]:
    """CakePHP's named parameters in a path: key:value/key:value."""
    out: dict[str, str] = {}
    for part in params.split("/"):
        if not part:
            continue
        key, sep, value = part.partition(":")
        if not sep:
            raise InvalidInput(f"{part!r} is not a key:value parameter", field="url")
        # PyMISP sends spaces in a path as "+", which MISP decodes.
        out[key] = value.replace("+", " ")
    return out


def _entries(value: Any, field: str) -> list[dict[str, Any]]:
    if value in (None, "", []):
        return []
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InvalidInput(f"{field} is a list of objects", field=field)
    return items


def _scalar(value: Any) -> str | None:
    if value in (None, "") or isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value)


def _members(value: Any) -> list[tuple[str, bool]]:
    """(organisation reference, extend) for each SharingGroupOrg entry: an org_id, or an
    Organisation given by uuid, id or name (MISP's own JSON carries both)."""
    out = []
    for i, entry in enumerate(_entries(value, "SharingGroupOrg")):
        org = entry.get("Organisation")
        if isinstance(org, list):
            org = org[0] if org else None
        org = org if isinstance(org, dict) else {}
        candidates = (
            org.get("uuid"),
            org.get("id"),
            org.get("name"),
            entry.get("org_id"),
            entry.get("uuid"),
            entry.get("name"),
        )
        ref = next((r for r in map(_scalar, candidates) if r is not None), None)
        if ref is None:
            raise InvalidInput(
                "a member needs an organisation: org_id, or Organisation with uuid, id or name",
                field=f"SharingGroupOrg[{i}]",
            )
        out.append((ref, bool(flag(entry.get("extend")))))
    return out


def _local_all_orgs(value: Any) -> bool:
    """The all-organisations flag of this instance's entry (server 0) among
    SharingGroupServer entries; any other server is refused."""
    all_orgs = False
    for i, entry in enumerate(_entries(value, "SharingGroupServer")):
        server = entry.get("Server")
        server_id = entry.get("server_id", server.get("id", 0) if isinstance(server, dict) else 0)
        if str(server_id) not in ("0", ""):
            raise InvalidInput(NO_SERVERS, field=f"SharingGroupServer[{i}]")
        all_orgs = all_orgs or bool(flag(entry.get("all_orgs")))
    return all_orgs


def _pick(body: dict[str, Any], given: str | None, keys: tuple[str, ...], field: str) -> str:
    """A reference from the path, else from the first of these body keys."""
    if given:
        return given
    for key in keys:
        ref = _scalar(body.get(key))
        if ref is not None:
            return ref
    raise InvalidInput(f"{field} is missing (one of {', '.join(keys)})", field=field)


T = TypeVar("T", Organisation, User, SharingGroup)


def _every(fetch: Callable[[int], list[T]]) -> Iterator[list[T]]:
    """Every row of a keyset-paged service list, a page at a time."""
    after = 0
    while True:
        rows = fetch(after)
        if rows:
            yield rows
        if len(rows) < PAGE:
            return
        after = rows[-1].id


# ---------------------------------------------------------------- shapes


def _when(value: datetime | None) -> str | None:
    """MISP's date-time text for organisations and sharing groups."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else None


def organisation_shape(ctx: Ctx, org: Organisation, users: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(org.id),
        "name": org.name,
        "date_created": _when(org.created_at),
        "date_modified": _when(org.modified_at),
        "description": org.description,
        "type": org.type,
        "nationality": org.nationality,
        "sector": org.sector,
        "contacts": org.contacts if auth.sees_contacts(ctx, org) else "",
        "local": org.local,
        "uuid": org.uuid,
        "restricted_to_domain": [],
    }
    if users is not None:
        out["user_count"] = users
    return {"Organisation": out}


def _role(role: Role) -> dict[str, Any]:
    return {"Role": {**role_shape(role), "default": role.default_role}}


def _key_shape(key: ApiKey, raw: str) -> dict[str, Any]:
    return {
        "AuthKey": {
            "id": str(key.id),
            "uuid": key.uuid,
            "authkey_start": key.key_start,
            "authkey_end": key.key_end,
            "created": epoch(key.created_at),
            "expiration": epoch(key.expires_at),
            "read_only": key.read_only,
            "user_id": str(key.user_id),
            "comment": key.comment,
            "allowed_ips": key.allowed_networks or None,
            "unique_ips": [],
            "authkey_raw": raw,
        }
    }


def _server_shape(sg: SharingGroup, s: SharingGroupServer, base_url: str) -> dict[str, Any]:
    local = s.server_url is None
    return {
        "id": str(s.id),
        "sharing_group_id": str(sg.id),
        "server_id": "0" if local else None,
        "all_orgs": s.all_orgs,
        "Server": {
            "id": "0" if local else None,
            "name": "Local instance" if local else s.server_name,
            "url": base_url if local else s.server_url,
        },
    }


def sharing_group_shape(sg: SharingGroup, base_url: str) -> dict[str, Any]:
    members = sorted(sg.members, key=lambda m: m.org_id)
    return {
        "SharingGroup": {
            "id": str(sg.id),
            "uuid": sg.uuid,
            "name": sg.name,
            "description": sg.description,
            "releasability": sg.releasability,
            "organisation_uuid": sg.org.uuid,
            "org_id": str(sg.org_id),
            "sync_user_id": "0",
            "active": sg.active,
            "created": _when(sg.created_at),
            "modified": _when(sg.modified_at),
            "local": sg.local,
            "roaming": sg.roaming,
            "org_count": len(members),
        },
        "Organisation": org_shape(sg.org),
        "SharingGroupOrg": [
            {
                "id": str(m.id),
                "sharing_group_id": str(sg.id),
                "org_id": str(m.org_id),
                "extend": m.extend,
                "Organisation": org_shape(m.org),
            }
            for m in members
        ],
        "SharingGroupServer": [_server_shape(sg, s, base_url) for s in sg.servers],
    }


# ---------------------------------------------------------------- lookups


def _org(db: Any, ref: str) -> Organisation:
    """An organisation by id, uuid or name; PyMISP sends a name's spaces as "+"."""
    try:
        return auth.get_org(db, ref)
    except NotFound:
        if "+" not in ref:
            raise
        return auth.get_org(db, ref.replace("+", " "))


def _user(db: Any, ctx: Ctx, ref: str) -> User:
    if ref == "me":
        return auth.get_user(db, ctx, ctx.principal.user_id or 0)
    return auth.get_user(db, ctx, ref)


def _role_id(ref: str) -> int:
    role_id = as_id(ref)
    if role_id is None:
        raise InvalidInput(f"{ref!r} is not a role id", field="role_id")
    return role_id


# ---------------------------------------------------------------- organisations


@router.get("/organisations/index")
@router.get("/organisations/index/{named:path}")
def list_organisations(ctx: CurrentCtx, db: ReadDB, named: str = "") -> list[dict[str, Any]]:
    """MISP's organisation index: scope:local (default), scope:external or scope:all, and
    searchall:<text> on the name."""
    params = _named(named)
    scope = params.get("scope", "local")
    if scope not in ("local", "external", "all"):
        raise InvalidInput("scope is local, external or all", field="scope")
    local = None if scope == "all" else scope == "local"
    search = params.get("searchall") or params.get("all") or params.get("quickFilter") or None
    out: list[dict[str, Any]] = []
    for page in _every(
        lambda after: auth.list_orgs(db, after=after, limit=PAGE, local=local, q=search)
    ):
        counts = auth.user_counts(db, [o.id for o in page])
        out.extend(organisation_shape(ctx, o, counts.get(o.id, 0)) for o in page)
    return out


@router.get("/organisations/view/{ref}")
def view_organisation(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    org = _org(db, ref)
    return organisation_shape(ctx, org, auth.user_counts(db, [org.id]).get(org.id, 0))


@router.head("/organisations/view/{ref}")
def organisation_exists(ref: str, ctx: CurrentCtx, db: ReadDB) -> Response:
    try:
        _org(db, ref)
    except NotFound:
        return Response(status_code=404)
    return Response(status_code=200)


@router.post("/admin/organisations/add", dependencies=SITE_ADMIN)
async def add_organisation(request: Request, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    data = validated(OrgFields, _unwrap(await json_body(request), "Organisation"))
    org = auth.create_org(db, ctx, data.model_dump(exclude_none=True))
    out = organisation_shape(ctx, org, 0)
    db.commit()
    return out


@router.post("/admin/organisations/edit/{ref}", dependencies=SITE_ADMIN)
@router.put("/admin/organisations/edit/{ref}", dependencies=SITE_ADMIN)
async def edit_organisation(
    ref: str, request: Request, ctx: CurrentCtx, db: WriteDB
) -> dict[str, Any]:
    data = validated(OrgFields, _unwrap(await json_body(request), "Organisation"))
    org = _org(db, ref)
    changes = data.model_dump(exclude_none=True)
    uuid = changes.pop("uuid", None)
    if uuid is not None and check_uuid(uuid, "uuid") != org.uuid:
        raise InvalidInput("an organisation's uuid cannot be changed", field="uuid")
    org = auth.update_org(db, ctx, org, changes)
    out = organisation_shape(ctx, org, auth.user_counts(db, [org.id]).get(org.id, 0))
    db.commit()
    return out


@router.post("/admin/organisations/delete/{ref}", dependencies=SITE_ADMIN)
@router.delete("/admin/organisations/delete/{ref}", dependencies=SITE_ADMIN)
def delete_organisation(ref: str, request: Request, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    org = _org(db, ref)
    org_id = org.id
    auth.delete_org(db, ctx, org)
    db.commit()
    return misp_ok("Organisation deleted", request.url.path, id=str(org_id))


# ---------------------------------------------------------------- users


@router.get("/admin/users/index", dependencies=ORG_ADMIN)
@router.get("/admin/users/index/{named:path}", dependencies=ORG_ADMIN)
def list_users(ctx: CurrentCtx, db: ReadDB, named: str = "") -> list[dict[str, Any]]:
    """The users the caller manages; value:<text> (e-mail, organisation or role name) and
    searchorg:<organisation> narrow it."""
    params = _named(named)
    search = params.get("value") or params.get("searchall") or None
    org_ref = params.get("searchorg")
    org_id = _org(db, org_ref).id if org_ref else None
    out: list[dict[str, Any]] = []
    for page in _every(
        lambda after: auth.list_users(
            db, ctx, org_id=org_id, after=after, limit=PAGE, search=search
        )
    ):
        out.extend(user_shape(u) for u in page)
    return out


@router.get("/users/view/{ref}")
@router.get("/admin/users/view/{ref}", dependencies=ORG_ADMIN)
def view_user(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return user_shape(_user(db, ctx, ref))


@router.post("/admin/users/add", dependencies=ORG_ADMIN)
async def add_user(request: Request, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """A new user, answered with its first API key in User.authkey (shown this once)."""
    data = validated(UserFields, _unwrap(await json_body(request), "User"))
    if not data.email:
        raise InvalidInput("email: mandatory field not set", field="email")
    user = auth.create_user(
        db,
        ctx,
        email=data.email,
        org_ref=data.org_id,
        role_ref=data.role_id,
        password=data.password,
        disabled=bool(data.disabled),
    )
    key = auth.first_key(db, ctx, user)
    out = user_shape(user)
    out["User"]["authkey"] = key
    db.commit()
    return out


def _user_changes(user: User, data: UserFields) -> dict[str, Any]:
    """MISP clients send the whole user back: only what differs is a change."""
    changes: dict[str, Any] = {}
    if data.email is not None and data.email.strip().lower() != user.email:
        changes["email"] = data.email
    if data.org_id is not None and as_id(data.org_id) != user.org_id:
        changes["org"] = data.org_id
    if data.role_id is not None and as_id(data.role_id) != user.role_id:
        changes["role"] = data.role_id
    if data.disabled is not None and data.disabled != user.disabled:
        changes["disabled"] = data.disabled
    if data.password:
        changes["password"] = data.password
    return changes


async def _edit_user(ref: str, request: Request, ctx: Ctx, db: Any) -> dict[str, Any]:
    data = validated(UserFields, _unwrap(await json_body(request), "User"))
    user = _user(db, ctx, ref)
    user = auth.update_user(db, ctx, user, _user_changes(user, data))
    out = user_shape(user)
    db.commit()
    return out


@router.post("/admin/users/edit/{ref}", dependencies=ORG_ADMIN)
@router.put("/admin/users/edit/{ref}", dependencies=ORG_ADMIN)
async def admin_edit_user(
    ref: str, request: Request, ctx: CurrentCtx, db: WriteDB
) -> dict[str, Any]:
    return await _edit_user(ref, request, ctx, db)


@router.post("/users/edit/{ref}")
@router.post("/users/edit")
async def edit_user(
    request: Request, ctx: CurrentCtx, db: WriteDB, ref: str = "me"
) -> dict[str, Any]:
    """PyMISP's path for users without admin rights: they edit themselves."""
    return await _edit_user(ref, request, ctx, db)


@router.post("/admin/users/delete/{ref}", dependencies=ORG_ADMIN)
@router.delete("/admin/users/delete/{ref}", dependencies=ORG_ADMIN)
def delete_user(ref: str, request: Request, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    user = _user(db, ctx, ref)
    user_id = user.id
    auth.delete_user(db, ctx, user)
    db.commit()
    return misp_ok("User deleted.", request.url.path, id=str(user_id))


@router.post("/auth_keys/add/{ref}")
@router.post("/auth_keys/add")
async def add_auth_key(
    request: Request, ctx: CurrentCtx, db: WriteDB, ref: str = "me"
) -> dict[str, Any]:
    """A new API key for a user (default yourself); the clear key is in this answer only."""
    data = validated(KeyFields, _unwrap(await json_body(request), "AuthKey"))
    user = _user(db, ctx, ref)
    ips = data.allowed_ips
    networks = ips.split() if isinstance(ips, str) else list(ips or [])
    expires = (
        parse_time(data.expiration, "expiration") if data.expiration not in (None, "0") else None
    )
    key, raw = auth.create_key(
        db,
        ctx,
        user,
        comment=data.comment,
        expires_at=expires,
        allowed_networks=networks,
        read_only=bool(data.read_only),
    )
    out = _key_shape(key, raw)
    db.commit()
    return out


# ---------------------------------------------------------------- roles


@router.get("/roles/index")
@router.get("/admin/roles/index")
def list_roles(ctx: CurrentCtx, db: ReadDB) -> list[dict[str, Any]]:
    return [_role(r) for r in auth.list_roles(db)]


@router.get("/roles/view/{role_id}")
def view_role(role_id: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return _role(auth.get_role(db, _role_id(role_id)))


@router.post("/admin/roles/set_default/{role_id}", dependencies=SITE_ADMIN)
def set_default_role(
    role_id: str, request: Request, ctx: CurrentCtx, db: WriteDB
) -> dict[str, Any]:
    rid = _role_id(role_id)
    auth.update_role(db, ctx, rid, permissions=None, default_role=True)
    db.commit()
    return misp_ok("Default role set.", request.url.path, id=str(rid))


# ---------------------------------------------------------------- sharing groups


def _sg_route(methods: list[str], *suffixes: str) -> Callable[[Any], Any]:
    """MISP answers sharing-group calls under sharing_groups/ and sharingGroups/ alike."""

    def register(endpoint: Any) -> Any:
        for base in ("/sharing_groups", "/sharingGroups"):
            for suffix in suffixes:
                # One route per method, so each has its own OpenAPI operation id.
                for method in methods:
                    router.add_api_route(base + suffix, endpoint, methods=[method])
        return endpoint

    return register


@_sg_route(["GET"], "/index", "/index/{passive}")
def list_sharing_groups(
    ctx: CurrentCtx, db: ReadDB, settings: SettingsDep, passive: str = "false"
) -> dict[str, Any]:
    """The sharing groups the caller sees: active ones, or inactive ones with index/true."""
    if passive not in ("true", "false"):
        raise InvalidInput("passive is true or false", field="passive")
    active = passive == "false"
    out: list[dict[str, Any]] = []
    for page in _every(
        lambda after: sgs.list_sharing_groups(db, ctx, after=after, limit=PAGE, active=active)
    ):
        for sg in page:
            item = sharing_group_shape(sg, settings.effective_base_url)
            item["editable"] = sgs.can_edit(ctx, sg)
            item["deletable"] = sgs.can_delete(ctx, sg)
            out.append(item)
    return {"response": out}


@_sg_route(["GET"], "/view/{ref}")
def view_sharing_group(
    ref: str, ctx: CurrentCtx, db: ReadDB, settings: SettingsDep
) -> dict[str, Any]:
    return sharing_group_shape(sgs.get_sharing_group(db, ctx, ref), settings.effective_base_url)


@_sg_route(["HEAD"], "/view/{ref}")
def sharing_group_exists(ref: str, ctx: CurrentCtx, db: ReadDB) -> Response:
    try:
        sgs.get_sharing_group(db, ctx, ref)
    except (NotFound, InvalidInput):
        return Response(status_code=404)
    return Response(status_code=200)


@_sg_route(["POST"], "/add")
async def add_sharing_group(
    request: Request, ctx: CurrentCtx, db: WriteDB, settings: SettingsDep
) -> dict[str, Any]:
    data = validated(SharingGroupFields, _unwrap(await json_body(request), "SharingGroup"))
    fields = data.model_dump(
        include={"name", "description", "releasability", "uuid", "active", "roaming"},
        exclude_none=True,
    )
    fields["all_local_orgs"] = _local_all_orgs(data.SharingGroupServer)
    fields["members"] = [{"org": o, "extend": e} for o, e in _members(data.SharingGroupOrg)]
    sg = sgs.create_sharing_group(db, ctx, validated(SharingGroupIn, fields))
    out = sharing_group_shape(sg, settings.effective_base_url)
    db.commit()
    return out


@_sg_route(["POST", "PUT"], "/edit/{ref}")
async def edit_sharing_group(
    ref: str, request: Request, ctx: CurrentCtx, db: WriteDB, settings: SettingsDep
) -> dict[str, Any]:
    """Name, description, releasability, active and roaming; organisations listed in
    SharingGroupOrg are added (or their extend right set), as MISP does. Servers are not
    changed here."""
    data = validated(SharingGroupFields, _unwrap(await json_body(request), "SharingGroup"))
    members = _members(data.SharingGroupOrg)
    sg = sgs.get_sharing_group(db, ctx, ref)
    fields = data.model_dump(
        include={"name", "description", "releasability", "active", "roaming"}, exclude_none=True
    )
    sg = sgs.update_sharing_group(db, ctx, sg.id, validated(SharingGroupUpdate, fields))
    for org_ref, extend in members:
        org = _org(db, org_ref)
        current = next((m for m in sg.members if m.org_id == org.id), None)
        if current is None or current.extend != extend:
            sg = sgs.add_member(db, ctx, sg.id, str(org.id), extend)
    out = sharing_group_shape(sg, settings.effective_base_url)
    db.commit()
    return out


@_sg_route(["POST", "DELETE"], "/delete/{ref}")
def delete_sharing_group(
    ref: str, request: Request, ctx: CurrentCtx, db: WriteDB
) -> dict[str, Any]:
    sg_id = sgs.get_sharing_group(db, ctx, ref).id
    sgs.delete_sharing_group(db, ctx, sg_id)
    db.commit()
    return misp_ok("SharingGroup deleted", request.url.path, id=str(sg_id))


_SG_KEYS = ("sg_id", "sg_uuid", "id", "uuid")
_ORG_KEYS = ("org_id", "org_uuid", "org_name")
_SERVER_KEYS = ("server_id", "server_url", "server_baseurl", "server_name")


@_sg_route(["POST"], "/addOrg", "/addOrg/{sg_ref}/{org_ref}", "/addOrg/{sg_ref}/{org_ref}/{extend}")
async def add_org_to_sharing_group(
    request: Request,
    ctx: CurrentCtx,
    db: WriteDB,
    sg_ref: str | None = None,
    org_ref: str | None = None,
    extend: str | None = None,
) -> dict[str, Any]:
    body = await json_body(request)
    sg = sgs.get_sharing_group(db, ctx, _pick(body, sg_ref, _SG_KEYS, "sg_id"))
    org = _org(db, _pick(body, org_ref, _ORG_KEYS, "org_id"))
    may_extend = flag(body["extend"]) if "extend" in body else flag(extend)
    sgs.add_member(db, ctx, sg.id, str(org.id), bool(may_extend))
    db.commit()
    return misp_ok("Organisation added to the sharing group.", request.url.path)


@_sg_route(["POST"], "/removeOrg", "/removeOrg/{sg_ref}/{org_ref}")
async def remove_org_from_sharing_group(
    request: Request,
    ctx: CurrentCtx,
    db: WriteDB,
    sg_ref: str | None = None,
    org_ref: str | None = None,
) -> dict[str, Any]:
    body = await json_body(request)
    sg = sgs.get_sharing_group(db, ctx, _pick(body, sg_ref, _SG_KEYS, "sg_id"))
    org = _org(db, _pick(body, org_ref, _ORG_KEYS, "org_id"))
    sgs.remove_member(db, ctx, sg.id, str(org.id))
    db.commit()
    return misp_ok("Organisation removed from the sharing group.", request.url.path)


@_sg_route(
    ["POST"],
    "/addServer",
    "/addServer/{sg_ref}/{server_ref}",
    "/addServer/{sg_ref}/{server_ref}/{all_orgs}",
    "/removeServer",
    "/removeServer/{sg_ref}/{server_ref}",
)
async def sharing_group_server(
    request: Request,
    ctx: CurrentCtx,
    db: ReadDB,
    sg_ref: str | None = None,
    server_ref: str | None = None,
    all_orgs: str | None = None,
) -> dict[str, Any]:
    """There are no servers (peer instances) to add or remove yet: a clear 404."""
    body = await json_body(request)
    sgs.get_sharing_group(db, ctx, _pick(body, sg_ref, _SG_KEYS, "sg_id"))
    server = _pick(body, server_ref, _SERVER_KEYS, "server_id")
    raise NotFound(f"server {server!r} not found: {NO_SERVERS}", field="server_id")
