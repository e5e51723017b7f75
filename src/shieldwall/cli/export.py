"""`shieldwall export FORMAT`: sensor exports of what a user may see, streamed to a file or
to standard output."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from shieldwall.cli.common import (
    admin_ctx,
    console,
    database,
    domain_errors,
    err,
    export_progress,
    long_stream,
    reader_ctx,
)
from shieldwall.context import Ctx
from shieldwall.detection import exports
from shieldwall.detection.exports.indicators import Selection

export_app = typer.Typer(
    help="Exports of what a user may see: sensor formats (Suricata, Snort 3, Zeek intel, RPZ, "
    "hosts, YARA: published to_ids indicators, without warninglist hits or expired indicators "
    "unless asked for) and STIX 2.1 bundles.",
    no_args_is_help=True,
)

User = Annotated[str, typer.Option("--user", help="export what this user may see (e-mail)")]
Types = Annotated[list[str] | None, typer.Option("--type", help="attribute type (repeatable)")]
Tags = Annotated[
    list[str] | None, typer.Option("--tag", help="tag; a leading ! excludes (repeatable)")
]
Events = Annotated[list[str] | None, typer.Option("--event", help="event id or uuid")]
Orgs = Annotated[list[str] | None, typer.Option("--org", help="creator organisation")]
Since = Annotated[
    str | None, typer.Option("--since", help="attribute timestamp from: ISO, epoch or 7d")
]
Unpublished = Annotated[
    bool, typer.Option("--include-unpublished", help="also indicators of unpublished events")
]
Expired = Annotated[
    bool, typer.Option("--include-expired", help="also indicators the lifecycle expired")
]
Warned = Annotated[
    bool,
    typer.Option("--include-warninglisted", help="also values on an enabled warninglist"),
]


def _selection(
    types: list[str] | None,
    tags: list[str] | None,
    events: list[str] | None,
    orgs: list[str] | None,
    since: str | None,
    include_unpublished: bool,
    include_expired: bool,
    include_warninglisted: bool,
) -> Selection:
    from shieldwall.clock import parse_time
    from shieldwall.intel.search import SearchFilter, TagFilter

    tag_filter = TagFilter.from_names(tags)
    return Selection(
        SearchFilter(
            type=types or [],
            tags=tag_filter,
            event=events or [],
            org=orgs or [],
            timestamp_from=parse_time(since, "since"),
            published=None if include_unpublished else True,
        ),
        include_warninglisted=include_warninglisted,
        include_expired=include_expired,
    )


def _reader(user: str) -> tuple[Any, Ctx]:
    db = database()
    ctx = admin_ctx(db)
    with domain_errors():
        reader = reader_ctx(db, ctx, user, "export")
    return db, reader


def _register(fmt: exports.Format) -> None:
    def command(
        user: User,
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="file to write (default: stdout)")
        ] = None,
        type: Types = None,
        tag: Tags = None,
        event: Events = None,
        org: Orgs = None,
        since: Since = None,
        include_unpublished: Unpublished = False,
        include_expired: Expired = False,
        include_warninglisted: Warned = False,
        origin: Annotated[str, typer.Option(help="rpz: the zone's origin")] = "rpz.shieldwall",
        policy: Annotated[
            str,
            typer.Option(help="rpz: nxdomain, nodata, passthru, drop or walled-garden:HOST"),
        ] = "nxdomain",
    ) -> None:
        db, reader = _reader(user)
        sel = _selection(
            type,
            tag,
            event,
            org,
            since,
            include_unpublished,
            include_expired,
            include_warninglisted,
        )
        with domain_errors(), db.reading() as session, long_stream():
            chunks = exports.export(session, reader, fmt, sel, {"origin": origin, "policy": policy})
            if output is None:
                for chunk in chunks:
                    sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
                return
            partial = output.with_name(output.name + ".partial")
            with partial.open("wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
            partial.replace(output)  # a sensor never loads a half-written file
        err.print(f"wrote {output}")

    command.__doc__ = f"Write {fmt.description}."
    export_app.command(fmt.name)(command)


for _fmt in exports.FORMATS.values():
    _register(_fmt)


@export_app.command("suricata-datasets")
def suricata_datasets(
    directory: Annotated[Path, typer.Argument(help="directory for the dataset files and rules")],
    user: User,
    type: Types = None,
    tag: Tags = None,
    event: Events = None,
    org: Orgs = None,
    since: Since = None,
    include_unpublished: Unpublished = False,
    include_expired: Expired = False,
    include_warninglisted: Warned = False,
) -> None:
    """Write Suricata datasets: one value file per kind (addresses, names, URLs, user
    agents, file hashes) and shieldwall-datasets.rules that loads them, sized for their
    counts. Copy the directory's files into Suricata's rule path."""
    db, reader = _reader(user)
    sel = _selection(
        type, tag, event, org, since, include_unpublished, include_expired, include_warninglisted
    )
    with domain_errors(), db.reading() as session, long_stream():
        counts = exports.write_datasets(session, reader, sel, directory)
    for name, n in sorted(counts.items()):
        err.print(f"{name}: {n:,} values")
    err.print(f"wrote {directory / 'shieldwall-datasets.rules'}")


@export_app.command("stix")
def export_stix(
    output: Annotated[Path, typer.Option("--output", "-o", help="file to write the bundle to")],
    user: Annotated[
        str, typer.Option("--user", "--as", help="export what this user may see (e-mail)")
    ],
    value: Annotated[list[str] | None, typer.Option("--value", help="% is a wildcard")] = None,
    type: Types = None,
    category: Annotated[list[str] | None, typer.Option("--category")] = None,
    tag: Tags = None,
    org: Orgs = None,
    event: Events = None,
    to_ids: Annotated[bool | None, typer.Option("--to-ids/--not-to-ids")] = None,
    published: Annotated[bool | None, typer.Option("--published/--unpublished")] = None,
    since: Since = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Write one STIX 2.1 bundle of the events USER may read that match the filters (every
    readable event without filters), an event at a time. Only what the user may see is
    written; local and non-exportable tags stay out."""
    from shieldwall.clock import parse_time
    from shieldwall.intel.search import SearchFilter, TagFilter
    from shieldwall.misp.stix_export import write_bundle

    db, reader = _reader(user)
    with domain_errors():
        f = SearchFilter(
            value=value or [],
            type=type or [],
            category=category or [],
            tags=TagFilter.from_names(tag),
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
