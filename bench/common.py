"""Shared benchmark plumbing: fresh databases per run, child processes, statistics."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
PYTHON = sys.executable
SHIELDWALL = str(Path(PYTHON).parent / "shieldwall")
PG_ADMIN_URL = os.environ.get(
    "BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class Instance:
    """A fresh Shieldwall instance: its own var dir and its own, empty database."""

    backend: str
    url: str
    var_dir: Path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIELDWALL_")}
        env["SHIELDWALL_DATABASE_URL"] = self.url
        env["SHIELDWALL_VAR_DIR"] = str(self.var_dir)
        env["SHIELDWALL_ENVIRONMENT"] = "development"
        env["PYTHONPATH"] = str(BENCH) + os.pathsep + env.get("PYTHONPATH", "")
        return env

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SHIELDWALL, *args], env=self.env(), capture_output=True, text=True, check=check
        )


def _pg_admin() -> Any:
    import psycopg

    dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(dsn, autocommit=True)


def _pg_url(dbname: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{dbname}"


@contextmanager
def instance(backend: str, work: Path) -> Iterator[Instance]:
    """Create an instance (`shieldwall init`), yield it, then drop its database and files."""
    var_dir = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir=work))
    dbname = None
    if backend == "sqlite":
        url = f"sqlite:///{var_dir / 'shieldwall.db'}"
    elif backend == "postgres":
        dbname = f"shieldwall_bench_{uuid.uuid4().hex[:10]}"
        with _pg_admin() as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        url = _pg_url(dbname)
    else:
        raise ValueError(backend)
    inst = Instance(backend, url, var_dir)
    try:
        inst.cli("init")
        yield inst
    finally:
        if dbname:
            with _pg_admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        shutil.rmtree(var_dir, ignore_errors=True)


def run_child(script: str, args: Sequence[str], inst: Instance) -> tuple[dict[str, Any], int]:
    """Run `python bench/<script> args` in a fresh process; returns (its JSON output, its peak
    RSS in KiB from wait4, so the figure is that process's alone)."""
    fd, name = tempfile.mkstemp(prefix="child-", suffix=".json", dir=inst.var_dir)
    os.close(fd)
    cmd = [PYTHON, str(BENCH / script), *args, "--json-out", name]
    return _wait(cmd, inst, Path(name))


def run_cli_measured(args: Sequence[str], inst: Instance) -> tuple[float, int, str]:
    """Run the shieldwall CLI; returns (wall seconds, peak RSS KiB, stdout)."""
    log_path = inst.var_dir / "cli.out"
    with log_path.open("w") as fh:
        t0 = time.perf_counter()
        p = subprocess.Popen(
            [SHIELDWALL, *args], env=inst.env(), stdout=fh, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(p.pid, 0)
        seconds = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
    text = log_path.read_text()
    if p.returncode:
        raise RuntimeError(f"shieldwall {' '.join(args)} failed ({p.returncode}):\n{text[-2000:]}")
    return seconds, usage.ru_maxrss, text


def _wait(cmd: list[str], inst: Instance, out: Path) -> tuple[dict[str, Any], int]:
    p = subprocess.Popen(cmd, env=inst.env(), stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read() if p.stderr else ""
    if p.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{err[-3000:]}")
    data = json.loads(out.read_text())
    out.unlink()
    return data, usage.ru_maxrss


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def child_main_args(argv: list[str]) -> tuple[list[str], Path]:
    """Split `--json-out PATH` off a child's argv."""
    i = argv.index("--json-out")
    return argv[:i] + argv[i + 2 :], Path(argv[i + 1])


def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited during start-up")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not become ready")


@contextmanager
def serve(inst: Instance) -> Iterator[tuple[str, str]]:
    """Run `shieldwall up` on a free port as its own process; yields (base URL, an admin API
    key). The server is stopped with SIGINT (as Ctrl-C) at the end."""
    key = (
        inst.cli("key", "create", "admin@admin.test", "--comment", "bench")
        .stdout.strip()
        .splitlines()[-1]
    )
    port = free_port()
    server_log = (inst.var_dir / "server.log").open("wb")
    proc = subprocess.Popen(
        [SHIELDWALL, "up", "--host", "127.0.0.1", "--port", str(port)],
        env=inst.env(),
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, proc)
        yield base, key
    finally:
        stop(proc)
        server_log.close()


def stop(proc: subprocess.Popen[Any]) -> None:
    """Stop a server process as Ctrl-C does; kill it if it has not ended in 15 s."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def bulk_load(
    total: int,
    value_of: Any,
    info: str,
    seed: int,
    per_event: int = 1000,
) -> tuple[Any, list[int], int]:
    """Child side: fill the instance named by the environment straight through the tables
    (COPY on PostgreSQL): `total` attributes, `per_event` to an event, attribute k's
    (type, category, value1, value2) from `value_of(k)`. Returns (the database, the new
    event ids, the highest attribute id before the load). Stacks on earlier loads."""
    import random
    from datetime import UTC, datetime

    import sqlalchemy as sa
    from datagen import BASE_TS

    from shieldwall.auth.models import User
    from shieldwall.auth.service import host_org
    from shieldwall.cli.common import database
    from shieldwall.intel.models import Attribute, Event

    db = database()
    rng = random.Random(seed)

    def new_uuid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    n_events = (total + per_event - 1) // per_event
    ts = datetime.fromtimestamp(BASE_TS, UTC)
    with db.reading() as session:
        org_id = host_org(session).id  # type: ignore[union-attr]
        user_id = session.execute(sa.select(User.id).order_by(User.id).limit(1)).scalar_one()
    with db.engine.begin() as conn:
        before = conn.execute(sa.select(sa.func.coalesce(sa.func.max(Event.id), 0))).scalar_one()
        before_attr = conn.execute(
            sa.select(sa.func.coalesce(sa.func.max(Attribute.id), 0))
        ).scalar_one()
        conn.execute(
            sa.insert(Event),
            [
                {
                    "uuid": new_uuid(),
                    "info": f"{info} {e}",
                    "date": ts.date(),
                    "threat_level_id": 2,
                    "analysis": 1,
                    "distribution": 1,
                    "org_id": org_id,
                    "orgc_id": org_id,
                    "user_id": user_id,
                    "published": True,
                    "publish_timestamp": ts,
                    "timestamp": ts,
                }
                for e in range(n_events)
            ],
        )
        event_ids = list(
            conn.execute(sa.select(Event.id).where(Event.id > before).order_by(Event.id)).scalars()
        )
    cols = ["uuid", "event_id", "category", "type", "value1", "value2", "to_ids", "timestamp",
            "distribution", "comment", "deleted", "disable_correlation"]  # fmt: skip

    def rows(first: int, count: int) -> list[tuple[Any, ...]]:
        out_rows = []
        for k in range(first, first + count):
            t, cat, v1, v2 = value_of(k)
            out_rows.append(
                (new_uuid(), event_ids[k // per_event], cat, t, v1, v2, t != "filename", ts,
                 5, "", False, False)
            )  # fmt: skip
        return out_rows

    chunk = 50_000
    with db.engine.begin() as conn:
        if db.is_sqlite:
            for first in range(0, total, chunk):
                batch = rows(first, min(chunk, total - first))
                conn.execute(
                    sa.insert(Attribute.__table__), [dict(zip(cols, r, strict=True)) for r in batch]
                )
        else:
            raw = conn.connection.driver_connection
            with (
                raw.cursor() as cur,  # type: ignore[union-attr]
                cur.copy(f"COPY attributes ({', '.join(cols)}) FROM STDIN") as copy,
            ):
                for first in range(0, total, chunk):
                    for r in rows(first, min(chunk, total - first)):
                        copy.write_row(r)
    return db, event_ids, before_attr


def mark_rendered(conn: Any, event_ids: Sequence[int]) -> None:
    """Child side: the events count as rendered for TAXII at their current timestamps, as
    in an instance whose server has rendered what was published. Events loaded straight
    into the tables would otherwise be rendered by the server's TAXII job as soon as a
    benchmark starts the server, in the same process as the requests being timed."""
    import sqlalchemy as sa

    from shieldwall.intel.models import Event
    from shieldwall.taxii.models import StixEventState

    stamps = conn.execute(
        sa.select(Event.id, Event.timestamp, Event.publish_timestamp).where(
            Event.id.in_(list(event_ids))
        )
    ).all()
    conn.execute(
        sa.insert(StixEventState),
        [
            {
                "event_id": e,
                "rendered_timestamp": ts,
                "rendered_publish_timestamp": published,
                "posted": False,
            }
            for e, ts, published in stamps
        ],
    )
