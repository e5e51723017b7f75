"""Mutual assistance in the native API: assistance requests and their decisions,
rapid-reaction teams and deployments, on-call rosters, SLA policies and constituencies."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.api.search import MAX_AFTER
from shieldwall.response import assistance as svc
from shieldwall.response import constituency, rosters, sla, teams
from shieldwall.response.common import user_emails
from shieldwall.response.schemas import (
    AssistanceIn,
    CloseIn,
    ConstituencyIn,
    DecisionIn,
    DeployIn,
    LogIn,
    RosterIn,
    ShiftIn,
    SlaPolicyIn,
    TeamIn,
    TeamMemberIn,
    TeamUpdate,
)

router = APIRouter()
_T: list[str | Enum] = ["assistance"]


@router.get("/assistance-requests", tags=_T)
def list_requests(
    ctx: CurrentCtx,
    db: ReadDB,
    status: Annotated[list[str] | None, Query(max_length=10)] = None,
    org_id: Annotated[int | None, Query(ge=1, le=MAX_AFTER)] = None,
    after: Annotated[int, Query(ge=0, le=MAX_AFTER)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The organisation's requests; every request for coordinators; those a running or
    past deployment of the caller answers. Newest first."""
    items = svc.list_requests(db, ctx, svc.RequestFilter(status, org_id, after, limit))
    return {
        "items": [svc.request_out(db, ctx, r, full=False) for r in items],
        "next": items[-1].id if len(items) == limit else None,
    }


