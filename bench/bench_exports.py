"""Sensor exports of 1M indicators: seconds to write a Zeek intel file, Suricata datasets,
Suricata rules and an RPZ zone with `shieldwall export`, each in a fresh process.

1. A fresh instance (`shieldwall init`) and a user of the host organisation (the export
   runs with that user's access rules, not a site admin's).
2. A child loads `total` attributes straight into the tables (bench/common.bulk_load, the
   datagen mix: addresses, names, URLs, hashes, e-mail, composites; every type but
   filename is to_ids; events published), then ANALYZE, as autovacuum or an import through
   Shieldwall (db/bulk.py refresh_statistics) would have done.
3. Each export runs twice: with the instance's default warninglists (none enabled on a
   fresh instance) and with every shipped list enabled (each value checked against them).
   The child that enables them compiles their matcher once, as the server does when a list
   is enabled, and it is stored under the var dir: each export process reads it back.
   Each export runs three times, each in a fresh process; reported: the median wall
   seconds with the three runs, peak RSS of the export process, indicators/s, and lines
   written.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from common import bulk_load, instance, log, run_child, run_cli_measured
from datagen import attribute_value

TARGET_SECONDS = 5.0
READER = "sensor-engineer@host.bench"


def populate(total: int, out: Path) -> None:
    t0 = time.perf_counter()
    db, _, _ = bulk_load(total, attribute_value, "Sensor export bench", seed=7)
    # Statistics, as autovacuum (or an import through Shieldwall) would have gathered them:
    # the rows were written straight to the tables.
    with db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    out.write_text(json.dumps({"attributes": total, "seconds": time.perf_counter() - t0}))


def enable_all(out: Path) -> None:
    import sqlalchemy as sa

    from shieldwall.cli.common import database
    from shieldwall.context import system_ctx
    from shieldwall.knowledge import warninglists
    from shieldwall.knowledge.models import Warninglist

    db = database()
    with db.writing() as session:
        org_id = session.execute(sa.text("SELECT id FROM organisations ORDER BY id")).scalar_one()
        names = list(session.execute(sa.select(Warninglist.name)).scalars())
        warninglists.set_enabled(session, system_ctx(org_id), names, True)
    t0 = time.perf_counter()
    with db.reading() as session:
        warninglists.matcher(session)
    out.write_text(
        json.dumps({"enabled": len(names), "compiled_seconds": time.perf_counter() - t0})
    )


def _lines(path: Path) -> int:
    if path.is_dir():
        return sum(_lines(p) for p in path.iterdir())
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


EXPORTS = (
    ("zeek", ["export", "zeek"], "shieldwall.intel"),
    ("suricata-datasets", ["export", "suricata-datasets"], "datasets"),
    ("suricata", ["export", "suricata"], "shieldwall.rules"),
    ("rpz", ["export", "rpz"], "rpz.zone"),
)


def run(backend: str, work: Path, total: int) -> dict[str, Any]:
    rows = []
    with instance(backend, work) as inst:
        inst.cli("user", "add", "--email", READER, "--role", "user")
        log(f"exports {backend}: loading {total:,} attributes")
        loaded, _ = run_child("bench_exports.py", ["--populate", str(total)], inst)
        log(f"exports {backend}: loaded in {loaded['seconds']:.0f}s")
        for lists in ("default", "all enabled"):
            if lists == "all enabled":
                enabled, _ = run_child("bench_exports.py", ["--enable-all"], inst)
                log(
                    f"exports {backend}: {enabled['enabled']} warninglists enabled, compiled "
                    f"and stored in {enabled['compiled_seconds']:.1f}s"
                )
            for name, cmd, target in EXPORTS:
                out = inst.var_dir / f"{name}-{lists.replace(' ', '-')}" / target
                out.parent.mkdir(parents=True, exist_ok=True)
                args = [*cmd, str(out), "--user", READER] if name == "suricata-datasets" else [
                    *cmd, "--user", READER, "-o", str(out)
                ]  # fmt: skip
                # Three runs, each a fresh process: the median, with the spread.
                runs = sorted(run_cli_measured(args, inst)[:2] for _ in range(3))
                seconds, rss_kib = runs[1]
                lines = _lines(out)
                rows.append(
                    {
                        "backend": backend,
                        "export": name,
                        "warninglists": lists,
                        "seconds": round(seconds, 2),
                        "runs_s": [round(r[0], 2) for r in runs],
                        "indicators_per_s": round(total / seconds),
                        "lines": lines,
                        "peak_rss_mb": round(rss_kib / 1024, 1),
                        "met": seconds < TARGET_SECONDS,
                    }
                )
                log(
                    f"exports {backend}: {name} ({lists}) {seconds:.2f}s "
                    f"(runs {' / '.join(f'{r[0]:.2f}' for r in runs)}), {lines:,} lines"
                )
    return {"backend": backend, "attributes": total, "target_seconds": TARGET_SECONDS, "runs": rows}


if __name__ == "__main__":
    from common import child_main_args

    argv, out = child_main_args(sys.argv[1:])
    if argv[0] == "--populate":
        populate(int(argv[1]), out)
    elif argv[0] == "--enable-all":
        enable_all(out)
