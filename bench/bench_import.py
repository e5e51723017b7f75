"""Bulk import throughput: a generated MISP restSearch file through the real import path.

The parent makes a fresh instance (`shieldwall init`) and starts a fresh process that calls
shieldwall.exchange.misp_json.import_file, the function behind `shieldwall event import`, and
times that call alone (no interpreter start-up or migration check). The memory benchmark
runs the `shieldwall event import` command itself on files of several sizes, timed end to end.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from common import instance, log, run_child
from datagen import write_misp_file

TARGET_PER_S = 20_000


def data_file(work: Path, attributes: int, per_event: int = 1000) -> Path:
    path = work / "data" / f"misp-{attributes // per_event}x{per_event}.json"
    if not path.exists():
        t0 = time.perf_counter()
        write_misp_file(path, attributes // per_event, per_event)
        log(
            f"generated {path.name} ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f}s"
        )
    return path


def run(backend: str, work: Path, attributes: int, per_event: int = 1000) -> dict[str, Any]:
    path = data_file(work, attributes, per_event)
    with instance(backend, work) as inst:
        log(f"import {backend}: {attributes:,} attributes in-process (import_file)")
        res, rss = run_child("bench_import.py", ["--child", str(path)], inst)
    if res["failed"] or res["attributes"] != attributes:
        raise RuntimeError(f"import went wrong: {res}")
    rate = res["attributes"] / res["seconds"]
    return {
        "backend": backend,
        "events": res["created"],
        "attributes": res["attributes"],
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "seconds": round(res["seconds"], 2),
        "attributes_per_s": round(rate),
        "peak_rss_mb": round(rss / 1024, 1),
        "target_per_s": TARGET_PER_S,
        "met": rate >= TARGET_PER_S,
    }


def child(path: Path, out: Path, profile: Path | None = None) -> None:
    from shieldwall.cli.common import admin_ctx, database
    from shieldwall.exchange.misp_json import import_file
    from shieldwall.intel.templates import templates
    from shieldwall.intel.types import type_table
    from shieldwall.runtime import tune_gc

    tune_gc()  # as the `shieldwall` command does
    db = database()
    ctx = admin_ctx(db)
    type_table(), templates()  # one-off table loads, not per-attribute work
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t0 = time.perf_counter()
    report = import_file(db, ctx, path)
    seconds = time.perf_counter() - t0
    if prof:
        prof.disable()
        prof.dump_stats(str(profile))
    out.write_text(
        json.dumps(
            {
                "created": report.created,
                "failed": report.failed,
                "skipped": report.skipped,
                "attributes": report.attributes,
                "seconds": seconds,
                "errors": report.errors[:5],
            }
        )
    )


if __name__ == "__main__":
    from common import child_main_args

    argv, out = child_main_args(sys.argv[1:])
    assert argv[0] == "--child"
    prof = Path(argv[argv.index("--profile") + 1]) if "--profile" in argv else None
    child(Path(argv[1]), out, prof)
