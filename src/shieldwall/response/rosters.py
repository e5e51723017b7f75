"""On-call rosters: an organisation's shifts, and who is on call at a given time (they get
SLA breaches and alerts routed to the organisation round the clock)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.audit.service import record
from shieldwall.auth.models import User
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.ids import as_id
from shieldwall.intel.errors import Conflict, InvalidInput, NotFound
from shieldwall.response.models import Roster, RosterShift
from shieldwall.response.schemas import RosterIn, ShiftIn


def on_call_users(session: Session, org_id: int, at: datetime | None = None) -> list[int]:
    """Users of the organisation on shift at `at`, primaries first."""
    at = at or now()
    rows = session.execute(
        sa.select(RosterShift.user_id, RosterShift.position)
        .join(Roster, Roster.id == RosterShift.roster_id)
        .join(User, User.id == RosterShift.user_id)
        .where(
            Roster.org_id == org_id,
            RosterShift.starts_at <= at,
            RosterShift.ends_at > at,
            User.disabled.is_(False),
        )
    ).all()
    order = {"primary": 0, "secondary": 1, "backup": 2}
    seen: dict[int, int] = {}
    for user_id, position in rows:
        seen[user_id] = min(seen.get(user_id, 9), order.get(position, 3))
    return sorted(seen, key=lambda u: (seen[u], u))


def _visible(ctx: Ctx) -> Any:
    return sa.true() if ctx.principal.is_site_admin else Roster.org_id == ctx.org_id


def list_rosters(session: Session, ctx: Ctx) -> list[Roster]:
    return list(
        session.execute(sa.select(Roster).where(_visible(ctx)).order_by(Roster.id)).scalars()
    )


def get_roster(session: Session, ctx: Ctx, ref: str | int) -> Roster:
    q = sa.select(Roster).where(_visible(ctx))
    q = (
        q.where(Roster.id == as_id(ref))
        if as_id(ref) is not None
        else q.where(Roster.uuid == str(ref))
    )
    roster = session.execute(q).scalar_one_or_none()
    if roster is None:
        raise NotFound(f"roster {ref!r} not found", field="roster")
    return roster


def create_roster(session: Session, ctx: Ctx, data: RosterIn) -> Roster:
    require(ctx, Permission.RESPONSE_CONFIGURE)
    exists = session.execute(
        sa.select(Roster.id).where(Roster.org_id == ctx.org_id, Roster.name == data.name)
    ).first()
    if exists:
        raise Conflict(f"the organisation already has a roster named {data.name!r}", field="name")
    roster = Roster(org_id=ctx.org_id, name=data.name, description=data.description)
    session.add(roster)
    session.flush()
    record(
        session,
        ctx.actor,
        "create",
        "Roster",
        model_id=roster.id,
        model_uuid=roster.uuid,
        title=roster.name,
    )
    return roster


def delete_roster(session: Session, ctx: Ctx, ref: str) -> None:
    require(ctx, Permission.RESPONSE_CONFIGURE)
    roster = get_roster(session, ctx, ref)
    session.execute(sa.delete(RosterShift).where(RosterShift.roster_id == roster.id))
    session.delete(roster)
    session.flush()
    record(
        session,
        ctx.actor,
        "delete",
        "Roster",
        model_id=roster.id,
        model_uuid=roster.uuid,
        title=roster.name,
    )


def add_shift(session: Session, ctx: Ctx, ref: str, data: ShiftIn) -> RosterShift:
    """A shift of a user of the roster's organisation."""
    require(ctx, Permission.RESPONSE_CONFIGURE)
    roster = get_roster(session, ctx, ref)
    if data.ends_at <= data.starts_at:
        raise InvalidInput("a shift ends after it starts", field="ends_at")
    from shieldwall.response.common import find_user

    user = find_user(session, data.user)
    if user.org_id != roster.org_id:
        raise InvalidInput("on-call users belong to the roster's organisation", field="user")
    shift = RosterShift(
        roster_id=roster.id,
        user_id=user.id,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        position=data.position,
    )
    session.add(shift)
    session.flush()
    record(
        session,
        ctx.actor,
        "create",
        "RosterShift",
        model_id=shift.id,
        title=f"{user.email} on {roster.name}",
        change={
            "starts_at": data.starts_at.isoformat(),
            "ends_at": data.ends_at.isoformat(),
            "position": data.position,
        },
    )
    return shift


def delete_shift(session: Session, ctx: Ctx, ref: str, shift_id: int) -> None:
    require(ctx, Permission.RESPONSE_CONFIGURE)
    roster = get_roster(session, ctx, ref)
    shift = session.get(RosterShift, shift_id)
    if shift is None or shift.roster_id != roster.id:
        raise NotFound(f"shift {shift_id} not found", field="shift")
    session.delete(shift)
    session.flush()
    record(session, ctx.actor, "delete", "RosterShift", model_id=shift_id, title=roster.name)


def shifts(
    session: Session, roster: Roster, start: datetime | None = None, end: datetime | None = None
) -> list[RosterShift]:
    q = sa.select(RosterShift).where(RosterShift.roster_id == roster.id)
    if start is not None:
        q = q.where(RosterShift.ends_at > start)
    if end is not None:
        q = q.where(RosterShift.starts_at < end)
    return list(session.execute(q.order_by(RosterShift.starts_at, RosterShift.id)).scalars())


def shift_out(session: Session, s: RosterShift) -> dict[str, Any]:
    user = session.get(User, s.user_id)
    return {
        "id": s.id,
        "user_id": s.user_id,
        "user": user.email if user else None,
        "starts_at": s.starts_at.isoformat(),
        "ends_at": s.ends_at.isoformat(),
        "position": s.position,
    }


def roster_out(session: Session, r: Roster, with_shifts: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": r.id,
        "uuid": r.uuid,
        "org_id": r.org_id,
        "name": r.name,
        "description": r.description,
    }
    if with_shifts:
        out["shifts"] = [shift_out(session, s) for s in shifts(session, r, start=now())]
    return out
