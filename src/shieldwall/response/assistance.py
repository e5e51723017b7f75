"""Assistance requests (rapid reaction): a member asks for help on one of its cases; a
coordinator approves or declines with a reason; on approval a team from the roster deploys,
its members reading and contributing to the case until the deployment ends; a deployment
log; closure with a lessons-learned report. Every step is audited, written to the case's
timeline and notified."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.audit.service import Actor, record
from shieldwall.auth.models import Organisation, User
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.ids import as_id
from shieldwall.intel.errors import Conflict, Forbidden, InvalidInput, NotFound
from shieldwall.intel.visibility import assistance_condition
from shieldwall.response.common import case_access, find_user, iso, page_limit, timeline
from shieldwall.response.models import (
    AssistanceRequest,
    Case,
    Deployment,
    DeploymentLog,
    DeploymentMember,
    Team,
    TeamMember,
)
from shieldwall.response.notify import Message, notify, permitted_users
from shieldwall.response.schemas import AssistanceIn, CloseIn, DecisionIn, DeployIn, LogIn
from shieldwall.response.teams import busy_users, get_team, members

_SYSTEM = Actor(label="assistance")


def _coordinators(session: Session) -> list[int]:
    return permitted_users(session, Permission.ASSISTANCE_COORDINATE)


def _coordinates(ctx: Ctx) -> bool:
    return ctx.principal.can(Permission.ASSISTANCE_COORDINATE)


def get_request(session: Session, ctx: Ctx, ref: str | int) -> AssistanceRequest:
    q = sa.select(AssistanceRequest).where(assistance_condition(ctx.principal, now()))
    q = (
        q.where(AssistanceRequest.id == as_id(ref))
        if as_id(ref) is not None
        else q.where(AssistanceRequest.uuid == str(ref))
    )
    req = session.execute(q).scalar_one_or_none()
    if req is None:
        raise NotFound(f"assistance request {ref!r} not found", field="request")
    return req


@dataclass(frozen=True)
class RequestFilter:
    status: list[str] | None = None
    org_id: int | None = None
    after: int = 0
    limit: int = 100


def list_requests(session: Session, ctx: Ctx, f: RequestFilter) -> list[AssistanceRequest]:
    q = sa.select(AssistanceRequest).where(assistance_condition(ctx.principal, now()))
    if f.status:
        q = q.where(AssistanceRequest.status.in_(f.status))
    if f.org_id is not None:
        q = q.where(AssistanceRequest.org_id == f.org_id)
    if f.after:
        q = q.where(AssistanceRequest.id < f.after)
    return list(
        session.execute(
            q.order_by(AssistanceRequest.id.desc()).limit(page_limit(f.limit))
        ).scalars()
    )


def _link(req: AssistanceRequest) -> str:
    return f"/api/v1/assistance-requests/{req.id}"


def _requesters(req: AssistanceRequest) -> dict[str, Any]:
    return {"users": [req.requested_by_id] if req.requested_by_id else [], "orgs": [req.org_id]}


def request_assistance(session: Session, ctx: Ctx, data: AssistanceIn) -> AssistanceRequest:
    """Ask the alliance for help on one of the organisation's cases."""
    require(ctx, Permission.ASSISTANCE_REQUEST)
    access = case_access(session, ctx, data.case, "full")
    case = access.case
    if case.org_id != ctx.org_id:
        raise Forbidden("an organisation asks for help on its own cases", field="case")
    if case.status == "closed":
        raise InvalidInput("the case is closed; reopen it first", field="case")
    if case.tlp == "amber+strict":
        raise InvalidInput(
            "a TLP:AMBER+STRICT case cannot leave its organisation, so no team could read it; lower its TLP first",
            field="case",
        )
    open_request = session.execute(
        sa.select(AssistanceRequest.id).where(
            AssistanceRequest.case_id == case.id,
            AssistanceRequest.status.in_(("requested", "approved", "deployed")),
        )
    ).first()
    if open_request:
        raise Conflict(f"the case has an open assistance request ({open_request[0]})", field="case")
    for i, n in enumerate(data.affected_networks):
        _check_network(n, f"affected_networks[{i}]")
    req = AssistanceRequest(
        org_id=ctx.org_id,
        case_id=case.id,
        title=data.title,
        needed=data.needed,
        skills=sorted({s.strip().lower() for s in data.skills}),
        urgency=data.urgency,
        affected_networks=data.affected_networks,
        contacts=[c.model_dump() for c in data.contacts],
        requested_by_id=ctx.principal.user_id,
    )
    session.add(req)
    session.flush()
    timeline(
        session,
        ctx,
        case.id,
        "assistance.requested",
        f"assistance requested ({data.urgency}): {data.title[:200]}",
        {"request_id": req.id},
    )
    record(
        session,
        ctx.actor,
        "request",
        "AssistanceRequest",
        model_id=req.id,
        model_uuid=req.uuid,
        title=req.title[:200],
        change={"case_id": case.id, "urgency": req.urgency, "skills": req.skills},
    )
    org = session.get(Organisation, ctx.org_id)
    notify(
        session,
        Message(
            "assistance.requested",
            f"{org.name if org else 'a member'} asks for help ({req.urgency}): {req.title[:200]}",
            body=req.needed[:2000],
            link=_link(req),
            payload={
                "request_id": req.id,
                "request_uuid": req.uuid,
                "org_id": req.org_id,
                "urgency": req.urgency,
            },
        ),
        users=_coordinators(session),
    )
    return req


