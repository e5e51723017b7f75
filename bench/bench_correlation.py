"""Correlation at scale: rebuild rate, per-event latency, ingest with correlation on, and
the storage correlation adds.

Data with realistic duplication (value number v gives datagen's type and value for v):
- 85% of attributes carry a value of their own;
- 14% draw from a tail pool of total/50 values (each shared by a few events);
- 1% draw from 20 hot values (each held by hundreds or thousands of attributes: over-
  correlating at the default cap of 100);
- 0.3% of IP attributes are CIDR networks (/24 mostly, some /20 and /16) built around
  generated addresses; 0.02% are ssdeep hashes from 200 families of related inputs.

1. A fresh instance is filled directly (COPY on PostgreSQL), 1,000 attributes an event, and
   the correlation indexes rebuilt with `shieldwall correlate rebuild` (timed: the rebuild
   rate is stored attributes / wall seconds).
2. Storage: the correlation tables with their indexes against the attribute table with its
   own (PostgreSQL: pg_total_relation_size; SQLite: the dbstat table).
3. The server runs (`shieldwall up`); GET /api/v1/events/{id}/correlations for sampled
   1,000-attribute events, sequentially after a warm-up: p50/p95 wall time.
4. Ingest: a MISP file of `import_n` attributes drawn from the same pools (so they correlate
   with what is stored) goes through the real import path (bench_import's child) into the
   filled instance: attributes per second with the correlation indexes kept current.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from common import (
    bulk_load,
    instance,
    log,
    mark_rendered,
    percentile,
    run_child,
    run_cli_measured,
    serve,
)
from datagen import BASE_TS, ORGC, attribute_value

PER_EVENT = 1000
HOT = 20
SSDEEP_FAMILIES = 200
TARGETS = {"ingest_per_s": 20_000, "event_ms": 100.0, "rebuild_per_s": 100_000, "storage": 0.5}
UNIQUE_BASE = {"stored": 0, "import": 500_000_000}


def _ssdeep_pool() -> list[str]:
    import ppdeep

    rng = random.Random(5)
    pool = []
    for _ in range(SSDEEP_FAMILIES):
        base = bytearray(rng.getrandbits(8) for _ in range(4096))
        for _ in range(5):
            data = bytearray(base)
            for _ in range(rng.randint(0, 30)):
                data[rng.randrange(len(data))] = rng.getrandbits(8)
            pool.append(ppdeep.hash(bytes(data)))
    return pool


class Values:
    """The value of attribute k of a data set: (type, category, value1, value2)."""

    def __init__(self, total: int, unique_base: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.tail = max(total // 50, 10)
        self.unique_base = unique_base
        self.ssdeep = _ssdeep_pool()
        self.tail_base = 900_000_000
        self.hot_base = 950_000_000

    def __call__(self, k: int) -> tuple[str, str, str, str]:
        r = self.rng.random()
        if r < 0.0002:
            return "ssdeep", "Payload delivery", self.rng.choice(self.ssdeep), ""
        if r < 0.01:
            v = self.hot_base + self.rng.randrange(HOT)
        elif r < 0.15:
            v = self.tail_base + self.rng.randrange(self.tail)
        else:
            v = self.unique_base + k
        t, cat, v1, v2 = attribute_value(v)
        if t == "ip-dst" and self.rng.random() < 0.003:
            plen = self.rng.choice((24, 24, 24, 24, 20, 16))
            a, b, c, _ = (int(x) for x in v1.split("."))
            n = (a << 24 | b << 16 | c << 8) & ~((1 << (32 - plen)) - 1)
            v1 = f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}/{plen}"
        return t, cat, v1, v2


def populate(total: int, out: Path) -> None:
    """Child: load `total` attributes into the instance named by the environment."""
    t0 = time.perf_counter()
    db, event_ids, _ = bulk_load(
        total, Values(total, UNIQUE_BASE["stored"], 1), "Correlation bench", seed=42,
        per_event=PER_EVENT,
    )  # fmt: skip
    n_events = len(event_ids)
    with db.engine.begin() as conn:
        mark_rendered(conn, event_ids)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    out.write_text(
        json.dumps(
            {
                "attributes": total,
                "events": n_events,
                "event_ids": [event_ids[0], event_ids[-1]],
                "seconds": time.perf_counter() - t0,
            }
        )
    )


def sizes(out: Path) -> None:
    """Child: bytes held by the attribute table and by the correlation tables (with indexes)."""
    import sqlalchemy as sa

    from shieldwall.cli.common import database

    db = database()
    tables = {
        "attributes": ["attributes"],
        "correlation": ["correlation_networks", "correlation_ssdeep", "correlation_exclusions"],
    }
    result: dict[str, int] = {}
    with db.engine.connect() as conn:
        for name, names in tables.items():
            if db.is_sqlite:
                idx = conn.execute(
                    sa.text(
                        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ("
                        + ", ".join(f"'{n}'" for n in names)
                        + ")"
                    )
                ).scalars()
                objects = [*names, *idx]
                result[name] = int(
                    conn.execute(
                        sa.text(
                            "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN ("
                            + ", ".join(f"'{n}'" for n in objects)
                            + ")"
                        )
                    ).scalar_one()
                )
            else:
                result[name] = int(
                    sum(
                        conn.execute(sa.text(f"SELECT pg_total_relation_size('{n}')")).scalar_one()
                        for n in names
                    )
                )
    out.write_text(json.dumps(result))


def write_import_file(path: Path, total: int) -> None:
    rng = random.Random(99)
    values = Values(total, UNIQUE_BASE["import"], 2)
    n_events = total // PER_EVENT
    with path.open("wb") as fh:
        fh.write(b'{"response": [')
        for e in range(n_events):
            attrs = []
            for k in range(e * PER_EVENT, (e + 1) * PER_EVENT):
                t, cat, v1, v2 = values(k)
                attrs.append(
                    {
                        "type": t,
                        "category": cat,
                        "value": f"{v1}|{v2}" if v2 else v1,
                        "to_ids": True,
                        "uuid": str(__import__("uuid").UUID(int=rng.getrandbits(128), version=4)),
                        "timestamp": str(BASE_TS),
                        "distribution": "5",
                    }
                )
            event = {
                "uuid": str(__import__("uuid").UUID(int=rng.getrandbits(128), version=4)),
                "info": f"Correlation ingest {e}",
                "date": "2023-11-14",
                "threat_level_id": "2",
                "analysis": "1",
                "distribution": "1",
                "timestamp": str(BASE_TS),
                "Orgc": ORGC,
                "Attribute": attrs,
            }
            if e:
                fh.write(b",\n")
            fh.write(orjson.dumps({"Event": event}))
        fh.write(b"]}\n")


def run(backend: str, work: Path, total: int, import_n: int, samples: int = 40) -> dict[str, Any]:
    import httpx

    data = work / "data" / f"correlation-import-{import_n}.json"
    if not data.exists():
        data.parent.mkdir(parents=True, exist_ok=True)
        write_import_file(data, import_n)
    with instance(backend, work) as inst:
        log(f"correlation {backend}: loading {total:,} attributes")
        loaded, _ = run_child("bench_correlation.py", ["--populate", str(total)], inst)
        log(f"correlation {backend}: loaded in {loaded['seconds']:.0f}s; rebuilding")
        rebuild_s, rebuild_rss, text = run_cli_measured(["correlate", "rebuild"], inst)
        log(f"correlation {backend}: rebuild {rebuild_s:.1f}s: {text.strip().splitlines()[-1]}")
        stored, _ = run_child("bench_correlation.py", ["--sizes"], inst)
        first, last = loaded["event_ids"]
        rng = random.Random(3)
        picks = [rng.randint(first, last - 1) for _ in range(samples)]
        lat: list[float] = []
        found = 0
        with (
            serve(inst) as (base, key),
            httpx.Client(
                headers={"Authorization": key, "Accept": "application/json"}, timeout=120
            ) as client,
        ):
            for e in picks[:5]:
                client.get(f"{base}/api/v1/events/{e}/correlations").raise_for_status()
            for e in picks:
                t0 = time.perf_counter()
                r = client.get(f"{base}/api/v1/events/{e}/correlations")
                lat.append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
                found += len(r.json()["correlations"])
        log(f"correlation {backend}: ingest {import_n:,} attributes with correlation on")
        res, _ = run_child("bench_import.py", ["--child", str(data)], inst)
        if res["failed"] or res["attributes"] != import_n:
            raise RuntimeError(f"import went wrong: {res}")
        after, _ = run_child("bench_correlation.py", ["--sizes"], inst)
    s = sorted(lat)
    ingest = res["attributes"] / res["seconds"]
    rebuild_rate = total / rebuild_s
    share = stored["correlation"] / stored["attributes"]
    return {
        "backend": backend,
        "attributes": total,
        "load_seconds": round(loaded["seconds"], 1),
        "rebuild_seconds": round(rebuild_s, 1),
        "rebuild_per_s": round(rebuild_rate),
        "rebuild_peak_rss_mb": round(rebuild_rss / 1024, 1),
        "attributes_mb": round(stored["attributes"] / 1e6, 1),
        "correlation_mb": round(stored["correlation"] / 1e6, 2),
        "storage_share": round(share, 4),
        "storage_share_after_ingest": round(after["correlation"] / after["attributes"], 4),
        "event_samples": len(lat),
        "event_p50_ms": round(percentile(s, 50), 1),
        "event_p95_ms": round(percentile(s, 95), 1),
        "correlations_per_event": round(found / max(len(lat), 1), 1),
        "ingest_attributes": res["attributes"],
        "ingest_seconds": round(res["seconds"], 2),
        "ingest_per_s": round(ingest),
        "met": {
            "ingest": ingest >= TARGETS["ingest_per_s"],
            "event": percentile(s, 95) < TARGETS["event_ms"],
            "rebuild": rebuild_rate >= TARGETS["rebuild_per_s"],
            "storage": share < TARGETS["storage"],
        },
    }


if __name__ == "__main__":
    from common import child_main_args

    argv, out = child_main_args(sys.argv[1:])
    if argv[0] == "--populate":
        populate(int(argv[1]), out)
    elif argv[0] == "--sizes":
        sizes(out)
    else:
        raise SystemExit(f"unknown child mode {argv[0]}")
