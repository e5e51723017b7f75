"""TAXII's background work in the server: every SHIELDWALL_TAXII_INTERVAL_SECONDS, render the
events changed since their STIX objects were stored, complete POSTs a stopped server left
pending, and drop shared objects (identities, markings) no event uses any more. Both are safe on several processes (a writers' lock and a claim on each
status). `shieldwall taxii render` does the same from cron."""

from __future__ import annotations

import asyncio
import logging
import threading
from contextlib import AbstractAsyncContextManager
from typing import Any

from shieldwall.config import get_settings
from shieldwall.db.engine import Database, get_database
from shieldwall.db.migrate import is_current
from shieldwall.jobs.periodic import while_serving
from shieldwall.taxii.ingest import process_pending
from shieldwall.taxii.store import catch_up, sweep_orphans

log = logging.getLogger("shieldwall.jobs.taxii")


def run_taxii_job(db: Database | None = None, stop: threading.Event | None = None) -> int:
    """Render what changed (until done or asked to stop); returns the events rendered."""
    db = db or get_database()
    if not is_current(db.engine):
        return 0
    process_pending(db)
    done = 0
    while stop is None or not stop.is_set():
        step = catch_up(db, budget=5.0)
        done += step
        if step == 0:
            break
    # After rendering: the events it found deleted leave their shared objects orphaned now.
    sweep_orphans(db)
    return done


async def taxii_scheduler(interval: float, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    while not stop.is_set():
        await asyncio.sleep(interval)
        try:
            rendered = await asyncio.to_thread(run_taxii_job, None, stop)
        except Exception:
            log.exception("TAXII rendering failed")
            continue
        if rendered:
            log.info("TAXII: %d changed events rendered as STIX", rendered)


def taxii_schedule(app: Any) -> AbstractAsyncContextManager[None]:
    settings = get_settings()
    return while_serving(
        "taxii-job",
        settings.taxii_job,
        lambda stop: taxii_scheduler(float(settings.taxii_interval_seconds), stop),
    )
