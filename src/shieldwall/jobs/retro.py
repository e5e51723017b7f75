"""The scheduled retro-hunt in the server: every SHIELDWALL_RETRO_HUNT_INTERVAL_MINUTES,
each enabled sensor's retained telemetry is hunted for the indicators published since its
last retro-hunt (a worker thread; the mark per sensor makes a pass safe to repeat).
`shieldwall hunt --retro` does the same from cron."""

from __future__ import annotations

import asyncio
import logging
import threading
from contextlib import AbstractAsyncContextManager
from typing import Any

from shieldwall.config import get_settings
from shieldwall.db.engine import Database, get_database
from shieldwall.db.migrate import is_current
from shieldwall.detection.service import RetroReport, retro_hunt_all
from shieldwall.jobs.periodic import while_serving

log = logging.getLogger("shieldwall.jobs.retro")


def run_retro_job(db: Database | None = None) -> list[RetroReport]:
    db = db or get_database()
    if not is_current(db.engine):
        return []
    return retro_hunt_all(db)


async def retro_scheduler(interval: float, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    while not stop.is_set():
        await asyncio.sleep(interval)
        try:
            reports = await asyncio.to_thread(run_retro_job)
        except Exception:
            log.exception("scheduled retro-hunt failed")
            continue
        for r in reports:
            if r.matches:
                log.info("retro-hunt %s: %d matches", r.sensor, len(r.matches))


def retro_schedule(app: Any) -> AbstractAsyncContextManager[None]:
    """Runs retro-hunts while the application serves, unless SHIELDWALL_RETRO_HUNT_JOB is
    off."""
    settings = get_settings()
    interval = settings.retro_hunt_interval_minutes * 60.0
    return while_serving(
        "retro-hunt-job", settings.retro_hunt_job, lambda stop: retro_scheduler(interval, stop)
    )
