"""`shieldwall backup` and `shieldwall restore`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from shieldwall.cli.common import console, fail
from shieldwall.db.backup import BackupError, backup, restore
from shieldwall.db.engine import get_database


def backup_command(
    target: Annotated[
        Path | None, typer.Argument(help="file to write; default var/backups/<time>")
    ] = None,
) -> None:
    """Back up the database while Shieldwall keeps running."""
    from shieldwall.config import get_settings

    db = get_database()
    if target is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        suffix = "db" if db.is_sqlite else "dump"
        target = get_settings().var_dir / "backups" / f"shieldwall-{stamp}.{suffix}"
    try:
        path = backup(db, target)
    except BackupError as exc:
        fail(str(exc))
    console.print(f"backup written to {path} ({path.stat().st_size:,} bytes)")


def restore_command(
    source: Annotated[Path, typer.Argument(help="a file written by `shieldwall backup`")],
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Replace the database with a backup. Stop Shieldwall first."""
    if not yes and not typer.confirm(f"Replace the current database with {source}?"):
        raise typer.Exit(1)
    try:
        restore(get_database(), source)
    except BackupError as exc:
        fail(str(exc))
    console.print(f"restored from {source}")
