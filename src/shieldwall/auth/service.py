"""Identity services: organisations, users, roles, API keys, passwords, authentication."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import ipaddress
import re
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from shieldwall.audit.service import record
from shieldwall.auth.models import ApiKey, Organisation, Role, User
from shieldwall.auth.permissions import (
    DEFAULT_ROLE_ID,
    DEFAULT_ROLES,
    ROLE_ALIASES,
    Permission,
)
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.ids import as_id
from shieldwall.intel.common import check_uuid
from shieldwall.intel.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from shieldwall.intel.visibility import Principal

KEY_LENGTH = 40
_KEY_ALPHABET = string.ascii_letters + string.digits
_hasher = PasswordHasher()


# ---------------------------------------------------------------- passwords and keys


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@functools.cache
def _dummy_hash() -> str:
    # Checked against when the user is unknown, so both answers take an argon2 verification.
    # Made on first use: hashing costs a third of a second, which every command would pay
    # at start-up if it were made at import.
    return _hasher.hash("shieldwall-timing-equaliser")


def verify_password(stored: str | None, password: str) -> bool:
    if not stored:
        with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
            _hasher.verify(_dummy_hash(), password)
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_password_strength(password: str) -> None:
    if len(password) < 12:
        raise InvalidInput("a password has at least 12 characters", field="password")


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def generate_api_key() -> str:
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(KEY_LENGTH))


def new_key() -> tuple[str, dict[str, str]]:
    """A new key: the clear text (shown once) and what a key row stores of it."""
    raw = generate_api_key()
    return raw, {"key_hash": hash_api_key(raw), "key_start": raw[:4], "key_end": raw[-4:]}


def hash_api_key(key: str) -> str:
    # Keys are 40 random characters (~238 bits): a fast hash suffices, and lookups stay O(1).
    return hashlib.sha256(key.encode()).hexdigest()


# ---------------------------------------------------------------- principal


def principal_for(user: User, api_key_id: int | None = None, read_only: bool = False) -> Principal:
    perms = frozenset(user.role.permissions)
    if read_only:
        perms = frozenset(p for p in perms if p in (Permission.API_ACCESS,))
    return Principal(
        org_id=user.org_id,
        user_id=user.id,
        permissions=perms,
        email=user.email,
        api_key_id=api_key_id,
    )


@dataclass
class Authenticated:
    user: User
    key: ApiKey | None


def authenticate_key(session: Session, raw: str, client_ip: str | None) -> Authenticated:
    raw = raw.strip()
    if len(raw) != KEY_LENGTH:
        raise Unauthorized("the API key is not valid")
    key = session.execute(
        sa.select(ApiKey).where(ApiKey.key_hash == hash_api_key(raw))
    ).scalar_one_or_none()
    if key is None or not hmac.compare_digest(key.key_hash, hash_api_key(raw)):
        raise Unauthorized("the API key is not valid")
    if key.revoked_at is not None:
        raise Unauthorized("the API key has been revoked")
    if key.expires_at is not None and key.expires_at <= now():
        raise Unauthorized("the API key has expired")
    if key.allowed_networks:
        if client_ip is None:
            raise Unauthorized("the API key is restricted to networks and the client is unknown")
        try:
            addr = ipaddress.ip_address(client_ip)
        except ValueError:
            raise Unauthorized("the API key is not allowed from this address") from None
        if not any(addr in ipaddress.ip_network(n, strict=False) for n in key.allowed_networks):
            raise Unauthorized("the API key is not allowed from this address")
    user = key.user
    if user.disabled:
        raise Unauthorized("the user is disabled")
    if Permission.API_ACCESS not in user.role.permissions:
        raise Forbidden("the user's role does not allow API access")
    return Authenticated(user=user, key=key)


def login(session: Session, ctx_actor: Any, email: str, password: str, settings: Any) -> User:
    """Check a password; count failures and lock the account after too many (audited)."""
    user = session.execute(
        sa.select(User).where(User.email == email.strip().lower())
    ).scalar_one_or_none()
    t = now()
    if user is None:
        verify_password(None, password)
        record(session, ctx_actor, "login_failed", "User", title=f"unknown user {email[:100]}")
        raise Unauthorized("wrong e-mail or password")
    if user.locked_until is not None and user.locked_until > t:
        record(session, ctx_actor, "login_failed", "User", model_id=user.id, title="locked")
        raise Unauthorized("too many failed logins; try again later")
    if user.disabled or not verify_password(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= settings.login_max_failures:
            user.locked_until = t + timedelta(seconds=settings.login_lockout_seconds)
            user.failed_logins = 0
        record(session, ctx_actor, "login_failed", "User", model_id=user.id, title=user.email)
        raise Unauthorized("wrong e-mail or password")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login = t
    # The one who logged in is the actor of the entry (the request itself was anonymous).
    who = replace(ctx_actor, user_id=user.id, org_id=user.org_id, label=user.email)
    record(session, who, "login", "User", model_id=user.id, model_uuid=user.uuid, title=user.email)
    return user


# ---------------------------------------------------------------- sessions


def password_fingerprint(user: User) -> str:
    """Binds a session to the password it was opened with: changing it ends the session."""
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def session_claims(user: User) -> dict[str, Any]:
    """What a session cookie carries about its user; `session_valid` checks it later."""
    return {"uid": user.id, "pw": password_fingerprint(user), "se": user.session_epoch}


def session_user(session: Session, claims: dict[str, Any]) -> User:
    """The user of a session, or Unauthorized when it ended (signed out, password changed,
    user disabled or gone)."""
    user = session.get(User, as_id(claims.get("uid")) or 0)
    if user is None or user.disabled:
        raise Unauthorized("the session's user no longer exists or is disabled")
    if claims.get("se") != user.session_epoch:
        raise Unauthorized("the session has ended (signed out); sign in again")
    if not hmac.compare_digest(str(claims.get("pw", "")), password_fingerprint(user)):
        raise Unauthorized("the password changed since this session began; sign in again")
    return user


def end_sessions(session: Session, actor: Any, claims: dict[str, Any]) -> None:
    """Sign-out: every session of the claims' user ends at once (audited)."""
    try:
        user = session_user(session, claims)
    except Unauthorized:
        return  # already over: nothing to end
    user.session_epoch += 1
    record(
        session, actor, "logout", "User", model_id=user.id, model_uuid=user.uuid, title=user.email
    )


