"""`shieldwall export stix`: STIX 2.1 bundles of what a user may see, written to a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shieldwall.cli.common import (
    admin_ctx,
    console,
    database,
    domain_errors,
    export_progress,
    reader_ctx,
)

export_app = typer.Typer(help="Exports: STIX 2.1 bundles.", no_args_is_help=True)


@export_app.command("stix")
def export_stix(
    output: Annotated[Path, typer.Option("--output", "-o", help="file to write the bundle to")],
    as_user: Annotated[
        str, typer.Option("--as", "--as-user", help="export what this user may see (e-mail)")
    ],
    value: Annotated[list[str] | None, typer.Option("--value", help="% is a wildcard")] = None,
    type: Annotated[list[str] | None, typer.Option("--type")] = None,
    category: Annotated[list[str] | None, typer.Option("--category")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="! prefix to exclude")] = None,
    org: Annotated[list[str] | None, typer.Option("--org")] = None,
    event: Annotated[list[str] | None, typer.Option("--event", help="event id or uuid")] = None,
    to_ids: Annotated[bool | None, typer.Option("--to-ids/--not-to-ids")] = None,
    published: Annotated[bool | None, typer.Option("--published/--unpublished")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="attribute timestamp from: ISO, epoch or 7d")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Write one STIX 2.1 bundle of the events USER may read that match the filters
    (every readable event without filters). Only what the user may see is written: local
    and non-exportable tags stay out."""
    from shieldwall.api.search import parse_time
    from shieldwall.intel.search import SearchFilter, TagFilter
    from shieldwall.misp.stix_export import write_bundle

    db = database()
    ctx = admin_ctx(db)
    with domain_errors():
        reader = reader_ctx(db, ctx, as_user, "stix export")
        f = SearchFilter(
            value=value or [],
            type=type or [],
            category=category or [],
            tags=TagFilter(
                any_of=[t for t in tag or [] if not t.startswith("!")],
                none_of=[t[1:] for t in tag or [] if t.startswith("!")],
            ),
            org=org or [],
            event=event or [],
            to_ids=to_ids,
            published=published,
            timestamp_from=parse_time(since, "since"),
            limit=10**12,
        )
        with export_progress(quiet) as progress:
            task = progress.add_task("export", total=None)
            count = write_bundle(db, reader, f, output, on_event=lambda _: progress.advance(task))
    console.print(f"{count} events written to {output} as a STIX 2.1 bundle")
