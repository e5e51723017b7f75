"""Notifications: a message to users (their inbox, and e-mail where they subscribed) and to
their organisations' webhooks. Written in the caller's transaction, as an outbox: a change
that rolls back notifies nobody; the delivery job sends what committed."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from shieldwall.audit.service import record
from shieldwall.auth.models import Role, User
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.clock import now
from shieldwall.config import get_settings
from shieldwall.context import Ctx
from shieldwall.ids import as_id
from shieldwall.intel.errors import InvalidInput, NotFound
from shieldwall.response.models import Notification, Subscription, Webhook, WebhookDelivery
from shieldwall.response.schemas import SubscriptionIn, WebhookIn, WebhookUpdate

# Every topic Shieldwall notifies, with what it means (the API lists them).
TOPICS: dict[str, str] = {
    "alert.created": "a new alert for the organisation",
    "alert.routed": "intel or a hunt touches the organisation's networks",
    "case.created": "a new case of the organisation",
    "case.assigned": "a case assigned to the user",
    "case.status": "a case changed status",
    "case.shared": "a case shared with the organisation",
    "case.unshared": "a case no longer shared with the organisation",
    "task.assigned": "a task assigned to the user",
    "sla.breached": "an alert or case missed its SLA",
    "assistance.requested": "a member asks the alliance for help",
    "assistance.decided": "an assistance request approved or declined",
    "deployment.started": "a rapid-reaction team deployed",
    "deployment.ended": "a deployment ended; the team's access to the case is gone",
    "assistance.closed": "an assistance request closed with its lessons learned",
}


def topic_matches(pattern: str, topic: str) -> bool:
    if pattern in ("*", topic):
        return True
    return pattern.endswith(".*") and topic.startswith(pattern[:-1])


def _specificity(pattern: str) -> int:
    return 2 if pattern != "*" and not pattern.endswith("*") else (1 if pattern != "*" else 0)


@dataclass(frozen=True)
class Message:
    topic: str
    title: str
    body: str = ""
    link: str = ""
    payload: dict[str, Any] | None = None


def org_users(
    session: Session, org_ids: Iterable[int], permission: Permission | None = None
) -> list[int]:
    """Active users of the organisations, with the permission when one is named."""
    ids = sorted(set(org_ids))
    if not ids:
        return []
    rows = session.execute(
        sa.select(User.id, Role.permissions)
        .join(Role, Role.id == User.role_id)
        .where(User.org_id.in_(ids), User.disabled.is_(False))
        .order_by(User.id)
    ).all()
    out = []
    for user_id, perms in rows:
        held = set(perms or [])
        if permission is None or permission in held or Permission.SITE_ADMIN in held:
            out.append(user_id)
    return out


def permitted_users(session: Session, permission: Permission) -> list[int]:
    """Active users, anywhere, whose role holds the permission (coordinators, say)."""
    rows = session.execute(
        sa.select(User.id, Role.permissions)
        .join(Role, Role.id == User.role_id)
        .where(User.disabled.is_(False))
        .order_by(User.id)
    ).all()
    return [uid for uid, perms in rows if permission in set(perms or [])]


def notify(
    session: Session,
    message: Message,
    *,
    users: Iterable[int] = (),
    orgs: Iterable[int] = (),
    org_permission: Permission | None = None,
    skip_user: int | None = None,
) -> int:
    """Queue the message for the users named and the (permitted) users of the
    organisations, and for those organisations' webhooks; returns the users reached."""
    if message.topic not in TOPICS:
        raise ValueError(f"unknown topic {message.topic}")
    org_ids = sorted(set(orgs))
    recipients = set(users) | set(org_users(session, org_ids, org_permission))
    if skip_user is not None:
        recipients.discard(skip_user)
    at = now()
    payload = message.payload or {}
    if recipients:
        subs: dict[int, list[Subscription]] = {}
        for sub in session.execute(
            sa.select(Subscription).where(Subscription.user_id.in_(sorted(recipients)))
        ).scalars():
            subs.setdefault(sub.user_id, []).append(sub)
        rows = []
        for user_id in sorted(recipients):
            mail_state = ""
            matching = [s for s in subs.get(user_id, []) if topic_matches(s.topic, message.topic)]
            if matching:
                best = max(matching, key=lambda s: _specificity(s.topic))
                mail_state = best.digest if best.email else ""
            rows.append(
                {
                    "user_id": user_id,
                    "topic": message.topic,
                    "title": message.title[:2000],
                    "body": message.body,
                    "link": message.link[:512],
                    "payload": payload,
                    "created_at": at,
                    "mail_state": mail_state,
                }
            )
        session.execute(sa.insert(Notification), rows)
    if org_ids:
        hooks = session.execute(
            sa.select(Webhook).where(Webhook.org_id.in_(org_ids), Webhook.enabled.is_(True))
        ).scalars()
        for hook in hooks:
            if not any(topic_matches(t, message.topic) for t in hook.topics):
                continue
            delivery = WebhookDelivery(
                webhook_id=hook.id, topic=message.topic, payload={}, next_attempt_at=at
            )
            session.add(delivery)
            session.flush()
            delivery.payload = {
                "id": delivery.uuid,
                "topic": message.topic,
                "created_at": at.isoformat(),
                "title": message.title,
                "body": message.body,
                "link": message.link,
                "data": payload,
            }
    return len(recipients)


