"""Prometheus metrics. Counts tied to a write are added only when its transaction commits."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import event
from sqlalchemy.orm import Session

REGISTRY = CollectorRegistry(auto_describe=True)

REQUEST_SECONDS = Histogram(
    "shieldwall_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
    registry=REGISTRY,
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10),
)
INGESTED = Counter(
    "shieldwall_ingested_total", "Intel objects written", ["kind"], registry=REGISTRY
)
LOGINS = Counter("shieldwall_logins_total", "Login attempts", ["outcome"], registry=REGISTRY)

_PENDING = "shieldwall_metrics_pending"


def count_on_commit(session: Session, kind: str, n: int = 1) -> None:
    pending: dict[str, int] = session.info.setdefault(_PENDING, {})
    pending[kind] = pending.get(kind, 0) + n


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for kind, n in session.info.pop(_PENDING, {}).items():
        INGESTED.labels(kind).inc(n)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
