"""Operations: metrics, request ids, security headers, structured logs."""

from __future__ import annotations

import json
import logging

from shieldwall.logs import JsonFormatter


def test_metrics_count_committed_ingest_only(admin, client) -> None:
    def ingested() -> float:
        for line in client.get("/metrics").text.splitlines():
            if line.startswith('shieldwall_ingested_total{kind="attributes"}'):
                return float(line.split()[-1])
        return 0.0

    before = ingested()
    ok = admin.post(
        "/api/v1/events",
        json={"info": "m", "attributes": [{"type": "domain", "value": "m.example"}]},
    )
    assert ok.status_code == 201
    bad = admin.post(
        "/api/v1/events",
        json={
            "info": "m",
            "attributes": [
                {"type": "domain", "value": "n.example"},
                {"type": "ip-dst", "value": "nope"},
            ],
        },
    )
    assert bad.status_code == 422
    assert ingested() == before + 1
    text = client.get("/metrics").text
    assert "shieldwall_http_request_duration_seconds_bucket" in text
    assert 'method="POST",route="/api/v1/events",status="201"' in text, [
        line for line in text.splitlines() if "route=" in line
    ][:20]


def test_request_id_and_security_headers(admin) -> None:
    r = admin.client.get("/api/v1/me", headers={**admin.headers, "X-Request-ID": "abc123"})
    assert r.headers["x-request-id"] == "abc123"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert admin.client.get("/api/v1/me").headers["www-authenticate"] == "Bearer"


def test_json_log_lines_mask_secrets() -> None:
    record = logging.LogRecord(
        "shieldwall.http", logging.INFO, __file__, 1, "GET %s", ("/x",), None
    )
    record.request_id = "r1"
    record.authorization = "0123456789012345678901234567890123456789"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "GET /x" and line["request_id"] == "r1"
    assert line["authorization"] == "***"


def test_chunked_body_over_the_limit_gets_413(admin, client) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"info": "'
        for _ in range(60):
            yield b"a" * (1024 * 1024)
        yield b'"}'

    r = client.post(
        "/api/v1/events",
        content=chunks(),
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["field"] == "body"
