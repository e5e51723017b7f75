"""A live Shieldwall (uvicorn on a free loopback port, in a thread) for real clients."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import uvicorn
from pymisp import MISPEvent, PyMISP

from shieldwall.app import create_app
from shieldwall.config import get_settings


def add_event(misp: PyMISP, info: str, distribution: int, *attrs: tuple[str, str]) -> MISPEvent:
    """An event with (type, value) attributes, added through PyMISP."""
    event = MISPEvent()
    event.info = info
    event.distribution = distribution
    for type_, value in attrs:
        event.add_attribute(type_, value)
    created = misp.add_event(event, pythonify=True)
    assert isinstance(created, MISPEvent), created
    return created


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, timeout: float = 20) -> None:
    """Until the server at url answers /healthz (RuntimeError after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"the server at {url} did not start")


@pytest.fixture
def live_url(instance) -> Iterator[str]:  # type: ignore[no-untyped-def]
    port = _free_port()
    config = uvicorn.Config(
        create_app(get_settings()), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def misp(live_url: str, instance) -> PyMISP:  # type: ignore[no-untyped-def]
    """PyMISP as the instance's site admin."""
    return PyMISP(live_url, instance.admin_key, ssl=False)


@pytest.fixture
def misp_as(live_url: str, make_user) -> Callable[[str, str], PyMISP]:  # type: ignore[no-untyped-def]
    """PyMISP as a new user: misp_as("ORG NAME", "publisher") (any of MISP's role names)."""

    def connect(org: str, role: str) -> PyMISP:
        return PyMISP(live_url, make_user(org, role).api.key, ssl=False)

    return connect
