"""MISP API figures, measured with the real PyMISP against `shieldwall up` over HTTP:

1. add one event of 43,000 attributes (PyMISP add_event: client serialisation, upload,
   validation, storage and the answer), target under 5 s; measured with PyMISP's default
   (the whole event is answered) and with metadata=True;
2. attributes/restSearch returning 250,000 URLs as text (a tagged URL feed), under 2 s;
3. attributes/restSearch for 1,000 IP values at once (half stored, half not) over 1M
   attributes, under 1 s.

One instance holds 1M attributes of the datagen mix plus 250k URLs in events tagged
bench:urls (loaded directly, as in the search benchmark). Each figure is the median of
several runs; every answer is checked (counts and values), so a fast wrong answer fails.
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path
from typing import Any

from bench_search import URL_BASE
from common import instance, log, run_child, serve
from datagen import attribute_value, miss_value, url_value

TARGETS = {
    "event_43k_s": 5.0,
    "event_43k_metadata_s": 5.0,
    "text_250k_urls_s": 2.0,
    "ips_1000_s": 1.0,
}


def _ip_queries(total: int, n: int = 1000, seed: int = 11) -> tuple[list[str], set[str]]:
    rng = random.Random(seed)
    ips = [i for i in range(total) if attribute_value(i)[0] in ("ip-dst", "ip-src")]
    hits = {attribute_value(i)[2] for i in rng.sample(ips, n // 2)}
    # IPv6 documentation addresses: the generated data holds IPv4 only.
    misses = {miss_value(4 * k + 3) for k in range(n - n // 2)}
    return sorted(hits | misses), hits


def run(
    backend: str, work: Path, total: int, urls: int, big_event: int, repeat: int = 3
) -> dict[str, Any]:
    from pymisp import MISPEvent, PyMISP

    with instance(backend, work) as inst:
        log(f"misp {backend}: loading {total:,} attributes and {urls:,} URLs")
        run_child("bench_search.py", ["--populate", str(total)], inst)
        run_child("bench_search.py", ["--populate", str(urls), "--kind", "url"], inst)
        with serve(inst) as (base, key):
            misp = PyMISP(base, key, ssl=False, timeout=600)
            # 1. one event of big_event attributes through add_event: PyMISP's default (the
            # whole event comes back) and metadata=True (only the event's own fields do)
            event_s: list[float] = []
            meta_s: list[float] = []
            for r in range(2 * repeat):
                metadata = r % 2 == 1
                e = MISPEvent()
                e.info = f"PyMISP bulk event {r}"
                e.distribution = 1
                first = 50_000_000 + r * big_event
                for i in range(first, first + big_event):
                    t, cat, v1, v2 = attribute_value(i)
                    e.add_attribute(t, f"{v1}|{v2}" if v2 else v1, category=cat)
                t0 = time.perf_counter()
                made = misp.add_event(e, metadata=metadata)
                (meta_s if metadata else event_s).append(time.perf_counter() - t0)
                if "errors" in made:
                    raise RuntimeError(f"add_event failed: {str(made)[:500]}")
                if not metadata and len(made["Event"]["Attribute"]) != big_event:
                    raise RuntimeError("add_event did not answer with every attribute")
                stored = misp.search(
                    controller="attributes", eventid=made["Event"]["id"], return_format="text"
                )
                if len(stored.split()) != big_event:
                    raise RuntimeError("the bulk event did not store every attribute")
            # 2. the tagged URL feed as text
            text_s = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                body = misp.search(
                    controller="attributes",
                    type_attribute="url",
                    tags=["bench:urls"],
                    return_format="text",
                )
                text_s.append(time.perf_counter() - t0)
                lines = body.split("\n")
                if len(lines) - 1 != urls or lines[0] != url_value(URL_BASE):
                    raise RuntimeError(f"text export returned {len(lines) - 1} lines, not {urls}")
            # 3. a thousand IPs at once
            values, hits = _ip_queries(total)
            ip_s = []
            for _ in range(repeat + 2):
                t0 = time.perf_counter()
                found = misp.search(controller="attributes", value=values, limit=100000)
                ip_s.append(time.perf_counter() - t0)
                got = {a["value"] for a in found["Attribute"]}
                if got != hits:
                    raise RuntimeError(
                        f"1,000-IP search found {len(got)} values, expected {len(hits)}"
                    )
    figures = {
        "event_43k_s": statistics.median(event_s),
        "event_43k_metadata_s": statistics.median(meta_s),
        "text_250k_urls_s": statistics.median(text_s),
        "ips_1000_s": statistics.median(ip_s),
    }
    return {
        "backend": backend,
        "attributes": total + urls,
        "big_event": big_event,
        "urls": urls,
        **{k: round(v, 3) for k, v in figures.items()},
        "runs": {
            "event_43k_s": [round(x, 2) for x in event_s],
            "event_43k_metadata_s": [round(x, 2) for x in meta_s],
            "text_250k_urls_s": [round(x, 2) for x in text_s],
            "ips_1000_s": [round(x, 3) for x in ip_s],
        },
        "targets": TARGETS,
        "met": all(figures[k] < TARGETS[k] for k in TARGETS),
    }