# ---------------------------------------------------------------- roles


def seed_roles(session: Session) -> None:
    rows = list(session.execute(sa.select(Role)).scalars())
    existing = {r.id for r in rows}
    names = {r.name for r in rows}
    for role_id, name, perms in DEFAULT_ROLES:
        # A role of the same name made by an admin stands in for a seeded one added later.
        if role_id not in existing and name not in names:
            session.add(
                Role(
                    id=role_id,
                    name=name,
                    permissions=sorted(p.value for p in perms),
                    default_role=role_id == DEFAULT_ROLE_ID,
                )
            )
    session.flush()


def resolve_role(session: Session, ref: str | int | None) -> Role:
    if ref is None or ref == "":
        role = session.execute(
            sa.select(Role).where(Role.default_role.is_(True))
        ).scalar_one_or_none()
        if role is None:
            role = session.get(Role, DEFAULT_ROLE_ID)
        if role is None:
            raise NotFound("no default role", field="role")
        return role
    if as_id(ref) is not None:
        role = session.get(Role, as_id(ref))
    else:
        name = str(ref).strip().lower()
        # "site admin", "sync-user" and "read_only" all name the same seeded roles.
        alias = ROLE_ALIASES.get(name) or ROLE_ALIASES.get(re.sub(r"[\s-]+", "_", name))
        role = (
            session.get(Role, alias)
            if alias
            else session.execute(
                sa.select(Role).where(sa.func.lower(Role.name) == name)
            ).scalar_one_or_none()
        )
    if role is None:
        raise InvalidInput(f"unknown role {ref!r}", field="role")
    return role


def list_roles(session: Session) -> list[Role]:
    return list(session.execute(sa.select(Role).order_by(Role.id)).scalars())


