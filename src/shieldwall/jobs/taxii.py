"""TAXII's background work in the server: every SHIELDWALL_TAXII_INTERVAL_SECONDS, render the
events changed since their STIX objects were stored, complete POSTs a stopped server left
pending, and drop shared objects (identities, markings) no event uses any more. Both are safe on several processes (a writers' lock and a claim on each
status). `shieldwall taxii render` does the same from cron."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import Any

from shieldwall.config import get_settings
from shieldwall.db.engine import Database, get_database
from shieldwall.db.migrate import is_current
from shieldwall.jobs.foreground import Foreground
from shieldwall.jobs.periodic import while_serving
from shieldwall.taxii.ingest import process_pending
from shieldwall.taxii.store import catch_up, sweep_orphans

log = logging.getLogger("shieldwall.jobs.taxii")


# In the server the job renders in transactions of about SLICE_SECONDS (at least one event;
# ended after the current event when a request comes in) and, before each, waits until no request has been in flight for QUIET_SECONDS (at least
# that long, at most the job's interval). Without this a backlog (a large import, a bulk
# load) was rendered in 20-event transactions back to back: on SQLite a request's write
# waited in BEGIN IMMEDIATE for the batch in progress and, the job taking the lock again at
# once, could lose it to the next batch too (a PyMISP add_event of 4-5 s took 20-27 s), and
# every request shared the interpreter with the rendering. QUIET_SECONDS is also longer than SQLite's busy
# handler sleeps between tries (100 ms), so a writer in another process gets in between.
SLICE_SECONDS = 0.5
QUIET_SECONDS = 0.1


def run_taxii_job(
    db: Database | None = None,
    stop: threading.Event | None = None,
    foreground: Foreground | None = None,
    longest_wait: float = 10.0,
) -> int:
    """Render what changed (until done or asked to stop); returns the events rendered. With
    `foreground` (the server's requests), it renders in slices in the gaps between requests."""
    db = db or get_database()
    if not is_current(db.engine):
        return 0
    process_pending(db)
    slice_seconds: float | None = None
    before: Callable[[], Any] | None = None
    interrupt: Callable[[], bool] | None = None
    if foreground is not None:
        slice_seconds = SLICE_SECONDS
        before = partial(foreground.wait_quiet, QUIET_SECONDS, longest_wait, stop)
        interrupt = foreground.in_flight
    done = 0
    while stop is None or not stop.is_set():
        step = catch_up(
            db, budget=5.0, slice_seconds=slice_seconds, before=before, interrupt=interrupt
        )
        done += step
        if step == 0:
            break
    # After rendering: the events it found deleted leave their shared objects orphaned now.
    sweep_orphans(db)
    return done


async def taxii_scheduler(
    interval: float, stop: threading.Event | None = None, foreground: Foreground | None = None
) -> None:
    stop = stop or threading.Event()
    while not stop.is_set():
        await asyncio.sleep(interval)
        try:
            rendered = await asyncio.to_thread(run_taxii_job, None, stop, foreground, interval)
        except Exception:
            log.exception("TAXII rendering failed")
            continue
        if rendered:
            log.info("TAXII: %d changed events rendered as STIX", rendered)


def taxii_schedule(app: Any) -> AbstractAsyncContextManager[None]:
    settings = get_settings()
    interval = float(settings.taxii_interval_seconds)
    foreground = getattr(app.state, "foreground", None)
    return while_serving(
        "taxii-job",
        settings.taxii_job,
        lambda stop: taxii_scheduler(interval, stop, foreground),
    )
