"""`shieldwall response|alert|case|constituency|sla|team|roster|webhook|oncall`: incident
response for operators, over the services of shieldwall.response."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

import orjson
import typer
from pydantic import BaseModel, ValidationError
from rich.table import Table
from rich.text import Text

from shieldwall.auth import service as auth
from shieldwall.cli.common import admin_ctx, console, database, domain_errors, err, reader_ctx
from shieldwall.clock import now
from shieldwall.context import Ctx, system_ctx
from shieldwall.db.engine import Database
from shieldwall.intel.errors import InvalidInput
from shieldwall.response import alerts, cases, constituency, notify, rosters, sla, teams
from shieldwall.response.common import org_names, user_emails
from shieldwall.response.schemas import (
    AlertIn,
    ConstituencyIn,
    RosterIn,
    ShiftIn,
    SlaPolicyIn,
    TeamIn,
    TeamMemberIn,
    WebhookIn,
)

response_app = typer.Typer(help="Incident response: the background pass.", no_args_is_help=True)
alert_app = typer.Typer(help="Alerts: the queue, and sending one.", no_args_is_help=True)
case_app = typer.Typer(help="Cases: the board and one case.", no_args_is_help=True)
constituency_app = typer.Typer(
    help="Constituency: the networks each organisation answers for.", no_args_is_help=True
)
sla_app = typer.Typer(help="SLA policies: time to acknowledge and resolve.", no_args_is_help=True)
team_app = typer.Typer(help="Rapid-reaction teams and their members.", no_args_is_help=True)
roster_app = typer.Typer(help="On-call rosters and their shifts.", no_args_is_help=True)
webhook_app = typer.Typer(help="An organisation's webhooks.", no_args_is_help=True)

GROUPS = (
    (response_app, "response"),
    (alert_app, "alert"),
    (case_app, "case"),
    (constituency_app, "constituency"),
    (sla_app, "sla"),
    (team_app, "team"),
    (roster_app, "roster"),
    (webhook_app, "webhook"),
)

M = TypeVar("M", bound=BaseModel)

JsonOpt = Annotated[bool, typer.Option("--json", help="JSON instead of a table")]
OrgOpt = Annotated[str | None, typer.Option("--org", help="organisation id, uuid or name")]


# ---------------------------------------------------------------- plumbing


def _json(value: Any) -> None:
    typer.echo(orjson.dumps(value).decode())


def _say(text: str) -> None:
    """A line carrying names and titles as given: never read as Rich markup (a title with
    "[/x]" in it would otherwise raise)."""
    console.print(text, markup=False, highlight=False)


def _row(table: Table, *cells: str) -> None:
    table.add_row(*(Text(c) for c in cells))


def _parse(model: type[M], **fields: Any) -> M:
    """The input shape the API takes; a refusal becomes InvalidInput naming the field, so
    domain_errors() reports it as the API would."""
    try:
        return model(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ""
        for part in first.get("loc", ()):
            if isinstance(part, int):
                where += f"[{part}]"
            elif "[" not in str(part):  # pydantic's union and validator tags
                where += f".{part}" if where else str(part)
        raise InvalidInput(f"{where}: {first['msg']}", field=where or None) from None


def _org_ctx(db: Database, org: str | None) -> Ctx:
    """The host organisation's context, or a site-admin context acting for `org`: services
    that act on "the caller's organisation" then act on that one."""
    ctx = admin_ctx(db)
    if org is None:
        return ctx
    with domain_errors(), db.reading() as session:
        org_id = auth.get_org(session, org).id
    return system_ctx(org_id, ctx.opts)


def _org_id(db: Database, org: str | None) -> int | None:
    if org is None:
        return None
    with domain_errors(), db.reading() as session:
        return auth.get_org(session, org).id


def _when(text: str | None, field: str) -> datetime | None:
    """An ISO 8601 time with its zone (as the API takes it); InvalidInput naming `field`."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{text!r} is no ISO 8601 time", field=field) from None
    if value.tzinfo is None:
        raise InvalidInput("a time needs its zone (e.g. 2026-12-01T08:00:00Z)", field=field)
    return value


