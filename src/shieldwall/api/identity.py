"""Organisations, users, API keys, roles, login and the caller's own identity."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from itsdangerous import BadSignature
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shieldwall.api.deps import (
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    CurrentCtx,
    ReadDB,
    SettingsDep,
    WriteDB,
    request_actor,
    session_serializer,
)
from shieldwall.api.search import MAX_AFTER
from shieldwall.auth import service as auth
from shieldwall.auth.models import ApiKey, Organisation, Role, User
from shieldwall.auth.permissions import Permission
from shieldwall.auth.ratelimit import guard_address, note_failure
from shieldwall.db.engine import get_database
from shieldwall.intel.errors import Unauthorized
from shieldwall.intel.serialize import iso, org_out
from shieldwall.metrics import LOGINS
from shieldwall.text import Text

router = APIRouter()


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrgIn(_In):
    name: Text = Field(min_length=1, max_length=255)
    uuid: Text | None = None
    description: Text = ""
    nationality: Text = Field(default="", max_length=255)
    sector: Text = Field(default="", max_length=255)
    type: Text = Field(default="", max_length=255)
    contacts: Text = ""
    local: bool = True


class OrgUpdate(_In):
    name: Text | None = Field(default=None, min_length=1, max_length=255)
    description: Text | None = None
    nationality: Text | None = Field(default=None, max_length=255)
    sector: Text | None = Field(default=None, max_length=255)
    type: Text | None = Field(default=None, max_length=255)
    contacts: Text | None = None
    local: bool | None = None


class UserIn(_In):
    email: Text = Field(min_length=3, max_length=255)
    org: Text | None = Field(
        default=None, description="organisation id, uuid or name; default your own"
    )
    role: Text | None = Field(default=None, description="role id or name; default the default role")
    password: Text | None = None
    disabled: bool = False
    create_key: bool = Field(default=False, description="also create an API key and return it once")


class UserUpdate(_In):
    email: Text | None = None
    org: Text | None = None
    role: Text | None = None
    password: Text | None = None
    disabled: bool | None = None


class KeyIn(_In):
    user: Text | None = Field(default=None, description="user id, uuid or e-mail; default yourself")
    comment: Text = Field(default="", max_length=1000)
    expires_at: AwareDatetime | None = Field(default=None, description="ISO 8601 with a zone")
    allowed_networks: list[str] = Field(default_factory=list)
    read_only: bool = False


class RoleUpdate(_In):
    permissions: list[str] | None = None
    default_role: bool | None = None


class LoginIn(_In):
    email: Text
    password: Text


def role_out(r: Role) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "permissions": sorted(r.permissions),
        "default_role": r.default_role,
    }


def user_out(u: User) -> dict[str, Any]:
    return {
        "id": u.id,
        "uuid": u.uuid,
        "email": u.email,
        "org": {"id": u.org.id, "uuid": u.org.uuid, "name": u.org.name},
        "role": {"id": u.role.id, "name": u.role.name},
        "disabled": u.disabled,
        "last_login": iso(u.last_login),
        "created_at": iso(u.created_at),
    }


def key_out(k: ApiKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "uuid": k.uuid,
        "user_id": k.user_id,
        "key_start": k.key_start,
        "key_end": k.key_end,
        "comment": k.comment,
        "allowed_networks": k.allowed_networks,
        "expires_at": iso(k.expires_at),
        "read_only": k.read_only,
        "created_at": iso(k.created_at),
        "revoked_at": iso(k.revoked_at),
    }


def _org_for(ctx: Any, org: Organisation) -> dict[str, Any]:
    out = org_out(org)
    if not auth.sees_contacts(ctx, org):
        out["contacts"] = ""
    return out


# ---------------------------------------------------------------- me and login


@router.get("/me", tags=["identity"])
def me(ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    user = auth.get_user(db, ctx, ctx.principal.user_id or 0)
    return {
        **user_out(user),
        "permissions": sorted(ctx.principal.permissions),
        "api_key_id": ctx.principal.api_key_id,
    }


@router.post("/auth/login", tags=["identity"])
def login(
    data: LoginIn, request: Request, response: Response, db: WriteDB, settings: SettingsDep
) -> dict[str, Any]:
    """Password login; sets a session cookie. Changes made with the cookie need X-CSRF-Token."""
    actor = request_actor(request)
    guard_address(get_database(), actor.ip, settings)
    try:
        user = auth.login(db, actor, data.email, data.password, settings)
    except Unauthorized:
        db.commit()  # failed attempts are counted and audited even though the login fails
        note_failure(get_database(), actor.ip, settings)
        LOGINS.labels("failure").inc()
        raise
    out = user_out(user)
    csrf = secrets.token_urlsafe(24)
    token = session_serializer(settings).dumps({**auth.session_claims(user), "csrf": csrf})
    db.commit()
    LOGINS.labels("success").inc()
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=settings.effective_base_url.startswith("https"),
    )
    return {"user": out, "csrf_token": csrf}


@router.post("/auth/logout", tags=["identity"])
def logout(
    request: Request, response: Response, db: WriteDB, settings: SettingsDep
) -> dict[str, str]:
    """End the session: the cookie is dropped and every session of this user ends at once,
    so a copied cookie is worthless after sign-out."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            data = session_serializer(settings).loads(cookie, max_age=SESSION_MAX_AGE)
        except BadSignature:
            data = None
        if isinstance(data, dict):
            auth.end_sessions(db, request_actor(request), data)
            db.commit()
    response.delete_cookie(SESSION_COOKIE)
    return {"detail": "signed out"}


