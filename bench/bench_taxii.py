"""TAXII 2.1 paging, Shieldwall side by side with medallion (the OASIS reference server, memory
backend), on the same machine, the same objects and the same client.

The data: `total` attributes (datagen's mix, events of 1,000) loaded straight into a fresh
Shieldwall instance, and one STIX 2.1 indicator per attribute (id indicator--<attribute
uuid>), stored in Shieldwall's STIX object table tied to its attribute and event (as the
renderer stores them), and written as medallion's memory-backend data file with the same
ids, bodies and date_added values. Each server runs as its own process.

The run: taxii2-client fetches every page of 1,000 objects of the collection (as_pages), as
the site admin on Shieldwall (so visibility is checked, in SQL, for every object) and as
medallion's configured user. Every page request is timed from the call to the parsed
envelope; throughput is objects over the whole traversal. Every object id is checked to
arrive exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from common import (
    PYTHON,
    free_port,
    instance,
    log,
    mark_rendered,
    percentile,
    run_child,
    serve,
    stop,
)
from datagen import attribute_value

PAGE = 1000
TARGET_RATIO = 10.0
TARGET_P95_MS = 200.0
COLLECTION_TITLE = "bench"
MEDALLION_COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
STAMP = "2023-11-14T22:13:20.000Z"


def _pattern(kind: str, value: str) -> str:
    target = {
        "ip-dst": "ipv4-addr:value",
        "ip-src": "ipv4-addr:value",
        "domain": "domain-name:value",
        "hostname": "domain-name:value",
        "url": "url:value",
        "email-src": "email-addr:value",
        "md5": "file:hashes.MD5",
        "sha1": "file:hashes.'SHA-1'",
        "sha256": "file:hashes.'SHA-256'",
    }.get(kind, "x-misp-attribute:value")
    return f"[{target} = '{value}']"


def _format(dt: Any) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}Z"


def populate(total: int, data_file: Path | None, seed: int) -> dict[str, Any]:
    """Child side: load the attributes and their indicators (on top of earlier loads), and
    write medallion's data file with the same objects (data_file None: no file)."""
    from datetime import timedelta

    import sqlalchemy as sa
    from common import bulk_load

    from shieldwall.clock import now
    from shieldwall.db.bulk import insert_rows
    from shieldwall.intel.models import Attribute
    from shieldwall.taxii.models import StixObject

    t0 = time.perf_counter()
    db, event_ids, before_attr = bulk_load(total, attribute_value, "taxii bench", seed=seed)
    start = now()
    objects: list[str] = []
    manifest: list[dict[str, Any]] = []
    cols = ["stix_id", "type", "spec_version", "version", "date_added", "body", "is_latest",
            "is_first", "container", "event_id", "attribute_id"]  # fmt: skip
    version = start.replace(
        year=2023, month=11, day=14, hour=22, minute=13, second=20, microsecond=0
    )
    with db.engine.begin() as conn:
        rows = conn.execute(
            sa.select(Attribute.id, Attribute.uuid, Attribute.event_id, Attribute.type)
            .where(Attribute.id > before_attr)
            .order_by(Attribute.id)
        ).all()

        def stored() -> Any:
            for k, (attr_id, attr_uuid, event_id, kind) in enumerate(rows):
                _, _, v1, v2 = attribute_value(k)
                value = f"{v1}|{v2}" if v2 else v1
                obj = {
                    "type": "indicator",
                    "spec_version": "2.1",
                    "id": f"indicator--{attr_uuid}",
                    "created": STAMP,
                    "modified": STAMP,
                    "name": f"{kind} {value}"[:200],
                    "pattern": _pattern(kind, value.replace("'", "")),
                    "pattern_type": "stix",
                    "pattern_version": "2.1",
                    "valid_from": "2023-11-14T22:13:20Z",
                    "labels": ["misp:type=" + kind],
                }
                body = orjson.dumps(obj).decode()
                added = start + timedelta(microseconds=k)
                objects.append(body)
                manifest.append(
                    {
                        "id": obj["id"],
                        "date_added": _format(added),
                        "version": STAMP,
                        "media_type": "application/stix+json;version=2.1",
                    }
                )
                yield (obj["id"], "indicator", "2.1", version, added, body, True, True, False,
                       event_id, attr_id)  # fmt: skip

        insert_rows(conn, StixObject.__table__, cols, stored())
        # The events count as rendered, so the first page does not render them again.
        mark_rendered(conn, event_ids)
    loaded = time.perf_counter() - t0
    if data_file is None:
        return {"objects": len(objects), "load_seconds": round(loaded, 1)}
    with data_file.open("wb") as fh:
        fh.write(b'{"/discovery": ')
        fh.write(
            orjson.dumps(
                {
                    "title": "medallion bench",
                    "default": "http://127.0.0.1/bench/",
                    "api_roots": ["http://127.0.0.1/bench/"],
                }
            )
        )
        fh.write(b', "bench": {"information": ')
        fh.write(
            orjson.dumps(
                {
                    "title": "bench",
                    "versions": ["application/taxii+json;version=2.1"],
                    "max_content_length": 104857600,
                }
            )
        )
        fh.write(b', "status": [], "collections": [{"id": "' + MEDALLION_COLLECTION.encode())
        fh.write(b'", "title": "bench", "can_read": true, "can_write": true, "media_types": ')
        fh.write(b'["application/stix+json;version=2.1"], "objects": [')
        fh.write(",".join(objects).encode())
        fh.write(b'], "manifest": ')
        fh.write(orjson.dumps(manifest))
        fh.write(b"}]}}")
    return {"objects": len(objects), "load_seconds": round(loaded, 1)}


