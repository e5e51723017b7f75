"""Notifications in the native API: the caller's inbox and mail subscriptions, the
organisation's webhooks and their deliveries, the topics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.api.search import MAX_AFTER
from shieldwall.response import notify as svc
from shieldwall.response.schemas import SubscriptionIn, WebhookIn, WebhookUpdate

router = APIRouter(tags=["notifications"])


@router.get("/notifications")
def inbox(
    ctx: CurrentCtx,
    db: ReadDB,
    unread: bool = False,
    after: Annotated[int, Query(ge=0, le=MAX_AFTER)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The caller's notifications, newest first."""
    items = svc.inbox(db, ctx, unread=unread, after=after, limit=limit)
    return {
        "items": [svc.notification_out(n) for n in items],
        "next": items[-1].id if len(items) == limit else None,
    }


@router.post("/notifications/read")
def mark_read(
    ctx: CurrentCtx,
    db: WriteDB,
    ids: Annotated[
        list[Annotated[int, Query(ge=1)]] | None, Body(embed=True, max_length=1000)
    ] = None,
) -> dict[str, Any]:
    """Mark notifications read: the ones named, or every unread one."""
    n = svc.mark_read(db, ctx, ids)
    db.commit()
    return {"marked": n}


@router.get("/notifications/topics")
def topics() -> dict[str, Any]:
    return {"items": [{"topic": t, "description": d} for t, d in svc.TOPICS.items()]}


@router.get("/subscriptions")
def subscriptions(ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return {"items": [svc.subscription_out(s) for s in svc.subscriptions(db, ctx)]}


@router.put("/subscriptions")
def subscribe(data: SubscriptionIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """Mail for a topic (`case.shared`), a prefix (`case.*`) or everything (`*`), at once
    or in an hourly or daily digest."""
    out = svc.subscription_out(svc.subscribe(db, ctx, data))
    db.commit()
    return out


@router.delete("/subscriptions/{topic}", status_code=204)
def unsubscribe(topic: str, ctx: CurrentCtx, db: WriteDB) -> Response:
    svc.unsubscribe(db, ctx, topic)
    db.commit()
    return Response(status_code=204)


@router.get("/webhooks")
def webhooks(ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return {"items": [svc.webhook_out(h) for h in svc.list_webhooks(db, ctx)]}


@router.post("/webhooks", status_code=201)
def create_webhook(data: WebhookIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """A webhook of the organisation. The answer carries the signing secret, this once:
    each delivery is signed `X-Shieldwall-Signature: sha256=HMAC(secret, timestamp + "." +
    body)` with the timestamp in `X-Shieldwall-Timestamp`."""
    hook, secret = svc.create_webhook(db, ctx, data)
    out = {**svc.webhook_out(hook), "secret": secret}
    db.commit()
    return out


@router.get("/webhooks/{ref}")
def get_webhook(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return svc.webhook_out(svc.get_webhook(db, ctx, ref))


@router.patch("/webhooks/{ref}")
def update_webhook(ref: str, data: WebhookUpdate, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    out = svc.webhook_out(svc.update_webhook(db, ctx, ref, data))
    db.commit()
    return out


@router.delete("/webhooks/{ref}", status_code=204)
def delete_webhook(ref: str, ctx: CurrentCtx, db: WriteDB) -> Response:
    svc.delete_webhook(db, ctx, ref)
    db.commit()
    return Response(status_code=204)


@router.get("/webhooks/{ref}/deliveries")
def deliveries(
    ref: str, ctx: CurrentCtx, db: ReadDB, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    """The webhook's latest deliveries: state, attempts, the receiver's last answer."""
    return {"items": [svc.delivery_out(d) for d in svc.deliveries(db, ctx, ref, limit)]}