# ---------------------------------------------------------------- the inbox


def inbox(
    session: Session, ctx: Ctx, *, unread: bool = False, after: int = 0, limit: int = 100
) -> list[Notification]:
    """The caller's notifications, newest first (page with `after` = the last id seen)."""
    q = sa.select(Notification).where(Notification.user_id == _user_id(ctx))
    if unread:
        q = q.where(Notification.read_at.is_(None))
    if after:
        q = q.where(Notification.id < after)
    return list(session.execute(q.order_by(Notification.id.desc()).limit(limit)).scalars())


def mark_read(session: Session, ctx: Ctx, ids: list[int] | None) -> int:
    """Mark the caller's notifications read (every unread one when ids is None)."""
    q = sa.update(Notification).where(
        Notification.user_id == _user_id(ctx), Notification.read_at.is_(None)
    )
    if ids is not None:
        q = q.where(Notification.id.in_(ids))
    return int(session.execute(q.values(read_at=now())).rowcount or 0)  # type: ignore[attr-defined]


def notification_out(n: Notification) -> dict[str, Any]:
    return {
        "id": n.id,
        "topic": n.topic,
        "title": n.title,
        "body": n.body,
        "link": n.link,
        "data": n.payload,
        "created_at": n.created_at.isoformat(),
        "read": n.read_at is not None,
        "mail": n.mail_state or None,
    }


def _user_id(ctx: Ctx) -> int:
    if ctx.principal.user_id is None:
        raise InvalidInput("notifications belong to users; this principal is none", field="user")
    return ctx.principal.user_id


# ---------------------------------------------------------------- subscriptions


def subscriptions(session: Session, ctx: Ctx) -> list[Subscription]:
    return list(
        session.execute(
            sa.select(Subscription)
            .where(Subscription.user_id == _user_id(ctx))
            .order_by(Subscription.topic)
        ).scalars()
    )


def subscribe(session: Session, ctx: Ctx, data: SubscriptionIn) -> Subscription:
    """Mail for a topic (or `case.*`, `*`), at once or in an hourly or daily digest; the
    same topic again replaces the choice."""
    if data.topic != "*" and not data.topic.endswith(".*") and data.topic not in TOPICS:
        raise InvalidInput(
            f"unknown topic {data.topic!r}: one of {', '.join(TOPICS)}, a prefix like case.* or *",
            field="topic",
        )
    user_id = _user_id(ctx)
    sub = session.execute(
        sa.select(Subscription).where(
            Subscription.user_id == user_id, Subscription.topic == data.topic
        )
    ).scalar_one_or_none()
    if sub is None:
        sub = Subscription(user_id=user_id, topic=data.topic)
        session.add(sub)
    sub.email = data.email
    sub.digest = data.digest
    session.flush()
    record(
        session,
        ctx.actor,
        "subscribe",
        "Subscription",
        model_id=sub.id,
        title=data.topic,
        change={"email": data.email, "digest": data.digest},
    )
    return sub


def unsubscribe(session: Session, ctx: Ctx, topic: str) -> None:
    sub = session.execute(
        sa.select(Subscription).where(
            Subscription.user_id == _user_id(ctx), Subscription.topic == topic
        )
    ).scalar_one_or_none()
    if sub is None:
        raise NotFound(f"no subscription to {topic!r}", field="topic")
    session.delete(sub)
    session.flush()
    record(session, ctx.actor, "unsubscribe", "Subscription", model_id=sub.id, title=topic)


def subscription_out(s: Subscription) -> dict[str, Any]:
    return {"topic": s.topic, "email": s.email, "digest": s.digest}


# ---------------------------------------------------------------- webhooks

_NONCE = 12


def _cipher() -> AESGCM:
    secret = get_settings().ensure_secret_key().encode()
    return AESGCM(hashlib.sha256(b"shieldwall-webhook-secret:" + secret).digest())