def get_role(session: Session, role_id: int) -> Role:
    role = session.get(Role, role_id)
    if role is None:
        raise NotFound(f"role {role_id} not found", field="role_id")
    return role


def update_role(
    session: Session,
    ctx: Ctx,
    role_id: int,
    *,
    permissions: list[str] | None,
    default_role: bool | None,
) -> Role:
    require(ctx, Permission.SITE_ADMIN)
    role = session.get(Role, role_id)
    if role is None:
        raise NotFound(f"role {role_id} not found", field="role_id")
    before = {"permissions": list(role.permissions), "default_role": role.default_role}
    if permissions is not None:
        valid = {p.value for p in Permission}
        bad = [p for p in permissions if p not in valid]
        if bad:
            raise InvalidInput(f"unknown permission {bad[0]!r}", field="permissions")
        role.permissions = sorted(set(permissions))
    if default_role:
        session.execute(sa.update(Role).values(default_role=False))
        role.default_role = True
    record(
        session,
        ctx.actor,
        "role_change",
        "Role",
        model_id=role.id,
        title=role.name,
        change={
            "before": before,
            "after": {"permissions": role.permissions, "default_role": role.default_role},
        },
    )
    return role


# ---------------------------------------------------------------- permission checks


def require(ctx: Ctx, permission: Permission) -> None:
    if not ctx.principal.can(permission):
        raise Forbidden(f"this needs the permission {permission.value}")


# ---------------------------------------------------------------- organisations


ORG_FIELDS = ("name", "description", "nationality", "sector", "type", "contacts", "local")


def get_org(session: Session, ref: str | int) -> Organisation:
    org: Organisation | None
    if as_id(ref) is not None:
        org = session.get(Organisation, as_id(ref))
    else:
        org = session.execute(
            sa.select(Organisation).where(
                sa.or_(Organisation.uuid == str(ref), Organisation.name == str(ref))
            )
        ).scalar_one_or_none()
    if org is None:
        raise NotFound(f"organisation {ref!r} not found", field="org")
    return org


def list_orgs(
    session: Session,
    *,
    after: int = 0,
    limit: int = 100,
    local: bool | None = None,
    q: str | None = None,
) -> list[Organisation]:
    stmt = sa.select(Organisation).where(Organisation.id > after).order_by(Organisation.id)
    if local is not None:
        stmt = stmt.where(Organisation.local.is_(local))
    if q:
        stmt = stmt.where(sa.func.lower(Organisation.name).like(f"%{q.lower()}%"))
    return list(session.execute(stmt.limit(limit)).scalars())


def user_counts(session: Session, org_ids: Sequence[int]) -> dict[int, int]:
    """How many users each of these organisations has (MISP shows it with an organisation)."""
    if not org_ids:
        return {}
    rows = session.execute(
        sa.select(User.org_id, sa.func.count())
        .where(User.org_id.in_(list(org_ids)))
        .group_by(User.org_id)
    )
    return {org_id: int(count) for org_id, count in rows}


def sees_contacts(ctx: Ctx, org: Organisation) -> bool:
    """An organisation's contact details are for site admins and its own members."""
    return ctx.principal.is_site_admin or ctx.org_id == org.id


def create_org(session: Session, ctx: Ctx, data: dict[str, Any]) -> Organisation:
    require(ctx, Permission.SITE_ADMIN)
    name = (data.get("name") or "").strip()
    if not name:
        raise InvalidInput("an organisation needs a name", field="name")
    if session.execute(sa.select(Organisation.id).where(Organisation.name == name)).first():
        raise Conflict(f"an organisation named {name!r} exists", field="name")
    org = Organisation(**{k: data[k] for k in ORG_FIELDS if k in data and data[k] is not None})
    org.name = name
    uuid = check_uuid(str(data["uuid"]), "uuid") if data.get("uuid") else None
    if uuid:
        if session.execute(sa.select(Organisation.id).where(Organisation.uuid == uuid)).first():
            raise Conflict("an organisation with this uuid exists", field="uuid")
        org.uuid = uuid
    session.add(org)
    session.flush()
    record(
        session,
        ctx.actor,
        "create",
        "Organisation",
        model_id=org.id,
        model_uuid=org.uuid,
        title=org.name,
        change={k: getattr(org, k) for k in ORG_FIELDS},
    )
    return org


