"""What every page shares: the signed-in user from the session cookie, CSRF on every form,
flash messages, Jinja2 rendering with the caller's permissions, and errors shown as pages
(a form's error names its field) instead of problem details."""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import ValidationError
from starlette.datastructures import FormData

from shieldwall import __version__
from shieldwall.api.deps import SESSION_COOKIE, SESSION_MAX_AGE, client_ip, session_serializer
from shieldwall.audit.service import Actor
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import principal_for, session_user
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.db.engine import get_database
from shieldwall.intel.errors import DomainError, Forbidden, Unauthorized
from shieldwall.server_settings import effective_settings, read_options

log = logging.getLogger("shieldwall.web")

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
FLASH_COOKIE = "shieldwall_flash"
CSRF_LOGIN_COOKIE = "shieldwall_login_csrf"
THEME_COOKIE = "shieldwall_theme"
# Pages load their own script and style only: no inline code, no third-party origin.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of a page: the context services take, and what the page shows."""

    ctx: Ctx
    user_id: int
    email: str
    org_id: int
    org_name: str
    role_name: str
    csrf: str

    def can(self, permission: Permission | str) -> bool:
        return self.ctx.principal.can(Permission(permission))

    @property
    def is_site_admin(self) -> bool:
        return self.ctx.principal.is_site_admin


class SignInRequired(Exception):
    pass


def _claims(request: Request) -> dict[str, Any] | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        data = session_serializer(effective_settings()).loads(cookie, max_age=SESSION_MAX_AGE)
    except BadSignature:
        return None
    return data if isinstance(data, dict) else None


def viewer_of(request: Request) -> Viewer:
    """The session's user, or SignInRequired (ended, expired or no session)."""
    cached: Viewer | None = getattr(request.state, "viewer", None)
    if cached is not None:
        return cached
    claims = _claims(request)
    if claims is None:
        raise SignInRequired()
    with get_database().read_session() as session:
        try:
            user = session_user(session, claims)
        except Unauthorized:
            raise SignInRequired() from None
        principal = principal_for(user)
        viewer = Viewer(
            ctx=Ctx(
                principal,
                Actor(
                    user_id=user.id,
                    org_id=user.org_id,
                    ip=client_ip(request),
                    request_id=getattr(request.state, "request_id", None),
                    label=user.email,
                ),
                read_options(),
            ),
            user_id=user.id,
            email=user.email,
            org_id=user.org_id,
            org_name=user.org.name,
            role_name=user.role.name,
            csrf=str(claims.get("csrf", "")),
        )
    request.state.viewer = viewer
    return viewer


PageViewer = Annotated[Viewer, Depends(viewer_of)]


async def form_of(request: Request) -> FormData:
    """The posted form, after its CSRF token matched the session's."""
    form = await request.form()
    viewer = viewer_of(request)
    token = str(form.get("csrf_token", ""))
    if not viewer.csrf or not hmac.compare_digest(token, viewer.csrf):
        raise Forbidden("the form's CSRF token does not match the session; reload the page")
    return form


Form = Annotated[FormData, Depends(form_of)]


# ---------------------------------------------------------------- flash messages


def _flash_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(effective_settings().ensure_secret_key(), salt="shieldwall-flash")


def flash(response: Response, text: str, kind: str = "ok", field: str | None = None) -> Response:
    response.set_cookie(
        FLASH_COOKIE,
        _flash_serializer().dumps({"kind": kind, "text": text[:2000], "field": field}),
        max_age=60,
        httponly=True,
        samesite="strict",
        path="/ui",
        secure=effective_settings().effective_base_url.startswith("https"),
    )
    return response


