"""Signing in and out, the user's own account (password, API keys) and inbox."""

from __future__ import annotations

import secrets
from datetime import datetime

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shieldwall.api.deps import SESSION_COOKIE, SESSION_MAX_AGE, client_ip, session_serializer
from shieldwall.audit.service import Actor
from shieldwall.auth import service as auth
from shieldwall.auth.models import ApiKey
from shieldwall.auth.ratelimit import guard_address, note_failure
from shieldwall.db.engine import get_database
from shieldwall.intel.errors import InvalidInput, NotFound, TooManyRequests, Unauthorized
from shieldwall.metrics import LOGINS
from shieldwall.response import notify
from shieldwall.server_settings import effective_settings
from shieldwall.web.core import (
    CSRF_LOGIN_COOKIE,
    Form,
    PageViewer,
    _claims,
    flag,
    flash,
    opt,
    redirect,
    render,
    safe_next,
    text,
    web_router,
)

router = web_router()


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    # The sign-in form has its own CSRF token (there is no session yet): a cookie and the
    # same value in the form, so another site cannot sign a browser in.
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", next=safe_next(next), login_csrf=token)
    response.set_cookie(
        CSRF_LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict", path="/ui"
    )
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    settings = effective_settings()
    target = safe_next(str(form.get("next", "")))
    expected = request.cookies.get(CSRF_LOGIN_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, str(form.get("csrf_token", ""))):
        return flash(
            RedirectResponse("/ui/login", status_code=303),
            "the sign-in form expired; try again",
            "error",
        )
    db = get_database()
    ip = client_ip(request)
    actor = Actor(ip=ip, request_id=getattr(request.state, "request_id", None), label="anonymous")
    try:
        guard_address(db, ip, settings)
    except TooManyRequests as exc:
        return flash(RedirectResponse("/ui/login", status_code=303), exc.detail, "error")
    with db.write_session() as session:
        try:
            user = auth.login(
                session, actor, str(form.get("email", "")), str(form.get("password", "")), settings
            )
        except Unauthorized as exc:
            session.commit()  # failures are counted and audited
            note_failure(db, ip, settings)
            LOGINS.labels("failure").inc()
            return flash(
                RedirectResponse(f"/ui/login?next={target}", status_code=303),
                exc.detail,
                "error",
                "password",
            )
        csrf = secrets.token_urlsafe(24)
        token = session_serializer(settings).dumps({**auth.session_claims(user), "csrf": csrf})
        session.commit()
    LOGINS.labels("success").inc()
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=settings.effective_base_url.startswith("https"),
    )
    response.delete_cookie(CSRF_LOGIN_COOKIE, path="/ui")
    return response


@router.post("/logout")
def logout(request: Request, viewer: PageViewer, form: Form) -> Response:
    """Sign out: this and every other session of the user end at once."""
    claims = _claims(request)
    with get_database().writing() as session:
        if claims:
            auth.end_sessions(session, viewer.ctx.actor, claims)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return flash(response, "signed out")


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, viewer: PageViewer) -> Response:
    with get_database().reading() as session:
        user = auth.get_user(session, viewer.ctx, viewer.user_id)
        keys = [k for k in auth.list_keys(session, viewer.ctx, user)]
        return render(request, "account.html", user=user, keys=keys, new_key=None)


@router.post("/account/password")
def change_password(request: Request, viewer: PageViewer, form: Form) -> Response:
    new = text(form, "new_password")
    if new != text(form, "confirm"):
        raise InvalidInput("the two new passwords differ", field="confirm")
    with get_database().writing() as session:
        user = auth.get_user(session, viewer.ctx, viewer.user_id)
        if not auth.verify_password(user.password_hash, text(form, "current_password")):
            raise InvalidInput("the current password is wrong", field="current_password")
        auth.update_user(session, viewer.ctx, user, {"password": new})
        # The session was bound to the old password: open a new one for this browser.
        token = session_serializer(effective_settings()).dumps(
            {**auth.session_claims(user), "csrf": viewer.csrf}
        )
    response = redirect("/ui/account", "password changed; other sessions have ended")
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=effective_settings().effective_base_url.startswith("https"),
    )
    return response


@router.post("/account/keys", response_class=HTMLResponse)
def create_key(request: Request, viewer: PageViewer, form: Form) -> Response:
    expires = opt(form, "expires_at")
    when = None
    if expires:
        try:
            when = datetime.fromisoformat(expires.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(
                "an expiry is a date and time (ISO 8601)", field="expires_at"
            ) from None
        if when.tzinfo is None:
            from datetime import UTC

            when = when.replace(tzinfo=UTC)
    with get_database().writing() as session:
        user = auth.get_user(session, viewer.ctx, viewer.user_id)
        _, raw = auth.create_key(
            session,
            viewer.ctx,
            user,
            comment=text(form, "comment"),
            expires_at=when,
            read_only=flag(form, "read_only"),
            allowed_networks=[
                n for n in text(form, "allowed_networks").replace(",", " ").split() if n
            ],
        )
    with get_database().reading() as session:
        user = auth.get_user(session, viewer.ctx, viewer.user_id)
        keys = auth.list_keys(session, viewer.ctx, user)
        # Shown this once, on this page; never again.
        return render(request, "account.html", user=user, keys=keys, new_key=raw)


@router.post("/account/keys/{key_id}/revoke")
def revoke_key(key_id: int, viewer: PageViewer, form: Form) -> Response:
    with get_database().writing() as session:
        key = session.get(ApiKey, key_id)
        if key is None or key.user_id != viewer.user_id:
            raise NotFound(f"key {key_id} not found", field="key")
        auth.revoke_key(session, viewer.ctx, key)
    return redirect("/ui/account", "key revoked")


@router.get("/notifications", response_class=HTMLResponse)
def notifications(
    request: Request, viewer: PageViewer, unread: bool = False, after: int = 0
) -> Response:
    with get_database().reading() as session:
        items = notify.inbox(session, viewer.ctx, unread=unread, after=after, limit=50)
        subs = notify.subscriptions(session, viewer.ctx)
        return render(
            request,
            "notifications.html",
            items=items,
            subs=subs,
            topics=notify.TOPICS,
            unread=unread,
            next=items[-1].id if len(items) == 50 else None,
        )


@router.post("/notifications/read")
def mark_read(viewer: PageViewer, form: Form) -> Response:
    with get_database().writing() as session:
        notify.mark_read(session, viewer.ctx, None)
    return redirect("/ui/notifications", "all marked read")


@router.post("/notifications/subscribe")
def subscribe(viewer: PageViewer, form: Form) -> Response:
    from shieldwall.response.schemas import SubscriptionIn

    data = SubscriptionIn.model_validate(
        {"topic": text(form, "topic"), "digest": text(form, "digest") or "immediate"}
    )
    with get_database().writing() as session:
        notify.subscribe(session, viewer.ctx, data)
    return redirect("/ui/notifications", f"mail for {data.topic}: {data.digest}")


@router.post("/notifications/unsubscribe")
def unsubscribe(viewer: PageViewer, form: Form) -> Response:
    with get_database().writing() as session:
        notify.unsubscribe(session, viewer.ctx, text(form, "topic"))
    return redirect("/ui/notifications", "subscription removed")
