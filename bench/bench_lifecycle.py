"""The indicator expiry pass over a large attribute table.

1. A fresh instance is filled as bench_search fills it (events of 1,000 attributes, the
   datagen type mix, every timestamp at datagen.BASE_TS, November 2023), so by today's
   clock (three years on) every type's lifetime is over, file hashes' (730 days) included.
2. A child process adds a sighting (type 0, today) to every 10th attribute, which keeps
   those alive.
3. `shieldwall indicators expire --dry-run -q`, then the real pass (marks every expired
   attribute), then a second pass (nothing left to change), each as its own process, timed
   wall-clock (interpreter start-up included, about 1 s).

Usage: python bench/bench_lifecycle.py [sqlite|postgres] [attributes]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import child_main_args, instance, log, run_child, run_cli_measured

SIGHT_EVERY = 10


def sight(out: Path) -> None:
    """Child: a sighting of every SIGHT_EVERY-th attribute, dated now."""
    import sqlalchemy as sa

    from shieldwall.auth.service import host_org
    from shieldwall.cli.common import database
    from shieldwall.clock import now
    from shieldwall.intel.models import Attribute, Sighting

    db = database()
    with db.reading() as session:
        org_id = host_org(session).id  # type: ignore[union-attr]
    when = now()
    with db.engine.begin() as conn:
        rows = conn.execute(
            sa.select(Attribute.id, Attribute.event_id).where(Attribute.id % SIGHT_EVERY == 0)
        ).all()
        conn.execute(
            sa.insert(Sighting),
            [
                {
                    "uuid": f"00000000-0000-4000-8000-{i:012d}",
                    "attribute_id": a,
                    "event_id": e,
                    "org_id": org_id,
                    "type": 0,
                    "source": "bench",
                    "date_sighting": when,
                }
                for i, (a, e) in enumerate(rows)
            ],
        )
        if db.engine.dialect.name == "postgresql":
            conn.execute(sa.text("ANALYZE"))
    out.write_text(json.dumps({"sightings": len(rows)}))


def run(backend: str, work: Path, total: int) -> dict[str, Any]:
    with instance(backend, work) as inst:
        log(f"lifecycle {backend}: loading {total:,} attributes")
        run_child("bench_search.py", ["--populate", str(total)], inst)
        added, _ = run_child("bench_lifecycle.py", ["--sight"], inst)
        results: dict[str, Any] = {"attributes": total, **added}
        for name, args in (
            ("dry_run", ["indicators", "expire", "--dry-run", "-q"]),
            ("first_pass", ["indicators", "expire", "-q"]),
            ("second_pass", ["indicators", "expire", "-q"]),
        ):
            seconds, rss, text = run_cli_measured(args, inst)
            log(f"lifecycle {backend} {name}: {seconds:.2f} s, {rss // 1024} MiB: {text.strip()}")
            results[name] = {"seconds": round(seconds, 2), "rss_mib": rss // 1024, "out": text}
        return results


def main() -> int:
    if "--sight" in sys.argv:
        _, out = child_main_args(sys.argv[1:])
        sight(out)
        return 0
    backend = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    with tempfile.TemporaryDirectory(prefix="bench-life-") as work:
        print(json.dumps(run(backend, Path(work), total), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
