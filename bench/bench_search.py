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
from pathlib import Path
from typing import Any

from common import bulk_load, instance, log, percentile, run_child, serve
from datagen import attribute_value, miss_value, url_value, value_string

TARGET_P95_MS = 20.0
URL_BASE = 100_000_000  # URL-only data sets never repeat a mix value
PER_EVENT = 1000


def populate(total: int, out: Path, kind: str = "mix") -> None:
    """Child: load `total` attributes into the instance named by the environment.

    kind "mix": the datagen type mix, events tagged tlp:green, 2% of attributes tagged
    tlp:amber. kind "url": URLs only (datagen.url_value), events tagged bench:urls, so a
    query can select exactly these. Runs can be stacked on one instance."""
    import sqlalchemy as sa

    from shieldwall.intel.models import Attribute, AttributeTag, EventTag, Tag

    def value_of(i: int) -> tuple[str, str, str, str]:
        if kind == "url":
            return "url", "Network activity", url_value(URL_BASE + i), ""
        return attribute_value(i)

    t0 = time.perf_counter()
    db, event_ids, before_attr = bulk_load(
        total, value_of, f"Bench {kind} campaign", seed=42 if kind == "mix" else 43
    )
    load_s = time.perf_counter() - t0
    event_tag = "bench:urls" if kind == "url" else "tlp:green"
    with db.engine.begin() as conn:
        have = set(conn.execute(sa.select(Tag.name)).scalars())
        wanted = [n for n in (event_tag, "tlp:amber") if n not in have]
        if wanted:
            conn.execute(sa.insert(Tag), [{"name": n, "colour": "#339900"} for n in wanted])
        tag_ids = dict(conn.execute(sa.select(Tag.name, Tag.id)).all())
        conn.execute(
            sa.insert(EventTag),
            [{"event_id": e, "tag_id": tag_ids[event_tag]} for e in event_ids],
        )
        if kind == "mix":
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
                "events": len(event_ids),
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
