"""The `shieldwall` command: serve, migrate, and manage organisations, users, keys and intel."""

from __future__ import annotations

import importlib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from typer.core import TyperGroup

from shieldwall import server_settings
from shieldwall.audit.service import verify
from shieldwall.auth import service as auth
from shieldwall.auth.models import Organisation, User
from shieldwall.cli.common import admin_ctx, console, database, domain_errors, err, fail
from shieldwall.config import get_settings
from shieldwall.intel.errors import DomainError

# Command groups and commands loaded when they are called (or listed by --help): a
# command starts without importing every other command's modules (an export or a hunt
# needs neither the feeds nor incident response). name -> (module, attribute).
LAZY: dict[str, tuple[str, str]] = {
    "feed": ("shieldwall.cli.feeds", "feed_app"),
    "correlate": ("shieldwall.cli.correlate", "correlate_app"),
    "indicators": ("shieldwall.cli.indicators", "indicators_app"),
    "export": ("shieldwall.cli.export", "export_app"),
    "taxii": ("shieldwall.cli.taxii", "taxii_app"),
    "sensor": ("shieldwall.cli.hunt", "sensor_app"),
    "response": ("shieldwall.cli.response", "response_app"),
    "alert": ("shieldwall.cli.response", "alert_app"),
    "case": ("shieldwall.cli.response", "case_app"),
    "constituency": ("shieldwall.cli.response", "constituency_app"),
    "sla": ("shieldwall.cli.response", "sla_app"),
    "team": ("shieldwall.cli.response", "team_app"),
    "roster": ("shieldwall.cli.response", "roster_app"),
    "webhook": ("shieldwall.cli.response", "webhook_app"),
    "hunt": ("shieldwall.cli.hunt", "hunt"),
    "oncall": ("shieldwall.cli.response", "oncall"),
}


class _LazyGroup(TyperGroup):
    # The context and command types are the click that Typer carries with it.
    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in LAZY if n not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in LAZY or cmd_name in self.commands:
            return super().get_command(ctx, cmd_name)
        module, attr = LAZY[cmd_name]
        found = getattr(importlib.import_module(module), attr)
        command: Any
        if isinstance(found, typer.Typer):
            command = typer.main.get_group(found)  # a group even with one command
        else:  # a command function: an app of one command is that command
            single = typer.Typer()
            single.command(cmd_name)(found)
            command = typer.main.get_command(single)
        command.name = cmd_name
        self.commands[cmd_name] = command
        return command