# ---------------------------------------------------------------- organisations


@router.get("/organisations", tags=["organisations"])
def list_orgs(
    ctx: CurrentCtx,
    db: ReadDB,
    after: int = Query(0, ge=0, le=MAX_AFTER),
    limit: int = Query(100, ge=1, le=1000),
    local: bool | None = None,
    q: Text | None = None,
) -> dict[str, Any]:
    orgs = auth.list_orgs(db, after=after, limit=limit, local=local, q=q)
    items = [_org_for(ctx, o) for o in orgs]
    return {"items": items, "next": items[-1]["id"] if len(items) == limit else None}


@router.post("/organisations", status_code=201, tags=["organisations"])
def create_org(data: OrgIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    org = auth.create_org(db, ctx, data.model_dump())
    out = org_out(org)
    db.commit()
    return out


@router.get("/organisations/{ref}", tags=["organisations"])
def get_org(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return _org_for(ctx, auth.get_org(db, ref))


@router.patch("/organisations/{ref}", tags=["organisations"])
def update_org(ref: str, data: OrgUpdate, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    org = auth.update_org(db, ctx, auth.get_org(db, ref), data.model_dump(exclude_unset=True))
    out = org_out(org)
    db.commit()
    return out


@router.delete("/organisations/{ref}", status_code=204, tags=["organisations"])
def delete_org(ref: str, ctx: CurrentCtx, db: WriteDB) -> Response:
    auth.delete_org(db, ctx, auth.get_org(db, ref))
    db.commit()
    return Response(status_code=204)


# ---------------------------------------------------------------- users


@router.get("/users", tags=["users"])
def list_users(
    ctx: CurrentCtx,
    db: ReadDB,
    after: int = Query(0, ge=0, le=MAX_AFTER),
    limit: int = Query(100, ge=1, le=1000),
    org: Text | None = None,
) -> dict[str, Any]:
    org_id = auth.get_org(db, org).id if org else None
    items = [user_out(u) for u in auth.list_users(db, ctx, org_id=org_id, after=after, limit=limit)]
    return {"items": items, "next": items[-1]["id"] if len(items) == limit else None}


@router.post("/users", status_code=201, tags=["users"])
def create_user(data: UserIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    user = auth.create_user(
        db,
        ctx,
        email=data.email,
        org_ref=data.org,
        role_ref=data.role,
        password=data.password,
        disabled=data.disabled,
    )
    out = user_out(user)
    if data.create_key:
        key, raw = auth.create_key(db, ctx, user, comment="created with the user")
        out["api_key"] = raw
        out["api_key_id"] = key.id
    db.commit()
    return out


@router.get("/users/{ref}", tags=["users"])
def get_user(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return user_out(auth.get_user(db, ctx, ref))


@router.patch("/users/{ref}", tags=["users"])
def update_user(ref: str, data: UserUpdate, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    user = auth.update_user(
        db, ctx, auth.get_user(db, ctx, ref), data.model_dump(exclude_unset=True)
    )
    out = user_out(user)
    db.commit()
    return out


@router.delete("/users/{ref}", status_code=204, tags=["users"])
def delete_user(ref: str, ctx: CurrentCtx, db: WriteDB) -> Response:
    auth.delete_user(db, ctx, auth.get_user(db, ctx, ref))
    db.commit()
    return Response(status_code=204)


# ---------------------------------------------------------------- keys


@router.get("/keys", tags=["keys"])
def list_keys(ctx: CurrentCtx, db: ReadDB, user: str | None = None) -> dict[str, Any]:
    target = auth.get_user(db, ctx, user) if user else None
    return {"items": [key_out(k) for k in auth.list_keys(db, ctx, target)]}


@router.post("/keys", status_code=201, tags=["keys"])
def create_key(data: KeyIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """Create an API key. The key is in this answer only; it is stored as a hash."""
    target = (
        auth.get_user(db, ctx, data.user)
        if data.user
        else auth.get_user(db, ctx, ctx.principal.user_id or 0)
    )
    key, raw = auth.create_key(
        db,
        ctx,
        target,
        comment=data.comment,
        expires_at=data.expires_at,
        allowed_networks=data.allowed_networks,
        read_only=data.read_only,
    )
    out = {**key_out(key), "key": raw}
    db.commit()
    return out


@router.delete("/keys/{ref}", tags=["keys"])
def revoke_key(ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    key = auth.revoke_key(db, ctx, auth.get_key(db, ctx, ref))
    out = key_out(key)
    db.commit()
    return out


# ---------------------------------------------------------------- roles


@router.get("/roles", tags=["roles"])
def list_roles(ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return {
        "items": [role_out(r) for r in auth.list_roles(db)],
        "permissions": [p.value for p in Permission],
    }


@router.get("/roles/{role_id}", tags=["roles"])
def get_role(role_id: int, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return role_out(auth.get_role(db, role_id))


@router.patch("/roles/{role_id}", tags=["roles"])
def update_role(role_id: int, data: RoleUpdate, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    role = auth.update_role(
        db, ctx, role_id, permissions=data.permissions, default_role=data.default_role
    )
    out = role_out(role)
    db.commit()
    return out
