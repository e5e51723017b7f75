"""Sending what notify() queued: webhook deliveries (signed with HMAC-SHA256, retried with
exponential backoff) and mail over SMTP (at once, or as hourly and daily digests). Each
step claims its rows in a short transaction, sends outside it, then records the outcome,
so several workers never send one thing twice and a slow receiver holds no lock."""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import httpx
import orjson
import sqlalchemy as sa

from shieldwall import __version__
from shieldwall.auth.models import User
from shieldwall.clock import now
from shieldwall.config import Settings, get_settings
from shieldwall.db.engine import Database
from shieldwall.response.models import Notification, Webhook, WebhookDelivery
from shieldwall.response.notify import open_secret

log = logging.getLogger("shieldwall.response.delivery")

SIGNATURE_HEADER = "X-Shieldwall-Signature"
TIMESTAMP_HEADER = "X-Shieldwall-Timestamp"
# A claimed delivery not finished within this time (a worker died) is taken again.
CLAIM_SECONDS = 300
BATCH = 50
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 6 * 3600


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature a receiver recomputes: HMAC-SHA256 over "<timestamp>.<body>"."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def backoff(attempt: int, jitter: float | None = None) -> timedelta:
    """Wait before the next attempt: 30 s, 1, 2, 4 min... capped at 6 h, +/-20 % jitter."""
    base = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempt - 1))
    j = random.uniform(0.8, 1.2) if jitter is None else jitter
    return timedelta(seconds=base * j)


@dataclass(frozen=True)
class _Claimed:
    id: int
    uuid: str
    url: str
    secret: str
    topic: str
    body: bytes
    attempts: int


def _claim(db: Database, at: datetime, limit: int) -> list[_Claimed]:
    with db.writing() as session:
        rows = session.execute(
            sa.select(WebhookDelivery, Webhook)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= at)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=WebhookDelivery)
        ).all()
        out = []
        for d, hook in rows:
            if not hook.enabled:
                continue
            # The claim: nobody else takes it until CLAIM_SECONDS have passed.
            d.next_attempt_at = at + timedelta(seconds=CLAIM_SECONDS)
            d.attempts += 1
            out.append(
                _Claimed(
                    d.id,
                    d.uuid,
                    hook.url,
                    open_secret(hook.secret_enc),
                    d.topic,
                    orjson.dumps(d.payload, option=orjson.OPT_SORT_KEYS),
                    d.attempts,
                )
            )
        return out


def _post(client: httpx.Client, item: _Claimed, at: datetime) -> tuple[int | None, str]:
    stamp = str(int(at.timestamp()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"Shieldwall/{__version__}",
        "X-Shieldwall-Event": item.topic,
        "X-Shieldwall-Delivery": item.uuid,
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: sign(item.secret, stamp, item.body),
    }
    try:
        r = client.post(item.url, content=item.body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:1000]
    if 200 <= r.status_code < 300:
        return r.status_code, ""
    return r.status_code, f"HTTP {r.status_code}: {r.text[:500]}"


def deliver_webhooks(
    db: Database, settings: Settings | None = None, at: datetime | None = None
) -> tuple[int, int]:
    """Send the deliveries that are due; returns (delivered, failed attempts)."""
    settings = settings or get_settings()
    at = at or now()
    claimed = _claim(db, at, BATCH)
    if not claimed:
        return 0, 0
    results: list[tuple[_Claimed, int | None, str]] = []
    with httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False) as client:
        for item in claimed:
            status, error = _post(client, item, at)
            results.append((item, status, error))
    delivered = failed = 0
    with db.writing() as session:
        for item, status, error in results:
            d = session.get(WebhookDelivery, item.id)
            if d is None:
                continue
            d.last_status = status
            d.last_error = error
            if not error:
                d.state = "delivered"
                d.delivered_at = now()
                delivered += 1
                continue
            failed += 1
            if d.attempts >= settings.webhook_max_attempts:
                d.state = "failed"
                log.warning(
                    "webhook delivery %s gave up after %d attempts: %s", d.uuid, d.attempts, error
                )
            else:
                d.next_attempt_at = at + backoff(d.attempts)
    return delivered, failed


# ---------------------------------------------------------------- mail


def mail_enabled(settings: Settings) -> bool:
    return bool(settings.smtp_host)


def _smtp(settings: Settings) -> smtplib.SMTP:
    if settings.smtp_security == "tls":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.smtp_host,
            settings.smtp_port,
            timeout=settings.smtp_timeout_seconds,
            context=ssl.create_default_context(),
        )
    else:
        smtp = smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds
        )
        if settings.smtp_security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
    if settings.smtp_username:
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
        smtp.login(settings.smtp_username, password)
    return smtp