def _observables(specs: list[str] | None) -> list[dict[str, str]]:
    """TYPE=VALUE options as the observables of an AlertIn (which checks them)."""
    out = []
    for i, spec in enumerate(specs or []):
        kind, sep, value = spec.partition("=")
        if not sep or not kind.strip() or not value.strip():
            raise InvalidInput(
                f"an observable is TYPE=VALUE (ip-dst=192.0.2.1), not {spec!r}",
                field=f"observables[{i}]",
            )
        out.append({"type": kind.strip(), "value": value})
    return out


def _minutes(value: int | None) -> str:
    return "-" if value is None else f"{value} min"


def _sla_text(state: dict[str, Any]) -> str:
    parts = []
    for kind in ("acknowledge", "resolve"):
        by = state.get(f"{kind}_by")
        if state.get(f"{kind}_breached"):
            parts.append(f"{kind} BREACHED")
        elif by:
            parts.append(f"{kind} by {by}")
    return ", ".join(parts) or "-"


# ---------------------------------------------------------------- response run


@response_app.command("run")
def response_run(json_out: JsonOpt = False) -> None:
    """One pass of the response job: flag SLA breaches, end expired deployments, route
    published intel to constituencies, deliver webhooks, send mail. For cron when
    SHIELDWALL_RESPONSE_JOB=false."""
    from shieldwall.jobs.response import run_response_pass

    report = run_response_pass(database())
    if report is None:  # database() migrated it, so only a concurrent downgrade lands here
        err.print("[red]error:[/red] the database schema is not current")
        raise typer.Exit(1)
    if json_out:
        _json(report.as_dict())
        return
    b, m = report.breaches, report.mail
    _say(
        f"SLA breaches: {b.get('alerts', 0)} alerts not acknowledged, "
        f"{b.get('cases_acknowledge', 0)} cases not acknowledged, "
        f"{b.get('cases_resolve', 0)} cases not resolved"
    )
    _say(f"deployments ended: {report.deployments_ended}")
    _say(
        f"constituency: {report.events_routed} published events looked at, "
        f"{report.alerts_routed} alerts routed"
    )
    _say(f"webhooks: {report.webhooks_delivered} delivered, {report.webhooks_failed} failed")
    _say(
        f"mail: {m.get('sent', 0)} sent, {m.get('digests', 0)} digests, {m.get('failed', 0)} failed"
    )


# ---------------------------------------------------------------- alerts


@alert_app.command("list")
def alert_list(
    status: Annotated[str | None, typer.Option(help="new, acknowledged, ignored, merged")] = None,
    severity: Annotated[str | None, typer.Option(help="low, medium, high, critical")] = None,
    q: Annotated[str | None, typer.Option("--q", help="text in the title")] = None,
    breached: Annotated[bool, typer.Option("--breached", help="only those past their SLA")] = False,
    org: OrgOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object a line")] = False,
) -> None:
    """The alert queue, newest first (every organisation's, or --org's)."""
    db = database()
    ctx = admin_ctx(db)
    org_id = _org_id(db, org)
    f = alerts.AlertFilter(
        status=status,
        severity=severity,
        q=q,
        breached=True if breached else None,
        org_id=org_id,
        limit=limit,
        newest_first=True,
    )
    with domain_errors(), db.reading() as session:
        rows = alerts.list_alerts(session, ctx, f)
        if json_out:
            for a in rows:
                _json(alerts.alert_out(a))
            return
        names = org_names(session, {a.org_id for a in rows})
        table = Table("id", "organisation", "severity", "status", "source", "title", "count", "sla")
        for a in rows:
            _row(
                table,
                str(a.id),
                names.get(a.org_id, ""),
                a.severity,
                a.status,
                a.source,
                a.title[:80],
                str(a.count),
                _sla_text(sla.alert_sla(a)),
            )
    console.print(table)
    _say(f"{len(rows)} alerts")


