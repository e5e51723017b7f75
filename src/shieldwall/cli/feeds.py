"""`shieldwall feed`: feeds in (add, list, enable, disable, delete, fetch) and out (export)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from shieldwall.cli.common import (
    admin_ctx,
    console,
    database,
    domain_errors,
    err,
    export_progress,
    fail,
    reader_ctx,
)
from shieldwall.exchange import feeds as fs

feed_app = typer.Typer(
    help="Feeds: MISP, CSV, freetext and TAXII feeds in; MISP feeds out.", no_args_is_help=True
)

FORMATS = ("misp", "csv", "freetext", "taxii")


@feed_app.command("add")
def feed_add(
    name: Annotated[str, typer.Argument(help="a name for the feed")],
    url: Annotated[str, typer.Argument(help="http(s) URL, or an absolute path on this machine")],
    source_format: Annotated[
        str, typer.Option("--format", help="misp (manifest.json + events), csv or freetext")
    ] = "misp",
    provider: Annotated[str, typer.Option(help="who publishes the feed")] = "",
    enabled: Annotated[bool, typer.Option("--enabled/--disabled", help="fetch it")] = True,
    distribution: Annotated[
        int,
        typer.Option(
            help="of the events created: 0 org, 1 community, 2, 3, 4 sharing group, "
            "5 as the MISP feed says"
        ),
    ] = 0,
    sharing_group: Annotated[
        str | None, typer.Option(help="sharing group (id or uuid) for distribution 4")
    ] = None,
    org: Annotated[
        str | None, typer.Option(help="organisation owning the events (default: host)")
    ] = None,
    tag: Annotated[str | None, typer.Option(help="tag put on the feed's events")] = None,
    publish: Annotated[bool, typer.Option(help="publish events after each fetch")] = False,
    override_ids: Annotated[
        bool, typer.Option("--override-ids", help="CSV/freetext: no attribute is for IDS")
    ] = False,
    new_event_each_fetch: Annotated[
        bool,
        typer.Option(help="CSV/freetext: a new event per fetch instead of one kept up to date"),
    ] = False,
    delta_merge: Annotated[
        bool, typer.Option(help="CSV/freetext: remove values the feed no longer lists")
    ] = False,
    value_column: Annotated[int, typer.Option(help="CSV: value column (1 = first)")] = 1,
    type_column: Annotated[
        int | None, typer.Option(help="CSV: column holding the MISP type (1 = first)")
    ] = None,
    default_type: Annotated[
        str | None,
        typer.Option(help="CSV: MISP type of every value (default: detected per value)"),
    ] = None,
    delimiter: Annotated[str, typer.Option(help="CSV: delimiter")] = ",",
    skip_lines: Annotated[int, typer.Option(help="CSV: header lines to skip")] = 0,
    schedule: Annotated[
        int, typer.Option(help="minutes between fetches by `shieldwall up`; 0 = by hand only")
    ] = 0,
    taxii_collection: Annotated[
        str | None, typer.Option(help="TAXII: collection id or alias under the API root URL")
    ] = None,
    taxii_user: Annotated[str | None, typer.Option(help="TAXII: HTTP Basic user")] = None,
    taxii_password: Annotated[
        str | None,
        typer.Option(help="TAXII: HTTP Basic password (or SHIELDWALL_TAXII_FEED_PASSWORD)"),
    ] = None,
    taxii_type: Annotated[
        list[str] | None, typer.Option(help="TAXII: STIX type to ask for (repeat; default all)")
    ] = None,
) -> None:
    """Add a feed to fetch (for TAXII, the URL is the API root's)."""
    if source_format not in FORMATS:
        fail(f"--format is one of {', '.join(FORMATS)}")
    db = database()
    ctx = admin_ctx(db)
    with domain_errors(), db.writing() as session:
        data = fs.FeedIn(
            name=name,
            url=url,
            source_format=source_format,  # type: ignore[arg-type]
            provider=provider,
            enabled=enabled,
            distribution=distribution,
            sharing_group=sharing_group,
            org=org,
            tag=tag,
            publish=publish,
            override_ids=override_ids,
            fixed_event=not new_event_each_fetch,
            delta_merge=delta_merge,
            csv_value_column=value_column,
            csv_type_column=type_column,
            default_type=default_type,
            csv_delimiter=delimiter,
            csv_skip_lines=skip_lines,
            schedule_minutes=schedule,
            taxii_collection=taxii_collection,
            taxii_username=taxii_user,
            taxii_password=taxii_password or os.environ.get("SHIELDWALL_TAXII_FEED_PASSWORD"),
            taxii_types=taxii_type,
        )
        feed = fs.create_feed(session, ctx, data)
        console.print(f"feed {feed.id} [bold]{feed.name}[/bold] ({feed.source_format}) added")


@feed_app.command("list")
def feed_list() -> None:
    """List feeds and how their last fetch went."""
    db = database()
    ctx = admin_ctx(db)
    table = Table("id", "name", "format", "url", "enabled", "every", "last fetch", "status")
    with db.reading() as session:
        for f in fs.list_feeds(session, ctx):
            table.add_row(
                str(f.id),
                f.name,
                f.source_format,
                f.url,
                "yes" if f.enabled else "no",
                f"{f.schedule_minutes} min" if f.schedule_minutes else "by hand",
                f.last_fetched_at.isoformat(timespec="seconds") if f.last_fetched_at else "-",
                f.status + (f": {f.last_error.splitlines()[0][:60]}" if f.last_error else ""),
            )
    console.print(table)


def _set_enabled(ref: str, enabled: bool) -> None:
    db = database()
    ctx = admin_ctx(db)
    with domain_errors(), db.writing() as session:
        feed = fs.set_enabled(session, ctx, ref, enabled)
        console.print(f"feed {feed.id} {'enabled' if enabled else 'disabled'}")


@feed_app.command("enable")
def feed_enable(feed: Annotated[str, typer.Argument(help="feed id or name")]) -> None:
    """Enable a feed."""
    _set_enabled(feed, True)


@feed_app.command("disable")
def feed_disable(feed: Annotated[str, typer.Argument(help="feed id or name")]) -> None:
    """Disable a feed (its events stay)."""
    _set_enabled(feed, False)


@feed_app.command("delete")
def feed_delete(feed: Annotated[str, typer.Argument(help="feed id or name")]) -> None:
    """Delete a feed (its events stay)."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors(), db.writing() as session:
        feed_id = fs.delete_feed(session, ctx, feed)
        console.print(f"feed {feed_id} deleted")


@feed_app.command("fetch")
def feed_fetch(
    feed: Annotated[str | None, typer.Argument(help="feed id or name")] = None,
    due: Annotated[
        bool, typer.Option("--due", help="every enabled feed whose time has come")
    ] = False,
    every: Annotated[bool, typer.Option("--all", help="every enabled feed")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Fetch a feed now, or the due ones (for cron), or all enabled ones."""
    if sum((feed is not None, due, every)) != 1:
        fail("name one feed, or give --due or --all")
    db = database()
    ctx = admin_ctx(db)
    reports: list[fs.FetchReport] = []
    with (
        Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=err,
            disable=quiet,
        ) as progress,
        domain_errors(),
    ):
        if feed is not None:
            task = progress.add_task(f"fetching {feed}", total=None)

            def advance(done: int, total: int | None) -> None:
                progress.update(task, completed=done, total=total)

            reports.append(fs.fetch_feed(db, ctx, feed, on_progress=advance))
        else:
            task = progress.add_task("fetching feeds", total=None)
            reports = fs.fetch_all(
                db,
                ctx,
                due_only=due,
                on_feed=lambda f: progress.update(task, description=f"fetching {f.name}"),
            )
    if not reports:
        console.print("no feed fetched" + (" (none is due)" if due else " (none is enabled)"))
    failed = False
    for r in reports:
        console.print(f"feed {r.feed_id} [bold]{r.name}[/bold]: {r.summary()}")
        for line in r.errors:
            err.print(f"[red]error:[/red] {line}")
        failed = failed or bool(r.errors)
    if failed:
        raise typer.Exit(1)