def _check_network(value: str, field: str) -> None:
    import ipaddress

    text = value.strip()
    if "/" in text or text.replace(".", "").isdigit() or ":" in text:
        try:
            ipaddress.ip_network(text, strict=False)
            return
        except ValueError:
            raise InvalidInput(
                f"{value!r} is not a network (CIDR), an address or a domain", field=field
            ) from None
    if not text or " " in text:
        raise InvalidInput(
            f"{value!r} is not a network (CIDR), an address or a domain", field=field
        )


def decide(session: Session, ctx: Ctx, ref: str, data: DecisionIn) -> AssistanceRequest:
    """A coordinator approves or declines (declining needs a reason)."""
    require(ctx, Permission.ASSISTANCE_COORDINATE)
    req = get_request(session, ctx, ref)
    if req.status != "requested":
        raise Conflict(
            f"the request is {req.status}; only a requested one is decided", field="status"
        )
    if not data.approve and not data.reason.strip():
        raise InvalidInput("declining gives the reason", field="reason")
    at = now()
    req.status = "approved" if data.approve else "declined"
    req.decided_by_id = ctx.principal.user_id
    req.decided_at = at
    req.decision_reason = data.reason
    session.flush()
    what = "approved" if data.approve else f"declined: {data.reason[:300]}"
    timeline(
        session,
        ctx,
        req.case_id,
        "assistance.decided",
        f"assistance request {what}",
        {"request_id": req.id, "approved": data.approve},
    )
    record(
        session,
        ctx.actor,
        "approve" if data.approve else "decline",
        "AssistanceRequest",
        model_id=req.id,
        model_uuid=req.uuid,
        title=req.title[:200],
        change={"reason": data.reason},
    )
    notify(
        session,
        Message(
            "assistance.decided",
            f"assistance request {what}: {req.title[:200]}",
            link=_link(req),
            payload={"request_id": req.id, "approved": data.approve, "reason": data.reason},
        ),
        org_permission=Permission.CASE_MANAGE,
        **_requesters(req),
    )
    return req


def candidates(session: Session, ctx: Ctx, ref: str) -> list[dict[str, Any]]:
    """Teams for a request, best first: available teams with available members who are not
    deployed elsewhere, by how many of the requested skills they cover."""
    require(ctx, Permission.ASSISTANCE_COORDINATE)
    req = get_request(session, ctx, ref)
    wanted = set(req.skills)
    busy = busy_users(session)
    out: list[dict[str, Any]] = []
    for team in session.execute(sa.select(Team).order_by(Team.name)).scalars():
        rows = members(session, team.id)
        ready = [(m, u) for m, u, _ in rows if m.available and u.id not in busy and not u.disabled]
        skills = {s for m, _ in ready for s in m.skills}
        covered = sorted(wanted & skills)
        out.append(
            {
                "team_id": team.id,
                "team": team.name,
                "available": team.available and bool(ready),
                "ready_members": len(ready),
                "members": len(rows),
                "skills_covered": covered,
                "skills_missing": sorted(wanted - skills),
            }
        )
    out.sort(
        key=lambda c: (
            not c["available"],
            -len(c["skills_covered"]),
            -c["ready_members"],
            c["team"],
        )
    )
    return out


