"""STIX 2.1 export figure: 100,000 attributes as one STIX bundle in under 10 s.

One instance holds 100,000 attributes of the datagen mix (events of 1,000 attributes,
tagged tlp:green, 2 % of the attributes tagged tlp:amber; loaded directly, as in the search
benchmark). The figure is MISP's events/restSearch with returnFormat stix2 over HTTP, as
PyMISP's search(return_format='stix2') sends it, the whole bundle read: the store's read,
the conversion (misp-stix and the direct path for plain attributes) and the streamed answer.
Median of three runs; each answer is checked (one observation per attribute, every event's
grouping, the organisation's identity once), so a fast wrong answer fails.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
from common import instance, log, run_child, serve

TARGET_S = 10.0


def run(backend: str, work: Path, total: int, repeat: int = 3) -> dict[str, Any]:
    with instance(backend, work) as inst:
        log(f"stix {backend}: loading {total:,} attributes")
        run_child("bench_search.py", ["--populate", str(total)], inst)
        with serve(inst) as (base, key):
            headers = {"Authorization": key, "Accept": "application/json"}
            seconds: list[float] = []
            size = 0
            for _ in range(repeat):
                t0 = time.perf_counter()
                with httpx.Client(timeout=600) as client:
                    r = client.post(
                        f"{base}/events/restSearch",
                        json={"returnFormat": "stix2"},
                        headers=headers,
                    )
                    body = r.content
                seconds.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    raise RuntimeError(f"stix2 export failed: {r.status_code} {body[:300]!r}")
                bundle = orjson.loads(body)
                kinds = Counter(o["type"] for o in bundle["objects"])
                if kinds["observed-data"] != total:
                    raise RuntimeError(
                        f"{kinds['observed-data']} observations for {total} attributes"
                    )
                events = kinds["grouping"] + kinds["report"]  # published events are reports
                if events != (total + 999) // 1000 or kinds["identity"] != 1:
                    raise RuntimeError(f"unexpected bundle shape: {dict(kinds)}")
                size = len(body)
                log(f"stix {backend}: {seconds[-1]:.2f} s, {size / 1e6:.0f} MB, {dict(kinds)}")
    median = statistics.median(seconds)
    return {
        "backend": backend,
        "attributes": total,
        "seconds": round(median, 2),
        "runs": [round(x, 2) for x in seconds],
        "bundle_mb": round(size / 1e6, 1),
        "target_s": TARGET_S,
        "met": median < TARGET_S,
    }