def seal_secret(secret: str) -> str:
    nonce = os.urandom(_NONCE)
    return base64.b64encode(nonce + _cipher().encrypt(nonce, secret.encode(), None)).decode()


def open_secret(sealed: str) -> str:
    raw = base64.b64decode(sealed)
    return _cipher().decrypt(raw[:_NONCE], raw[_NONCE:], None).decode()


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("a webhook URL is http(s)://host/...", field="url")
    settings = get_settings()
    host = parts.hostname
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if (
        settings.environment == "production"
        and parts.scheme != "https"
        and not (address is not None and address.is_loopback)
        and host != "localhost"
    ):
        raise InvalidInput("in production a webhook URL must use https", field="url")
    return url


def _check_topics(topics: list[str]) -> list[str]:
    for t in topics:
        if t != "*" and not t.endswith(".*") and t not in TOPICS:
            raise InvalidInput(f"unknown topic {t!r}", field="topics")
    return sorted(set(topics))


def list_webhooks(session: Session, ctx: Ctx) -> list[Webhook]:
    require(ctx, Permission.WEBHOOK_MANAGE)
    q = sa.select(Webhook)
    if not ctx.principal.is_site_admin:
        q = q.where(Webhook.org_id == ctx.org_id)
    return list(session.execute(q.order_by(Webhook.id)).scalars())


def get_webhook(session: Session, ctx: Ctx, ref: str | int) -> Webhook:
    require(ctx, Permission.WEBHOOK_MANAGE)
    q = sa.select(Webhook)
    q = (
        q.where(Webhook.id == as_id(ref))
        if as_id(ref) is not None
        else q.where(Webhook.uuid == str(ref))
    )
    hook = session.execute(q).scalar_one_or_none()
    if hook is None or (not ctx.principal.is_site_admin and hook.org_id != ctx.org_id):
        raise NotFound(f"webhook {ref!r} not found", field="webhook")
    return hook


def create_webhook(session: Session, ctx: Ctx, data: WebhookIn) -> tuple[Webhook, str]:
    """A webhook of the caller's organisation; returns it with its signing secret (shown
    this once; stored encrypted)."""
    require(ctx, Permission.WEBHOOK_MANAGE)
    secret = data.secret or secrets.token_urlsafe(32)
    hook = Webhook(
        org_id=ctx.org_id,
        name=data.name,
        url=_check_url(data.url),
        topics=_check_topics(data.topics),
        enabled=data.enabled,
        secret_enc=seal_secret(secret),
    )
    session.add(hook)
    session.flush()
    record(
        session,
        ctx.actor,
        "create",
        "Webhook",
        model_id=hook.id,
        model_uuid=hook.uuid,
        title=hook.name,
        change={"url": hook.url, "topics": hook.topics},
    )
    return hook, secret


def update_webhook(session: Session, ctx: Ctx, ref: str, data: WebhookUpdate) -> Webhook:
    hook = get_webhook(session, ctx, ref)
    change = data.model_dump(exclude_unset=True)
    if "url" in change:
        hook.url = _check_url(change["url"])
    if "topics" in change:
        hook.topics = _check_topics(change["topics"])
    if "name" in change:
        hook.name = change["name"]
    if "enabled" in change:
        hook.enabled = change["enabled"]
    session.flush()
    record(
        session,
        ctx.actor,
        "update",
        "Webhook",
        model_id=hook.id,
        model_uuid=hook.uuid,
        title=hook.name,
        change=change,
    )
    return hook


def delete_webhook(session: Session, ctx: Ctx, ref: str) -> None:
    hook = get_webhook(session, ctx, ref)
    session.delete(hook)
    session.flush()
    record(
        session,
        ctx.actor,
        "delete",
        "Webhook",
        model_id=hook.id,
        model_uuid=hook.uuid,
        title=hook.name,
    )


def deliveries(
    session: Session, ctx: Ctx, ref: str | int, limit: int = 100
) -> list[WebhookDelivery]:
    hook = get_webhook(session, ctx, ref)
    return list(
        session.execute(
            sa.select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == hook.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        ).scalars()
    )


def webhook_out(h: Webhook) -> dict[str, Any]:
    return {
        "id": h.id,
        "uuid": h.uuid,
        "org_id": h.org_id,
        "name": h.name,
        "url": h.url,
        "topics": h.topics,
        "enabled": h.enabled,
        "created_at": h.created_at.isoformat(),
    }


def delivery_out(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": d.uuid,
        "topic": d.topic,
        "state": d.state,
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at.isoformat() if d.state == "pending" else None,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "created_at": d.created_at.isoformat(),
        "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
    }
