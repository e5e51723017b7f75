"""Peak memory of a bulk import as the input grows.

Each size is imported by `shieldwall event import --quiet FILE` in a fresh process on a
fresh instance; the figure is that process's peak resident set size (ru_maxrss, from wait4
on the child). Flat means the peak stays roughly constant as the file grows, rather than
growing in proportion to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench_import import data_file
from common import instance, log, run_cli_measured

# The peak may grow by at most this factor from the smallest to the largest file (8x the input).
FLAT_FACTOR = 1.25


def run(backend: str, work: Path, sizes: list[int], per_event: int = 1000) -> dict[str, Any]:
    rows = []
    for n in sizes:
        path = data_file(work, n, per_event)
        with instance(backend, work) as inst:
            log(f"memory {backend}: importing {n:,} attributes")
            seconds, rss_kib, _ = run_cli_measured(["event", "import", "--quiet", str(path)], inst)
        rows.append(
            {
                "attributes": n,
                "file_mb": round(path.stat().st_size / 1e6, 1),
                "peak_rss_mb": round(rss_kib / 1024, 1),
                "wall_seconds": round(seconds, 2),
            }
        )
    first, last = rows[0]["peak_rss_mb"], rows[-1]["peak_rss_mb"]
    growth = last / first
    return {
        "backend": backend,
        "rows": rows,
        "input_growth": round(sizes[-1] / sizes[0], 1),
        "rss_growth": round(growth, 3),
        "mb_per_100k_attributes": round((last - first) / ((sizes[-1] - sizes[0]) / 100_000), 2),
        "flat_factor": FLAT_FACTOR,
        "met": growth <= FLAT_FACTOR,
    }
