"""A live server for TAXII clients, collections and events owned by several organisations."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from taxii2client.v21 import ApiRoot, Collection, Server

from tests.interop.conftest import (
    _free_port,
    live_url,  # noqa: F401  (the live uvicorn fixture)
    wait_healthy,
)

TAXII_MEDIA = "application/taxii+json;version=2.1"


def misp_event(info: str, attributes: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"Event": {"info": info, "distribution": 1, "Attribute": attributes, **extra}}


def ip(value: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "ip-dst",
        "category": "Network activity",
        "value": value,
        "to_ids": True,
        **extra,
    }


@pytest.fixture
def add_event(admin):  # type: ignore[no-untyped-def]
    """add_event(api, info, attributes, **event fields) -> the event as MISP returns it."""

    def add(api: Any, info: str, attributes: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        r = api.post("/events/add", json=misp_event(info, attributes, **extra))
        assert r.status_code == 200, r.text
        return dict(r.json()["Event"])

    return add


@pytest.fixture
def make_collection(admin):  # type: ignore[no-untyped-def]
    def make(title: str, **fields: Any) -> dict[str, Any]:
        r = admin.post("/api/v1/taxii/collections", json={"title": title, **fields})
        assert r.status_code == 201, r.text
        return dict(r.json())

    return make


@pytest.fixture
def taxii(live_url: str) -> Callable[..., Any]:  # noqa: F811
    """taxii(email, key) -> (Server, ApiRoot); taxii(email, key, collection_uuid) -> Collection."""

    def connect(email: str, key: str, collection: str | None = None) -> Any:
        if collection is not None:
            url = f"{live_url}/taxii2/intel/collections/{collection}/"
            return Collection(url, user=email, password=key)
        server = Server(f"{live_url}/taxii2/", user=email, password=key)
        return server, ApiRoot(f"{live_url}/taxii2/intel/", user=email, password=key)

    return connect


@dataclass
class Remote:
    """Another Shieldwall instance (its own process and database) to poll as a TAXII feed."""

    url: str
    email: str
    key: str

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = httpx.post(f"{self.url}{path}", json=body, headers={"Authorization": self.key})
        assert r.status_code in (200, 201), r.text
        return dict(r.json())


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    port = _free_port()
    env = {
        **os.environ,
        "SHIELDWALL_VAR_DIR": str(tmp_path / "remote"),
        "SHIELDWALL_DATABASE_URL": "",
        "SHIELDWALL_ENVIRONMENT": "test",
        "SHIELDWALL_ORG_NAME": "REMOTE-CERT",
        "SHIELDWALL_ADMIN_EMAIL": "admin@remote.test",
        "SHIELDWALL_FEED_SCHEDULER": "false",
        "SHIELDWALL_LIFECYCLE_JOB": "false",
        "SHIELDWALL_TAXII_JOB": "false",
    }
    env.pop("SHIELDWALL_TEST_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "shieldwall.cli.main", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        key = None
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("API key:"):
                key = line.split(":", 1)[1].strip()
            if line.startswith("Serving Shieldwall"):
                break
        assert key, "the remote instance did not print its API key"
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, timeout=30)
        yield Remote(url, "admin@remote.test", key)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
