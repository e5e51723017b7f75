"""The OpenAPI document, docs, health and readiness; and malformed bodies against every
POST/PATCH route of /api/v1 (a small fuzz without schemathesis)."""

from __future__ import annotations

import re
from typing import Any

import pytest


def test_openapi_document_and_docs(client) -> None:
    r = client.get("/api/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] == "Shieldwall"
    paths = doc["paths"]
    for path in (
        "/api/v1/events",
        "/api/v1/events/{ref}",
        "/api/v1/search/attributes",
        "/api/v1/search/events",
        "/api/v1/tags",
        "/api/v1/sightings",
        "/api/v1/sharing-groups",
    ):
        assert path in paths, path
    assert "post" in paths["/api/v1/events"] and "patch" in paths["/api/v1/events/{ref}"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    assert "/api/openapi.json" in docs.text


def test_healthz_and_readyz(client) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ready"


def test_unknown_route_and_method_are_problems(admin) -> None:
    r = admin.get("/api/v1/no-such-thing")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    r = admin.client.put("/api/v1/events", headers=admin.headers, json={})
    assert r.status_code == 405 and r.headers["content-type"].startswith("application/problem+json")


# ---------------------------------------------------------------- fuzz-ish

HUGE = "A" * 100_000
WRONG_VALUES: list[Any] = [
    None,
    10**30,
    -1,
    1.5,
    True,
    [1, "x"],
    {"nested": [None]},
    HUGE,
    "\x00\ud7ff",
]
WHOLE_BODIES: list[Any] = [{}, [], [{}], [None], None, "a string", 0, True, {"x": HUGE}, [HUGE] * 3]


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 10:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = doc["components"]["schemas"][name]
        seen += 1
    for key in ("anyOf", "oneOf"):
        if key in schema:
            for option in schema[key]:
                resolved = _resolve(doc, option)
                if resolved.get("type") == "object" or "properties" in resolved:
                    return resolved
    return schema


def _routes(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for path, item in doc["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method in ("post", "patch"):
            if method in item:
                out.append((method, path, item[method]))
    return out


def _check_answer(r: Any, what: str) -> None:
    assert r.status_code < 500, (what, r.status_code, r.text[:500])
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json"), (
            what,
            r.headers,
            r.text[:300],
        )
        body = r.json()
        assert body.get("field") or body.get("detail"), (what, body)
        assert body["status"] == r.status_code


@pytest.fixture
def refs(admin, make_user) -> dict[str, str]:
    """Real objects for path parameters, owned by a throwaway organisation where a write
    could hurt the caller (users, keys, roles)."""
    victim = make_user("FUZZ-ORG", "user")
    sg = admin.post("/api/v1/sharing-groups", json={"name": "fuzz-sg"}).json()
    ev = admin.post(
        "/api/v1/events",
        json={
            "info": "fuzz",
            "attributes": [{"type": "domain", "value": "fuzz.example"}],
            "objects": [
                {
                    "name": "domain-ip",
                    "attributes": [
                        {"object_relation": "ip", "type": "ip-dst", "value": "192.0.2.9"}
                    ],
                }
            ],
        },
    ).json()
    tag = admin.post("/api/v1/tags", json={"name": "fuzz:tag"}).json()
    return {
        "events": str(ev["id"]),
        "attributes": str(ev["attributes"][0]["id"]),
        "objects": str(ev["objects"][0]["id"]),
        "tags": str(tag["id"]),
        "sharing-groups": str(sg["id"]),
        "organisations": str(victim.org_id),
        "users": str(victim.user_id),
        "roles": "6",
    }


def _fill(path: str, refs: dict[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        before = path[: match.start()].rstrip("/").rsplit("/", 1)[-1]
        return refs.get(before, "1")

    return re.sub(r"\{[^}]+\}", sub, path)


def test_openapi_lists_write_routes(client) -> None:
    doc = client.get("/api/openapi.json").json()
    paths = {p for _, p, _ in _routes(doc)}
    assert {
        "/api/v1/events",
        "/api/v1/events/{ref}",
        "/api/v1/events/{ref}/attributes",
        "/api/v1/tags",
        "/api/v1/sightings",
        "/api/v1/sharing-groups",
        "/api/v1/search/attributes",
    } <= paths


def test_malformed_bodies_never_cause_server_errors(admin, refs) -> None:
    doc = admin.get("/api/openapi.json").json()
    routes = _routes(doc)
    assert len(routes) >= 20
    for method, path, op in routes:
        if path.endswith("/auth/login"):
            continue  # rate-limited login: covered by the identity tests
        url = _fill(path, refs)
        send = admin.post if method == "post" else admin.patch
        for body in WHOLE_BODIES:
            _check_answer(send(url, json=body), f"{method} {path} {str(body)[:40]}")
        # Non-JSON and broken JSON.
        for raw in (b"{", b"\xff\xfe", b'{"a": }', b"[" * 5000):
            r = admin.client.request(
                method.upper(),
                url,
                content=raw,
                headers={**admin.headers, "Content-Type": "application/json"},
            )
            _check_answer(r, f"{method} {path} raw {raw[:10]!r}")
        content = (op.get("requestBody") or {}).get("content", {}).get("application/json")
        if not content:
            continue
        schema = _resolve(doc, content["schema"])
        for name in list(schema.get("properties") or {})[:20]:
            for wrong in WRONG_VALUES:
                r = send(url, json={name: wrong})
                _check_answer(r, f"{method} {path} {name}={str(wrong)[:30]}")
                if r.status_code == 422 and r.json().get("field") not in (None, "body"):
                    # The offending field is named (or a required sibling that is missing).
                    assert r.json()["field"]


def test_malformed_nested_bodies_on_intel_routes(admin, refs) -> None:
    event = refs["events"]
    cases: list[tuple[str, str, Any]] = [
        ("post", "/api/v1/events", {"info": "x", "attributes": [None]}),
        ("post", "/api/v1/events", {"info": "x", "attributes": [{"type": None, "value": "x"}]}),
        (
            "post",
            "/api/v1/events",
            {"info": "x", "attributes": [{"type": "domain", "value": None}]},
        ),
        (
            "post",
            "/api/v1/events",
            {"info": "x", "attributes": [{"type": "domain", "value": ["a"]}]},
        ),
        (
            "post",
            "/api/v1/events",
            {"info": "x", "attributes": [{"type": "domain", "value": HUGE}]},
        ),
        (
            "post",
            "/api/v1/events",
            {"info": "x", "attributes": [{"type": "text", "value": "a" * 1_100_000}]},
        ),
        (
            "post",
            "/api/v1/events",
            {"info": "x", "attributes": [{"type": "domain", "value": "a.example", "uuid": "bad"}]},
        ),
        (
            "post",
            "/api/v1/events",
            {
                "info": "x",
                "attributes": [{"type": "domain", "value": "a.example", "distribution": 4}],
            },
        ),
        (
            "post",
            "/api/v1/events",
            {
                "info": "x",
                "attributes": [{"type": "domain", "value": "a.example", "tags": [{"name": ""}]}],
            },
        ),
        (
            "post",
            "/api/v1/events",
            {
                "info": "x",
                "attributes": [{"type": "domain", "value": "a.example", "first_seen": "nope"}],
            },
        ),
        (
            "post",
            "/api/v1/events",
            {
                "info": "x",
                "attributes": [{"type": "domain", "value": "a.example", "timestamp": 10**20}],
            },
        ),
        (
            "post",
            "/api/v1/events",
            {"info": "x", "objects": [{"name": "domain-ip", "attributes": [None]}]},
        ),
        (
            "post",
            "/api/v1/events",
            {
                "info": "x",
                "objects": [{"name": "domain-ip", "references": [{"referenced_uuid": "x"}]}],
            },
        ),
        ("post", "/api/v1/events", {"info": "x", "date": "2024-02-30"}),
        ("post", "/api/v1/events", {"info": "x", "uuid": "not-a-uuid"}),
        ("post", "/api/v1/events", {"info": "x", "sharing_group_id": "abc", "distribution": 4}),
        ("post", f"/api/v1/events/{event}/attributes", [{"type": "domain"}, {"value": "x"}]),
        ("post", f"/api/v1/events/{event}/attributes", [[]]),
        ("post", f"/api/v1/events/{event}/tags", {"name": "not-a-list"}),
        ("post", f"/api/v1/events/{event}/tags", [{"name": "a" * 300}]),
        (
            "post",
            f"/api/v1/events/{event}/objects",
            {"name": "domain-ip", "attributes": [{"object_relation": "ip"}]},
        ),
        ("patch", f"/api/v1/events/{event}", {"distribution": "four"}),
        ("patch", f"/api/v1/events/{event}", {"date": None, "info": None}),
        ("patch", f"/api/v1/attributes/{refs['attributes']}", {"type": "ip-dst"}),
        ("patch", f"/api/v1/attributes/{refs['attributes']}", {"category": "No Such Category"}),
        ("patch", f"/api/v1/attributes/{refs['attributes']}", {"value": ""}),
        (
            "patch",
            f"/api/v1/attributes/{refs['attributes']}",
            {"distribution": 4, "sharing_group_id": 999999},
        ),
        ("patch", f"/api/v1/objects/{refs['objects']}", {"distribution": 9}),
        (
            "post",
            f"/api/v1/objects/{refs['objects']}/references",
            {"referenced_uuid": "00000000-0000-0000-0000-000000000000", "relationship_type": "x"},
        ),
        ("post", "/api/v1/sightings", {"attribute": "not-a-ref"}),
        ("post", "/api/v1/sightings", {"values": [None]}),
        ("post", "/api/v1/sightings", {"value": "%", "date_sighting": "10000000000000"}),
        ("post", "/api/v1/search/attributes", {"tags": {"OR": "not-a-list"}}),
        ("post", "/api/v1/search/attributes", {"timestamp_from": 10**30}),
        ("post", "/api/v1/search/attributes", {"after": 10**30}),
        ("post", "/api/v1/search/events", {"value": [None]}),
        ("post", "/api/v1/sharing-groups", {"name": "x", "members": [{"org": None}]}),
        (
            "post",
            "/api/v1/sharing-groups",
            {"name": "y", "members": [{"org": "FUZZ-ORG"}, {"org": "FUZZ-ORG"}]},
        ),
        ("post", "/api/v1/sharing-groups", {"name": "z", "uuid": "bad"}),
        ("post", f"/api/v1/sharing-groups/{refs['sharing-groups']}/organisations", {"org": ""}),
    ]
    accepted = []
    for method, url, body in cases:
        send = admin.post if method == "post" else admin.patch
        r = send(url, json=body)
        _check_answer(r, f"{method} {url} {str(body)[:80]}")
        if r.status_code < 400:
            accepted.append((method, url, str(body)[:80], r.status_code))
    assert accepted == []
