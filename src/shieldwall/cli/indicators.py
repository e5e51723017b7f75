"""`shieldwall indicators`: the indicator lifecycle (expiry pass, settings per type)."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from shieldwall.cli.common import admin_ctx, console, database, domain_errors, err, fail
from shieldwall.lifecycle import service as lifecycle

indicators_app = typer.Typer(
    help="Indicator lifecycle: expiry and decaying scores.", no_args_is_help=True
)


@indicators_app.command("expire")
def expire(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="count what would change, change nothing")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Mark indicators past their lifetime (or ended by an expiration sighting) as expired,
    and clear the mark of those live again. Expired indicators stay stored and readable;
    they leave to_ids exports unless an export asks for them."""
    db = database()
    ctx = admin_ctx(db)
    with (
        Progress(
            TextColumn("[bold]checking attributes"),
            BarColumn(),
            MofNCompleteColumn(),
            console=err,
            disable=quiet,
        ) as progress,
        db.reading() if dry_run else db.writing() as session,
    ):
        task = progress.add_task("expire", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = lifecycle.run_expiry(session, ctx.actor, dry_run=dry_run, on_progress=advance)
    if dry_run:
        console.print(
            f"dry run: {report.expired} indicators would expire, "
            f"{report.revived} would be live again"
        )
    else:
        console.print(f"{report.expired} indicators expired, {report.revived} live again")


@indicators_app.command("settings")
def settings_list() -> None:
    """The lifecycle settings: the default, then every type with settings of its own."""
    db = database()
    with db.reading() as session:
        rows = lifecycle.list_settings(session)
    table = Table(
        "type", "lifetime (days)", "decay speed", "threshold", "base score", "FP penalty", "source"
    )
    for r in rows:
        table.add_row(
            r["attribute_type"],
            f"{r['lifetime_days']:g}",
            f"{r['decay_speed']:g}",
            f"{r['threshold']:g}",
            f"{r['default_base_score']:g}",
            f"{r['false_positive_penalty']:g}",
            r["source"],
        )
    console.print(table)


@indicators_app.command("set")
def settings_set(
    attribute_type: Annotated[str, typer.Argument(help="an attribute type, or 'default'")],
    lifetime_days: Annotated[float | None, typer.Option("--lifetime", help="days")] = None,
    decay_speed: Annotated[float | None, typer.Option("--decay-speed")] = None,
    threshold: Annotated[float | None, typer.Option("--threshold")] = None,
    base_score: Annotated[float | None, typer.Option("--base-score")] = None,
    false_positive_penalty: Annotated[float | None, typer.Option("--fp-penalty")] = None,
) -> None:
    """Change a type's settings (options left out keep their value)."""
    try:
        change = lifecycle.SettingChange(
            lifetime_days=lifetime_days,
            decay_speed=decay_speed,
            threshold=threshold,
            default_base_score=base_score,
            false_positive_penalty=false_positive_penalty,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"{first['loc'][0]}: {first['msg']}", code=2)
    db = database()
    ctx = admin_ctx(db)
    with domain_errors(), db.writing() as session:
        (out,) = lifecycle.change_settings(session, ctx, {attribute_type: change})
    console.print(_line(out))


@indicators_app.command("reset")
def settings_reset(
    attribute_type: Annotated[str, typer.Argument(help="an attribute type, or 'default'")],
) -> None:
    """Put a type back on its built-in settings."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors(), db.writing() as session:
        lifecycle.change_settings(session, ctx, {attribute_type: None})
        out = lifecycle.get_setting(session, attribute_type)
    console.print(_line(out))


def _line(r: dict[str, object]) -> str:
    return (
        f"{r['attribute_type']}: lifetime {r['lifetime_days']:g} days, "
        f"decay speed {r['decay_speed']:g}, threshold {r['threshold']:g}, "
        f"base score {r['default_base_score']:g}, "
        f"false-positive penalty {r['false_positive_penalty']:g} ({r['source']})"
    )
