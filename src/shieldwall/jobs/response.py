"""Incident response's background pass in the server: every
SHIELDWALL_RESPONSE_INTERVAL_SECONDS, flag SLA breaches, end deployments whose time ran
out, route newly published intel to the organisations whose networks it touches, deliver
webhooks and send mail. Each step is safe on several processes (claims, marks, flags set
once). `shieldwall response run` does the same from cron."""

from __future__ import annotations

import asyncio
import logging
import threading
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from shieldwall.config import get_settings
from shieldwall.db.engine import Database, get_database
from shieldwall.db.migrate import is_current
from shieldwall.jobs.periodic import while_serving
from shieldwall.response import assistance, constituency, delivery, sla
from shieldwall.server_settings import effective_settings, read_options

log = logging.getLogger("shieldwall.jobs.response")


@dataclass
class PassReport:
    breaches: dict[str, int] = field(default_factory=dict)
    deployments_ended: int = 0
    events_routed: int = 0
    alerts_routed: int = 0
    webhooks_delivered: int = 0
    webhooks_failed: int = 0
    mail: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sla_breaches": self.breaches,
            "deployments_ended": self.deployments_ended,
            "events_routed": self.events_routed,
            "alerts_routed": self.alerts_routed,
            "webhooks_delivered": self.webhooks_delivered,
            "webhooks_failed": self.webhooks_failed,
            "mail": self.mail,
        }

    @property
    def busy(self) -> bool:
        return bool(
            any(self.breaches.values())
            or self.deployments_ended
            or self.alerts_routed
            or self.webhooks_delivered
            or self.webhooks_failed
            or any(self.mail.values())
        )


def run_response_pass(db: Database | None = None) -> PassReport | None:
    """One pass; each step in its own transaction. None before the schema is current."""
    db = db or get_database()
    if not is_current(db.engine):
        return None
    settings = effective_settings()
    report = PassReport()
    with db.writing() as session:
        report.breaches = sla.check_breaches(session).as_dict()
    with db.writing() as session:
        report.deployments_ended = assistance.expire_deployments(session)
    while True:
        with db.writing() as session:
            events, alerts = constituency.route_published(session, read_options(settings))
        report.events_routed += events
        report.alerts_routed += alerts
        if events < constituency.EVENTS_PER_PASS:
            break
    while True:
        delivered, failed = delivery.deliver_webhooks(db, settings)
        report.webhooks_delivered += delivered
        report.webhooks_failed += failed
        if delivered + failed < delivery.BATCH:
            break
    report.mail = delivery.send_mail(db, settings).as_dict()
    return report


async def response_scheduler(interval: float, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    while not stop.is_set():
        await asyncio.sleep(interval)
        try:
            report = await asyncio.to_thread(run_response_pass)
        except Exception:
            log.exception("response pass failed")
            continue
        if report is not None and report.busy:
            log.info("response pass: %s", report.as_dict())


def response_schedule(app: Any) -> AbstractAsyncContextManager[None]:
    settings = get_settings()
    return while_serving(
        "response-job",
        settings.response_job,
        lambda stop: response_scheduler(float(settings.response_interval_seconds), stop),
    )