def deploy(session: Session, ctx: Ctx, ref: str, data: DeployIn) -> Deployment:
    """Deploy a team on an approved request: the chosen members (or every available
    member) read and contribute to the case from starts_at for `hours`."""
    require(ctx, Permission.ASSISTANCE_COORDINATE)
    req = get_request(session, ctx, ref)
    if req.status not in ("approved", "deployed"):
        raise Conflict(
            f"the request is {req.status}; a team deploys on an approved request", field="status"
        )
    team = get_team(session, ctx, data.team)
    if not team.available:
        raise Conflict(f"team {team.name} is not available", field="team")
    at = now()
    starts = data.starts_at or at
    ends = starts + timedelta(hours=data.hours)
    if ends <= at:
        raise InvalidInput("the deployment would be over before it starts", field="hours")
    rows = members(session, team.id)
    by_ref: dict[int, tuple[TeamMember, User]] = {u.id: (m, u) for m, u, _ in rows}
    busy = busy_users(session, starts)
    chosen: list[User] = []
    if data.members:
        for i, mref in enumerate(data.members):
            user = find_user(session, mref, f"members[{i}]")
            if user.id not in by_ref:
                raise InvalidInput(
                    f"{user.email} is not in team {team.name}", field=f"members[{i}]"
                )
            if not by_ref[user.id][0].available or user.id in busy:
                raise Conflict(f"{user.email} is not available", field=f"members[{i}]")
            chosen.append(user)
    else:
        chosen = [
            u for m, u in by_ref.values() if m.available and u.id not in busy and not u.disabled
        ]
    if not chosen:
        raise Conflict(f"team {team.name} has no available member", field="team")
    dep = Deployment(
        request_id=req.id,
        team_id=team.id,
        case_id=req.case_id,
        starts_at=starts,
        ends_at=ends,
        created_by_id=ctx.principal.user_id,
    )
    session.add(dep)
    session.flush()
    for user in chosen:
        session.add(DeploymentMember(deployment_id=dep.id, user_id=user.id))
    req.status = "deployed"
    session.flush()
    names = ", ".join(u.email for u in chosen)
    timeline(
        session,
        ctx,
        req.case_id,
        "deployment.started",
        f"team {team.name} deployed until {ends.isoformat()}: {names}",
        {
            "deployment_id": dep.id,
            "team_id": team.id,
            "members": [u.id for u in chosen],
            "ends_at": ends.isoformat(),
        },
    )
    record(
        session,
        ctx.actor,
        "deploy",
        "Deployment",
        model_id=dep.id,
        model_uuid=dep.uuid,
        title=f"{team.name} on request {req.id}",
        change={
            "members": [u.id for u in chosen],
            "starts_at": starts.isoformat(),
            "ends_at": ends.isoformat(),
        },
    )
    message = Message(
        "deployment.started",
        f"team {team.name} deployed on: {req.title[:200]}",
        body=f"access to the case until {ends.isoformat()}",
        link=_link(req),
        payload={
            "request_id": req.id,
            "deployment_id": dep.id,
            "case_id": req.case_id,
            "ends_at": ends.isoformat(),
        },
    )
    notify(session, message, users=[u.id for u in chosen])
    notify(session, message, org_permission=Permission.CASE_MANAGE, **_requesters(req))
    return dep


def _deployment(
    session: Session, ctx: Ctx, deployment_id: int
) -> tuple[Deployment, AssistanceRequest]:
    dep = session.get(Deployment, deployment_id)
    if dep is None:
        raise NotFound(f"deployment {deployment_id} not found", field="deployment")
    try:
        req = get_request(session, ctx, dep.request_id)
    except NotFound:
        raise NotFound(f"deployment {deployment_id} not found", field="deployment") from None
    return dep, req


def _running(dep: Deployment, at: datetime) -> bool:
    return dep.starts_at <= at < (dep.ended_at or dep.ends_at)


def end_deployment(session: Session, ctx: Ctx, deployment_id: int) -> Deployment:
    """End a deployment now (a coordinator, or the requesting organisation): the team's
    access to the case ends with it."""
    dep, req = _deployment(session, ctx, deployment_id)
    if not (
        _coordinates(ctx)
        or (req.org_id == ctx.org_id and ctx.principal.can(Permission.ASSISTANCE_REQUEST))
    ):
        raise Forbidden("a coordinator or the requesting organisation ends a deployment")
    at = now()
    if (dep.ended_at or dep.ends_at) <= at:
        raise Conflict("the deployment has ended already", field="deployment")
    dep.ended_at = max(at, dep.starts_at)
    session.flush()
    record(
        session,
        ctx.actor,
        "end",
        "Deployment",
        model_id=dep.id,
        model_uuid=dep.uuid,
        title=f"request {req.id}",
    )
    _note_end(session, ctx, dep, req, at)
    return dep


