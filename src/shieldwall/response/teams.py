"""Rapid-reaction teams: members with skills and availability, managed by the alliance's
coordinators; a team's members see their team."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.audit.service import record
from shieldwall.auth.models import Organisation, User
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.ids import as_id
from shieldwall.intel.errors import Conflict, NotFound
from shieldwall.response.common import find_user
from shieldwall.response.models import Deployment, DeploymentMember, Team, TeamMember
from shieldwall.response.schemas import TeamIn, TeamMemberIn, TeamUpdate


def _coordinates(ctx: Ctx) -> bool:
    return ctx.principal.can(Permission.ASSISTANCE_COORDINATE)


def _visible(ctx: Ctx) -> Any:
    if _coordinates(ctx):
        return sa.true()
    mine = sa.select(TeamMember.team_id).where(TeamMember.user_id == ctx.principal.user_id)
    return Team.id.in_(mine)


def list_teams(session: Session, ctx: Ctx) -> list[Team]:
    return list(session.execute(sa.select(Team).where(_visible(ctx)).order_by(Team.name)).scalars())


def get_team(session: Session, ctx: Ctx, ref: str | int) -> Team:
    q = sa.select(Team).where(_visible(ctx))
    if as_id(ref) is not None:
        q = q.where(Team.id == as_id(ref))
    else:
        q = q.where(sa.or_(Team.uuid == str(ref), Team.name == str(ref)))
    team = session.execute(q).scalar_one_or_none()
    if team is None:
        raise NotFound(f"team {ref!r} not found", field="team")
    return team


def create_team(session: Session, ctx: Ctx, data: TeamIn) -> Team:
    require(ctx, Permission.ASSISTANCE_COORDINATE)
    if session.execute(sa.select(Team.id).where(Team.name == data.name)).first():
        raise Conflict(f"a team named {data.name!r} exists", field="name")
    team = Team(
        org_id=ctx.org_id, name=data.name, description=data.description, available=data.available
    )
    session.add(team)
    session.flush()
    record(
        session,
        ctx.actor,
        "create",
        "Team",
        model_id=team.id,
        model_uuid=team.uuid,
        title=team.name,
    )
    return team


def update_team(session: Session, ctx: Ctx, ref: str, data: TeamUpdate) -> Team:
    require(ctx, Permission.ASSISTANCE_COORDINATE)
    team = get_team(session, ctx, ref)
    change = data.model_dump(exclude_unset=True)
    renamed = change.get("name") and change["name"] != team.name
    if renamed and session.execute(sa.select(Team.id).where(Team.name == change["name"])).first():
        raise Conflict(f"a team named {change['name']!r} exists", field="name")
    for name, value in change.items():
        if value is not None:
            setattr(team, name, value)
    session.flush()
    record(
        session,
        ctx.actor,
        "update",
        "Team",
        model_id=team.id,
        model_uuid=team.uuid,
        title=team.name,
        change=change,
    )
    return team


def set_member(session: Session, ctx: Ctx, ref: str, data: TeamMemberIn) -> TeamMember:
    """Add a member (any organisation's user) or change their skills and availability."""
    require(ctx, Permission.ASSISTANCE_COORDINATE)
    team = get_team(session, ctx, ref)
    user = find_user(session, data.user)
    member = session.execute(
        sa.select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == user.id)
    ).scalar_one_or_none()
    if member is None:
        member = TeamMember(team_id=team.id, user_id=user.id)
        session.add(member)
    member.skills = sorted({s.strip().lower() for s in data.skills})
    member.lead = data.lead
    member.available = data.available
    session.flush()
    record(
        session,
        ctx.actor,
        "update",
        "TeamMember",
        model_id=member.id,
        title=f"{user.email} in {team.name}",
        change={"skills": member.skills, "lead": member.lead, "available": member.available},
    )
    return member


def remove_member(session: Session, ctx: Ctx, ref: str, user_ref: str) -> None:
    require(ctx, Permission.ASSISTANCE_COORDINATE)
    team = get_team(session, ctx, ref)
    user = find_user(session, user_ref)
    member = session.execute(
        sa.select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == user.id)
    ).scalar_one_or_none()
    if member is None:
        raise NotFound(f"{user.email} is not in {team.name}", field="user")
    session.delete(member)
    session.flush()
    record(
        session,
        ctx.actor,
        "delete",
        "TeamMember",
        model_id=member.id,
        title=f"{user.email} in {team.name}",
    )


def members(session: Session, team_id: int) -> list[tuple[TeamMember, User, str]]:
    rows = session.execute(
        sa.select(TeamMember, User, Organisation.name)
        .join(User, User.id == TeamMember.user_id)
        .join(Organisation, Organisation.id == User.org_id)
        .where(TeamMember.team_id == team_id)
        .order_by(TeamMember.lead.desc(), User.email)
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def busy_users(session: Session, at: datetime | None = None) -> set[int]:
    """Users on a deployment running at `at`."""
    at = at or now()
    return set(
        session.execute(
            sa.select(DeploymentMember.user_id)
            .join(Deployment, Deployment.id == DeploymentMember.deployment_id)
            .where(
                Deployment.starts_at <= at,
                sa.func.coalesce(Deployment.ended_at, Deployment.ends_at) > at,
            )
        ).scalars()
    )


def team_out(session: Session, t: Team, busy: set[int] | None = None) -> dict[str, Any]:
    busy = busy_users(session) if busy is None else busy
    rows = members(session, t.id)
    skills = sorted({s for m, _, _ in rows for s in m.skills})
    return {
        "id": t.id,
        "uuid": t.uuid,
        "name": t.name,
        "description": t.description,
        "org_id": t.org_id,
        "available": t.available,
        "skills": skills,
        "members": [
            {
                "user_id": u.id,
                "email": u.email,
                "org": org,
                "skills": m.skills,
                "lead": m.lead,
                "available": m.available and u.id not in busy,
                "deployed": u.id in busy,
            }
            for m, u, org in rows
        ],
    }
