"""Request dependencies: database sessions, the authenticated principal, permission checks."""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from shieldwall.audit.service import Actor
from shieldwall.auth.permissions import Permission
from shieldwall.auth.ratelimit import guard_address, note_failure
from shieldwall.auth.service import authenticate_key, principal_for, session_user
from shieldwall.config import Settings
from shieldwall.context import Ctx
from shieldwall.db.engine import get_database
from shieldwall.detection import sensors
from shieldwall.intel.errors import Forbidden, Unauthorized
from shieldwall.server_settings import effective_settings, read_options

SESSION_COOKIE = "shieldwall_session"
SESSION_MAX_AGE = 12 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# POSTs that only read (searches take their filters in a body, as MISP's restSearch does).
_READ_POST = re.compile(
    r"(^/api/v1/search/|/restSearch(\.json)?$|^/sightings/restSearch/(attribute|event)(/[^/]+)?$"
    r"|^/sightings/listSightings(/|$)|^/events/view/|^/events/index$|^/tags/(search|index)\b"
    r"|^/attributes/downloadSample(/|$))"
)
# What a sensor key may reach: the hunt API and sending alerts (a sensor ships telemetry
# and raises what it detects itself; it does not browse the intel store).
SENSOR_PATHS = re.compile(r"^/api/v1/hunt/?$")
SENSOR_ALERTS = re.compile(r"^/api/v1/alerts/?$")


def settings_dep() -> Settings:
    # The environment's settings with the runtime values a site admin stored over them.
    return effective_settings()


def read_session() -> Iterator[Session]:
    with get_database().read_session() as session:
        yield session


def _write_scope(session: Session) -> Iterator[Session]:
    """Handlers commit before answering; anything left uncommitted (an error) is rolled
    back here, so nothing is half-written."""
    try:
        yield session
    finally:
        if session.in_transaction():
            session.rollback()
        session.close()


def write_session() -> Iterator[Session]:
    """A write transaction (see _write_scope)."""
    yield from _write_scope(get_database().write_session())


def bulk_write_session() -> Iterator[Session]:
    """write_session for requests that write many attributes at once (whole events, bulk
    attribute lists): on SQLite its connection holds the bulk page cache while it runs, so
    tens of thousands of index inserts do not spill and re-read pages."""
    yield from _write_scope(get_database().bulk_write_session())


ReadDB = Annotated[Session, Depends(read_session)]
WriteDB = Annotated[Session, Depends(write_session)]
BulkWriteDB = Annotated[Session, Depends(bulk_write_session)]
SettingsDep = Annotated[Settings, Depends(settings_dep)]


def session_serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.ensure_secret_key(), salt="shieldwall-session")


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _credentials(header: str) -> tuple[str, str | None]:
    """The API key, and the e-mail address when sent as HTTP Basic (TAXII clients do):
    `Authorization: <key>`, `Bearer <key>` or `Basic base64(email:key)`."""
    value = header.strip()
    if value.lower().startswith("bearer "):
        return value[7:].strip(), None
    if value.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(value[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("the Basic credentials are not valid base64") from None
        email, sep, key = decoded.partition(":")
        if not sep:
            raise Unauthorized("Basic credentials are the user's e-mail and an API key")
        return key, email
    return value, None


def _authenticate(request: Request, settings: Settings) -> Ctx:
    # Authentication reads in its own short session, so a write request's transaction
    # holds no lock while the key is checked.
    header = request.headers.get("authorization")
    opts = read_options(settings)
    ip = client_ip(request)
    request_id = getattr(request.state, "request_id", None)
    db = get_database()
    cookie = request.cookies.get(SESSION_COOKIE)
    if header or cookie:
        guard_address(db, ip, settings)
    with db.read_session() as session:
        if header:
            try:
                key, email = _credentials(header)
            except Unauthorized:
                note_failure(db, ip, settings)
                raise
            sensor_key = sensors.find_key(session, key)
            if sensor_key is not None:
                try:
                    sensor = sensors.authenticate(sensor_key)
                except Unauthorized:
                    note_failure(db, ip, settings)
                    raise
                path = request.url.path
                if not (
                    SENSOR_PATHS.match(path)
                    or (SENSOR_ALERTS.match(path) and request.method == "POST")
                ):
                    raise Forbidden(
                        "a sensor key may only send telemetry to /api/v1/hunt and alerts to "
                        "POST /api/v1/alerts"
                    )
                ctx = sensors.sensor_ctx(sensor, opts, ip=ip, request_id=request_id)
                session.expunge_all()
                return ctx
            try:
                auth = authenticate_key(session, key, ip)
                if email is not None and email.strip().lower() != auth.user.email.lower():
                    raise Unauthorized("the API key is not valid")
            except Unauthorized:
                note_failure(db, ip, settings)
                raise
            read_only = bool(auth.key and auth.key.read_only)
            if (
                read_only
                and request.method not in SAFE_METHODS
                and not _READ_POST.search(request.url.path)
            ):
                raise Forbidden("a read-only API key cannot change anything")
            principal = principal_for(auth.user, auth.key.id if auth.key else None, read_only)
            session.expunge_all()
            return Ctx(
                principal,
                Actor(
                    user_id=auth.user.id,
                    org_id=auth.user.org_id,
                    api_key_id=principal.api_key_id,
                    ip=ip,
                    request_id=request_id,
                    label=auth.user.email,
                ),
                opts,
            )
        if cookie:
            try:
                data = session_serializer(settings).loads(cookie, max_age=SESSION_MAX_AGE)
            except BadSignature:
                note_failure(db, ip, settings)
                raise Unauthorized("the session is not valid or has expired") from None
            if request.method not in SAFE_METHODS:
                token = request.headers.get("x-csrf-token", "")
                if not hmac.compare_digest(token, str(data.get("csrf", ""))):
                    raise Forbidden("a session-authenticated change needs the X-CSRF-Token header")
            user = session_user(session, data)
            principal = principal_for(user)
            session.expunge_all()
            return Ctx(
                principal,
                Actor(
                    user_id=user.id,
                    org_id=user.org_id,
                    ip=ip,
                    request_id=request_id,
                    label=user.email,
                ),
                opts,
            )
    raise Unauthorized("authentication needed: send an API key in the Authorization header")


def current_ctx(request: Request, settings: SettingsDep) -> Ctx:
    return _authenticate(request, settings)


CurrentCtx = Annotated[Ctx, Depends(current_ctx)]


def require(permission: Permission) -> Any:
    """Dependency factory: the route needs this permission."""

    def check(ctx: CurrentCtx) -> Ctx:
        if not ctx.principal.can(permission):
            raise Forbidden(f"this needs the permission {permission.value}")
        return ctx

    return Depends(check)


def request_actor(request: Request) -> Actor:
    return Actor(
        ip=client_ip(request),
        request_id=getattr(request.state, "request_id", None),
        label="anonymous",
    )
