"""Requests in flight in this process, so that background jobs in it can yield to them.

The server's jobs run in worker threads of the serving process: what they compute takes the
interpreter from the requests, and on SQLite what they write holds the one write lock a
request's write transaction waits for. A job that can split its work calls `wait_quiet`
between steps and so runs in the gaps between requests (with a bound, so a server that is
never idle still gets its background work done)."""

from __future__ import annotations

import threading
import time

from starlette.types import ASGIApp, Receive, Scope, Send


class Foreground:
    """Counts the HTTP requests being served (from their start to the last byte sent)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = 0
        self._idle_since = float("-inf")

    @property
    def busy(self) -> int:
        with self._cond:
            return self._busy

    def in_flight(self) -> bool:
        """Whether a request is being served now (read without the lock: a hint)."""
        return self._busy > 0

    def enter(self) -> None:
        with self._cond:
            self._busy += 1

    def leave(self) -> None:
        with self._cond:
            self._busy -= 1
            if self._busy == 0:
                self._idle_since = time.monotonic()
                self._cond.notify_all()

    def wait_quiet(self, quiet: float, longest: float, stop: threading.Event | None = None) -> bool:
        """Wait at least `quiet` seconds, then until no request has been in flight for `quiet`
        seconds; give up after `longest` seconds in all, or when `stop` is set. True when it
        is quiet."""
        stop = stop or threading.Event()
        deadline = time.monotonic() + longest
        if stop.wait(quiet):
            return False
        with self._cond:
            while not stop.is_set():
                now = time.monotonic()
                if self._busy == 0 and now - self._idle_since >= quiet:
                    return True
                if now >= deadline:
                    return False
                # Still busy: woken when the last request ends. Idle, but only just: wait
                # out the rest of `quiet`. At most a second, to see `stop` in time.
                left = quiet - (now - self._idle_since) if self._busy == 0 else deadline - now
                self._cond.wait(min(left, deadline - now, 1.0))
        return False


class CountRequests:
    """ASGI middleware: every HTTP request is counted in `foreground` while it is served,
    a streamed answer until its last chunk."""

    def __init__(self, app: ASGIApp, foreground: Foreground) -> None:
        self.app = app
        self.foreground = foreground

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.foreground.enter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.foreground.leave()
