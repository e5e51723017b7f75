"""Guessing API keys or session cookies from one address is refused after a limit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shieldwall.config import get_settings


@pytest.fixture
def low_limit() -> Iterator[None]:
    settings = get_settings()
    before = (settings.auth_failure_limit, settings.auth_failure_window_seconds)
    settings.auth_failure_limit, settings.auth_failure_window_seconds = 3, 60
    yield
    settings.auth_failure_limit, settings.auth_failure_window_seconds = before


def test_key_guessing_is_refused_after_the_limit(admin, client, low_limit) -> None:
    wrong = {"Authorization": "x" * 40}
    for _ in range(3):
        assert client.get("/api/v1/me", headers=wrong).status_code == 401
    r = client.get("/api/v1/me", headers=wrong)
    assert r.status_code == 429
    assert 0 < int(r.headers["retry-after"]) <= 60
    assert r.json()["title"] == "Too many requests"
    # Even the right key waits out the window from that address: guessing gains nothing.
    assert admin.get("/api/v1/me").status_code == 429


def test_failures_below_the_limit_do_not_block(admin, client, low_limit) -> None:
    wrong = {"Authorization": "y" * 40}
    for _ in range(2):
        assert client.get("/api/v1/me", headers=wrong).status_code == 401
    assert admin.get("/api/v1/me").status_code == 200


def test_password_change_ends_cookie_sessions(client, make_user) -> None:
    member = make_user("SESS", "user", email="sess@sess.test")
    r = client.post(
        "/api/v1/auth/login", json={"email": "sess@sess.test", "password": "a-long-test-password"}
    )
    assert r.status_code == 200
    assert client.get("/api/v1/me").status_code == 200
    changed = member.api.patch(
        f"/api/v1/users/{member.user_id}", json={"password": "another-long-password"}
    )
    assert changed.status_code == 200
    r = client.get("/api/v1/me")
    assert r.status_code == 401 and "password changed" in r.json()["detail"]


def test_sign_out_ends_the_session_even_for_a_copied_cookie(client, make_user) -> None:
    make_user("SIGNOUT", "user", email="out@signout.test")
    r = client.post(
        "/api/v1/auth/login", json={"email": "out@signout.test", "password": "a-long-test-password"}
    )
    assert r.status_code == 200
    copied = client.cookies.get("shieldwall_session")
    assert client.get("/api/v1/me").status_code == 200
    assert client.post("/api/v1/auth/logout").status_code == 200
    client.cookies.set("shieldwall_session", copied)
    r = client.get("/api/v1/me")
    assert r.status_code == 401 and "signed out" in r.json()["detail"]
    # Signing in again opens a new session.
    client.cookies.clear()
    r = client.post(
        "/api/v1/auth/login", json={"email": "out@signout.test", "password": "a-long-test-password"}
    )
    assert r.status_code == 200 and client.get("/api/v1/me").status_code == 200
