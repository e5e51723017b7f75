"""The application's lifespan: every background job that runs inside the server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from shieldwall.jobs.feeds import feed_schedule
from shieldwall.jobs.lifecycle import expiry_schedule
from shieldwall.jobs.response import response_schedule
from shieldwall.jobs.retro import retro_schedule
from shieldwall.jobs.taxii import taxii_schedule


@asynccontextmanager
async def background_jobs(app: Any) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(feed_schedule(app))
        await stack.enter_async_context(expiry_schedule(app))
        await stack.enter_async_context(taxii_schedule(app))
        await stack.enter_async_context(retro_schedule(app))
        await stack.enter_async_context(response_schedule(app))
        yield
