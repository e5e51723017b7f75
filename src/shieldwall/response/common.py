"""What the response services share: finding users, observables in their canonical form,
reading a case with the caller's right on it, and writing the case timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.auth.models import Organisation, User
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.ids import as_id
from shieldwall.intel.errors import Forbidden, InvalidInput, NotFound
from shieldwall.intel.models import VALUE_KEY_LEN
from shieldwall.intel.types import split_and_normalise, type_table
from shieldwall.intel.visibility import (
    CASE_RIGHTS,
    Principal,
    case_condition,
    case_right,
    deployed_case_ids,
)
from shieldwall.response.models import TLP_LEVELS, Case, CaseShare, CaseTimeline, Deployment
from shieldwall.response.schemas import ObservableIn

MAX_PAGE = 1000


def find_user(session: Session, ref: str | int, field: str = "user") -> User:
    """A user by id or e-mail (no visibility rule: callers check what the user may be)."""
    user: User | None
    if as_id(ref) is not None:
        user = session.get(User, as_id(ref))
    else:
        user = session.execute(
            sa.select(User).where(User.email == str(ref).strip().lower())
        ).scalar_one_or_none()
    if user is None or user.disabled:
        raise NotFound(f"user {ref!r} not found", field=field)
    return user


def org_name(session: Session, org_id: int | None) -> str:
    if org_id is None:
        return ""
    org = session.get(Organisation, org_id)
    return org.name if org else ""


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True)
class NormalisedObservable:
    type: str
    value: str
    key: str


def normalise_observable(obs: ObservableIn, field: str = "observables") -> NormalisedObservable:
    """An observable's type must be a MISP attribute type; its value is checked and
    normalised as an attribute's (so a case's IP equals the intel's IP)."""
    if obs.type not in type_table().types:
        raise InvalidInput(f"unknown observable type {obs.type!r}", field=f"{field}.type")
    try:
        v1, v2 = split_and_normalise(obs.type, obs.value)
    except InvalidInput as exc:
        raise InvalidInput(exc.detail, field=f"{field}.value") from None
    value = f"{v1}|{v2}" if v2 else v1
    return NormalisedObservable(obs.type, value, value[:VALUE_KEY_LEN])


def stricter_tlp(a: str, b: str) -> str:
    return a if TLP_LEVELS.index(a) >= TLP_LEVELS.index(b) else b


# ---------------------------------------------------------------- cases and rights


@dataclass(frozen=True)
class CaseAccess:
    case: Case
    right: str  # read_only, contribute, full

    def at_least(self, need: str) -> bool:
        return CASE_RIGHTS.index(self.right) >= CASE_RIGHTS.index(need)


def _case_query(ref: str | int) -> sa.Select[Any]:
    q = sa.select(Case)
    if as_id(ref) is not None:
        return q.where(Case.id == as_id(ref))
    return q.where(Case.uuid == str(ref))


def case_access(session: Session, ctx: Ctx, ref: str | int, need: str = "read_only") -> CaseAccess:
    """The case with the caller's right on it; NotFound when the caller may not read it,
    Forbidden when the right is less than `need`."""
    at = now()
    case = session.execute(
        _case_query(ref).where(case_condition(ctx.principal, at))
    ).scalar_one_or_none()
    if case is None:
        raise NotFound(f"case {ref!r} not found", field="case")
    right = right_on(session, ctx, case, at)
    access = CaseAccess(case, right)
    if not access.at_least(need):
        raise Forbidden(
            f"this needs the {need} right on the case; the caller has {right}"
            + (
                ""
                if right != "read_only"
                else " (a share's profile or a role without response:case:manage)"
            )
        )
    return access


def right_on(session: Session, ctx: Ctx, case: Case, at: datetime | None = None) -> str:
    p = ctx.principal
    if p.is_site_admin or case.org_id == p.org_id:
        return case_right(p, case, None, False)
    profile = session.execute(
        sa.select(CaseShare.profile).where(
            CaseShare.case_id == case.id, CaseShare.org_id == p.org_id
        )
    ).scalar_one_or_none()
    deployed = False
    if p.user_id is not None and p.kind == "user":
        running = deployed_case_ids(p.user_id, at or now()).where(Deployment.case_id == case.id)
        deployed = session.execute(running.limit(1)).first() is not None
    return case_right(p, case, profile, deployed)


def timeline(
    session: Session,
    ctx: Ctx | None,
    case_id: int,
    kind: str,
    summary: str,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """A line on the case's timeline, in the caller's transaction."""
    session.add(
        CaseTimeline(
            case_id=case_id,
            at=at or now(),
            kind=kind,
            summary=summary[:4000],
            user_id=ctx.principal.user_id if ctx else None,
            org_id=ctx.org_id if ctx else None,
            details=details or {},
        )
    )


def escape_like(text: str) -> str:
    """Text for a LIKE pattern (escape character backslash): its %, _ and \\ match
    themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def page_limit(limit: int) -> int:
    return max(1, min(limit, MAX_PAGE))


def user_emails(session: Session, ids: set[int]) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(
        session.execute(sa.select(User.id, User.email).where(User.id.in_(sorted(ids)))).all()
    )


def org_names(session: Session, ids: set[int]) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(
        session.execute(
            sa.select(Organisation.id, Organisation.name).where(Organisation.id.in_(sorted(ids)))
        ).all()
    )


def assignee_for(session: Session, ctx: Ctx, case: Case, ref: str, field: str = "assignee") -> User:
    """An assignee reads the case: a user of its organisation, of an organisation it is
    shared with, or deployed on it."""
    user = find_user(session, ref, field)
    probe = Ctx(Principal(org_id=user.org_id, user_id=user.id, kind="user"), ctx.actor, ctx.opts)
    if user.org_id != case.org_id and right_on(session, probe, case) == "none":
        raise InvalidInput(
            f"{user.email} cannot read this case, so cannot be assigned to it", field=field
        )
    return user