def _note_end(
    session: Session, ctx: Ctx | None, dep: Deployment, req: AssistanceRequest, at: datetime
) -> None:
    """Once per deployment: the timeline line and notifications that its access is over;
    the request is `ended` when no other deployment on it runs."""
    if dep.end_noted_at is not None:
        return
    dep.end_noted_at = at
    team = session.get(Team, dep.team_id)
    member_ids = list(
        session.execute(
            sa.select(DeploymentMember.user_id).where(DeploymentMember.deployment_id == dep.id)
        ).scalars()
    )
    still = session.execute(
        sa.select(Deployment.id).where(
            Deployment.request_id == req.id,
            Deployment.id != dep.id,
            sa.func.coalesce(Deployment.ended_at, Deployment.ends_at) > at,
        )
    ).first()
    if not still and req.status == "deployed":
        req.status = "ended"
    end = dep.ended_at or dep.ends_at
    timeline(
        session,
        ctx,
        req.case_id,
        "deployment.ended",
        f"deployment of team {team.name if team else dep.team_id} ended at {end.isoformat()}; its access to the case is gone",
        {"deployment_id": dep.id},
        at,
    )
    message = Message(
        "deployment.ended",
        f"deployment of {team.name if team else 'a team'} ended: {req.title[:200]}",
        link=_link(req),
        payload={"request_id": req.id, "deployment_id": dep.id, "ended_at": end.isoformat()},
    )
    notify(session, message, users=member_ids)
    notify(session, message, org_permission=Permission.CASE_MANAGE, **_requesters(req))
    session.flush()


def expire_deployments(session: Session, at: datetime | None = None) -> int:
    """Note the deployments whose time ran out (the periodic pass); returns how many."""
    at = at or now()
    due = list(
        session.execute(
            sa.select(Deployment)
            .where(
                Deployment.end_noted_at.is_(None),
                sa.func.coalesce(Deployment.ended_at, Deployment.ends_at) <= at,
            )
            .order_by(Deployment.id)
            .limit(500)
        ).scalars()
    )
    for dep in due:
        req = session.get(AssistanceRequest, dep.request_id)
        assert req is not None
        _note_end(session, None, dep, req, at)
    if due:
        record(
            session,
            _SYSTEM,
            "expire",
            "Deployment",
            title=f"{len(due)} deployments ended",
            change={"ids": [d.id for d in due]},
        )
    return len(due)


def add_log(session: Session, ctx: Ctx, deployment_id: int, data: LogIn) -> DeploymentLog:
    """A line in the deployment log: the deployed members while it runs, coordinators and
    the requesting organisation."""
    dep, req = _deployment(session, ctx, deployment_id)
    at = now()
    member = session.execute(
        sa.select(DeploymentMember.id).where(
            DeploymentMember.deployment_id == dep.id,
            DeploymentMember.user_id == ctx.principal.user_id,
        )
    ).first()
    if member is not None:
        if not _running(dep, at):
            raise Forbidden("the deployment is not running: its members' access has ended")
    elif not (_coordinates(ctx) or req.org_id == ctx.org_id):
        raise Forbidden(
            "the deployed members, coordinators and the requesting organisation keep this log"
        )
    log = DeploymentLog(
        deployment_id=dep.id, author_id=ctx.principal.user_id, message=data.message, at=at
    )
    session.add(log)
    session.flush()
    record(
        session,
        ctx.actor,
        "log",
        "Deployment",
        model_id=dep.id,
        model_uuid=dep.uuid,
        title=data.message[:200],
    )
    return log


def deployment_logs(session: Session, ctx: Ctx, deployment_id: int) -> list[DeploymentLog]:
    dep, _ = _deployment(session, ctx, deployment_id)
    return list(
        session.execute(
            sa.select(DeploymentLog)
            .where(DeploymentLog.deployment_id == dep.id)
            .order_by(DeploymentLog.id)
        ).scalars()
    )