@feed_app.command("export")
def feed_export(
    directory: Annotated[Path, typer.Argument(help="directory to write the feed into")],
    user: Annotated[str, typer.Option("--user", help="export what this user may see (e-mail)")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    include_expired: Annotated[
        bool,
        typer.Option(
            "--include-expired", help="keep to_ids on expired indicators (the lifecycle's mark)"
        ),
    ] = False,
    enforce_warninglist: Annotated[
        bool,
        typer.Option(
            "--enforce-warninglist",
            help="leave out attributes on an enabled warninglist that applies to their type",
        ),
    ] = False,
) -> None:
    """Write a MISP feed (manifest.json, hashes.csv, <uuid>.json) of the events USER may see.

    Only published events are exported, as MISP's feed generator does. Events marked
    tlp:red or tlp:amber+strict are withheld, and so are attributes so marked; local and
    non-exportable tags are left out. Expired indicators are written with to_ids false
    unless --include-expired. Event files of an earlier export into DIRECTORY that are no
    longer in the feed are removed."""
    from shieldwall.misp.feed_export import export_feed

    db = database()
    ctx = admin_ctx(db)
    with domain_errors():
        reader = reader_ctx(db, ctx, user, "feed export")
    with export_progress(quiet) as progress:
        task = progress.add_task("export", total=None)
        report = export_feed(
            db,
            reader,
            directory,
            on_event=lambda _: progress.advance(task),
            include_expired=include_expired,
            enforce_warninglist=enforce_warninglist,
        )
    console.print(
        f"{report.events} events ({report.attributes} attributes) written to {directory}"
        + (f", {report.withheld} withheld by the TLP guard" if report.withheld else "")
        + (f", {report.removed} stale event files removed" if report.removed else "")
    )
