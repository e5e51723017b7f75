"""Online backups and restores: SQLite's backup API, pg_dump/pg_restore for PostgreSQL."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from shieldwall.db.engine import Database


class BackupError(Exception):
    pass


def _pg_args(url: str) -> tuple[list[str], dict[str, str]]:
    u = make_url(url)
    args = ["-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "postgres"]
    env = {"PGPASSWORD": u.password} if u.password else {}
    return args, env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed; install the PostgreSQL client tools")
    return path


def _private(target: Path) -> None:
    # Backups hold password and key hashes: readable by the owner only, from the first byte.
    target.touch(mode=0o600, exist_ok=True)
    target.chmod(0o600)


def backup(db: Database, target: Path) -> Path:
    """Write a consistent copy while the instance keeps serving."""
    target.parent.mkdir(parents=True, exist_ok=True)
    u = make_url(db.url)
    if db.is_sqlite:
        if not u.database:
            raise BackupError("an in-memory database cannot be backed up")
        _private(target)
        with sqlite3.connect(u.database) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        return target
    import os

    args, env = _pg_args(db.url)
    _private(target)
    cmd = [_tool("pg_dump"), *args, "-Fc", "-f", str(target), u.database or "postgres"]
    result = subprocess.run(
        cmd, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(result.stderr.strip() or "pg_dump failed")
    return target


def restore(db: Database, source: Path) -> None:
    """Replace the database's content with a backup (the instance must be stopped)."""
    if not source.exists():
        raise BackupError(f"{source}: no such backup")
    u = make_url(db.url)
    db.dispose()
    if db.is_sqlite:
        if not u.database:
            raise BackupError("an in-memory database cannot be restored")
        with sqlite3.connect(source) as src, sqlite3.connect(u.database) as dst:
            src.backup(dst)
        return
    import os

    args, env = _pg_args(db.url)
    cmd = [
        _tool("pg_restore"),
        *args,
        "--clean",
        "--if-exists",
        "--no-owner",
        "-d",
        u.database or "postgres",
        str(source),
    ]
    result = subprocess.run(
        cmd, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(result.stderr.strip() or "pg_restore failed")
