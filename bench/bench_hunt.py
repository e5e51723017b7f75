"""Hunt speed and the indicator index: Zeek logs matched against a million indicators.

1. A fresh instance is filled straight through the tables with `indicators` attributes of
   datagen's mixed types (IPs, domains, host names, URLs, hashes, e-mail addresses,
   composites), 1,000 to a published event, to_ids as MISP sets it per type; then analyzed
   (VACUUM ANALYZE on PostgreSQL), as autovacuum would have done.
2. A child process, as a sensor of the host organisation (the access rules apply to it as
   to any member), builds the indicator index from the database: wall seconds (median of
   three) and bytes per indicator (tracemalloc: the index held after the build, divided by
   the indicators it holds).
3. Zeek JSON logs are written as Zeek writes them, one file per log: conn (60% of lines),
   dns (20%) and http (20%), internal clients talking to a pool of external addresses and
   names; 0.1% of the lines hold a stored indicator (an address, a queried name, an HTTP
   host), the rest only values no indicator has.
4. Reading the files line by line (`for line in file`) and hunting them (the hunter with
   matches resolved in the database) are each timed three times: lines per second, and the
   ratio of the two (the figure that matters on a machine whose cores are shared).
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
from common import bulk_load, instance, log, run_child
from datagen import attribute_value

TARGETS = {"lines_per_s": 1_000_000, "ratio": 0.4, "build_s": 5.0, "bytes_per_indicator": 150}
HIT_SHARE = 0.001


def populate(total: int, out: Path) -> None:
    from shieldwall.cli.common import database

    t0 = time.perf_counter()
    _, event_ids, _ = bulk_load(total, attribute_value, "Hunt bench", seed=7)
    # As on a database of that age (autovacuum on PostgreSQL): the planner knows the tables.
    db = database()
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("ANALYZE" if db.is_sqlite else "VACUUM ANALYZE")
    out.write_text(json.dumps({"events": len(event_ids), "seconds": time.perf_counter() - t0}))


def _logs(folder: Path, lines: int, total: int) -> dict[str, int]:
    """conn, dns and http JSON logs; returns lines per file."""
    rng = random.Random(11)
    ext = [
        f"{rng.randint(11, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}"
        for _ in range(50_000)
    ]
    internal = [f"10.1.{rng.randrange(32)}.{rng.randint(1, 254)}" for _ in range(2_000)]
    names = [
        f"{''.join(rng.choice('abcdefghijklmnop') for _ in range(9))}.{rng.choice(['com', 'net', 'org', 'io'])}"
        for _ in range(20_000)
    ]
    stored_ips = [attribute_value(i)[2] for i in range(0, min(total, 200_000), 20)]  # ip-dst slots
    stored_names = [
        attribute_value(i)[2] for i in range(4, min(total, 200_000), 20)
    ]  # domain slots
    counts = {"conn": int(lines * 0.6), "dns": int(lines * 0.2)}
    counts["http"] = lines - counts["conn"] - counts["dns"]
    ts = 1_700_000_000.0
    for log_name, n in counts.items():
        with (folder / f"{log_name}.log").open("wb") as fh:
            buf = []
            for _ in range(n):
                hit = rng.random() < HIT_SHARE
                ts += 0.001
                base = {
                    "ts": round(ts, 6),
                    "uid": f"C{rng.getrandbits(68):017x}",
                    "id.orig_h": rng.choice(internal),
                    "id.orig_p": rng.randint(1024, 65535),
                }
                if log_name == "conn":
                    rec = {**base, "id.resp_h": rng.choice(stored_ips) if hit else rng.choice(ext),
                           "id.resp_p": 443, "proto": "tcp", "service": "ssl", "duration": 1.23,
                           "orig_bytes": rng.randint(100, 5000), "resp_bytes": rng.randint(100, 90000),
                           "conn_state": "SF", "local_orig": True, "local_resp": False,
                           "missed_bytes": 0, "history": "ShADadFf", "orig_pkts": 9,
                           "orig_ip_bytes": 1200, "resp_pkts": 11, "resp_ip_bytes": 9000}  # fmt: skip
                elif log_name == "dns":
                    q = rng.choice(stored_names) if hit else "www." + rng.choice(names)
                    rec = {**base, "id.resp_h": "10.1.0.1", "id.resp_p": 53, "proto": "udp",
                           "trans_id": rng.randrange(65536), "rtt": 0.01, "query": q, "qclass": 1,
                           "qclass_name": "C_INTERNET", "qtype": 1, "qtype_name": "A", "rcode": 0,
                           "rcode_name": "NOERROR", "AA": False, "TC": False, "RD": True,
                           "RA": True, "Z": 0, "answers": [rng.choice(ext)], "TTLs": [300.0],
                           "rejected": False}  # fmt: skip
                else:
                    host = rng.choice(stored_names) if hit else rng.choice(names)
                    rec = {**base, "id.resp_h": rng.choice(ext), "id.resp_p": 80, "trans_depth": 1,
                           "method": "GET", "host": host, "uri": f"/index.php?id={rng.randrange(1000)}",
                           "version": "1.1", "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
                           "request_body_len": 0, "response_body_len": rng.randint(100, 9000),
                           "status_code": 200, "status_msg": "OK", "tags": [],
                           "resp_fuids": [f"F{rng.getrandbits(68):017x}"],
                           "resp_mime_types": ["text/html"]}  # fmt: skip
                buf.append(orjson.dumps(rec))
                if len(buf) >= 10_000:
                    fh.write(b"\n".join(buf) + b"\n")
                    buf = []
            if buf:
                fh.write(b"\n".join(buf) + b"\n")
    return counts


def hunt_child(total: int, lines: int, out: Path) -> None:
    import sqlalchemy as sa

    from shieldwall.auth.service import host_org
    from shieldwall.cli.common import database
    from shieldwall.context import system_ctx
    from shieldwall.detection import index as indicator_index
    from shieldwall.detection import sensors
    from shieldwall.detection.hunt import Hunter, db_resolver
    from shieldwall.detection.index import Scope

    db = database()
    with db.writing() as session:
        org = host_org(session)
        assert org is not None
        sensor = sensors.create_sensor(session, system_ctx(org.id), name="bench-sensor")
        session.flush()
        session.expunge(sensor)
    ctx = sensors.sensor_ctx(sensor)
    scope = Scope()
    builds = []
    idx = None
    for _ in range(3):
        idx = None
        t0 = time.perf_counter()
        with db.reading() as session:
            idx = indicator_index.build(session, ctx, scope)
        builds.append(time.perf_counter() - t0)
    assert idx is not None
    n_indicators = len(idx)
    idx = None
    tracemalloc.start()
    with db.reading() as session:
        base = tracemalloc.get_traced_memory()[0]
        idx = indicator_index.build(session, ctx, scope)
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    with db.reading() as session:
        stored = session.execute(sa.text("SELECT count(*) FROM attributes")).scalar_one()
    folder = out.parent / "logs"
    folder.mkdir(exist_ok=True)
    counts = _logs(folder, lines, total)
    files = [str(folder / f"{n}.log") for n in counts]
    total_lines = sum(counts.values())
    read_runs, hunt_runs, read_cpu, hunt_cpu = [], [], [], []
    matches = 0
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        for f in files:
            with open(f, "rb") as fh:
                for _line in fh:
                    pass
        read_runs.append(time.perf_counter() - t0)
        read_cpu.append(time.process_time() - c0)
        hunter = Hunter(idx, db_resolver(db, ctx, scope), sensor=sensor.name)
        t0, c0 = time.perf_counter(), time.process_time()
        matches = sum(1 for _ in hunter.hunt_paths(files))
        hunt_runs.append(time.perf_counter() - t0)
        hunt_cpu.append(time.process_time() - c0)
    read_s = statistics.median(read_runs)
    hunt_s = statistics.median(hunt_runs)
    out.write_text(
        json.dumps(
            {
                "attributes": stored,
                "indicators": n_indicators,
                "build_runs_s": [round(x, 2) for x in builds],
                "build_s": round(statistics.median(builds), 2),
                "bytes_per_indicator": round(held / max(n_indicators, 1), 1),
                "lines": total_lines,
                "lines_by_log": counts,
                "matches": matches,
                "read_lines_per_s": int(total_lines / read_s),
                "hunt_lines_per_s": int(total_lines / hunt_s),
                "hunt_runs_per_s": sorted(int(total_lines / x) for x in hunt_runs),
                "ratio": round(read_s / hunt_s, 2),
                # The same from the process's CPU time: the cores are shared, so wall time
                # carries other work.
                "read_cpu_lines_per_s": int(total_lines / statistics.median(read_cpu)),
                "hunt_cpu_lines_per_s": int(total_lines / statistics.median(hunt_cpu)),
                "ratio_cpu": round(statistics.median(read_cpu) / statistics.median(hunt_cpu), 2),
            }
        )
    )


def run(backend: str, work: Path, indicators: int, lines: int) -> dict[str, Any]:
    with instance(backend, work) as inst:
        log(f"hunt/{backend}: loading {indicators:,} attributes")
        run_child("bench_hunt.py", ["--populate", str(indicators)], inst)
        log(f"hunt/{backend}: index and {lines:,} Zeek lines")
        data, rss_kib = run_child("bench_hunt.py", ["--hunt", str(indicators), str(lines)], inst)
    data["backend"] = backend
    data["peak_rss_mb"] = round(rss_kib / 1024)
    data["targets"] = TARGETS
    data["met"] = {
        "lines_per_s": data["hunt_lines_per_s"] >= TARGETS["lines_per_s"],
        "ratio": data["ratio"] >= TARGETS["ratio"],
        "build": data["build_s"] < TARGETS["build_s"],
        "bytes": data["bytes_per_indicator"] < TARGETS["bytes_per_indicator"],
    }
    log(
        f"hunt/{backend}: {data['hunt_lines_per_s']:,} lines/s (reading {data['read_lines_per_s']:,}, "
        f"ratio {data['ratio']}; CPU {data['hunt_cpu_lines_per_s']:,} vs "
        f"{data['read_cpu_lines_per_s']:,}, ratio {data['ratio_cpu']}); index of {data['indicators']:,} in {data['build_s']} s, "
        f"{data['bytes_per_indicator']} B each"
    )
    return data


if __name__ == "__main__":
    from common import child_main_args

    argv, out = child_main_args(sys.argv[1:])
    if argv[0] == "--populate":
        populate(int(argv[1]), out)
    else:
        hunt_child(int(argv[1]), int(argv[2]), out)
