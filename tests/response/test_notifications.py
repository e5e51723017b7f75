"""Round-the-clock handling and notifications: SLA breaches over simulated time reaching
whoever is on call; webhooks signed with HMAC and retried with backoff against a local
receiver; mail received by a real SMTP server (aiosmtpd), at once and as digests."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from shieldwall.config import get_settings
from shieldwall.response import delivery
from shieldwall.response.sla import check_breaches


def _ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, (r.status_code, r.text)
    return r.json()


def _topics(api: Any) -> list[str]:
    return [n["topic"] for n in api.get("/api/v1/notifications").json()["items"]]


# ---------------------------------------------------------------- SLA and on-call


def test_sla_breaches_over_simulated_time_reach_the_on_call(instance, make_user, clock) -> None:  # type: ignore[no-untyped-def]
    boss = make_user("CERT-A", "org_admin")
    night = make_user("CERT-A", "read_only")  # on call, though not a handler by role
    day = make_user("CERT-A", "read_only")
    roster = _ok(boss.api.post("/api/v1/rosters", json={"name": "duty"}), 201)
    start = clock.at
    _ok(
        boss.api.post(
            f"/api/v1/rosters/{roster['id']}/shifts",
            json={
                "user": night.email,
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=6)).isoformat(),
            },
        ),
        201,
    )
    _ok(
        boss.api.post(
            f"/api/v1/rosters/{roster['id']}/shifts",
            json={
                "user": day.email,
                "starts_at": (start + timedelta(hours=6)).isoformat(),
                "ends_at": (start + timedelta(hours=18)).isoformat(),
            },
        ),
        201,
    )
    r = boss.api.post(
        f"/api/v1/rosters/{roster['id']}/shifts",
        json={"user": day.email, "starts_at": start.isoformat(), "ends_at": start.isoformat()},
    )
    assert r.status_code == 422 and r.json()["field"] == "ends_at"
    assert [u["email"] for u in _ok(boss.api.get("/api/v1/on-call"))["items"]] == [night.email]

    _ok(
        boss.api.put(
            "/api/v1/sla-policies",
            json={"target": "alert", "severity": "critical", "acknowledge_minutes": 15},
        )
    )
    _ok(
        boss.api.put(
            "/api/v1/sla-policies",
            json={
                "target": "case",
                "severity": "high",
                "acknowledge_minutes": 30,
                "resolve_minutes": 480,
            },
        )
    )
    r = boss.api.put(
        "/api/v1/sla-policies", json={"target": "alert", "severity": "high", "resolve_minutes": 5}
    )
    assert r.status_code == 422 and r.json()["field"] == "resolve_minutes"
    r = boss.api.put(
        "/api/v1/sla-policies",
        json={"target": "case", "severity": "low", "acknowledge_minutes": 30, "instance": True},
    )
    assert r.status_code == 403

    alert = _ok(
        boss.api.post(
            "/api/v1/alerts",
            json={"source": "ids", "source_ref": "1", "title": "worm", "severity": "critical"},
        ),
        201,
    )
    assert alert["sla"]["acknowledge_by"] == (start + timedelta(minutes=15)).isoformat()
    quiet = _ok(
        boss.api.post(
            "/api/v1/alerts",
            json={"source": "ids", "source_ref": "2", "title": "noise", "severity": "low"},
        ),
        201,
    )
    assert quiet["sla"]["acknowledge_by"] is None
    case = _ok(
        boss.api.post("/api/v1/cases", json={"title": "worm outbreak", "severity": "high"}), 201
    )

    clock.move(minutes=14)
    assert check_breaches_in(instance) == {"alerts": 0, "cases_acknowledge": 0, "cases_resolve": 0}
    clock.move(minutes=2)
    assert check_breaches_in(instance) == {"alerts": 1, "cases_acknowledge": 0, "cases_resolve": 0}
    assert "sla.breached" in _topics(night.api) and "sla.breached" not in _topics(day.api)
    breached = boss.api.get("/api/v1/alerts", params={"breached": True}).json()["items"]
    assert [a["id"] for a in breached] == [alert["id"]]
    # Flagged once: the next pass finds nothing new.
    assert check_breaches_in(instance)["alerts"] == 0

    # The case is acknowledged in time; resolving it is late, on the day shift.
    clock.move(minutes=10)
    _ok(boss.api.patch(f"/api/v1/cases/{case['id']}", json={"status": "in_progress"}))
    clock.move(hours=7, minutes=30)
    assert check_breaches_in(instance) == {"alerts": 0, "cases_acknowledge": 0, "cases_resolve": 0}
    clock.move(hours=1)
    assert check_breaches_in(instance) == {"alerts": 0, "cases_acknowledge": 0, "cases_resolve": 1}
    assert "sla.breached" in _topics(day.api)
    got = _ok(boss.api.get(f"/api/v1/cases/{case['id']}"))
    assert got["sla"]["acknowledge_breached"] is False and got["sla"]["resolve_breached"] is True
    assert [
        c["id"] for c in boss.api.get("/api/v1/cases", params={"breached": True}).json()["items"]
    ] == [case["id"]]
    kinds = [
        t["kind"] for t in boss.api.get(f"/api/v1/cases/{case['id']}/timeline").json()["items"]
    ]
    assert "sla.breached" in kinds
    # An alert acknowledged in time is within its SLA; one acknowledged late is breached,
    # whether or not a pass flagged it while it waited.
    _ok(
        boss.api.put(
            "/api/v1/sla-policies",
            json={"target": "alert", "severity": "low", "acknowledge_minutes": 60},
        )
    )
    on_time = _ok(
        boss.api.post(
            "/api/v1/alerts",
            json={"source": "ids", "source_ref": "3", "title": "a", "severity": "low"},
        ),
        201,
    )
    late = _ok(
        boss.api.post(
            "/api/v1/alerts",
            json={"source": "ids", "source_ref": "4", "title": "b", "severity": "low"},
        ),
        201,
    )
    clock.move(minutes=30)
    acked = _ok(boss.api.patch(f"/api/v1/alerts/{on_time['id']}", json={"status": "acknowledged"}))
    assert acked["sla"]["acknowledge_breached"] is False
    clock.move(minutes=31)
    acked = _ok(boss.api.patch(f"/api/v1/alerts/{late['id']}", json={"status": "acknowledged"}))
    assert acked["sla"]["acknowledge_breached"] is True
    clock.move(hours=5)
    acked = _ok(boss.api.get(f"/api/v1/alerts/{on_time['id']}"))
    assert acked["sla"]["acknowledge_breached"] is False


def check_breaches_in(instance: Any) -> dict[str, int]:
    with instance.db.writing() as s:
        return check_breaches(s).as_dict()


# ---------------------------------------------------------------- webhooks


class Receiver:
    """A local HTTP endpoint: answers with the next status of `plan`, records each call."""

    def __init__(self, plan: list[int]) -> None:
        self.plan = list(plan)
        self.calls: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((dict(self.headers), body))
                status = receiver.plan.pop(0) if receiver.plan else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_webhooks_are_signed_and_retried_with_backoff(instance, make_user, clock) -> None:  # type: ignore[no-untyped-def]
    boss = make_user("CERT-A", "org_admin")
    analyst = make_user("CERT-A", "user")
    other = make_user("CERT-B", "org_admin")
    receiver = Receiver([500, 503, 200])
    try:
        assert (
            analyst.api.post(
                "/api/v1/webhooks", json={"name": "n", "url": receiver.url}
            ).status_code
            == 403
        )
        r = boss.api.post("/api/v1/webhooks", json={"name": "n", "url": "ftp://x"})
        assert r.status_code == 422 and r.json()["field"] == "url"
        r = boss.api.post(
            "/api/v1/webhooks", json={"name": "n", "url": receiver.url, "topics": ["case.nope"]}
        )
        assert r.status_code == 422 and r.json()["field"] == "topics"
        hook = _ok(
            boss.api.post(
                "/api/v1/webhooks", json={"name": "soar", "url": receiver.url, "topics": ["case.*"]}
            ),
            201,
        )
        secret = hook["secret"]
        assert "secret" not in boss.api.get(f"/api/v1/webhooks/{hook['id']}").json()
        assert other.api.get(f"/api/v1/webhooks/{hook['id']}").status_code == 404
        _ok(
            analyst.api.post(
                "/api/v1/alerts",
                json={"source": "s", "source_ref": "r", "title": "not a case topic"},
            ),
            201,
        )
        case = _ok(analyst.api.post("/api/v1/cases", json={"title": "Webhook me"}), 201)

        assert delivery.deliver_webhooks(instance.db) == (0, 1)  # 500
        assert len(receiver.calls) == 1
        headers, body = receiver.calls[0]
        payload = json.loads(body)
        assert payload["topic"] == "case.created" and payload["data"]["case_id"] == case["id"]
        stamp = headers["X-Shieldwall-Timestamp"]
        expected = (
            "sha256="
            + hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        )
        assert headers["X-Shieldwall-Signature"] == expected
        assert headers["X-Shieldwall-Event"] == "case.created"
        # Not again until the backoff has passed (30 s +/- 20 %).
        assert delivery.deliver_webhooks(instance.db) == (0, 0)
        clock.move(seconds=37)
        assert delivery.deliver_webhooks(instance.db) == (0, 1)  # 503
        clock.move(seconds=40)
        assert delivery.deliver_webhooks(instance.db) == (0, 0)  # the second wait is ~60 s
        clock.move(seconds=40)
        assert delivery.deliver_webhooks(instance.db) == (1, 0)
        deliveries = _ok(boss.api.get(f"/api/v1/webhooks/{hook['id']}/deliveries"))["items"]
        assert deliveries[0]["state"] == "delivered" and deliveries[0]["attempts"] == 3
        # Every attempt carried the same delivery id, so a receiver can drop repeats.
        assert len({h["X-Shieldwall-Delivery"] for h, _ in receiver.calls}) == 1
    finally:
        receiver.close()


def test_a_webhook_that_never_answers_is_given_up(instance, make_user, clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    boss = make_user("CERT-A", "org_admin")
    receiver = Receiver([500] * 10)
    monkeypatch.setenv("SHIELDWALL_WEBHOOK_MAX_ATTEMPTS", "3")
    get_settings.cache_clear()
    try:
        hook = _ok(
            boss.api.post("/api/v1/webhooks", json={"name": "dead", "url": receiver.url}), 201
        )
        _ok(boss.api.post("/api/v1/cases", json={"title": "x"}), 201)
        for _ in range(5):
            delivery.deliver_webhooks(instance.db, get_settings())
            clock.move(hours=1)
        d = _ok(boss.api.get(f"/api/v1/webhooks/{hook['id']}/deliveries"))["items"][0]
        assert d["state"] == "failed" and d["attempts"] == 3 and d["last_status"] == 500
        assert len(receiver.calls) == 3
    finally:
        receiver.close()
        monkeypatch.undo()
        get_settings.cache_clear()


# ---------------------------------------------------------------- mail


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _smtp_server(inbox: Any) -> tuple[Controller, int]:
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch) -> Iterator[Inbox]:  # type: ignore[no-untyped-def]
    inbox = Inbox()
    controller, port = _smtp_server(inbox)
    monkeypatch.setenv("SHIELDWALL_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SHIELDWALL_SMTP_PORT", str(port))
    monkeypatch.setenv("SHIELDWALL_MAIL_FROM", "cert@shieldwall.test")
    get_settings.cache_clear()
    try:
        yield inbox
    finally:
        controller.stop()
        monkeypatch.undo()
        get_settings.cache_clear()


def test_mail_reaches_a_real_smtp_server_at_once_and_as_digests(
    instance, make_user, clock, smtp
) -> None:  # type: ignore[no-untyped-def]
    owner = make_user("CERT-A", "org_admin")
    eager = make_user("CERT-B", "user")
    patient = make_user("CERT-B", "user")
    silent = make_user("CERT-B", "user")
    _ok(eager.api.put("/api/v1/subscriptions", json={"topic": "case.*"}))
    _ok(patient.api.put("/api/v1/subscriptions", json={"topic": "*", "digest": "hourly"}))
    r = eager.api.put("/api/v1/subscriptions", json={"topic": "nothing.here"})
    assert r.status_code == 422 and r.json()["field"] == "topic"
    for title in ("Case one", "Case two"):
        case = _ok(owner.api.post("/api/v1/cases", json={"title": title}), 201)
        _ok(owner.api.post(f"/api/v1/cases/{case['id']}/shares", json={"org": "CERT-B"}), 201)

    report = delivery.send_mail(instance.db, get_settings())
    assert report.as_dict() == {"sent": 2, "digests": 0, "failed": 0}
    assert [m.rcpt_tos for m in smtp.messages] == [[eager.email], [eager.email]]
    first = email.message_from_bytes(smtp.messages[0].content, policy=email.policy.default)
    assert (
        str(first["Subject"])
        .strip()
        .startswith("[Shieldwall] case #1 of CERT-A shared with CERT-B")
    )
    assert first["From"] == "cert@shieldwall.test" and first["To"] == eager.email
    assert "/api/v1/cases/1" in first.get_content()
    # The hourly digest waits for its hour, then comes as one message.
    clock.move(minutes=59)
    assert delivery.send_mail(instance.db, get_settings()).as_dict() == {
        "sent": 0,
        "digests": 0,
        "failed": 0,
    }
    clock.move(minutes=2)
    assert delivery.send_mail(instance.db, get_settings()).as_dict() == {
        "sent": 0,
        "digests": 1,
        "failed": 0,
    }
    digest = smtp.messages[-1]
    assert digest.rcpt_tos == [patient.email]
    message = email.message_from_bytes(digest.content, policy=email.policy.default)
    assert str(message["Subject"]).strip() == "[Shieldwall] hourly digest: 2 notifications"
    body = message.get_content()
    assert body.startswith("2 notifications since") and "Case one" in body and "Case two" in body
    # Nothing for the one who did not subscribe, but the inbox has it.
    assert all(silent.email not in m.rcpt_tos for m in smtp.messages)
    assert _topics(silent.api).count("case.shared") == 2
    # Sent once.
    assert delivery.send_mail(instance.db, get_settings()).as_dict() == {
        "sent": 0,
        "digests": 0,
        "failed": 0,
    }
    marked = _ok(silent.api.post("/api/v1/notifications/read", json={}))
    assert marked["marked"] == 2
    assert silent.api.get("/api/v1/notifications", params={"unread": True}).json()["items"] == []


def test_mail_waits_while_the_smtp_server_is_down(instance, make_user, clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    owner = make_user("CERT-A", "org_admin")
    eager = make_user("CERT-B", "user")
    _ok(eager.api.put("/api/v1/subscriptions", json={"topic": "case.shared"}))
    case = _ok(owner.api.post("/api/v1/cases", json={"title": "x"}), 201)
    _ok(owner.api.post(f"/api/v1/cases/{case['id']}/shares", json={"org": "CERT-B"}), 201)
    monkeypatch.setenv("SHIELDWALL_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SHIELDWALL_SMTP_PORT", "1")  # nothing listens there
    get_settings.cache_clear()
    try:
        assert delivery.send_mail(instance.db, get_settings()).failed == 1
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    inbox = Inbox()
    controller, port = _smtp_server(inbox)
    try:
        monkeypatch.setenv("SHIELDWALL_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("SHIELDWALL_SMTP_PORT", str(port))
        get_settings.cache_clear()
        assert delivery.send_mail(instance.db, get_settings()).sent == 1
        assert [m.rcpt_tos for m in inbox.messages] == [[eager.email]]
    finally:
        controller.stop()
        monkeypatch.undo()
        get_settings.cache_clear()