def _message(settings: Settings, to: str, subject: str, text: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or "shieldwall")
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    return msg


def _link(settings: Settings, path: str) -> str:
    return f"{settings.effective_base_url}{path}" if path else ""


def _text_of(settings: Settings, n: Notification) -> str:
    parts = [n.title]
    if n.body:
        parts += ["", n.body]
    if n.link:
        parts += ["", _link(settings, n.link)]
    parts += ["", f"-- Shieldwall ({n.topic}, {n.created_at.isoformat()})"]
    return "\n".join(parts)


def _digest_due(kind: str, oldest: datetime, at: datetime) -> bool:
    wait = timedelta(hours=1) if kind == "hourly" else timedelta(days=1)
    return at - oldest >= wait


@dataclass
class MailReport:
    sent: int = 0
    digests: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "digests": self.digests, "failed": self.failed}


def send_mail(
    db: Database, settings: Settings | None = None, at: datetime | None = None
) -> MailReport:
    """Mail the notifications waiting for it: immediate ones one message each; a user's
    hourly or daily ones as one digest once the oldest has waited an hour or a day."""
    settings = settings or get_settings()
    at = at or now()
    report = MailReport()
    if not mail_enabled(settings):
        return report
    with db.writing() as session:
        rows = session.execute(
            sa.select(Notification, User.email)
            .join(User, User.id == Notification.user_id)
            .where(Notification.mail_state.in_(("immediate", "hourly", "daily")))
            .order_by(Notification.id)
            .limit(2000)
            .with_for_update(skip_locked=True, of=Notification)
        ).all()
        batches: list[tuple[str, str, str, list[int], str]] = []
        digests: dict[tuple[int, str], list[tuple[Notification, str]]] = {}
        for n, email in rows:
            if n.mail_state == "immediate":
                batches.append(
                    (
                        email,
                        f"[Shieldwall] {n.title[:150]}",
                        _text_of(settings, n),
                        [n.id],
                        "immediate",
                    )
                )
            else:
                digests.setdefault((n.user_id, n.mail_state), []).append((n, email))
        for (_, kind), items in digests.items():
            if not _digest_due(kind, min(n.created_at for n, _ in items), at):
                continue
            email = items[0][1]
            lines = [f"{len(items)} notifications since {items[0][0].created_at.isoformat()}:", ""]
            for n, _ in items:
                lines.append(f"- {n.created_at.strftime('%Y-%m-%d %H:%M')} UTC  {n.title}")
                if n.link:
                    lines.append(f"  {_link(settings, n.link)}")
            lines += ["", "-- Shieldwall"]
            batches.append(
                (
                    email,
                    f"[Shieldwall] {kind} digest: {len(items)} notifications",
                    "\n".join(lines),
                    [n.id for n, _ in items],
                    kind,
                )
            )
        # Claimed: marked as sending inside this transaction; the outcome follows.
        ids = [i for b in batches for i in b[3]]
        if ids:
            session.execute(
                sa.update(Notification).where(Notification.id.in_(ids)).values(mail_state="sending")
            )
    if not batches:
        return report
    outcome: dict[int, str] = {}
    try:
        smtp = _smtp(settings)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning(
            "SMTP server %s:%s unreachable: %s", settings.smtp_host, settings.smtp_port, exc
        )
        _restore(db, batches)
        report.failed += len(batches)
        return report
    with smtp:
        for email, subject, text, ids, kind in batches:
            try:
                smtp.send_message(_message(settings, email, subject, text))
            except (OSError, smtplib.SMTPException) as exc:
                log.warning("mail to %s failed: %s", email, exc)
                for i in ids:
                    outcome[i] = "failed"
                report.failed += 1
                continue
            for i in ids:
                outcome[i] = "sent"
            if kind != "immediate":
                report.digests += 1
            else:
                report.sent += 1
    with db.writing() as session:
        for state in ("sent", "failed"):
            chosen = [i for i, s in outcome.items() if s == state]
            for start in range(0, len(chosen), 900):
                session.execute(
                    sa.update(Notification)
                    .where(Notification.id.in_(chosen[start : start + 900]))
                    .values(mail_state=state, mailed_at=now() if state == "sent" else None)
                )
    return report


def _restore(db: Database, batches: Sequence[tuple[str, str, str, list[int], str]]) -> None:
    """The server was unreachable: the claimed notifications wait for the next pass."""
    with db.writing() as session:
        for *_, ids, kind in batches:
            session.execute(
                sa.update(Notification).where(Notification.id.in_(ids)).values(mail_state=kind)
            )
