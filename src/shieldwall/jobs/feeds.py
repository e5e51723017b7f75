"""Scheduled feed fetching in the server: an asyncio task, started with the application,
that wakes every minute and fetches the feeds whose schedule says it is time, in a worker
thread so requests are never held up. Every server process runs one; a feed is claimed in
the database before it is fetched (exchange/feeds.py), so two processes never fetch the
same feed at once. `shieldwall feed fetch --due` does the same from cron."""

from __future__ import annotations

import asyncio
import logging
import threading
from contextlib import AbstractAsyncContextManager
from typing import Any

from shieldwall.config import get_settings
from shieldwall.db.engine import Database, get_database
from shieldwall.db.migrate import is_current
from shieldwall.exchange.feeds import FetchReport, fetch_all, scheduler_ctx
from shieldwall.jobs.periodic import while_serving
from shieldwall.server_settings import read_options

log = logging.getLogger("shieldwall.jobs.feeds")

# Seconds between looks at the schedule; schedules are in minutes.
INTERVAL = 60.0


def run_due_feeds(
    db: Database | None = None, stop: threading.Event | None = None
) -> list[FetchReport]:
    """Fetch every enabled feed that is due; nothing before the instance is set up."""
    db = db or get_database()
    if not is_current(db.engine):
        return []
    ctx = scheduler_ctx(db, read_options())
    if ctx is None:
        return []
    return fetch_all(db, ctx, due_only=True, stop=stop)


async def feed_scheduler(interval: float = INTERVAL, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    while not stop.is_set():
        await asyncio.sleep(interval)
        try:
            reports = await asyncio.to_thread(run_due_feeds, None, stop)
        except Exception:
            log.exception("scheduled feed fetching failed")
            continue
        for r in reports:
            log.info("feed %s fetched on schedule: %s", r.name, r.summary())


def feed_schedule(app: Any) -> AbstractAsyncContextManager[None]:
    """The scheduler runs while the application serves, unless SHIELDWALL_FEED_SCHEDULER is
    off. A fetch in progress ends after its current feed; the next feeds wait for next time."""
    return while_serving(
        "feed-scheduler",
        get_settings().feed_scheduler,
        lambda stop: feed_scheduler(INTERVAL, stop),
    )