def update_org(session: Session, ctx: Ctx, org: Organisation, data: dict[str, Any]) -> Organisation:
    if not (
        ctx.principal.is_site_admin
        or (ctx.principal.can(Permission.ORG_ADMIN) and org.id == ctx.org_id)
    ):
        raise Forbidden("only site admins, or org admins for their own organisation, edit it")
    changes: dict[str, Any] = {}
    for k in ORG_FIELDS:
        if k in data and data[k] is not None and getattr(org, k) != data[k]:
            if k == "name":
                clash = session.execute(
                    sa.select(Organisation.id).where(
                        Organisation.name == data[k], Organisation.id != org.id
                    )
                ).first()
                if clash:
                    raise Conflict(f"an organisation named {data[k]!r} exists", field="name")
            if k == "local" and not ctx.principal.is_site_admin:
                raise Forbidden("only site admins change whether an organisation is local")
            changes[k] = [getattr(org, k), data[k]]
            setattr(org, k, data[k])
    session.flush()
    record(
        session,
        ctx.actor,
        "update",
        "Organisation",
        model_id=org.id,
        model_uuid=org.uuid,
        title=org.name,
        change=changes,
    )
    return org


def delete_org(session: Session, ctx: Ctx, org: Organisation) -> None:
    from shieldwall.intel.models import Event

    require(ctx, Permission.SITE_ADMIN)
    if org.id == ctx.org_id:
        raise Conflict("the host organisation cannot be deleted", field="org")
    users = session.scalar(
        sa.select(sa.func.count()).select_from(User).where(User.org_id == org.id)
    )
    events = session.scalar(
        sa.select(sa.func.count())
        .select_from(Event)
        .where(sa.or_(Event.org_id == org.id, Event.orgc_id == org.id))
    )
    if users or events:
        raise Conflict(
            f"organisation {org.name!r} still has {users} users and {events} events", field="org"
        )
    record(
        session,
        ctx.actor,
        "delete",
        "Organisation",
        model_id=org.id,
        model_uuid=org.uuid,
        title=org.name,
    )
    session.delete(org)
    session.flush()


def find_or_create_remote_org(
    session: Session, ctx: Ctx, uuid: str | None, name: str
) -> Organisation:
    """Creator organisations arriving with imported events (MISP's Orgc)."""
    org = None
    if uuid:
        org = session.execute(
            sa.select(Organisation).where(Organisation.uuid == uuid)
        ).scalar_one_or_none()
    if org is None and name:
        org = session.execute(
            sa.select(Organisation).where(Organisation.name == name)
        ).scalar_one_or_none()
    if org is not None:
        return org
    if not name:
        raise InvalidInput("the creator organisation (Orgc) needs a name", field="Orgc.name")
    org = Organisation(name=name[:255], local=False)
    if uuid:
        org.uuid = uuid
    session.add(org)
    session.flush()
    record(
        session,
        ctx.actor,
        "create",
        "Organisation",
        model_id=org.id,
        model_uuid=org.uuid,
        title=org.name,
        change={"local": False, "reason": "creator of imported event"},
    )
    return org


# ---------------------------------------------------------------- users


def _can_manage_user(ctx: Ctx, org_id: int) -> bool:
    """May see and add users of this organisation."""
    return ctx.principal.is_site_admin or (
        ctx.principal.can(Permission.ORG_ADMIN) and org_id == ctx.org_id
    )


def _can_administer(ctx: Ctx, user: User) -> bool:
    """May change, delete, or create and revoke keys for this user: site admins; org admins
    for users of their organisation holding no permission the org admin lacks (so the host's
    org admin cannot take over the site admin)."""
    if ctx.principal.is_site_admin:
        return True
    return _can_manage_user(ctx, user.org_id) and set(user.role.permissions) <= set(
        ctx.principal.permissions
    )