@router.post("/assistance-requests", status_code=201, tags=_T)
def request_assistance(data: AssistanceIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """Ask the alliance for help on one of the organisation's cases; coordinators are
    notified."""
    req = svc.request_assistance(db, ctx, data)
    out = svc.request_out(db, ctx, req)
    db.commit()
    return out


@router.get("/assistance-requests/{ref}", tags=_T)
def get_request(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return svc.request_out(db, ctx, svc.get_request(db, ctx, ref))


@router.post("/assistance-requests/{ref}/decision", tags=_T)
def decide(ref: str, data: DecisionIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """A coordinator approves, or declines with a reason."""
    req = svc.decide(db, ctx, ref, data)
    out = svc.request_out(db, ctx, req)
    db.commit()
    return out


@router.get("/assistance-requests/{ref}/candidates", tags=_T)
def candidates(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    """Teams for the request, best first (available members, requested skills covered)."""
    return {"items": svc.candidates(db, ctx, ref)}


@router.post("/assistance-requests/{ref}/deployments", status_code=201, tags=_T)
def deploy(ref: str, data: DeployIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """Deploy a team on an approved request: its members get the case until it ends."""
    dep = svc.deploy(db, ctx, ref, data)
    out = svc.deployment_out(db, dep)
    db.commit()
    return out


@router.post("/assistance-requests/{ref}/close", tags=_T)
def close(ref: str, data: CloseIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """Close with the lessons-learned report; running deployments end with it."""
    req = svc.close_request(db, ctx, ref, data)
    out = svc.request_out(db, ctx, req)
    db.commit()
    return out


@router.post("/deployments/{deployment_id}/end", tags=_T)
def end_deployment(deployment_id: int, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    dep = svc.end_deployment(db, ctx, deployment_id)
    out = svc.deployment_out(db, dep)
    db.commit()
    return out


@router.get("/deployments/{deployment_id}/log", tags=_T)
def deployment_log(deployment_id: int, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    logs = svc.deployment_logs(db, ctx, deployment_id)
    authors = user_emails(db, {x.author_id for x in logs if x.author_id})
    return {"items": [svc.log_out(x, authors) for x in logs]}


@router.post("/deployments/{deployment_id}/log", status_code=201, tags=_T)
def add_deployment_log(
    deployment_id: int, data: LogIn, ctx: CurrentCtx, db: WriteDB
) -> dict[str, Any]:
    out = svc.log_out(svc.add_log(db, ctx, deployment_id, data))
    db.commit()
    return out


# ---------------------------------------------------------------- teams

_TEAMS: list[str | Enum] = ["teams"]


@router.get("/teams", tags=_TEAMS)
def list_teams(ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    """Every team for coordinators; the caller's own teams for everyone else."""
    busy = teams.busy_users(db)
    return {"items": [teams.team_out(db, t, busy) for t in teams.list_teams(db, ctx)]}


@router.post("/teams", status_code=201, tags=_TEAMS)
def create_team(data: TeamIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    out = teams.team_out(db, teams.create_team(db, ctx, data))
    db.commit()
    return out


@router.get("/teams/{ref}", tags=_TEAMS)
def get_team(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return teams.team_out(db, teams.get_team(db, ctx, ref))


@router.patch("/teams/{ref}", tags=_TEAMS)
def update_team(ref: str, data: TeamUpdate, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    out = teams.team_out(db, teams.update_team(db, ctx, ref, data))
    db.commit()
    return out


@router.put("/teams/{ref}/members", tags=_TEAMS)
def set_member(ref: str, data: TeamMemberIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """Add a member (a user of any organisation) or change their skills and availability."""
    teams.set_member(db, ctx, ref, data)
    out = teams.team_out(db, teams.get_team(db, ctx, ref))
    db.commit()
    return out


@router.delete("/teams/{ref}/members/{user}", status_code=204, tags=_TEAMS)
def remove_member(ref: str, user: str, ctx: CurrentCtx, db: WriteDB) -> Response:
    teams.remove_member(db, ctx, ref, user)
    db.commit()
    return Response(status_code=204)


# ---------------------------------------------------------------- rosters

_ROSTERS: list[str | Enum] = ["rosters"]


@router.get("/rosters", tags=_ROSTERS)
def list_rosters(ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return {"items": [rosters.roster_out(db, r) for r in rosters.list_rosters(db, ctx)]}


@router.post("/rosters", status_code=201, tags=_ROSTERS)
def create_roster(data: RosterIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    out = rosters.roster_out(db, rosters.create_roster(db, ctx, data))
    db.commit()
    return out


@router.get("/rosters/{ref}", tags=_ROSTERS)
def get_roster(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    """The roster with its shifts from now on."""
    return rosters.roster_out(db, rosters.get_roster(db, ctx, ref), with_shifts=True)


@router.delete("/rosters/{ref}", status_code=204, tags=_ROSTERS)
def delete_roster(ref: str, ctx: CurrentCtx, db: WriteDB) -> Response:
    rosters.delete_roster(db, ctx, ref)
    db.commit()
    return Response(status_code=204)


@router.post("/rosters/{ref}/shifts", status_code=201, tags=_ROSTERS)
def add_shift(ref: str, data: ShiftIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    out = rosters.shift_out(db, rosters.add_shift(db, ctx, ref, data))
    db.commit()
    return out


@router.delete("/rosters/{ref}/shifts/{shift_id}", status_code=204, tags=_ROSTERS)
def delete_shift(ref: str, shift_id: int, ctx: CurrentCtx, db: WriteDB) -> Response:
    rosters.delete_shift(db, ctx, ref, shift_id)
    db.commit()
    return Response(status_code=204)


@router.get("/on-call", tags=_ROSTERS)
def on_call(ctx: CurrentCtx, db: ReadDB, at: datetime | None = None) -> dict[str, Any]:
    """Who of the caller's organisation is on call now (or at `at`)."""
    ids = rosters.on_call_users(db, ctx.org_id, at)
    emails = user_emails(db, set(ids))
    return {"items": [{"user_id": i, "email": emails.get(i)} for i in ids]}


# ---------------------------------------------------------------- SLA policies

_SLA: list[str | Enum] = ["sla"]


@router.get("/sla-policies", tags=_SLA)
def list_policies(ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return {"items": [sla.policy_out(p) for p in sla.list_policies(db, ctx)]}


@router.put("/sla-policies", tags=_SLA)
def set_policy(data: SlaPolicyIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """Set the time to acknowledge (and, for cases, to resolve) for a target and
    severity: the organisation's, or the instance's (site admins, `instance`)."""
    out = sla.policy_out(sla.set_policy(db, ctx, data))
    db.commit()
    return out


@router.delete("/sla-policies/{policy_id}", status_code=204, tags=_SLA)
def delete_policy(policy_id: int, ctx: CurrentCtx, db: WriteDB) -> Response:
    sla.delete_policy(db, ctx, policy_id)
    db.commit()
    return Response(status_code=204)


# ---------------------------------------------------------------- constituency

_CONST: list[str | Enum] = ["constituency"]


@router.get("/constituency", tags=_CONST)
def list_constituency(
    ctx: CurrentCtx, db: ReadDB, org_id: Annotated[int | None, Query(ge=1, le=MAX_AFTER)] = None
) -> dict[str, Any]:
    """The organisation's networks (site admins: every organisation's, or `org_id`'s)."""
    return {
        "items": [constituency.entry_out(e) for e in constituency.list_entries(db, ctx, org_id)]
    }


@router.post("/constituency", status_code=201, tags=_CONST)
def add_constituency(data: ConstituencyIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """Register a CIDR block, an AS number or a domain the organisation answers for."""
    out = constituency.entry_out(constituency.add_entry(db, ctx, data))
    db.commit()
    return out


@router.delete("/constituency/{entry_id}", status_code=204, tags=_CONST)
def remove_constituency(entry_id: int, ctx: CurrentCtx, db: WriteDB) -> Response:
    constituency.remove_entry(db, ctx, entry_id)
    db.commit()
    return Response(status_code=204)
