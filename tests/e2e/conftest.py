"""A real browser against a live Shieldwall: Debian's Chromium driven by Playwright for
Python, headless, against uvicorn on a free loopback port. Chromium is Debian's package
(`make browser` installs it; as root the fixture does too); it is never skipped."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.interop.conftest import live_url  # noqa: F401

LOCK = Path("/tmp/shieldwall-chromium-install.lock")
CHROMIUM = "/usr/bin/chromium"
# The closed network of CI machines: no background traffic, no first-run work.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Where `make screenshots` wants the pictures of the main pages (unset: none are taken).
SHOTS = os.environ.get("SHIELDWALL_SCREENSHOTS")


def chromium() -> str:
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
        if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            for cmd in (
                ["apt-get", "update", "-q"],
                [
                    "apt-get",
                    "install",
                    "-y",
                    "-q",
                    "--no-install-recommends",
                    "chromium",
                    "chromium-driver",
                ],
            ):
                subprocess.run(cmd, env=env, check=False, capture_output=True, timeout=1200)
            found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if found is None:
        pytest.fail(
            "the browser tests need Debian's Chromium (packages chromium and chromium-driver): "
            "run `make browser` (as root) or `apt-get install chromium chromium-driver`"
        )
    return found


# Module-scoped: Playwright's sync API keeps an event loop running while it is open, and
# the worker's later tests (asyncio.run) need it gone.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=ARGS)
        yield b
        b.close()


class Session:
    """One signed-in browser context: its page, and the helpers the flows use."""

    def __init__(self, browser: Browser, base: str, email: str, password: str) -> None:
        self.base = base
        self.email = email
        self.context = browser.new_context(viewport={"width": 1366, "height": 900})
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        # Console errors count, but for the 404 a forbidden page answers on purpose.
        self.page.on(
            "console",
            lambda m: (
                self.errors.append(m.text)
                if m.type == "error" and "status of 404" not in m.text
                else None
            ),
        )
        self.page.goto(f"{base}/ui/login")
        self.page.get_by_label("E-mail").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(f"{base}/ui/")

    def go(self, path: str) -> Page:
        self.page.goto(f"{self.base}{path}")
        return self.page

    def shot(self, name: str) -> None:
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            self.page.evaluate("window.scrollTo(0, 0)")
            self.page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=False)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def signed_in(browser: Browser, live_url: str) -> Iterator[Any]:  # noqa: F811
    opened: list[Session] = []

    def sign_in(email: str, password: str = "a-long-test-password") -> Session:
        s = Session(browser, live_url, email, password)
        opened.append(s)
        return s

    yield sign_in
    for s in opened:
        s.close()
    # No page threw or logged an error in the browser.
    assert not [e for s in opened for e in s.errors], [e for s in opened for e in s.errors]