@alert_app.command("send")
def alert_send(
    source: Annotated[str, typer.Option(help="who raised it: a SIEM, a sensor, a script")],
    source_ref: Annotated[
        str, typer.Option("--ref", help="its id at the source; the same again is a repeat")
    ],
    title: Annotated[str, typer.Option()],
    severity: Annotated[str, typer.Option(help="low, medium, high, critical")] = "medium",
    description: str = "",
    tlp: Annotated[str, typer.Option(help="clear, green, amber, amber+strict, red")] = "amber",
    tag: Annotated[list[str] | None, typer.Option(help="a tag (repeatable)")] = None,
    observable: Annotated[
        list[str] | None, typer.Option(help="TYPE=VALUE, a MISP type (repeatable)")
    ] = None,
    as_user: Annotated[
        str | None, typer.Option("--as", help="send as this user (their organisation's alert)")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Send an alert to the host organisation (or, with --as, to that user's), as the API's
    POST /alerts would: the same --source and --ref again counts a repeat."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors():
        if as_user:
            ctx = reader_ctx(db, ctx, as_user, "alert send")
        data = _parse(
            AlertIn,
            source=source,
            source_ref=source_ref,
            title=title,
            severity=severity,
            description=description,
            tlp=tlp,
            tags=tag or [],
            observables=_observables(observable),
        )
        with db.writing() as session:
            alert, created = alerts.create_alert(session, ctx, data)
            out = alerts.alert_out(alert, alerts.observables_of(session, [alert.id]).get(alert.id))
    if json_out:
        _json(out)
    elif created:
        _say(f"alert {out['id']} created ({out['uuid']}): {out['title']}")
    else:
        _say(f"alert {out['id']} seen again: count {out['count']}")


# ---------------------------------------------------------------- cases


@case_app.command("list")
def case_list(
    status: Annotated[
        list[str] | None, typer.Option(help="new, in_progress, resolved, closed (repeatable)")
    ] = None,
    severity: Annotated[
        list[str] | None, typer.Option(help="low, medium, high, critical (repeatable)")
    ] = None,
    assignee: Annotated[str | None, typer.Option(help="an e-mail, or none")] = None,
    tag: Annotated[str | None, typer.Option()] = None,
    q: Annotated[str | None, typer.Option("--q", help="text in the title")] = None,
    breached: Annotated[bool, typer.Option("--breached", help="only those past their SLA")] = False,
    org: OrgOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object a line")] = False,
) -> None:
    """The case board, newest first (every organisation's, or --org's)."""
    db = database()
    ctx = admin_ctx(db)
    org_id = _org_id(db, org)
    f = cases.CaseFilter(
        status=status,
        severity=severity,
        assignee=assignee,
        tag=tag,
        q=q,
        breached=True if breached else None,
        org_id=org_id,
        limit=limit,
    )
    with domain_errors(), db.reading() as session:
        briefs = cases.case_briefs(session, ctx, cases.list_cases(session, ctx, f))
    if json_out:
        for b in briefs:
            _json(b)
        return
    table = Table("id", "case", "severity", "status", "title", "assignee", "sla")
    for b in briefs:
        _row(
            table,
            str(b["id"]),
            f"#{b['number']} {b['org']}",
            b["severity"],
            b["status"] + (f" ({b['resolution']})" if b["resolution"] else ""),
            b["title"][:80],
            b["assignee"] or "-",
            _sla_text(b["sla"]),
        )
    console.print(table)
    _say(f"{len(briefs)} cases")


_TIMELINE_PAGE = 500


def _whole_timeline(session: Any, ctx: Ctx, ref: str) -> list[dict[str, Any]]:
    """Every line of the case's timeline, page by page (the service caps a page)."""
    items: list[dict[str, Any]] = []
    while True:
        after = items[-1]["id"] if items else 0
        page = cases.case_timeline(session, ctx, ref, after=after, limit=_TIMELINE_PAGE)
        items += page
        if len(page) < _TIMELINE_PAGE:
            return items


@case_app.command("show")
def case_show(
    ref: Annotated[str, typer.Argument(help="case id or uuid")], json_out: JsonOpt = False
) -> None:
    """A case with its tasks and timeline."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors(), db.reading() as session:
        out = cases.case_out(session, ctx, cases.get_case(session, ctx, ref))
        out["timeline"] = _whole_timeline(session, ctx, ref)
        assignees = user_emails(session, {t["assignee_id"] for t in out["tasks"]})
    if json_out:
        _json(out)
        return
    _say(f"case {out['id']} (#{out['number']} of {out['org']}): {out['title']}")
    status = out["status"] + (f" ({out['resolution']})" if out["resolution"] else "")
    for label, value in (
        ("uuid", out["uuid"]),
        ("status", status),
        ("severity", out["severity"]),
        ("tlp / pap", f"{out['tlp']} / {out['pap']}"),
        ("assignee", out["assignee"] or "-"),
        ("created by", out["created_by"] or "-"),
        ("created", out["created_at"]),
        ("tags", ", ".join(out["tags"]) or "-"),
        ("techniques", ", ".join(t.get("id", "") for t in out["techniques"]) or "-"),
        ("alerts merged", str(out["alerts"])),
        ("sla", _sla_text(out["sla"])),
    ):
        _say(f"{label:>14}: {value}")
    if out["description"]:
        _say(out["description"])
    tasks = Table("id", "group", "title", "status", "assignee", "due", title="tasks")
    for t in out["tasks"]:
        _row(
            tasks,
            str(t["id"]),
            t["group"],
            t["title"][:80],
            t["status"],
            assignees.get(t["assignee_id"] or 0, "-"),
            t["due_at"] or "-",
        )
    console.print(tasks)
    timeline = Table("at", "kind", "by", "summary", title="timeline")
    for line in out["timeline"]:
        _row(
            timeline, line["at"], line["kind"], line["user"] or line["org"] or "-", line["summary"]
        )
    console.print(timeline)


# ---------------------------------------------------------------- constituency


@constituency_app.command("add")
def constituency_add(
    kind: Annotated[str, typer.Argument(help="cidr, asn or domain")],
    value: Annotated[str, typer.Argument(help="10.0.0.0/8, AS64500, example.org")],
    org: Annotated[str, typer.Option("--org", help="organisation id, uuid or name")],
    comment: str = "",
) -> None:
    """Register a network an organisation answers for: intel and hunts that touch it raise
    alerts for that organisation."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors():
        data = _parse(ConstituencyIn, kind=kind, value=value, comment=comment, org=org)
        with db.writing() as session:
            entry = constituency.add_entry(session, ctx, data)
            name = org_names(session, {entry.org_id}).get(entry.org_id, "")
            _say(f"constituency entry {entry.id}: {entry.kind} {entry.value} of {name}")


@constituency_app.command("list")
def constituency_list(org: OrgOpt = None, json_out: JsonOpt = False) -> None:
    """Every organisation's registered networks (or --org's)."""
    db = database()
    ctx = admin_ctx(db)
    org_id = _org_id(db, org)
    with db.reading() as session:
        entries = constituency.list_entries(session, ctx, org_id)
        names = constituency.org_names(session, {e.org_id for e in entries})
    if json_out:
        _json([constituency.entry_out(e) for e in entries])
        return
    table = Table("id", "organisation", "kind", "value", "comment")
    for e in entries:
        _row(table, str(e.id), names.get(e.org_id, ""), e.kind, e.value, e.comment)
    console.print(table)


@constituency_app.command("rm")
def constituency_rm(entry_id: Annotated[int, typer.Argument(help="the entry's id")]) -> None:
    """Remove a constituency entry."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors(), db.writing() as session:
        constituency.remove_entry(session, ctx, entry_id)
    _say(f"constituency entry {entry_id} removed")


# ---------------------------------------------------------------- SLA policies


@sla_app.command("set")
def sla_set(
    target: Annotated[str, typer.Argument(help="alert or case")],
    severity: Annotated[str, typer.Argument(help="low, medium, high, critical")],
    acknowledge: Annotated[int | None, typer.Option(help="minutes to acknowledge")] = None,
    resolve: Annotated[int | None, typer.Option(help="minutes to resolve (cases)")] = None,
    org: OrgOpt = None,
    instance: Annotated[
        bool, typer.Option("--instance", help="the instance's default, for every organisation")
    ] = False,
) -> None:
    """Set the host organisation's (or --org's, or with --instance the instance's default)
    SLA policy for a target and severity; the same again replaces it."""
    db = database()
    with domain_errors():
        if org is not None and instance:
            raise InvalidInput("--org and --instance exclude each other", field="instance")
        ctx = _org_ctx(db, org)
        data = _parse(
            SlaPolicyIn,
            target=target,
            severity=severity,
            acknowledge_minutes=acknowledge,
            resolve_minutes=resolve,
            instance=instance,
        )
        with db.writing() as session:
            p = sla.set_policy(session, ctx, data)
            scope = (
                "the instance"
                if p.org_id is None
                else org_names(session, {p.org_id}).get(p.org_id, "")
            )
            _say(
                f"SLA policy {p.id} for {scope}: {p.target} {p.severity}, acknowledge "
                f"{_minutes(p.acknowledge_minutes)}, resolve {_minutes(p.resolve_minutes)}"
            )


@sla_app.command("list")
def sla_list(json_out: JsonOpt = False) -> None:
    """Every SLA policy: the instance's defaults and each organisation's own."""
    db = database()
    ctx = admin_ctx(db)
    with db.reading() as session:
        policies = sla.list_policies(session, ctx)
        names = org_names(session, {p.org_id for p in policies if p.org_id})
    if json_out:
        _json([sla.policy_out(p) for p in policies])
        return
    table = Table("id", "scope", "target", "severity", "acknowledge", "resolve")
    for p in policies:
        _row(
            table,
            str(p.id),
            "instance" if p.org_id is None else names.get(p.org_id, str(p.org_id)),
            p.target,
            p.severity,
            _minutes(p.acknowledge_minutes),
            _minutes(p.resolve_minutes),
        )
    console.print(table)


# ---------------------------------------------------------------- teams


@team_app.command("add")
def team_add(
    name: str,
    description: str = "",
    unavailable: Annotated[bool, typer.Option("--unavailable", help="not deployable yet")] = False,
) -> None:
    """Create a rapid-reaction team."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors():
        data = _parse(TeamIn, name=name, description=description, available=not unavailable)
        with db.writing() as session:
            team = teams.create_team(session, ctx, data)
            _say(f"team {team.id} {team.name} ({team.uuid})")


@team_app.command("member")
def team_member(
    team: Annotated[str, typer.Argument(help="team id, uuid or name")],
    user: Annotated[str, typer.Argument(help="user id or e-mail, of any organisation")],
    skill: Annotated[list[str] | None, typer.Option(help="a skill (repeatable)")] = None,
    lead: Annotated[bool, typer.Option("--lead", help="the team's lead")] = False,
    unavailable: Annotated[bool, typer.Option("--unavailable", help="not deployable now")] = False,
) -> None:
    """Add a member to a team, or set an existing member's skills, lead and availability
    (each run replaces them)."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors():
        data = _parse(
            TeamMemberIn, user=user, skills=skill or [], lead=lead, available=not unavailable
        )
        with db.writing() as session:
            t = teams.get_team(session, ctx, team)
            m = teams.set_member(session, ctx, team, data)
            email = user_emails(session, {m.user_id}).get(m.user_id, user)
            _say(
                f"{email} in team {t.name}: skills {', '.join(m.skills) or '-'}"
                + ("; lead" if m.lead else "")
                + ("" if m.available else "; unavailable")
            )


@team_app.command("list")
def team_list(json_out: JsonOpt = False) -> None:
    """Every team with its members, skills and who is deployed."""
    db = database()
    ctx = admin_ctx(db)
    with db.reading() as session:
        busy = teams.busy_users(session)
        out = [teams.team_out(session, t, busy) for t in teams.list_teams(session, ctx)]
    if json_out:
        _json(out)
        return
    table = Table("id", "name", "available", "members")
    for t in out:
        members = [
            f"{m['email']} ({m['org']})"
            + (" lead" if m["lead"] else "")
            + (f" [{', '.join(m['skills'])}]" if m["skills"] else "")
            + (" deployed" if m["deployed"] else "" if m["available"] else " unavailable")
            for m in t["members"]
        ]
        _row(
            table,
            str(t["id"]),
            t["name"],
            "yes" if t["available"] else "no",
            "\n".join(members) or "-",
        )
    console.print(table)


# ---------------------------------------------------------------- rosters and on call


@roster_app.command("add")
def roster_add(
    name: str,
    org: Annotated[str, typer.Option("--org", help="organisation id, uuid or name")],
    description: str = "",
) -> None:
    """Create an organisation's on-call roster."""
    db = database()
    ctx = _org_ctx(db, org)
    with domain_errors():
        data = _parse(RosterIn, name=name, description=description)
        with db.writing() as session:
            r = rosters.create_roster(session, ctx, data)
            owner = org_names(session, {r.org_id}).get(r.org_id, "")
            _say(f"roster {r.id} {r.name} of {owner} ({r.uuid})")


@roster_app.command("shift")
def roster_shift(
    roster: Annotated[str, typer.Argument(help="roster id or uuid")],
    user: Annotated[str, typer.Argument(help="user id or e-mail, of the roster's organisation")],
    starts: Annotated[str, typer.Option("--from", help="start, ISO 8601 with its zone")],
    ends: Annotated[str, typer.Option("--to", help="end, ISO 8601 with its zone")],
    position: Annotated[str, typer.Option(help="primary, secondary or backup")] = "primary",
) -> None:
    """Put a user on call for a shift."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors():
        data = _parse(
            ShiftIn,
            user=user,
            starts_at=_when(starts, "starts_at"),
            ends_at=_when(ends, "ends_at"),
            position=position,
        )
        with db.writing() as session:
            s = rosters.add_shift(session, ctx, roster, data)
            out = rosters.shift_out(session, s)
            _say(
                f"shift {s.id}: {out['user']} on call from {out['starts_at']} to "
                f"{out['ends_at']} ({s.position})"
            )


@roster_app.command("list")
def roster_list(json_out: JsonOpt = False) -> None:
    """Every roster with its shifts from now on."""
    db = database()
    ctx = admin_ctx(db)
    with db.reading() as session:
        found = rosters.list_rosters(session, ctx)
        names = org_names(session, {r.org_id for r in found})
        out = [rosters.roster_out(session, r, with_shifts=True) for r in found]
    if json_out:
        _json(out)
        return
    table = Table("id", "organisation", "name", "shifts")
    for r in out:
        _row(
            table,
            str(r["id"]),
            names.get(r["org_id"], ""),
            r["name"],
            "\n".join(
                f"{s['user']} {s['position']} {s['starts_at']} - {s['ends_at']}"
                for s in r["shifts"]
            )
            or "-",
        )
    console.print(table)


def oncall(
    org: OrgOpt = None,
    at: Annotated[
        str | None, typer.Option(help="ISO 8601 time with its zone (default: now)")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Who of the host organisation (or --org) is on call now (or --at), primaries first."""
    db = database()
    ctx = _org_ctx(db, org)
    with domain_errors():
        when = _when(at, "at") or now()
        with db.reading() as session:
            ids = rosters.on_call_users(session, ctx.org_id, when)
            emails = user_emails(session, set(ids))
            # The shifts that put them there (a shift covers `when` when it starts at or
            # before it and ends after it).
            shifts: dict[int, list[dict[str, Any]]] = {}
            for r in rosters.list_rosters(session, ctx):
                if r.org_id != ctx.org_id:
                    continue
                for shift in rosters.shifts(session, r, when, when + timedelta(microseconds=1)):
                    shifts.setdefault(shift.user_id, []).append(
                        {
                            "roster": r.name,
                            "position": shift.position,
                            "until": shift.ends_at.isoformat(),
                        }
                    )
    items: list[dict[str, Any]] = [
        {"user_id": i, "email": emails.get(i), "shifts": shifts.get(i, [])} for i in ids
    ]
    if json_out:
        _json({"at": when.isoformat(), "items": items})
        return
    if not items:
        _say(f"nobody is on call at {when.isoformat()}")
        return
    table = Table("user", "position", "roster", "until", title=f"on call at {when.isoformat()}")
    for item in items:
        for on in item["shifts"] or [{"position": "-", "roster": "-", "until": "-"}]:
            _row(
                table,
                item["email"] or str(item["user_id"]),
                on["position"],
                on["roster"],
                on["until"],
            )
    console.print(table)


# ---------------------------------------------------------------- webhooks


@webhook_app.command("add")
def webhook_add(
    name: str,
    url: str,
    org: OrgOpt = None,
    topic: Annotated[
        list[str] | None, typer.Option(help="a topic, a prefix like case.*, or * (repeatable)")
    ] = None,
    secret: Annotated[
        str | None, typer.Option(help="the signing secret (default: generated)")
    ] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="created switched off")] = False,
) -> None:
    """Add a webhook of the host organisation (or --org) and print its signing secret
    once; only an encrypted copy is kept."""
    db = database()
    ctx = _org_ctx(db, org)
    with domain_errors():
        data = _parse(
            WebhookIn,
            name=name,
            url=url,
            topics=topic or ["*"],
            enabled=not disabled,
            secret=secret,
        )
        with db.writing() as session:
            hook, raw = notify.create_webhook(session, ctx, data)
            owner = org_names(session, {hook.org_id}).get(hook.org_id, "")
            err.print(
                f"webhook {hook.id} ({hook.uuid}) {hook.name} of {owner}: {hook.url}, "
                f"topics {', '.join(hook.topics)}",
                markup=False,
                highlight=False,
            )
    _say(raw)


@webhook_app.command("list")
def webhook_list(org: OrgOpt = None, json_out: JsonOpt = False) -> None:
    """Every organisation's webhooks (or --org's), never their secrets."""
    db = database()
    ctx = admin_ctx(db)
    org_id = _org_id(db, org)
    with db.reading() as session:
        hooks = [
            h for h in notify.list_webhooks(session, ctx) if org_id is None or h.org_id == org_id
        ]
        names = org_names(session, {h.org_id for h in hooks})
    if json_out:
        _json([notify.webhook_out(h) for h in hooks])
        return
    table = Table("id", "organisation", "name", "url", "topics", "enabled")
    for h in hooks:
        _row(
            table,
            str(h.id),
            names.get(h.org_id, ""),
            h.name,
            h.url,
            ", ".join(h.topics),
            "yes" if h.enabled else "no",
        )
    console.print(table)


@webhook_app.command("rm")
def webhook_rm(ref: Annotated[str, typer.Argument(help="webhook id or uuid")]) -> None:
    """Remove a webhook (its deliveries with it)."""
    db = database()
    ctx = admin_ctx(db)
    with domain_errors(), db.writing() as session:
        notify.delete_webhook(session, ctx, ref)
    _say(f"webhook {ref} removed")
