"""Exact value search latency through the HTTP API over a large attribute table.

1. A fresh instance (`shieldwall init`) is filled directly with SQLAlchemy Core (COPY on
   PostgreSQL): events of 1,000 attributes each, with the datagen type mix, an event tag on
   every event and an attribute tag on 2% of attributes; then ANALYZE.
2. `shieldwall key create admin@admin.test` makes an API key.
3. The real server runs as its own process: `shieldwall up --port <free port>` (common.serve).
4. One httpx client (keep-alive, sequential) sends GET /api/v1/search/attributes?value=...
   for values known to be stored (hits) and values of the same shapes known to be absent
   (misses), shuffled; after a warm-up, every request's wall time is recorded.
"""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import instance, log, percentile, run_child, serve
from datagen import BASE_TS, attribute_value, miss_value, url_value, value_string

TARGET_P95_MS = 20.0
URL_BASE = 100_000_000  # URL-only data sets never repeat a mix value
PER_EVENT = 1000


def populate(total: int, out: Path, kind: str = "mix") -> None:
    """Child: load `total` attributes into the instance named by the environment.

    kind "mix": the datagen type mix, events tagged tlp:green, 2% of attributes tagged
    tlp:amber. kind "url": URLs only (datagen.url_value), events tagged bench:urls, so a
    query can select exactly these. Runs can be stacked on one instance."""
    import uuid as uuidlib

    import sqlalchemy as sa

    from shieldwall.auth.models import User
    from shieldwall.auth.service import host_org
    from shieldwall.cli.common import database
    from shieldwall.intel.models import Attribute, AttributeTag, Event, EventTag, Tag

    db = database()
    rng = random.Random(42 if kind == "mix" else 43)

    def new_uuid() -> str:
        return str(uuidlib.UUID(int=rng.getrandbits(128), version=4))

    t0 = time.perf_counter()
    n_events = (total + PER_EVENT - 1) // PER_EVENT
    with db.reading() as session:
        org_id = host_org(session).id  # type: ignore[union-attr]
        user_id = session.execute(sa.select(User.id).order_by(User.id).limit(1)).scalar_one()
    event_tag = "bench:urls" if kind == "url" else "tlp:green"
    with db.engine.begin() as conn:
        have = set(conn.execute(sa.select(Tag.name)).scalars())
        wanted = [n for n in (event_tag, "tlp:amber") if n not in have]
        if wanted:
            conn.execute(sa.insert(Tag), [{"name": n, "colour": "#339900"} for n in wanted])
        tag_ids = dict(conn.execute(sa.select(Tag.name, Tag.id)).all())
        before = conn.execute(sa.select(sa.func.coalesce(sa.func.max(Event.id), 0))).scalar_one()
        before_attr = conn.execute(
            sa.select(sa.func.coalesce(sa.func.max(Attribute.id), 0))
        ).scalar_one()
        ts = datetime.fromtimestamp(BASE_TS, UTC)
        conn.execute(
            sa.insert(Event),
            [
                {
                    "uuid": new_uuid(),
                    "info": f"Bench {kind} campaign {e}",
                    "date": ts.date(),
                    "threat_level_id": 2,
                    "analysis": 1,
                    "distribution": 1,
                    "org_id": org_id,
                    "orgc_id": org_id,
                    "user_id": user_id,
                    "published": True,
                    "publish_timestamp": ts,
                    "timestamp": ts,
                }
                for e in range(n_events)
            ],
        )
        event_ids = list(
            conn.execute(sa.select(Event.id).where(Event.id > before).order_by(Event.id)).scalars()
        )
        conn.execute(
            sa.insert(EventTag),
            [{"event_id": e, "tag_id": tag_ids[event_tag]} for e in event_ids],
        )

    cols = [
        "uuid",
        "event_id",
        "category",
        "type",
        "value1",
        "value2",
        "to_ids",
        "timestamp",
        "distribution",
        "comment",
        "deleted",
        "disable_correlation",
    ]

    def rows(first: int, count: int) -> list[tuple[Any, ...]]:
        out_rows = []
        for i in range(first, first + count):
            if kind == "url":
                t, cat, v1, v2 = "url", "Network activity", url_value(URL_BASE + i), ""
            else:
                t, cat, v1, v2 = attribute_value(i)
            out_rows.append(
                (
                    new_uuid(),
                    event_ids[i // PER_EVENT],
                    cat,
                    t,
                    v1,
                    v2,
                    t != "filename",
                    ts,
                    5,
                    "",
                    False,
                    False,
                )
            )
        return out_rows

    chunk = 50_000
    if db.is_sqlite:
        table = Attribute.__table__
        with db.engine.begin() as conn:
            for first in range(0, total, chunk):
                batch = rows(first, min(chunk, total - first))
                conn.execute(sa.insert(table), [dict(zip(cols, r, strict=True)) for r in batch])
    else:
        with db.engine.begin() as conn:
            raw = conn.connection.driver_connection
            with (
                raw.cursor() as cur,
                cur.copy(f"COPY attributes ({', '.join(cols)}) FROM STDIN") as copy,
            ):  # type: ignore[union-attr]
                for first in range(0, total, chunk):
                    for r in rows(first, min(chunk, total - first)):
                        copy.write_row(r)
    load_s = time.perf_counter() - t0
    if kind == "mix":
        with db.engine.begin() as conn:
            # 2% of attributes carry a tag, as in the import data.
            conn.execute(
                sa.insert(AttributeTag).from_select(
                    ["attribute_id", "event_id", "tag_id", "local"],
                    sa.select(
                        Attribute.id,
                        Attribute.event_id,
                        sa.literal(tag_ids["tlp:amber"]),
                        sa.false(),
                    ).where(Attribute.id > before_attr, Attribute.id % 50 == 0),
                )
            )
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
        count = conn.execute(sa.select(sa.func.count()).select_from(Attribute)).scalar_one()
    out.write_text(
        json.dumps(
            {
                "attributes": count,
                "events": n_events,
                "load_seconds": load_s,
                "seconds": time.perf_counter() - t0,
            }
        )
    )


def _queries(total: int, n: int, seed: int = 7) -> list[tuple[str, str]]:
    """n (kind, value) pairs, half hits half misses, shuffled. Composite values are searched
    either whole ("host|port") or by their first part, as users do."""
    rng = random.Random(seed)
    q: list[tuple[str, str]] = []
    for k in range(n // 2):
        i = rng.randrange(total)
        _, _, v1, v2 = attribute_value(i)
        q.append(("hit", value_string(i) if (not v2 or k % 2) else v1))
    q.extend(("miss", miss_value(k)) for k in range(n - n // 2))
    rng.shuffle(q)
    return q


def run(backend: str, work: Path, total: int, requests: int, warmup: int = 50) -> dict[str, Any]:
    import httpx

    with instance(backend, work) as inst:
        log(f"search {backend}: loading {total:,} attributes")
        loaded, _ = run_child("bench_search.py", ["--populate", str(total)], inst)
        log(
            f"search {backend}: loaded {loaded['attributes']:,} attributes in {loaded['seconds']:.0f}s"
        )
        with serve(inst) as (base, key):
            url = f"{base}/api/v1/search/attributes"
            headers = {"Authorization": key, "Accept": "application/json"}
            queries = _queries(total, requests)
            lat: list[float] = []
            hits = misses = wrong = 0
            with httpx.Client(headers=headers, timeout=30) as client:
                for k in range(warmup):
                    client.get(url, params={"value": miss_value(10_000_000 + k)}).raise_for_status()
                for kind, value in queries:
                    t0 = time.perf_counter()
                    r = client.get(url, params={"value": value})
                    lat.append((time.perf_counter() - t0) * 1000)
                    r.raise_for_status()
                    found = bool(r.json()["items"])
                    hits += found
                    misses += not found
                    wrong += found != (kind == "hit")
    if wrong:
        raise RuntimeError(
            f"{wrong} searches found the wrong thing (hit expected but not found, or vice versa)"
        )
    s = sorted(lat)
    p95 = percentile(s, 95)
    return {
        "backend": backend,
        "attributes": loaded["attributes"],
        "load_seconds": round(loaded["seconds"], 1),
        "requests": len(lat),
        "hits": hits,
        "misses": misses,
        "p50_ms": round(percentile(s, 50), 2),
        "p95_ms": round(p95, 2),
        "p99_ms": round(percentile(s, 99), 2),
        "mean_ms": round(sum(s) / len(s), 2),
        "max_ms": round(s[-1], 2),
        "requests_per_s": round(len(s) / (sum(s) / 1000), 1),
        "target_p95_ms": TARGET_P95_MS,
        "met": p95 < TARGET_P95_MS,
    }


if __name__ == "__main__":
    from common import child_main_args

    argv, out = child_main_args(sys.argv[1:])
    assert argv[0] == "--populate"
    populate(int(argv[1]), out, argv[argv.index("--kind") + 1] if "--kind" in argv else "mix")
