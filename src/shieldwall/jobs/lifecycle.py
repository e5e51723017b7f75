"""The scheduled expiry pass in the server: an asyncio task, started with the application,
that marks expired indicators every SHIELDWALL_LIFECYCLE_INTERVAL_MINUTES in a worker
thread. The pass is idempotent, so several server processes may each run it.
`shieldwall indicators expire` does the same from cron."""

from __future__ import annotations

import asyncio
import logging
import threading
from contextlib import AbstractAsyncContextManager
from typing import Any

from shieldwall.audit.service import Actor
from shieldwall.config import get_settings
from shieldwall.db.engine import Database, get_database
from shieldwall.db.migrate import is_current
from shieldwall.jobs.periodic import while_serving
from shieldwall.lifecycle.service import ExpiryReport, run_expiry
from shieldwall.server_settings import effective_settings

log = logging.getLogger("shieldwall.jobs.lifecycle")

ACTOR = Actor(label="lifecycle job")


def run_expiry_job(db: Database | None = None) -> ExpiryReport | None:
    """One expiry pass in its own transaction; nothing before the schema is current."""
    db = db or get_database()
    if not is_current(db.engine):
        return None
    with db.writing() as session:
        return run_expiry(session, ACTOR)


async def expiry_scheduler(interval: float | None, stop: threading.Event | None = None) -> None:
    """interval None: the runtime setting, read again before every wait."""
    stop = stop or threading.Event()
    while not stop.is_set():
        wait = interval
        if wait is None:
            wait = effective_settings().lifecycle_interval_minutes * 60.0
        await asyncio.sleep(wait)
        try:
            report = await asyncio.to_thread(run_expiry_job)
        except Exception:
            log.exception("scheduled expiry pass failed")
            continue
        if report is not None and (report.expired or report.revived):
            log.info(
                "expiry pass: %d indicators expired, %d live again", report.expired, report.revived
            )


def expiry_schedule(app: Any) -> AbstractAsyncContextManager[None]:
    """Runs the expiry pass while the application serves, unless SHIELDWALL_LIFECYCLE_JOB
    is off."""
    return while_serving(
        "expiry-job", get_settings().lifecycle_job, lambda stop: expiry_scheduler(None, stop)
    )