def _take_flash(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = _flash_serializer().loads(raw, max_age=60)
    except BadSignature:
        return None
    return data if isinstance(data, dict) else None


def redirect(to: str, text: str | None = None, kind: str = "ok") -> Response:
    response = RedirectResponse(to, status_code=303)
    if text:
        flash(response, text, kind)
    return response


def safe_next(value: str | None, default: str = "/ui/") -> str:
    """A same-site path to go back to (never another host)."""
    if not value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/ui"):
        return default
    return value


# ---------------------------------------------------------------- rendering


def render(
    request: Request, template: str, http_status: int = 200, /, **context: Any
) -> HTMLResponse:
    viewer = getattr(request.state, "viewer", None)
    if viewer is None:
        try:
            viewer = viewer_of(request)
        except SignInRequired:
            viewer = None
    message = _take_flash(request)
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "viewer": viewer,
            "flash": message,
            "version": __version__,
            "theme": request.cookies.get(THEME_COOKIE, "auto"),
            "path": request.url.path,
            "query": dict(request.query_params),
            **context,
        },
        status_code=http_status,
    )
    if message:
        response.delete_cookie(FLASH_COOKIE, path="/ui")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    # A form's error comes back to the form: the page tells its own site where it was.
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _back(request: Request) -> str:
    referer = request.headers.get("referer", "")
    parts = urlsplit(referer)
    if parts.netloc and parts.netloc != request.url.netloc:
        return "/ui/"
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return safe_next(path or None, request.url.path if request.method == "GET" else "/ui/")


class WebRoute(APIRoute):
    """Pages: no session sends the browser to sign in; a domain error on a form comes back
    to the form as a message naming the field; on a page, as an error page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                if request.method == "GET":
                    target = request.url.path + (
                        f"?{request.url.query}" if request.url.query else ""
                    )
                    return RedirectResponse(f"/ui/login?next={quote(target)}", status_code=303)
                return RedirectResponse("/ui/login", status_code=303)
            except DomainError as exc:
                where = f" ({exc.field})" if exc.field else ""
                if request.method == "POST" and exc.status not in (401,):
                    return flash(
                        RedirectResponse(_back(request), status_code=303),
                        f"{exc.detail}{where}",
                        "error",
                        exc.field,
                    )
                return render(
                    request,
                    "error.html",
                    exc.status,
                    title=exc.title,
                    detail=exc.detail,
                    field=exc.field,
                )
            except (RequestValidationError, ValidationError) as exc:
                first = dict(exc.errors()[0]) if exc.errors() else {}
                loc = ".".join(
                    str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body")
                )
                detail = f"{loc}: {first.get('msg', 'invalid')}"
                if request.method == "POST":
                    return flash(
                        RedirectResponse(_back(request), status_code=303), detail, "error", loc
                    )
                return render(
                    request, "error.html", 422, title="Invalid input", detail=detail, field=loc
                )

        return wrapped


def web_router() -> APIRouter:
    return APIRouter(prefix="/ui", route_class=WebRoute, include_in_schema=False)


# ---------------------------------------------------------------- form helpers


def text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name, default)
    return value.strip() if isinstance(value, str) else default


def opt(form: FormData, name: str) -> str | None:
    value = text(form, name)
    return value or None


def many(form: FormData, name: str) -> list[str]:
    return [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def flag(form: FormData, name: str) -> bool:
    return text(form, name).lower() in ("1", "true", "on", "yes")


def lines(form: FormData, name: str) -> list[str]:
    return [x.strip() for x in text(form, name).replace(",", "\n").splitlines() if x.strip()]


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


@dataclass
class Period:
    """The time window a page looks at: 24h, 7d, 30d or 90d back from now."""

    name: str = "7d"
    days: int = 7
    until: datetime = field(default_factory=now)

    CHOICES = {"24h": 1, "7d": 7, "30d": 30, "90d": 90}

    @classmethod
    def of(cls, value: str | None) -> Period:
        name = value if value in cls.CHOICES else "7d"
        return cls(name, cls.CHOICES[name], now())

    @property
    def since(self) -> datetime:
        from datetime import timedelta

        return self.until - timedelta(days=self.days)


def utc(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
