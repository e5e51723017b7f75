"""`shieldwall correlate`: rebuild the correlation indexes, show figures, manage exclusions."""

from __future__ import annotations

import time
from typing import Annotated

import orjson
import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from shieldwall.cli.common import admin_ctx, console, database, domain_errors
from shieldwall.correlation import index, service

correlate_app = typer.Typer(
    help="Correlation: indexes, figures and exclusions.", no_args_is_help=True
)


@correlate_app.command("rebuild")
def rebuild() -> None:
    """Build the IP-network and ssdeep indexes again from every attribute (one
    transaction). Exact correlations need no index of their own."""
    db = database()
    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]correlation index"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=not console.is_terminal,
    ) as progress:
        task = progress.add_task("rebuild", total=None)

        def on_progress(last: int, top: int) -> None:
            progress.update(task, completed=last, total=max(top, 1))

        with db.writing() as session:
            counts = index.rebuild(session, on_progress)
    took = time.perf_counter() - started
    console.print(
        f"indexed {counts['networks']} IP attributes and {counts['ssdeep_hashes']} ssdeep "
        f"hashes ({counts['ssdeep_chunks']} chunks) in {took:.1f} s"
    )


@correlate_app.command("stats")
def stats(
    top: Annotated[int, typer.Option(help="how many of the most shared values to list")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
) -> None:
    """What correlates: attributes, index rows, exclusions, over-correlating values."""
    db = database()
    with db.reading() as session:
        figures = service.stats(session, top=top)
    if as_json:
        console.print_json(orjson.dumps(figures).decode())
        return
    table = Table(show_header=False)
    for name, value in figures.items():
        if name != "most_shared":
            table.add_row(name.replace("_", " "), str(value))
    console.print(table)
    if figures["most_shared"]:
        shared = Table("value", "attributes", title="most shared values")
        for row in figures["most_shared"]:
            shared.add_row(row["value"], str(row["attributes"]))
        console.print(shared)


@correlate_app.command("exclude")
def exclude(
    value: Annotated[str, typer.Argument(help="a value; % matches any run of characters")],
    comment: Annotated[str, typer.Option(help="why")] = "",
) -> None:
    """Exclude a value from correlation (effective on the next read)."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors(), db.writing() as session:
        row = service.add_exclusion(session, ctx, value, comment)
    console.print(f"exclusion {row['id']}: {row['value']}")


@correlate_app.command("include")
def include(ident: Annotated[int, typer.Argument(help="the exclusion's id")]) -> None:
    """Remove an exclusion."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors(), db.writing() as session:
        service.delete_exclusion(session, ctx, ident)
    console.print(f"exclusion {ident} removed")


@correlate_app.command("exclusions")
def exclusions() -> None:
    """List the exclusions."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors(), db.reading() as session:
        rows = service.list_exclusions(session, ctx)
    table = Table("id", "value", "comment")
    for r in rows:
        table.add_row(str(r["id"]), r["value"], r["comment"])
    console.print(table)
