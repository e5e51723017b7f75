"""Shared CLI plumbing: settings, database, console, the host organisation's context."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from shieldwall.auth.service import host_org
from shieldwall.context import Ctx, system_ctx
from shieldwall.db.engine import Database, get_database
from shieldwall.db.migrate import is_current, upgrade
from shieldwall.intel.errors import DomainError
from shieldwall.server_settings import read_options


def _width() -> int | None:
    # Piped output (scripts, CI, tests) gets wide tables rather than truncated cells.
    return None if sys.stdout.isatty() else 200


console = Console(width=_width())
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


def database(migrate: bool = True) -> Database:
    db = get_database()
    if migrate and not is_current(db.engine):
        upgrade(db.engine)
    return db


def admin_ctx(db: Database) -> Ctx:
    with db.reading() as session:
        org = host_org(session)
        if org is None:
            fail("no host organisation yet: run `shieldwall up` (or `shieldwall init`) first")
        org_id = org.id
    return system_ctx(org_id, read_options())


def reader_ctx(db: Database, ctx: Ctx, email: str, purpose: str) -> Ctx:
    """The context of the user an export is made for: it sees what that user may see."""
    from shieldwall.audit.service import Actor
    from shieldwall.auth import service as auth

    with db.reading() as session:
        target = auth.get_user(session, ctx, email)
        return Ctx(
            auth.principal_for(target),
            Actor(user_id=target.id, org_id=target.org_id, label=f"{purpose} as {target.email}"),
            ctx.opts,
        )


def export_progress(quiet: bool) -> Progress:
    """A spinner and a count of the events written, on stderr."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]exporting"),
        MofNCompleteColumn(),
        console=err,
        disable=quiet,
    )


@contextmanager
def domain_errors() -> Iterator[None]:
    """Turn domain errors into one clean CLI line naming the field, exit status 2."""
    try:
        yield
    except DomainError as exc:
        where = f" ({exc.field})" if exc.field else ""
        # The detail quotes input as given: "[/x]" in it is text, not Rich markup.
        err.print(f"[red]error:[/red] {escape(exc.detail + where)}")
        sys.exit(2)


@contextmanager
def long_stream() -> Iterator[None]:
    """The cyclic garbage collector paused while a command streams a large result: the rows
    make no reference cycles, and the collector would otherwise walk every live row of a
    batch again and again (seconds over a million rows). The process is the command's own,
    so nothing else waits on the pause; the collector runs again when the block ends."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
