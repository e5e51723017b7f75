"""Warninglist checks with every shipped list enabled: values checked per second.

1. A fresh instance (`shieldwall init`); a child process enables every warninglist through
   the warninglist service (as `POST /warninglists/toggleEnable` does) and commits.
2. The child builds a deterministic value mix: domains, hostnames, URLs, IPv4 and IPv6
   addresses, md5/sha1/sha256 hashes, e-mail addresses, domain|ip and filename|md5; a share
   of them taken from the lists themselves (popular domains and their subdomains, public
   resolvers, private and documentation ranges, hashes of empty files, disposable e-mail
   domains), so that they hit.
3. The first check compiles the matcher and stores it under the var dir (timed apart).
   Then, three times each:
   - typed: `warninglists.warned(session, [(type, value), ...])` in batches of 10,000, the
     check import and enforceWarninglist run (lists count for the types they name, composite
     values are checked half by half);
   - untyped: `warninglists.check_values(session, values)`, MISP's checkValue (every list,
     whatever the type).
   Reported: values/s from wall time (median of three, with the runs), the same from the
   process's CPU time (the machine's cores are shared, so wall time carries other work), and
   the share of values that hit.
4. A second child, a fresh process as a command or another server worker is, gets the
   matcher of the same lists: it reads the stored copy back instead of compiling. Reported:
   its wall and CPU seconds and the process's peak RSS.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from common import instance, log, run_child

TARGET_PER_S = 200_000
BATCH = 10_000


def value_mix(n: int, lists: dict[str, Any]) -> list[tuple[str, str]]:
    rng = random.Random(20261127)
    popular = lists["Top 1,000,000 most-used sites from Tranco"].list
    disposable = lists["List of disposable email domains"].list
    empty_md5 = [h for h in lists["List of known hashes for empty files"].list if len(h) == 32]
    resolvers = ["8.8.8.8", "8.8.4.4", "1.1.1.1", "9.9.9.9", "208.67.222.222"]
    words = ["alpha", "bravo", "delta", "kilo", "oscar", "tango", "zulu", "nova", "vector"]

    def name(i: int) -> str:
        return f"{rng.choice(words)}{i % 9973}-{rng.choice(words)}.{rng.choice(['com', 'net', 'ru', 'top', 'xyz'])}"

    def ipv4(listed: bool) -> str:
        if listed:
            return rng.choice([*resolvers, f"10.{rng.randrange(256)}.{rng.randrange(256)}.9"])
        return f"{rng.randrange(11, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    out: list[tuple[str, str]] = []
    for i in range(n):
        kind = i % 12
        listed = rng.random() < 0.2
        if kind in (0, 1):
            out.append(("domain", rng.choice(popular) if listed else name(i)))
        elif kind == 2:
            host = f"www.{rng.choice(popular)}" if listed else f"cdn{i % 97}.{name(i)}"
            out.append(("hostname", host))
        elif kind == 3:
            host = rng.choice(popular) if listed else name(i)
            out.append(("url", f"https://{host}/{rng.choice(words)}/{i}.php?id={i % 1000}"))
        elif kind in (4, 5):
            out.append((rng.choice(["ip-dst", "ip-src"]), ipv4(listed)))
        elif kind == 6:
            prefix = (
                "2001:4860:4860::"
                if listed
                else f"2a0{rng.randrange(10)}:{rng.randrange(65536):x}::"
            )
            out.append(("ip-dst", f"{prefix}{rng.randrange(1, 65535):x}"))
        elif kind == 7:
            digest = hashlib.md5(str(i).encode()).hexdigest()
            out.append(("md5", rng.choice(empty_md5) if listed else digest))
        elif kind == 8:
            algo = rng.choice(["sha1", "sha256"])
            out.append((algo, hashlib.new(algo, str(i).encode()).hexdigest()))
        elif kind == 9:
            domain = rng.choice(disposable) if listed else name(i)
            out.append(("email-src", f"{rng.choice(words)}.{i % 500}@{domain}"))
        elif kind == 10:
            out.append(("domain|ip", f"{name(i)}|{ipv4(listed)}"))
        else:
            digest = hashlib.md5(f"file{i}".encode()).hexdigest()
            out.append(("filename|md5", f"{rng.choice(words)}_{i}.exe|{digest}"))
    return out


def _rate(n: int, seconds: float) -> int:
    return int(n / seconds) if seconds > 0 else 0


def child(total: int, out: Path) -> None:
    import logging

    import sqlalchemy as sa

    from shieldwall.cli.common import database
    from shieldwall.context import system_ctx
    from shieldwall.knowledge import warninglists
    from shieldwall.knowledge.models import Warninglist

    logging.getLogger("pymispwarninglists").setLevel(logging.ERROR)
    db = database()
    with db.writing() as session:
        org_id = session.execute(sa.text("SELECT id FROM organisations ORDER BY id")).scalar_one()
        names = list(session.execute(sa.select(Warninglist.name)).scalars())
        warninglists.set_enabled(session, system_ctx(org_id), names, True)
    lib = warninglists.library()
    items = value_mix(total, dict(lib.items()))
    values = [v for _, v in items]
    with db.reading() as session:
        t0, c0 = time.perf_counter(), time.process_time()
        m = warninglists.matcher(session)
        build_s, build_cpu = time.perf_counter() - t0, time.process_time() - c0
        assert len(m.infos) == len(names), "every list enabled"
        typed_runs, typed_cpu, untyped_runs, untyped_cpu = [], [], [], []
        hits = untyped_hits = 0
        for _ in range(3):
            w0, c0 = time.perf_counter(), time.process_time()
            hits = 0
            for start in range(0, total, BATCH):
                hits += sum(warninglists.warned(session, items[start : start + BATCH]))
            typed_runs.append(_rate(total, time.perf_counter() - w0))
            typed_cpu.append(_rate(total, time.process_time() - c0))
            w0, c0 = time.perf_counter(), time.process_time()
            untyped_hits = 0
            for start in range(0, total, BATCH):
                untyped_hits += len(
                    warninglists.check_values(session, values[start : start + BATCH])
                )
            untyped_runs.append(_rate(total, time.perf_counter() - w0))
            untyped_cpu.append(_rate(total, time.process_time() - c0))
    kinds: dict[str, int] = {}
    for t, _ in items:
        kinds[t] = kinds.get(t, 0) + 1
    out.write_text(
        json.dumps(
            {
                "lists": len(names),
                "entries": sum(len(lib[n].list) for n in names),
                "values": total,
                "types": kinds,
                "build_seconds": round(build_s, 2),
                "build_cpu_seconds": round(build_cpu, 2),
                "typed_runs_per_s": sorted(typed_runs),
                "typed_cpu_per_s": sorted(typed_cpu),
                "typed_hit_share": round(hits / total, 3),
                "untyped_runs_per_s": sorted(untyped_runs),
                "untyped_cpu_per_s": sorted(untyped_cpu),
                "untyped_hit_share": round(untyped_hits / total, 3),
            }
        )
    )


def load(out: Path) -> None:
    """A fresh process's matcher of the enabled lists: the stored copy read back."""
    from shieldwall.cli.common import database
    from shieldwall.knowledge import warninglists

    db = database()
    with db.reading() as session:
        t0, c0 = time.perf_counter(), time.process_time()
        m = warninglists.matcher(session)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        lists = len(m.infos)
    out.write_text(
        json.dumps({"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "lists": lists})
    )


def run(work: Path, total: int) -> dict[str, Any]:
    with instance("sqlite", work) as inst:
        log(f"warninglists: every list enabled, {total:,} values")
        data, rss_kib = run_child("bench_warninglists.py", ["--values", str(total)], inst)
        stored, load_rss_kib = run_child("bench_warninglists.py", ["--load"], inst)
    assert stored["lists"] == data["lists"]
    data["load_seconds"] = stored["seconds"]
    data["load_cpu_seconds"] = stored["cpu_seconds"]
    data["load_peak_rss_mb"] = round(load_rss_kib / 1024)
    data["peak_rss_mb"] = round(rss_kib / 1024)
    data["typed_per_s"] = data["typed_runs_per_s"][1]
    data["untyped_per_s"] = data["untyped_runs_per_s"][1]
    data["target_per_s"] = TARGET_PER_S
    data["met"] = data["typed_per_s"] >= TARGET_PER_S and data["untyped_per_s"] >= TARGET_PER_S
    log(
        f"warninglists: typed {data['typed_per_s']:,}/s, untyped {data['untyped_per_s']:,}/s "
        f"(compiled and stored in {data['build_seconds']}s, read back by a new process in "
        f"{data['load_seconds']}s, {data['load_peak_rss_mb']} MB)"
    )
    return data


if __name__ == "__main__":
    from common import child_main_args

    argv, out = child_main_args(sys.argv[1:])
    if argv[0] == "--load":
        load(out)
    else:
        assert argv[0] == "--values"
        child(int(argv[1]), out)
