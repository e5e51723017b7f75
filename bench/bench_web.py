"""Server render time of the web interface at scale: the situational picture and the event
list with 1M attributes and 100,000 cases (target < 300 ms), and an event of 10,000
attributes (target < 1 s).

1. A fresh instance is filled straight through the tables: the attributes of
   bench_search.populate (events of 1,000, published, community), one event of 10,000
   attributes, the cases and alerts of bench_response.populate; events' creation times
   spread over the past year (the picture counts by them); ANALYZE.
2. A user of the big organisation (`shieldwall user add`, a publisher) signs in through the
   sign-in form, as a browser does.
3. `shieldwall up` serves; one httpx client (keep-alive, sequential, the session cookie)
   GETs each page; after warm-up, every request's wall time is recorded: the time to the
   last byte of the HTML, which the server renders whole before sending.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from common import bulk_load, child_main_args, instance, log, percentile, run_child, serve

PICTURE_TARGET_MS = 300.0
EVENT_TARGET_MS = 1000.0
BIG_EVENT = 10_000
PASSWORD_LINE = re.compile(r"password: (\S+)")


def populate_intel(total: int, out: Path) -> None:
    """Child: the big event, then spread every event's creation over the past year."""
    import random
    from datetime import UTC, datetime, timedelta

    import sqlalchemy as sa
    from datagen import attribute_value

    from shieldwall.intel.models import Event

    db, event_ids, _ = bulk_load(
        BIG_EVENT,
        lambda i: attribute_value(50_000_000 + i),
        "Bench big event",
        seed=99,
        per_event=BIG_EVENT,
    )
    rng = random.Random(5)
    now = datetime.now(UTC)
    with db.engine.begin() as conn:
        ids = list(conn.execute(sa.select(Event.id).order_by(Event.id)).scalars())
        stmt = (
            sa.update(Event.__table__)
            .where(Event.__table__.c.id == sa.bindparam("b_id"))
            .values(created_at=sa.bindparam("b_at"))
        )
        conn.execute(
            stmt,
            [{"b_id": i, "b_at": now - timedelta(seconds=rng.randrange(365 * 86400))} for i in ids],
        )
        # The big event is recent: the picture's last day holds it.
        conn.execute(sa.update(Event).where(Event.id == event_ids[0]).values(created_at=now))
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    out.write_text(json.dumps({"big_event": event_ids[0], "events": len(ids)}))


def _measure(client: Any, url: str, n: int, warmup: int = 3) -> dict[str, Any]:
    for _ in range(warmup):
        r = client.get(url)
        r.raise_for_status()
    lat = []
    size = 0
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(url)
        lat.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
        size = len(r.content)
    s = sorted(lat)
    return {
        "p50_ms": round(percentile(s, 50), 1),
        "p95_ms": round(percentile(s, 95), 1),
        "bytes": size,
        "requests": n,
    }


def _sign_in(client: Any, base: str, email: str, password: str) -> None:
    page = client.get(f"{base}/ui/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "no sign-in form"
    r = client.post(
        f"{base}/ui/login",
        data={"email": email, "password": password, "csrf_token": token.group(1), "next": "/ui/"},
        follow_redirects=False,
    )
    if r.status_code != 303 or r.headers.get("location") != "/ui/":
        raise RuntimeError(f"sign-in failed: {r.status_code} {r.headers}")


def run(
    backend: str, work: Path, attributes: int, cases: int, alerts: int, requests: int
) -> dict[str, Any]:
    import bench_response
    import httpx

    with instance(backend, work) as inst:
        log(f"web {backend}: loading {attributes:,} attributes")
        loaded_intel, _ = run_child("bench_search.py", ["--populate", str(attributes)], inst)
        log(f"web {backend}: loading {cases:,} cases and {alerts:,} alerts")
        loaded_resp, _ = run_child(
            "bench_response.py", ["--populate", str(cases), str(alerts)], inst
        )
        big, _ = run_child("bench_web.py", ["--populate-intel", str(attributes)], inst)
        email = "web-bench@big.example"
        added = inst.cli(
            "user", "add", "--email", email, "--org", bench_response.BIG, "--role", "publisher"
        )
        password = PASSWORD_LINE.search(added.stdout)
        if password is None:
            raise RuntimeError(f"no password printed: {added.stdout} {added.stderr}")
        pages = [
            ("picture, 7 days", "/ui/", PICTURE_TARGET_MS),
            ("picture, 30 days", "/ui/?period=30d", PICTURE_TARGET_MS),
            ("picture, 90 days", "/ui/?period=90d", PICTURE_TARGET_MS),
            ("picture, 24 hours", "/ui/?period=24h", PICTURE_TARGET_MS),
            ("event list, first page", "/ui/events", PICTURE_TARGET_MS),
            ("event list, full-text search", "/ui/events?q=Bench+mix", PICTURE_TARGET_MS),
            (
                f"event of {BIG_EVENT:,} attributes",
                f"/ui/events/{big['big_event']}",
                EVENT_TARGET_MS,
            ),
            ("case board", "/ui/cases?status=new&status=in_progress", PICTURE_TARGET_MS),
            ("alert queue", "/ui/alerts", PICTURE_TARGET_MS),
        ]
        figures = []
        with serve(inst) as (base, _key), httpx.Client(timeout=120) as client:
            _sign_in(client, base, email, password.group(1))
            for name, path, target in pages:
                n = requests if target < EVENT_TARGET_MS else max(10, requests // 3)
                m = _measure(client, f"{base}{path}", n)
                figures.append(
                    {
                        "figure": name,
                        "path": path,
                        "target_ms": target,
                        "met": m["p95_ms"] < target,
                        **m,
                    }
                )
                log(
                    f"web {backend}: {name}: p50 {m['p50_ms']} p95 {m['p95_ms']} ms ({m['bytes']:,} bytes)"
                )
    return {
        "backend": backend,
        "attributes": loaded_intel["attributes"] + BIG_EVENT,
        "cases": loaded_resp["counts"]["cases"],
        "alerts": loaded_resp["counts"].get("alerts"),
        "figures": figures,
    }


def report(results: list[dict[str, Any]]) -> str:
    lines = [
        "Web pages rendered on the server (wall time to the last byte, sequential, signed in as a publisher of the big organisation)",
        f"{'backend':<9} {'figure':<34} {'p50 ms':>8} {'p95 ms':>8} {'target':>8}  met",
    ]
    for r in results:
        for f in r["figures"]:
            lines.append(
                f"{r['backend']:<9} {f['figure']:<34} {f['p50_ms']:>8} {f['p95_ms']:>8} {'< ' + str(int(f['target_ms'])):>8}  {'yes' if f['met'] else 'NO'}"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    args, out = child_main_args(sys.argv[1:])
    if args[0] == "--populate-intel":
        populate_intel(int(args[1]), out)
