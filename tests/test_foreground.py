"""Requests in flight, as the server's background jobs see them (jobs/foreground.py)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from shieldwall.jobs.foreground import CountRequests, Foreground


def _waiter(fg: Foreground, **kwargs: Any) -> tuple[threading.Thread, list[bool]]:
    result: list[bool] = []
    t = threading.Thread(target=lambda: result.append(fg.wait_quiet(**kwargs)), daemon=True)
    t.start()
    return t, result


def test_wait_quiet_waits_for_the_request_in_flight() -> None:
    fg = Foreground()
    fg.enter()
    t, result = _waiter(fg, quiet=0.01, longest=120)
    t.join(0.3)
    assert t.is_alive() and result == []  # a request is in flight: the job does not go on
    fg.leave()
    t.join(60)
    assert result == [True]
    assert fg.busy == 0


def test_wait_quiet_gives_up_after_longest_and_on_stop() -> None:
    fg = Foreground()
    fg.enter()  # never leaves: a server that is never idle
    assert fg.wait_quiet(quiet=0.01, longest=0.05) is False
    stop = threading.Event()
    t, result = _waiter(fg, quiet=0.01, longest=120, stop=stop)
    stop.set()
    t.join(60)
    assert result == [False]


def test_wait_quiet_returns_when_idle() -> None:
    assert Foreground().wait_quiet(quiet=0.01, longest=120) is True


def test_count_requests_middleware_counts_while_answering() -> None:
    fg = Foreground()
    seen: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(fg.busy)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for chunk in (b"a", b"b"):  # a streamed answer: still in flight between chunks
                seen.append(fg.busy)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        pass

    wrapped = CountRequests(app, foreground=fg)
    asyncio.run(wrapped({"type": "http", "path": "/"}, receive, send))
    assert seen == [1, 1, 1] and fg.busy == 0
    asyncio.run(wrapped({"type": "lifespan"}, receive, send))
    assert seen[-1] == 0  # the lifespan is no request

    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        asyncio.run(CountRequests(failing, foreground=fg)({"type": "http"}, receive, send))
    assert fg.busy == 0  # a failed request is no longer in flight


def test_the_app_counts_its_requests(app: Any) -> None:
    from fastapi.testclient import TestClient

    fg = app.state.foreground
    app.add_api_route("/probe-foreground", lambda: {"busy": fg.busy})
    with TestClient(app) as client:
        assert client.get("/probe-foreground").json() == {"busy": 1}
    assert fg.busy == 0
