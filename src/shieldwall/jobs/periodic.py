"""Running a job loop for as long as the application serves."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from typing import Any


@asynccontextmanager
async def while_serving(
    name: str, enabled: bool, loop: Callable[[threading.Event], Coroutine[Any, Any, None]]
) -> AsyncIterator[None]:
    """Run `loop(stop)` as an asyncio task while the block runs (nothing when not
    `enabled`); at the end `stop` is set, so work in a worker thread can end after its
    current step, and the task is cancelled."""
    if not enabled:
        yield
        return
    stop = threading.Event()
    task = asyncio.create_task(loop(stop), name=name)
    try:
        yield
    finally:
        stop.set()
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
