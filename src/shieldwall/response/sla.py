"""SLA policies: time to acknowledge and time to resolve per target and severity. Due
times are stamped on each alert and case when it is raised (and again when its severity
changes); a periodic pass flags what went late and notifies the people on call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.audit.service import Actor, record
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.intel.errors import Forbidden, InvalidInput, NotFound
from shieldwall.response.common import timeline
from shieldwall.response.models import Alert, Case, SlaPolicy
from shieldwall.response.notify import Message, notify
from shieldwall.response.rosters import on_call_users
from shieldwall.response.schemas import SlaPolicyIn

BATCH = 1000


@dataclass(frozen=True)
class Due:
    acknowledge: datetime | None
    resolve: datetime | None


def policy_for(session: Session, org_id: int, target: str, severity: str) -> SlaPolicy | None:
    """The organisation's policy for the target and severity, else the instance's."""
    rows = session.execute(
        sa.select(SlaPolicy).where(
            SlaPolicy.target == target,
            SlaPolicy.severity == severity,
            sa.or_(SlaPolicy.org_id == org_id, SlaPolicy.org_id.is_(None)),
        )
    ).scalars()
    best: SlaPolicy | None = None
    for row in rows:
        if best is None or row.org_id is not None:
            best = row
    return best


def due(session: Session, org_id: int, target: str, severity: str, start: datetime) -> Due:
    policy = policy_for(session, org_id, target, severity)
    if policy is None:
        return Due(None, None)
    ack = (
        start + timedelta(minutes=policy.acknowledge_minutes)
        if policy.acknowledge_minutes
        else None
    )
    res = start + timedelta(minutes=policy.resolve_minutes) if policy.resolve_minutes else None
    return Due(ack, res)


def stamp_alert(session: Session, alert: Alert) -> None:
    d = due(session, alert.org_id, "alert", alert.severity, alert.created_at or now())
    alert.ack_due_at = d.acknowledge


def stamp_case(session: Session, case: Case) -> None:
    d = due(session, case.org_id, "case", case.severity, case.created_at or now())
    case.ack_due_at = d.acknowledge
    case.resolve_due_at = d.resolve


def _late(
    due_at: datetime | None, done_at: datetime | None, breached_at: datetime | None, at: datetime
) -> bool:
    if breached_at is not None:
        return True
    if due_at is None:
        return False
    return (done_at or at) > due_at


def alert_sla(a: Alert, at: datetime | None = None) -> dict[str, Any]:
    at = at or now()
    return {
        "acknowledge_by": a.ack_due_at.isoformat() if a.ack_due_at else None,
        "acknowledge_breached": _late(a.ack_due_at, a.acknowledged_at, a.ack_breached_at, at),
    }


def case_sla(c: Case, at: datetime | None = None) -> dict[str, Any]:
    at = at or now()
    return {
        "acknowledge_by": c.ack_due_at.isoformat() if c.ack_due_at else None,
        "acknowledge_breached": _late(c.ack_due_at, c.acknowledged_at, c.ack_breached_at, at),
        "resolve_by": c.resolve_due_at.isoformat() if c.resolve_due_at else None,
        "resolve_breached": _late(c.resolve_due_at, c.resolved_at, c.resolve_breached_at, at),
    }


def breached_alerts_condition(at: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        Alert.ack_breached_at.is_not(None),
        sa.and_(Alert.status == "new", Alert.ack_due_at <= at),
        Alert.acknowledged_at > Alert.ack_due_at,
    )


def breached_cases_condition(at: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        Case.ack_breached_at.is_not(None),
        Case.resolve_breached_at.is_not(None),
        sa.and_(Case.acknowledged_at.is_(None), Case.ack_due_at <= at),
        sa.and_(Case.status.in_(("new", "in_progress")), Case.resolve_due_at <= at),
        Case.acknowledged_at > Case.ack_due_at,
        Case.resolved_at > Case.resolve_due_at,
    )


# ---------------------------------------------------------------- policies


def list_policies(session: Session, ctx: Ctx) -> list[SlaPolicy]:
    q = sa.select(SlaPolicy)
    if not ctx.principal.is_site_admin:
        q = q.where(sa.or_(SlaPolicy.org_id == ctx.org_id, SlaPolicy.org_id.is_(None)))
    return list(
        session.execute(
            q.order_by(SlaPolicy.org_id, SlaPolicy.target, SlaPolicy.severity)
        ).scalars()
    )


def set_policy(session: Session, ctx: Ctx, data: SlaPolicyIn) -> SlaPolicy:
    """Set the organisation's (or, for a site admin with instance=true, the instance's)
    policy for a target and severity."""
    require(ctx, Permission.RESPONSE_CONFIGURE)
    if data.instance and not ctx.principal.is_site_admin:
        raise Forbidden("only site admins set the instance's SLA policies")
    if data.acknowledge_minutes is None and data.resolve_minutes is None:
        raise InvalidInput(
            "give acknowledge_minutes, resolve_minutes or both", field="acknowledge_minutes"
        )
    if data.target == "alert" and data.resolve_minutes is not None:
        raise InvalidInput(
            "alerts are acknowledged, not resolved: no resolve_minutes", field="resolve_minutes"
        )
    if (
        data.acknowledge_minutes is not None
        and data.resolve_minutes is not None
        and data.resolve_minutes < data.acknowledge_minutes
    ):
        raise InvalidInput(
            "resolve_minutes is shorter than acknowledge_minutes", field="resolve_minutes"
        )
    org_id = None if data.instance else ctx.org_id
    policy = session.execute(
        sa.select(SlaPolicy).where(
            SlaPolicy.org_id.is_(None) if org_id is None else SlaPolicy.org_id == org_id,
            SlaPolicy.target == data.target,
            SlaPolicy.severity == data.severity,
        )
    ).scalar_one_or_none()
    if policy is None:
        policy = SlaPolicy(org_id=org_id, target=data.target, severity=data.severity)
        session.add(policy)
    policy.acknowledge_minutes = data.acknowledge_minutes
    policy.resolve_minutes = data.resolve_minutes
    session.flush()
    record(
        session,
        ctx.actor,
        "update",
        "SlaPolicy",
        model_id=policy.id,
        title=f"{data.target} {data.severity}",
        change=data.model_dump(),
    )
    return policy


def delete_policy(session: Session, ctx: Ctx, policy_id: int) -> None:
    require(ctx, Permission.RESPONSE_CONFIGURE)
    policy = session.get(SlaPolicy, policy_id)
    if policy is None or not (
        ctx.principal.is_site_admin or (policy.org_id is not None and policy.org_id == ctx.org_id)
    ):
        raise NotFound(f"SLA policy {policy_id} not found", field="policy")
    session.delete(policy)
    session.flush()
    record(session, ctx.actor, "delete", "SlaPolicy", model_id=policy_id)


def policy_out(p: SlaPolicy) -> dict[str, Any]:
    return {
        "id": p.id,
        "org_id": p.org_id,
        "scope": "instance" if p.org_id is None else "organisation",
        "target": p.target,
        "severity": p.severity,
        "acknowledge_minutes": p.acknowledge_minutes,
        "resolve_minutes": p.resolve_minutes,
    }


# ---------------------------------------------------------------- the breach pass


@dataclass
class BreachReport:
    alerts: int = 0
    cases_acknowledge: int = 0
    cases_resolve: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "alerts": self.alerts,
            "cases_acknowledge": self.cases_acknowledge,
            "cases_resolve": self.cases_resolve,
        }


_SYSTEM = Actor(label="sla")


def _tell(
    session: Session,
    org_id: int,
    at: datetime,
    title: str,
    link: str,
    payload: dict[str, Any],
    extra: set[int],
) -> None:
    users = set(on_call_users(session, org_id, at)) | extra
    notify(
        session,
        Message("sla.breached", title, link=link, payload=payload),
        users=users,
        orgs=[org_id],
        org_permission=Permission.CASE_MANAGE,
    )


def check_breaches(session: Session, at: datetime | None = None) -> BreachReport:
    """Flag alerts and cases whose SLA ran out at `at`, once each, with a timeline line
    and a notification to the organisation's handlers and whoever is on call."""
    at = at or now()
    report = BreachReport()
    alerts = (
        session.execute(
            sa.select(Alert)
            .where(Alert.status == "new", Alert.ack_due_at <= at, Alert.ack_breached_at.is_(None))
            .order_by(Alert.id)
            .limit(BATCH)
        )
        .scalars()
        .all()
    )
    for a in alerts:
        a.ack_breached_at = at
        report.alerts += 1
        _tell(
            session,
            a.org_id,
            at,
            f"alert {a.id} not acknowledged in time ({a.severity}): {a.title[:200]}",
            f"/api/v1/alerts/{a.id}",
            {
                "alert_id": a.id,
                "due": a.ack_due_at.isoformat() if a.ack_due_at else None,
                "sla": "acknowledge",
            },
            set(),
        )
    cases = (
        session.execute(
            sa.select(Case)
            .where(
                sa.or_(
                    sa.and_(
                        Case.acknowledged_at.is_(None),
                        Case.ack_due_at <= at,
                        Case.ack_breached_at.is_(None),
                    ),
                    sa.and_(
                        Case.status.in_(("new", "in_progress")),
                        Case.resolve_due_at <= at,
                        Case.resolve_breached_at.is_(None),
                    ),
                )
            )
            .order_by(Case.id)
            .limit(BATCH)
        )
        .scalars()
        .all()
    )
    for c in cases:
        kinds = []
        if (
            c.acknowledged_at is None
            and c.ack_due_at is not None
            and c.ack_due_at <= at
            and c.ack_breached_at is None
        ):
            c.ack_breached_at = at
            kinds.append("acknowledge")
            report.cases_acknowledge += 1
        if (
            c.resolve_due_at is not None
            and c.resolve_due_at <= at
            and c.resolve_breached_at is None
        ):
            c.resolve_breached_at = at
            kinds.append("resolve")
            report.cases_resolve += 1
        for kind in kinds:
            timeline(
                session,
                None,
                c.id,
                "sla.breached",
                f"SLA breached: not {kind}d in time",
                {"sla": kind},
                at,
            )
            _tell(
                session,
                c.org_id,
                at,
                f"case #{c.number} not {kind}d in time ({c.severity}): {c.title[:200]}",
                f"/api/v1/cases/{c.id}",
                {"case_id": c.id, "sla": kind},
                {c.assignee_id} if c.assignee_id else set(),
            )
    if report.alerts or report.cases_acknowledge or report.cases_resolve:
        session.flush()
        record(
            session,
            _SYSTEM,
            "sla_breach",
            "Sla",
            title="SLA breaches flagged",
            change=report.as_dict(),
        )
    return report