def _traverse(collection: Any) -> dict[str, Any]:
    from taxii2client.v21 import as_pages

    seconds: list[float] = []
    seen: set[str] = set()
    count = 0
    pages = as_pages(collection.get_objects, per_request=PAGE)
    t_all = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        try:
            envelope = next(pages)
        except StopIteration:
            break
        seconds.append(time.perf_counter() - t0)
        ids = [o["id"] for o in envelope.get("objects", [])]
        count += len(ids)
        seen.update(ids)
    total_s = time.perf_counter() - t_all
    ms = sorted(s * 1000 for s in seconds)
    return {
        "objects": count,
        "distinct": len(seen),
        "pages": len(seconds),
        "seconds": round(total_s, 2),
        "objects_per_s": round(count / total_s),
        "first_page_ms": round(seconds[0] * 1000, 1) if seconds else None,
        "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "max_ms": round(ms[-1], 1) if ms else None,
    }


def _medallion(data_file: Path, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    conf = work / "medallion.json"
    conf.write_text(
        json.dumps(
            {
                "backend": {
                    "module": "medallion.backends.memory_backend",
                    "module_class": "MemoryBackend",
                    "filename": str(data_file),
                    "session_timeout": 36000,
                },
                "users": {"bench": "bench-password"},
                "taxii": {"max_page_size": PAGE},
            }
        )
    )
    medallion = str(Path(PYTHON).parent / "medallion")
    log_file = (work / "medallion.log").open("wb")
    proc = subprocess.Popen(
        [medallion, "--host", "127.0.0.1", "--port", str(port), "--log-level", "WARN", str(conf)],
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("medallion exited during start-up")
        try:
            r = httpx.get(
                f"{base}/taxii2/",
                headers={"Accept": "application/taxii+json;version=2.1"},
                auth=("bench", "bench-password"),
                timeout=5,
            )
            if r.status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("medallion did not become ready")


def run(backend: str, work: Path, sizes: list[int], medallion_size: int) -> dict[str, Any]:
    """Shieldwall at each size (loads stack up, so one instance grows), medallion at
    medallion_size, which must be one of the sizes: the comparison is on the same objects."""
    from taxii2client.v21 import Collection

    if medallion_size not in sizes:
        raise ValueError("medallion's size must be one of the sizes")
    data_file = work / f"medallion-{uuid.uuid4().hex[:8]}.json"
    ours: dict[int, dict[str, Any]] = {}
    loads: dict[int, float] = {}
    with instance(backend, work) as inst:
        made = inst.cli("taxii", "collection", "add", COLLECTION_TITLE).stdout.strip()
        coll_uuid = made.rsplit(" ", 1)[-1]
        loaded_so_far = 0
        for n, size in enumerate(sorted(sizes)):
            log(f"taxii {backend}: loading up to {size:,} attributes and their indicators")
            args = ["--populate", str(size - loaded_so_far), str(n)]
            if size == medallion_size:
                args.append(str(data_file))
            loaded, _ = run_child("bench_taxii.py", args, inst)
            loads[size] = loaded["load_seconds"]
            loaded_so_far = size
            with serve(inst) as (base, key):
                collection = Collection(
                    f"{base}/taxii2/intel/collections/{coll_uuid}/",
                    user="admin@admin.test",
                    password=key,
                )
                log(f"taxii {backend}: Shieldwall, every page of {PAGE:,} of {size:,}")
                ours[size] = _traverse(collection)
    log(f"taxii: medallion loading {medallion_size:,} objects")
    proc, mbase = _medallion(data_file, work)
    try:
        theirs_coll = Collection(
            f"{mbase}/bench/collections/{MEDALLION_COLLECTION}/",
            user="bench",
            password="bench-password",
        )
        log("taxii: medallion, every page")
        theirs = _traverse(theirs_coll)
    finally:
        stop(proc)
        data_file.unlink(missing_ok=True)
    for size, r in ours.items():
        if r["objects"] != size or r["distinct"] != size:
            raise RuntimeError(f"Shieldwall returned {r['objects']} of {size} objects")
    if theirs["objects"] != medallion_size or theirs["distinct"] != medallion_size:
        raise RuntimeError(f"medallion returned {theirs['objects']} of {medallion_size} objects")
    ratio = ours[medallion_size]["objects_per_s"] / theirs["objects_per_s"]
    largest = ours[max(sizes)]
    return {
        "backend": backend,
        "shieldwall": [
            {"objects": size, "load_seconds": loads[size], **ours[size]} for size in sorted(ours)
        ],
        "medallion": {"objects": medallion_size, **theirs},
        "throughput_ratio": round(ratio, 1),
        "targets": {"ratio": TARGET_RATIO, "p95_ms": TARGET_P95_MS},
        "met": ratio >= TARGET_RATIO and largest["p95_ms"] < TARGET_P95_MS,
    }


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    if "--populate" in sys.argv:
        from common import child_main_args

        argv, out = child_main_args(sys.argv[1:])
        result = populate(int(argv[1]), Path(argv[3]) if len(argv) > 3 else None, int(argv[2]))
        out.write_text(json.dumps(result))
    else:
        import argparse
        import tempfile

        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgres"))
        parser.add_argument("--sizes", type=int, nargs="+", default=[5_000, 100_000])
        parser.add_argument("--medallion", type=int, default=5_000)
        args = parser.parse_args()
        work = Path(tempfile.mkdtemp(prefix="bench-taxii-"))
        print(json.dumps(run(args.backend, work, args.sizes, args.medallion), indent=2))
        os.sync()
