"""Sessions and CSRF of the web interface, without a browser: sign-in needs its form's
token, every change needs the session's, sign-out and a new password end sessions, the
next page stays on this site, pages carry their security headers, and a page built from
another organisation's data is a 404."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from shieldwall.api.deps import SESSION_COOKIE
from shieldwall.intel.models import Event

PASSWORD = "a-long-test-password"


def _token(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, html[:500]
    return m.group(1)


def _browser(app: Any) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1:8000")


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    page = client.get("/ui/login")
    return client.post(
        "/ui/login",
        data={
            "email": email,
            "password": password,
            "csrf_token": _token(page.text),
            "next": "/ui/cases",
        },
        follow_redirects=False,
    )


def test_pages_need_a_session_and_sign_in_needs_its_token(app, make_user) -> None:  # type: ignore[no-untyped-def]
    user = make_user("CERT-A")
    c = _browser(app)
    r = c.get("/ui/cases?status=new", follow_redirects=False)
    assert (
        r.status_code == 303 and r.headers["location"] == "/ui/login?next=/ui/cases%3Fstatus%3Dnew"
    )
    # No token, or another token: no session.
    c.get("/ui/login")
    r = c.post(
        "/ui/login", data={"email": user.email, "password": PASSWORD}, follow_redirects=False
    )
    assert r.status_code == 303 and SESSION_COOKIE not in r.cookies
    r = c.post(
        "/ui/login",
        data={"email": user.email, "password": PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and SESSION_COOKIE not in r.cookies
    r = sign_in(c, user.email)
    assert r.status_code == 303 and r.headers["location"] == "/ui/cases"
    cookie = r.headers["set-cookie"]
    assert SESSION_COOKIE in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert c.get("/ui/cases").status_code == 200


def test_the_next_page_stays_on_this_site(app, make_user) -> None:  # type: ignore[no-untyped-def]
    user = make_user("CERT-A")
    c = _browser(app)
    page = c.get("/ui/login?next=https://evil.example/phish")
    assert 'name="next" value="/ui/"' in page.text
    r = c.post(
        "/ui/login",
        data={
            "email": user.email,
            "password": PASSWORD,
            "csrf_token": _token(page.text),
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/ui/"


def test_wrong_passwords_are_counted_and_lock_the_account(app, make_user, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from shieldwall import server_settings
    from shieldwall.config import get_settings

    user = make_user("CERT-A")
    monkeypatch.setenv("SHIELDWALL_LOGIN_MAX_FAILURES", "3")
    get_settings.cache_clear()
    server_settings.forget()
    try:
        c = _browser(app)
        for _ in range(3):
            r = sign_in(c, user.email, "wrong-password-here")
            assert SESSION_COOKIE not in r.cookies
            assert "wrong e-mail or password" in c.get(r.headers["location"]).text
        r = sign_in(c, user.email)  # the right password, but locked now
        assert SESSION_COOKIE not in r.cookies
        assert "too many failed logins" in c.get(r.headers["location"]).text
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        server_settings.forget()


def test_every_change_needs_the_sessions_token(app, make_user, instance) -> None:  # type: ignore[no-untyped-def]
    a = make_user("CERT-A", "publisher")
    b = make_user("CERT-B", "publisher")
    c = _browser(app)
    sign_in(c, a.email)
    other = _browser(app)
    sign_in(other, b.email)
    theirs = _token(other.get("/ui/events/new").text)
    for data in ({}, {"csrf_token": "forged"}, {"csrf_token": theirs}):
        r = c.post("/ui/events", data={"info": "should not exist", **data}, follow_redirects=False)
        assert r.status_code == 303
        assert "CSRF" in c.get("/ui/events/new").text
    with instance.db.reading() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one() == 0
    mine = _token(c.get("/ui/events/new").text)
    r = c.post(
        "/ui/events",
        data={"info": "exists", "csrf_token": mine, "distribution": "0"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/events/")


def test_sign_out_ends_every_session_and_a_new_password_the_others(app, make_user) -> None:  # type: ignore[no-untyped-def]
    user = make_user("CERT-A")
    first, second = _browser(app), _browser(app)
    sign_in(first, user.email)
    sign_in(second, user.email)
    copied = first.cookies.get(SESSION_COOKIE)
    token = _token(first.get("/ui/account").text)
    r = first.post("/ui/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    # Every session of the user ended: the other browser's, and a copy of this one's.
    assert second.get("/ui/cases", follow_redirects=False).status_code == 303
    thief = _browser(app)
    thief.cookies.set(SESSION_COOKIE, copied or "")
    assert thief.get("/ui/cases", follow_redirects=False).status_code == 303

    # A new password: this browser stays in, the others are out.
    here, there = _browser(app), _browser(app)
    sign_in(here, user.email)
    sign_in(there, user.email)
    token = _token(here.get("/ui/account").text)
    r = here.post(
        "/ui/account/password",
        data={
            "csrf_token": token,
            "current_password": "not-it-at-all",
            "new_password": "another-long-password",
            "confirm": "another-long-password",
        },
        follow_redirects=False,
    )
    assert "current password is wrong" in here.get(r.headers["location"]).text
    r = here.post(
        "/ui/account/password",
        data={
            "csrf_token": token,
            "current_password": PASSWORD,
            "new_password": "another-long-password",
            "confirm": "another-long-password",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert here.get("/ui/account").status_code == 200
    assert there.get("/ui/account", follow_redirects=False).status_code == 303
    assert SESSION_COOKIE in sign_in(_browser(app), user.email, "another-long-password").cookies


def test_api_keys_from_the_account_page_are_shown_once(app, make_user) -> None:  # type: ignore[no-untyped-def]
    user = make_user("CERT-A")
    c = _browser(app)
    sign_in(c, user.email)
    token = _token(c.get("/ui/account").text)
    page = c.post(
        "/ui/account/keys",
        data={"csrf_token": token, "comment": "siem connector", "read_only": "1"},
    )
    key = re.search(r"data-new-key>([A-Za-z0-9]{40})<", page.text)
    assert key, page.text[:2000]
    assert (
        c.get("/api/v1/me", headers={"Authorization": key.group(1)}).json()["email"] == user.email
    )
    assert key.group(1) not in c.get("/ui/account").text  # never again


def test_pages_carry_their_security_headers(app, make_user) -> None:  # type: ignore[no-untyped-def]
    user = make_user("CERT-A")
    c = _browser(app)
    sign_in(c, user.email)
    r = c.get("/ui/")
    csp = r.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "frame-ancestors 'none'" in csp
        and "unsafe-inline" not in csp
    )
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    # Browsers asking for / land on the interface; scripts still get the service's name.
    assert (
        c.get("/", headers={"accept": "text/html"}, follow_redirects=False).headers["location"]
        == "/ui/"
    )
    assert c.get("/", headers={"accept": "application/json"}).json()["ui"] == "/ui/"


def test_another_organisations_case_is_a_404_page(app, make_user) -> None:  # type: ignore[no-untyped-def]
    a = make_user("CERT-A")
    b = make_user("CERT-B")
    case = a.api.post("/api/v1/cases", json={"title": "secret incident"}).json()
    c = _browser(app)
    sign_in(c, b.email)
    r = c.get(f"/ui/cases/{case['id']}")
    assert r.status_code == 404 and "secret incident" not in r.text
    assert "secret incident" not in c.get("/ui/cases").text
    assert "secret incident" not in c.get("/ui/").text
    # A form aimed at it changes nothing and says why.
    token = _token(c.get("/ui/cases").text)
    r = c.post(
        f"/ui/cases/{case['id']}/tasks",
        data={"csrf_token": token, "title": "x"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert a.api.get(f"/api/v1/cases/{case['id']}/tasks").json()["items"] == []
