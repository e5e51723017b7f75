"""A live server for TAXII clients, collections and events owned by several organisations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from taxii2client.v21 import ApiRoot, Collection, Server

from tests.interop.conftest import live_url  # noqa: F401  (the live uvicorn fixture)

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