def get_user(session: Session, ctx: Ctx, ref: str | int) -> User:
    user: User | None
    if as_id(ref) is not None:
        user = session.get(User, as_id(ref))
    else:
        user = session.execute(
            sa.select(User).where(sa.or_(User.uuid == str(ref), User.email == str(ref).lower()))
        ).scalar_one_or_none()
    if user is None or not (user.id == ctx.principal.user_id or _can_manage_user(ctx, user.org_id)):
        raise NotFound(f"user {ref!r} not found", field="user")
    return user


def list_users(
    session: Session,
    ctx: Ctx,
    *,
    org_id: int | None = None,
    after: int = 0,
    limit: int = 100,
    search: str | None = None,
) -> list[User]:
    """Users the caller manages (site admins: all; org admins: their organisation's; others:
    themselves), optionally those whose e-mail, organisation or role name contains `search`."""
    q = sa.select(User).where(User.id > after).order_by(User.id).limit(limit)
    if not ctx.principal.is_site_admin:
        if ctx.principal.can(Permission.ORG_ADMIN):
            q = q.where(User.org_id == ctx.org_id)
        else:
            q = q.where(User.id == ctx.principal.user_id)
    if org_id is not None:
        q = q.where(User.org_id == org_id)
    if search:
        term = f"%{search.lower()}%"
        q = q.where(
            sa.or_(
                sa.func.lower(User.email).like(term),
                User.org_id.in_(
                    sa.select(Organisation.id).where(sa.func.lower(Organisation.name).like(term))
                ),
                User.role_id.in_(sa.select(Role.id).where(sa.func.lower(Role.name).like(term))),
            )
        )
    return list(session.execute(q).scalars())


def _check_role_grant(ctx: Ctx, role: Role) -> None:
    if ctx.principal.is_site_admin:
        return
    # An org admin may not hand out permissions it does not hold itself.
    if not set(role.permissions) <= set(ctx.principal.permissions):
        raise Forbidden(f"you may not grant the role {role.name!r}")