app = typer.Typer(
    cls=_LazyGroup,
    help="Shieldwall: collective cyber-defence platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
org_app = typer.Typer(help="Organisations.", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
key_app = typer.Typer(help="API keys.", no_args_is_help=True)
event_app = typer.Typer(help="Events.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration.", no_args_is_help=True)
for sub, name in (
    (db_app, "db"),
    (org_app, "org"),
    (user_app, "user"),
    (key_app, "key"),
    (event_app, "event"),
    (audit_app, "audit"),
    (config_app, "config"),
):
    app.add_typer(sub, name=name)


def _print_first_run(boot: auth.Bootstrap) -> None:
    console.rule("[bold green]Shieldwall first run")
    console.print(f"Host organisation: [bold]{boot.org.name}[/bold]")
    console.print(f"Site admin:        [bold]{boot.user.email}[/bold]")
    console.print(f"Password:          [bold yellow]{boot.password}[/bold yellow]")
    console.print(f"API key:           [bold yellow]{boot.api_key}[/bold yellow]")
    console.print("These are shown once. Store them now; only their hashes are kept.")
    console.rule()


def init_instance(org_name: str | None, email: str | None) -> auth.Bootstrap | None:
    settings = get_settings()
    db = database()
    with db.writing() as session:
        return auth.bootstrap(
            session, org_name=org_name or settings.org_name, email=email or settings.admin_email
        )


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
    org_name: Annotated[
        str | None,
        typer.Option("--org-name", help="host organisation on first run (SHIELDWALL_ORG_NAME)"),
    ] = None,
    admin_email: Annotated[
        str | None, typer.Option(help="site admin e-mail on first run (SHIELDWALL_ADMIN_EMAIL)")
    ] = None,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
) -> None:
    """Create or upgrade the database, set up the first admin on first run, and serve."""
    import uvicorn

    settings = get_settings()
    settings.ensure_secret_key()
    boot = init_instance(org_name, admin_email)
    if boot:
        _print_first_run(boot)
    h, p = host or settings.host, port or settings.port
    console.print(
        f"Serving Shieldwall on [bold]http://{h}:{p}[/bold] (API docs: http://{h}:{p}/api/docs)"
    )
    from shieldwall.logs import configure

    configure(settings.log_json)
    uvicorn.run(
        "shieldwall.app:create_app",
        factory=True,
        host=h,
        port=p,
        workers=workers,
        log_config=None,
        proxy_headers=False,
    )


@app.command()
def init(
    org_name: Annotated[
        str | None, typer.Option("--org-name", help="host organisation (SHIELDWALL_ORG_NAME)")
    ] = None,
    admin_email: Annotated[
        str | None, typer.Option(help="site admin e-mail (SHIELDWALL_ADMIN_EMAIL)")
    ] = None,
) -> None:
    """Create the database and the first admin without serving."""
    boot = init_instance(org_name, admin_email)
    if boot:
        _print_first_run(boot)
    else:
        console.print("Already set up.")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations up to the newest schema."""
    from shieldwall.db.engine import get_database
    from shieldwall.db.migrate import current_revision, upgrade

    db = get_database()
    before = current_revision(db.engine)
    upgrade(db.engine)
    after = current_revision(db.engine)
    console.print(f"database at revision {after} (was {before or 'empty'})")


@config_app.command("show")
def config_show() -> None:
    """Print the settings in force (secrets masked), where each comes from (default,
    environment, database) and whether it changes at runtime."""
    db = database(migrate=False)
    sqlite_file = db.engine.url.database if db.is_sqlite else None
    infos = None
    if not (sqlite_file and not Path(sqlite_file).exists()):  # never create a database here
        try:
            with db.reading() as session:
                infos = server_settings.describe(session)
        except sa.exc.SQLAlchemyError:  # not set up yet: the environment and defaults
            infos = None
    if infos is None:
        infos = server_settings.describe(None)
    table = Table("variable", "value", "source", "changes")
    for i in infos:
        table.add_row(i.env, i.shown, i.source, "at runtime" if i.runtime else "on restart")
    console.print(table)


@config_app.command("set")
def config_set(
    name: Annotated[str, typer.Argument(help="setting name, e.g. correlation_cap")],
    value: Annotated[str, typer.Argument(help="new value")],
) -> None:
    """Change a runtime setting: stored in the database, audited, in force at once (other
    server processes within a few seconds)."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors(), db.writing() as session:
        stored = server_settings.set_value(
            session, ctx, name.lower().removeprefix("shieldwall_"), value
        )
    console.print(f"{name} = {stored} (database)")


@config_app.command("unset")
def config_unset(name: Annotated[str, typer.Argument(help="setting name")]) -> None:
    """Drop a runtime value: the environment's value (or the default) applies again."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors(), db.writing() as session:
        server_settings.reset_value(session, ctx, name.lower().removeprefix("shieldwall_"))
    console.print(f"{name} reset")


# ---------------------------------------------------------------- organisations


@org_app.command("add")
def org_add(
    name: str,
    description: str = "",
    nationality: str = "",
    sector: str = "",
    type: Annotated[str, typer.Option("--type")] = "",
    remote: Annotated[
        bool, typer.Option("--remote", help="an organisation of another instance")
    ] = False,
) -> None:
    """Add an organisation."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors(), db.writing() as session:
        org = auth.create_org(
            session,
            ctx,
            {
                "name": name,
                "description": description,
                "nationality": nationality,
                "sector": sector,
                "type": type,
                "local": not remote,
            },
        )
        console.print(f"organisation {org.id} [bold]{org.name}[/bold] ({org.uuid})")


@org_app.command("list")
def org_list() -> None:
    """List organisations."""
    db = database()
    table = Table("id", "uuid", "name", "nationality", "sector", "local")
    with db.reading() as session:
        for o in session.execute(sa.select(Organisation).order_by(Organisation.id)).scalars():
            table.add_row(
                str(o.id), o.uuid, o.name, o.nationality, o.sector, "yes" if o.local else "no"
            )
    console.print(table)


# ---------------------------------------------------------------- users


@user_app.command("add")
def user_add(
    email: Annotated[str, typer.Option("--email")],
    org: Annotated[str | None, typer.Option("--org", help="organisation id, uuid or name")] = None,
    role: Annotated[
        str, typer.Option("--role", help="admin, org-admin, user, publisher, sync, read-only")
    ] = "user",
    password: Annotated[
        str | None, typer.Option("--password", help="default: generated and printed")
    ] = None,
    print_key: Annotated[
        bool, typer.Option("--print-key", help="create an API key and print it")
    ] = False,
) -> None:
    """Add a user; with --print-key also create and print an API key."""
    db = database()
    ctx = admin_ctx(db)
    generated = password is None
    pw = password or auth.generate_password()
    with domain_errors(), db.writing() as session:
        user = auth.create_user(session, ctx, email=email, org_ref=org, role_ref=role, password=pw)
        raw = (
            auth.create_key(session, ctx, user, comment="created by `user add`")[1]
            if print_key
            else None
        )
        console.print(
            f"user {user.id} [bold]{user.email}[/bold] in {user.org.name} as {user.role.name}"
        )
    if generated:
        console.print(f"password: {pw}")
    if raw:
        console.print(raw)


@user_app.command("list")
def user_list(org: Annotated[str | None, typer.Option("--org")] = None) -> None:
    """List users."""
    db = database()
    table = Table("id", "email", "organisation", "role", "disabled", "last login")
    with db.reading() as session:
        q = sa.select(User).order_by(User.id)
        if org:
            with domain_errors():
                q = q.where(User.org_id == auth.get_org(session, org).id)
        for u in session.execute(q).scalars():
            table.add_row(
                str(u.id),
                u.email,
                u.org.name,
                u.role.name,
                "yes" if u.disabled else "no",
                u.last_login.isoformat() if u.last_login else "-",
            )
    console.print(table)


@user_app.command("disable")
def user_disable(
    user: str, enable: Annotated[bool, typer.Option("--enable", help="re-enable instead")] = False
) -> None:
    """Disable (or re-enable) a user; their keys stop working at once."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors(), db.writing() as session:
        u = auth.update_user(
            session, ctx, auth.get_user(session, ctx, user), {"disabled": not enable}
        )
        console.print(f"user {u.email} {'enabled' if enable else 'disabled'}")


# ---------------------------------------------------------------- keys


@key_app.command("create")
def key_create(
    user: str,
    comment: str = "",
    expires: Annotated[datetime | None, typer.Option(help="expiry (ISO 8601, UTC)")] = None,
    allow: Annotated[
        list[str] | None, typer.Option("--allow", help="allowed network (repeatable)")
    ] = None,
    read_only: bool = False,
) -> None:
    """Create an API key for a user and print it once."""
    from datetime import UTC

    db = database()
    ctx = admin_ctx(db)
    with domain_errors(), db.writing() as session:
        target = auth.get_user(session, ctx, user)
        exp = expires.replace(tzinfo=UTC) if expires and expires.tzinfo is None else expires
        key, raw = auth.create_key(
            session,
            ctx,
            target,
            comment=comment,
            expires_at=exp,
            allowed_networks=allow or [],
            read_only=read_only,
        )
        err.print(f"key {key.id} ({key.uuid}) for {target.email}")
    console.print(raw)


@key_app.command("revoke")
def key_revoke(key: str) -> None:
    """Revoke an API key by id or uuid."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors(), db.writing() as session:
        k = auth.revoke_key(session, ctx, auth.get_key(session, ctx, key))
        console.print(f"key {k.id} revoked")


@key_app.command("list")
def key_list(user: Annotated[str | None, typer.Option("--user")] = None) -> None:
    """List API keys (never the keys themselves)."""
    db = database()
    ctx = admin_ctx(db)
    table = Table("id", "user", "key", "comment", "expires", "revoked")
    with domain_errors(), db.reading() as session:
        target = auth.get_user(session, ctx, user) if user else None
        for k in auth.list_keys(session, ctx, target):
            table.add_row(
                str(k.id),
                k.user.email,
                f"{k.key_start}...{k.key_end}",
                k.comment,
                k.expires_at.isoformat() if k.expires_at else "-",
                k.revoked_at.isoformat() if k.revoked_at else "-",
            )
    console.print(table)


# ---------------------------------------------------------------- events


def _json_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*.json") if f.name != "manifest.json"))
        elif p.exists():
            files.append(p)
        else:
            fail(f"{p}: no such file or directory")
    return files


@event_app.command("import")
def event_import(
    files: Annotated[list[Path], typer.Argument(help="MISP JSON or STIX files or directories")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    source_format: Annotated[
        str, typer.Option("--format", help="misp (MISP JSON) or stix (STIX 2.1 bundles)")
    ] = "misp",
    distribution: Annotated[
        int, typer.Option(help="stix: distribution of the events created (0-3)", min=0, max=3)
    ] = 0,
) -> None:
    """Import MISP JSON events (single events, restSearch answers, lists, feed directories)
    or STIX 2.1 bundles (--format stix).

    MISP JSON: each event is one transaction; events already present (same uuid) are
    skipped. STIX: each bundle is one transaction, all its events or none."""
    from shieldwall.exchange.misp_json import ImportReport, import_file

    if source_format not in ("misp", "stix"):
        fail("--format is misp or stix")
    db = database()
    ctx = admin_ctx(db)
    paths = _json_files(files)
    if source_format == "stix":
        _import_stix(db, ctx, paths, distribution)
        return
    total = sum(p.stat().st_size for p in paths)
    report = ImportReport()
    started = datetime.now()
    with Progress(
        TextColumn("[bold]importing"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=quiet,
    ) as progress:
        task = progress.add_task("import", total=total)
        for path in paths:
            import_file(db, ctx, path, on_read=lambda n: progress.advance(task, n), report=report)
    seconds = (datetime.now() - started).total_seconds()
    for line in report.errors[:50]:
        err.print(f"[red]failed:[/red] {line}")
    if len(report.errors) > 50:
        err.print(f"... and {len(report.errors) - 50} more failures")
    rate = report.attributes / seconds if seconds else 0
    console.print(
        f"{report.created} events created ({report.attributes} attributes, {rate:,.0f}/s), "
        f"{report.skipped} already present, {report.failed} failed"
    )
    if report.failed:
        raise typer.Exit(1)


def _import_stix(db: Any, ctx: Any, paths: list[Path], distribution: int) -> None:
    """Each bundle in its own transaction: all its events land, or none of them."""
    from shieldwall.exchange.stix_import import import_bundle

    failed = 0
    for path in paths:
        try:
            with db.writing() as session:
                events = import_bundle(session, ctx, path.read_bytes(), distribution=distribution)
                created = [e.uuid for e in events]
        except DomainError as exc:
            err.print(f"[red]failed:[/red] {path}: {exc.detail}")
            failed += 1
            continue
        console.print(f"{path}: {len(created)} events created ({', '.join(created)})")
    if failed:
        raise typer.Exit(1)


@app.command()
def search(
    value: Annotated[list[str] | None, typer.Argument(help="values; % is a wildcard")] = None,
    type: Annotated[list[str] | None, typer.Option("--type")] = None,
    category: Annotated[list[str] | None, typer.Option("--category")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="! prefix to exclude")] = None,
    org: Annotated[list[str] | None, typer.Option("--org")] = None,
    event: Annotated[list[str] | None, typer.Option("--event")] = None,
    to_ids: Annotated[bool | None, typer.Option("--to-ids/--not-to-ids")] = None,
    published: Annotated[bool | None, typer.Option("--published/--unpublished")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="attribute timestamp from: ISO, epoch or 7d")
    ] = None,
    as_user: Annotated[
        str | None, typer.Option("--as-user", help="search with this user's access rights")
    ] = None,
    limit: int = 100,
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object a line")] = False,
) -> None:
    """Search attributes across events."""
    from shieldwall.clock import parse_time
    from shieldwall.context import Ctx
    from shieldwall.intel.search import SearchFilter, TagFilter, search_attributes

    db = database()
    ctx = admin_ctx(db)
    tags = TagFilter.from_names(tag)
    with domain_errors(), db.reading() as session:
        if as_user:
            u = auth.get_user(session, ctx, as_user)
            ctx = Ctx(auth.principal_for(u), ctx.actor, ctx.opts)
        f = SearchFilter(
            value=value or [],
            type=type or [],
            category=category or [],
            tags=tags,
            org=org or [],
            event=event or [],
            to_ids=to_ids,
            published=published,
            timestamp_from=parse_time(since, "since"),
            limit=limit,
        )
        rows = search_attributes(session, ctx, f)
        if json_out:
            from shieldwall.intel.serialize import attribute_out

            for a, event_uuid in rows:
                console.out(
                    orjson.dumps(attribute_out(a, event_uuid=event_uuid)).decode(), highlight=False
                )
            return
        table = Table("id", "event", "type", "category", "value", "to_ids")
        for a, event_uuid in rows:
            table.add_row(
                str(a.id), event_uuid, a.type, a.category, a.value[:80], "yes" if a.to_ids else "no"
            )
        console.print(table)
        console.print(f"{len(rows)} attributes")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit chain; report the first entry altered or removed."""
    db = database()
    with db.reading() as session:
        r = verify(session)
    if r.ok:
        console.print(f"[green]audit chain intact[/green]: {r.checked} entries verified")
        return
    err.print(
        f"[red]audit chain broken at entry {r.first_bad_id}[/red]: {r.reason} ({r.checked} entries verified before it)"
    )
    raise typer.Exit(1)


def _register_operations() -> None:
    from shieldwall.cli.ops import backup_command, restore_command

    app.command("backup")(backup_command)
    app.command("restore")(restore_command)


_register_operations()


def main() -> None:
    """Entry point: settings errors are reported as one clear line, not a traceback."""
    from pydantic import ValidationError

    from shieldwall.runtime import tune_gc

    tune_gc()

    try:
        get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "SHIELDWALL_" + str(first["loc"][0]).upper() if first.get("loc") else "settings"
        err.print(f"[red]error:[/red] {name}: {first['msg']} (got {first.get('input')!r})")
        raise SystemExit(2) from None
    app()


if __name__ == "__main__":
    main()