def close_request(session: Session, ctx: Ctx, ref: str, data: CloseIn) -> AssistanceRequest:
    """Close with the lessons-learned report (the requesting organisation or a
    coordinator); running deployments end with it."""
    req = get_request(session, ctx, ref)
    if not (
        _coordinates(ctx)
        or (req.org_id == ctx.org_id and ctx.principal.can(Permission.ASSISTANCE_REQUEST))
    ):
        raise Forbidden("the requesting organisation or a coordinator closes a request")
    if req.status in ("requested", "declined", "closed"):
        raise Conflict(
            f"the request is {req.status}; an approved request is closed after its deployment",
            field="status",
        )
    at = now()
    for dep in session.execute(
        sa.select(Deployment).where(Deployment.request_id == req.id)
    ).scalars():
        if (dep.ended_at or dep.ends_at) > at:
            dep.ended_at = max(at, dep.starts_at)
        _note_end(session, ctx, dep, req, at)
    req.status = "closed"
    req.closed_at = at
    req.closed_by_id = ctx.principal.user_id
    req.lessons_learned = data.lessons_learned
    session.flush()
    timeline(
        session,
        ctx,
        req.case_id,
        "assistance.closed",
        f"assistance request closed: {req.title[:200]}",
        {"request_id": req.id},
    )
    record(
        session,
        ctx.actor,
        "close",
        "AssistanceRequest",
        model_id=req.id,
        model_uuid=req.uuid,
        title=req.title[:200],
    )
    deployed = set(
        session.execute(
            sa.select(DeploymentMember.user_id)
            .join(Deployment, Deployment.id == DeploymentMember.deployment_id)
            .where(Deployment.request_id == req.id)
        ).scalars()
    )
    message = Message(
        "assistance.closed",
        f"assistance request closed: {req.title[:200]}",
        body=data.lessons_learned[:4000],
        link=_link(req),
        payload={"request_id": req.id},
    )
    notify(session, message, users=set(_coordinators(session)) | deployed)
    notify(session, message, org_permission=Permission.CASE_MANAGE, **_requesters(req))
    return req


def request_out(
    session: Session, ctx: Ctx, req: AssistanceRequest, full: bool = True
) -> dict[str, Any]:
    case = session.get(Case, req.case_id)
    org = session.get(Organisation, req.org_id)
    names = dict(
        session.execute(
            sa.select(User.id, User.email).where(
                User.id.in_(
                    [i for i in (req.requested_by_id, req.decided_by_id, req.closed_by_id) if i]
                )
            )
        ).all()
    )
    out: dict[str, Any] = {
        "id": req.id,
        "uuid": req.uuid,
        "org_id": req.org_id,
        "org": org.name if org else None,
        "case_id": req.case_id,
        # What a coordinator sees of the case without reading it.
        "case": {
            "number": case.number,
            "title": case.title,
            "severity": case.severity,
            "tlp": case.tlp,
        }
        if case
        else None,
        "title": req.title,
        "needed": req.needed,
        "skills": req.skills,
        "urgency": req.urgency,
        "affected_networks": req.affected_networks,
        "contacts": req.contacts,
        "status": req.status,
        "requested_by": names.get(req.requested_by_id or 0),
        "created_at": req.created_at.isoformat(),
        "decided_by": names.get(req.decided_by_id or 0),
        "decided_at": iso(req.decided_at),
        "decision_reason": req.decision_reason,
        "closed_by": names.get(req.closed_by_id or 0),
        "closed_at": iso(req.closed_at),
        "lessons_learned": req.lessons_learned,
    }
    if full:
        at = now()
        deps = list(
            session.execute(
                sa.select(Deployment).where(Deployment.request_id == req.id).order_by(Deployment.id)
            ).scalars()
        )
        out["deployments"] = [deployment_out(session, d, at) for d in deps]
    return out


def deployment_out(session: Session, d: Deployment, at: datetime | None = None) -> dict[str, Any]:
    at = at or now()
    team = session.get(Team, d.team_id)
    users = session.execute(
        sa.select(User.id, User.email)
        .join(DeploymentMember, DeploymentMember.user_id == User.id)
        .where(DeploymentMember.deployment_id == d.id)
        .order_by(User.email)
    ).all()
    return {
        "id": d.id,
        "uuid": d.uuid,
        "team_id": d.team_id,
        "team": team.name if team else None,
        "members": [{"user_id": u, "email": e} for u, e in users],
        "starts_at": d.starts_at.isoformat(),
        "ends_at": d.ends_at.isoformat(),
        "ended_at": iso(d.ended_at),
        "running": _running(d, at),
    }


def log_out(log: DeploymentLog, authors: dict[int, str] | None = None) -> dict[str, Any]:
    return {
        "id": log.id,
        "at": log.at.isoformat(),
        "author_id": log.author_id,
        "author": (authors or {}).get(log.author_id or 0),
        "message": log.message,
    }