def create_user(
    session: Session,
    ctx: Ctx,
    *,
    email: str,
    org_ref: str | int | None,
    role_ref: str | int | None,
    password: str | None = None,
    disabled: bool = False,
) -> User:
    email = (email or "").strip().lower()
    if "@" not in email or len(email) > 255:
        raise InvalidInput("not an e-mail address", field="email")
    org = (
        get_org(session, org_ref)
        if org_ref not in (None, "")
        else session.get(Organisation, ctx.org_id)
    )
    assert org is not None
    if not _can_manage_user(ctx, org.id):
        raise Forbidden("only site admins, or org admins for their own organisation, add users")
    role = resolve_role(session, role_ref)
    _check_role_grant(ctx, role)
    if session.execute(sa.select(User.id).where(User.email == email)).first():
        raise Conflict(f"a user with e-mail {email!r} exists", field="email")
    if password is not None:
        check_password_strength(password)
    user = User(
        email=email,
        org_id=org.id,
        role_id=role.id,
        disabled=disabled,
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    session.flush()
    session.refresh(user)
    record(
        session,
        ctx.actor,
        "create",
        "User",
        model_id=user.id,
        model_uuid=user.uuid,
        title=email,
        change={"org_id": org.id, "role_id": role.id, "disabled": disabled},
    )
    return user


def update_user(session: Session, ctx: Ctx, user: User, data: dict[str, Any]) -> User:
    self_edit = user.id == ctx.principal.user_id
    managing = _can_administer(ctx, user)
    if not (managing or self_edit):
        raise Forbidden("you may not edit this user")
    changes: dict[str, Any] = {}
    if data.get("password") is not None:
        check_password_strength(data["password"])
        user.password_hash = hash_password(data["password"])
        changes["password"] = "changed"
    if not managing and any(data.get(k) is not None for k in ("email", "role", "org", "disabled")):
        raise Forbidden("only admins change e-mail, role, organisation or disabled state")
    if data.get("email") is not None:
        email = data["email"].strip().lower()
        if "@" not in email or len(email) > 255:
            raise InvalidInput("not an e-mail address", field="email")
        if email != user.email:
            if session.execute(sa.select(User.id).where(User.email == email)).first():
                raise Conflict(f"a user with e-mail {email!r} exists", field="email")
            changes["email"] = [user.email, email]
            user.email = email
    if data.get("org") is not None:
        if not ctx.principal.is_site_admin:
            raise Forbidden("only site admins move users between organisations")
        org = get_org(session, data["org"])
        changes["org_id"] = [user.org_id, org.id]
        user.org_id = org.id
    if data.get("disabled") is not None and data["disabled"] != user.disabled:
        if self_edit and data["disabled"]:
            raise Conflict("you cannot disable yourself", field="disabled")
        changes["disabled"] = [user.disabled, data["disabled"]]
        user.disabled = bool(data["disabled"])
    action = "update"
    if data.get("role") is not None:
        role = resolve_role(session, data["role"])
        if role.id != user.role_id:
            _check_role_grant(ctx, role)
            if self_edit and not ctx.principal.is_site_admin:
                raise Forbidden("you cannot change your own role")
            changes["role_id"] = [user.role_id, role.id]
            user.role_id = role.id
            action = "role_change"
    session.flush()
    session.refresh(user)
    record(
        session,
        ctx.actor,
        action,
        "User",
        model_id=user.id,
        model_uuid=user.uuid,
        title=user.email,
        change=changes,
    )
    return user


def delete_user(session: Session, ctx: Ctx, user: User) -> None:
    if not _can_administer(ctx, user):
        raise Forbidden("you may not delete this user")
    if user.id == ctx.principal.user_id:
        raise Conflict("you cannot delete yourself", field="user")
    record(
        session,
        ctx.actor,
        "delete",
        "User",
        model_id=user.id,
        model_uuid=user.uuid,
        title=user.email,
    )
    session.delete(user)
    session.flush()


# ---------------------------------------------------------------- API keys


def create_key(
    session: Session,
    ctx: Ctx,
    user: User,
    *,
    comment: str = "",
    expires_at: datetime | None = None,
    allowed_networks: list[str] | None = None,
    read_only: bool = False,
) -> tuple[ApiKey, str]:
    """Create a key; returns (row, clear key). The clear key is never stored."""
    if not (user.id == ctx.principal.user_id or _can_administer(ctx, user)):
        raise Forbidden("you may not create keys for this user")
    if Permission.API_ACCESS not in user.role.permissions:
        raise Forbidden("the user's role does not allow API access", field="user")
    nets = parse_networks(allowed_networks, "allowed_networks")
    if expires_at is not None and expires_at.tzinfo is None:
        raise InvalidInput(
            "the expiry needs a time zone (ISO 8601 with a zone)", field="expires_at"
        )
    if expires_at is not None and expires_at <= now():
        raise InvalidInput("the expiry is in the past", field="expires_at")
    raw, stored = new_key()
    key = ApiKey(
        user_id=user.id,
        **stored,
        comment=comment,
        expires_at=expires_at,
        allowed_networks=nets,
        read_only=read_only,
    )
    session.add(key)
    session.flush()
    record(
        session,
        ctx.actor,
        "key_create",
        "ApiKey",
        model_id=key.id,
        model_uuid=key.uuid,
        title=f"{raw[:4]}...{raw[-4:]} for {user.email}",
        change={
            "user_id": user.id,
            "expires_at": expires_at,
            "allowed_networks": nets,
            "read_only": read_only,
        },
    )
    return key, raw


def parse_networks(values: Sequence[str] | None, field: str) -> list[str]:
    """CIDR blocks in canonical form; a bad one is refused naming its place (`field[i]`)."""
    nets: list[str] = []
    for i, n in enumerate(values or []):
        try:
            nets.append(str(ipaddress.ip_network(str(n).strip(), strict=False)))
        except ValueError:
            raise InvalidInput(f"{n!r} is not a network", field=f"{field}[{i}]") from None
    return nets


def first_key(session: Session, ctx: Ctx, user: User) -> str | None:
    """A new user's first API key (MISP answers the creation of a user with it), or None
    when the user's role may not hold keys. The clear key is never stored."""
    if Permission.API_ACCESS not in user.role.permissions:
        return None
    _, raw = create_key(session, ctx, user, comment="created with the user")
    return raw


def get_key(session: Session, ctx: Ctx, ref: str | int) -> ApiKey:
    key: ApiKey | None
    if as_id(ref) is not None:
        key = session.get(ApiKey, as_id(ref))
    else:
        key = session.execute(sa.select(ApiKey).where(ApiKey.uuid == str(ref))).scalar_one_or_none()
    if key is None or not (
        key.user_id == ctx.principal.user_id or _can_manage_user(ctx, key.user.org_id)
    ):
        raise NotFound(f"API key {ref!r} not found", field="key")
    return key


def list_keys(session: Session, ctx: Ctx, user: User | None = None) -> list[ApiKey]:
    q = sa.select(ApiKey).join(User, User.id == ApiKey.user_id).order_by(ApiKey.id)
    if user is not None:
        q = q.where(ApiKey.user_id == user.id)
    if not ctx.principal.is_site_admin:
        if ctx.principal.can(Permission.ORG_ADMIN):
            q = q.where(User.org_id == ctx.org_id)
        else:
            q = q.where(ApiKey.user_id == ctx.principal.user_id)
    return list(session.execute(q).scalars())


def revoke_key(session: Session, ctx: Ctx, key: ApiKey) -> ApiKey:
    if not (key.user_id == ctx.principal.user_id or _can_administer(ctx, key.user)):
        raise Forbidden("you may not revoke this user's keys")
    mark_revoked(session, ctx.actor, key, "ApiKey", "", {"user_id": key.user_id})
    return key


def mark_revoked(
    session: Session, actor: Any, key: Any, model: str, about: str, change: dict[str, Any]
) -> None:
    """Revoke a key row (a user's or a sensor's: revoked_at, key_start, key_end) once, and
    audit it; revoking a revoked key changes nothing."""
    if key.revoked_at is not None:
        return
    key.revoked_at = now()
    session.flush()
    record(
        session,
        actor,
        "key_revoke",
        model,
        model_id=key.id,
        model_uuid=key.uuid,
        title=f"{key.key_start}...{key.key_end}{about}",
        change=change,
    )


# ---------------------------------------------------------------- first run


def host_org(session: Session) -> Organisation | None:
    return session.execute(
        sa.select(Organisation)
        .where(Organisation.local.is_(True))
        .order_by(Organisation.id)
        .limit(1)
    ).scalar_one_or_none()


@dataclass
class Bootstrap:
    org: Organisation
    user: User
    password: str
    api_key: str


def bootstrap(
    session: Session, *, org_name: str = "ORGNAME", email: str = "admin@admin.test"
) -> Bootstrap | None:
    """On first run: roles, the host organisation and a site admin. None when already done.
    Every run: MISP's roles and the community knowledge (taxonomies, warninglists, galaxies)
    of the installed packages."""
    from shieldwall.knowledge import sync_all

    seed_roles(session)
    sync_all(session)
    if session.execute(sa.select(User.id).limit(1)).first():
        return None
    from shieldwall.audit.service import Actor
    from shieldwall.context import system_ctx

    org = host_org(session)
    actor = Actor(label="first-run")
    if org is None:
        org = Organisation(name=org_name, local=True, description="Host organisation")
        session.add(org)
        session.flush()
        record(
            session,
            actor,
            "create",
            "Organisation",
            model_id=org.id,
            model_uuid=org.uuid,
            title=org.name,
        )
    password = generate_password()
    user = User(email=email, org_id=org.id, role_id=1, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    session.refresh(user)
    record(
        session,
        actor,
        "create",
        "User",
        model_id=user.id,
        model_uuid=user.uuid,
        title=email,
        change={"role_id": 1, "org_id": org.id},
    )
    ctx = system_ctx(org.id)
    _, raw = create_key(session, ctx, user, comment="created on first run")
    return Bootstrap(org=org, user=user, password=password, api_key=raw)
