"""Shared CLI plumbing: settings, database, console, the host organisation's context."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console

from shieldwall.auth.service import host_org
from shieldwall.config import get_settings
from shieldwall.context import Ctx, system_ctx
from shieldwall.db.engine import Database, get_database
from shieldwall.db.migrate import is_current, upgrade
from shieldwall.intel.errors import DomainError
from shieldwall.intel.visibility import ReadOptions

console = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def database(migrate: bool = True) -> Database:
    db = get_database()
    if migrate and not is_current(db.engine):
        upgrade(db.engine)
    return db


def admin_ctx(db: Database) -> Ctx:
    settings = get_settings()
    with db.reading() as session:
        org = host_org(session)
        if org is None:
            fail("no host organisation yet: run `shieldwall up` (or `shieldwall init`) first")
        org_id = org.id
    return system_ctx(org_id, ReadOptions(settings.unpublished_private, settings.sighting_policy))


def domain_errors() -> object:
    """Context manager turning domain errors into a clean CLI failure."""

    class _Guard:
        def __enter__(self) -> None:
            return None

        def __exit__(self, et: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
            if isinstance(exc, DomainError):
                where = f" ({exc.field})" if exc.field else ""
                err.print(f"[red]error:[/red] {exc.detail}{where}")
                sys.exit(2)
            return False

    return _Guard()
