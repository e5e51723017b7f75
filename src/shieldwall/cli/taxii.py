"""`shieldwall taxii`: TAXII collections (add, list, rm) and rendering events as STIX."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from shieldwall.cli.common import admin_ctx, console, database, domain_errors
from shieldwall.taxii import collections as tc

taxii_app = typer.Typer(
    help="TAXII 2.1: collections and the stored STIX objects.", no_args_is_help=True
)
collection_app = typer.Typer(
    help="Collections: saved searches with rights per organisation.", no_args_is_help=True
)
taxii_app.add_typer(collection_app, name="collection")


@collection_app.command("add")
def collection_add(
    title: Annotated[str, typer.Argument(help="the collection's title")],
    description: Annotated[str, typer.Option(help="what it holds")] = "",
    alias: Annotated[str | None, typer.Option(help="a short name clients may use")] = None,
    tag: Annotated[
        list[str] | None, typer.Option(help="events with this tag (repeat: any)")
    ] = None,
    org: Annotated[
        list[str] | None, typer.Option(help="events created by this organisation")
    ] = None,
    sharing_group: Annotated[
        list[str] | None, typer.Option(help="events shared with this sharing group")
    ] = None,
    attribute_type: Annotated[
        list[str] | None, typer.Option("--type", help="only attributes of this MISP type")
    ] = None,
    published: Annotated[bool, typer.Option(help="published events only")] = False,
    reader: Annotated[list[str] | None, typer.Option(help="organisation that may read")] = None,
    writer: Annotated[list[str] | None, typer.Option(help="organisation that may write")] = None,
    post_distribution: Annotated[
        int,
        typer.Option(
            min=0, max=4, help="distribution of events made from posted objects (1: community)"
        ),
    ] = 1,
    post_sharing_group: Annotated[
        str | None, typer.Option(help="with --post-distribution 4: the sharing group")
    ] = None,
) -> None:
    """Create a collection (audited)."""
    db = database()
    ctx = admin_ctx(db)
    data = tc.CollectionIn(
        title=title,
        description=description,
        alias=alias,
        tags=tag or [],
        orgs=list(org or []),
        sharing_groups=list(sharing_group or []),
        types=attribute_type or [],
        published_only=published,
        readers=list(reader or []),
        writers=list(writer or []),
        distribution=post_distribution,
        sharing_group=post_sharing_group,
    )
    with domain_errors(), db.writing() as session:
        coll = tc.create_collection(session, ctx, data)
        console.print(f"collection {coll.id} created: {coll.uuid}")


@collection_app.command("list")
def collection_list() -> None:
    """List collections with their search and rights."""
    db = database()
    ctx = admin_ctx(db)
    table = Table("id", "uuid", "title", "search", "readers", "writers", "posts shared")
    with db.reading() as session:
        for access in tc.list_collections(session, ctx):
            out = tc.collection_out(access)
            search = ", ".join(
                f"{name}={out[name]}"
                for name in ("tags", "org_ids", "sharing_group_ids", "types")
                if out[name]
            ) + (" published" if out["published_only"] else "")
            table.add_row(
                str(out["id"]),
                out["uuid"],
                out["title"],
                search or "everything",
                ",".join(map(str, out["readers"])) or "-",
                ",".join(map(str, out["writers"])) or "-",
                f"{out['distribution']}"
                + (f" (group {out['sharing_group_id']})" if out["sharing_group_id"] else ""),
            )
    console.print(table)


@collection_app.command("rm")
def collection_rm(ref: Annotated[str, typer.Argument(help="id, uuid, alias or title")]) -> None:
    """Delete a collection and the objects posted to it (the events they became stay)."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors(), db.writing() as session:
        tc.delete_collection(session, ctx, ref)
        console.print(f"collection {ref} deleted")


@taxii_app.command("render")
def render() -> None:
    """Render every event changed since its STIX objects were stored (for cron)."""
    from shieldwall.jobs.taxii import run_taxii_job

    console.print(f"{run_taxii_job(database())} events rendered")
