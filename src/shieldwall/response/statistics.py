"""Counts of incident response for the situational picture, over what the caller may read:
open alerts and cases by severity and organisation, SLA breaches, hunt matches over time,
open assistance requests and the teams deployed."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.auth.models import Organisation
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.intel.statistics import bucket
from shieldwall.intel.visibility import alert_condition, assistance_condition, case_condition
from shieldwall.response import sla
from shieldwall.response.models import Alert, AssistanceRequest, Case, Deployment, Team

OPEN_CASE = ("new", "in_progress")
OPEN_ALERT = ("new", "acknowledged")


def _by_severity_and_org(session: Session, q: Any) -> dict[str, Any]:
    rows = session.execute(q).all()
    by_severity: Counter[str] = Counter()
    by_org: Counter[str] = Counter()
    for severity, org, n in rows:
        by_severity[severity] += n
        by_org[org] += n
    return {
        "total": sum(by_severity.values()),
        "by_severity": dict(by_severity),
        "by_org": by_org.most_common(10),
    }


def _alerts_scope(ctx: Ctx, org_id: int | None) -> list[Any]:
    return [alert_condition(ctx.principal)] + ([Alert.org_id == org_id] if org_id else [])


def _cases_scope(ctx: Ctx, at: datetime, org_id: int | None) -> list[Any]:
    return [case_condition(ctx.principal, at)] + ([Case.org_id == org_id] if org_id else [])


def open_alerts(session: Session, ctx: Ctx, org_id: int | None = None) -> dict[str, Any]:
    # Grouped by an expression of the severity, not the column: SQLite would otherwise walk
    # the (organisation, severity) index for the grouping and read every alert of the
    # organisation, where the (organisation, status) index finds the few open ones.
    severity = sa.func.lower(Alert.severity)
    return _by_severity_and_org(
        session,
        sa.select(severity, Organisation.name, sa.func.count())
        .join(Organisation, Organisation.id == Alert.org_id)
        .where(*_alerts_scope(ctx, org_id), Alert.status.in_(OPEN_ALERT))
        .group_by(severity, Organisation.name),
    )


def open_cases(
    session: Session, ctx: Ctx, at: datetime | None = None, org_id: int | None = None
) -> dict[str, Any]:
    return _by_severity_and_org(
        session,
        sa.select(Case.severity, Organisation.name, sa.func.count())
        .join(Organisation, Organisation.id == Case.org_id)
        .where(*_cases_scope(ctx, at or now(), org_id), Case.status.in_(OPEN_CASE))
        .group_by(Case.severity, Organisation.name),
    )


def breaches(
    session: Session, ctx: Ctx, at: datetime | None = None, org_id: int | None = None
) -> dict[str, int]:
    at = at or now()
    alerts = session.execute(
        sa.select(sa.func.count())
        .select_from(Alert)
        .where(
            *_alerts_scope(ctx, org_id),
            Alert.status.in_(OPEN_ALERT),
            sla.breached_alerts_condition(at),
        )
    ).scalar_one()
    cases = session.execute(
        sa.select(sa.func.count())
        .select_from(Case)
        .where(
            *_cases_scope(ctx, at, org_id),
            Case.status.in_(OPEN_CASE),
            sla.breached_cases_condition(at),
        )
    ).scalar_one()
    return {"alerts": int(alerts), "cases": int(cases)}


def hunt_matches(
    session: Session, ctx: Ctx, since: datetime, hourly: bool = False, org_id: int | None = None
) -> dict[str, int]:
    """Alerts raised by hunts (and routed to organisations) per day or hour."""
    day = bucket(Alert.created_at, session, hourly)
    return dict(
        session.execute(
            sa.select(day, sa.func.count())
            .where(
                *_alerts_scope(ctx, org_id),
                Alert.created_at >= since,
                Alert.type.in_(("hunt", "constituency")),
            )
            .group_by(day)
        ).all()
    )


def assistance(session: Session, ctx: Ctx, at: datetime | None = None) -> dict[str, Any]:
    at = at or now()
    open_requests = list(
        session.execute(
            sa.select(
                AssistanceRequest.id,
                AssistanceRequest.title,
                AssistanceRequest.status,
                AssistanceRequest.urgency,
                Organisation.name,
            )
            .join(Organisation, Organisation.id == AssistanceRequest.org_id)
            .where(
                assistance_condition(ctx.principal, at),
                AssistanceRequest.status.in_(("requested", "approved", "deployed")),
            )
            .order_by(AssistanceRequest.id.desc())
            .limit(20)
        ).all()
    )
    readable = sa.select(AssistanceRequest.id).where(assistance_condition(ctx.principal, at))
    deployed = list(
        session.execute(
            sa.select(Team.name, Deployment.request_id, Deployment.ends_at, Deployment.ended_at)
            .join(Team, Team.id == Deployment.team_id)
            .where(
                Deployment.request_id.in_(readable),
                Deployment.starts_at <= at,
                sa.func.coalesce(Deployment.ended_at, Deployment.ends_at) > at,
            )
            .order_by(Deployment.ends_at)
        ).all()
    )
    return {
        "open": [
            {"id": i, "title": t, "status": s, "urgency": u, "org": o}
            for i, t, s, u, o in open_requests
        ],
        "deployed": [
            {"team": name, "request_id": rid, "ends_at": ended or ends}
            for name, rid, ends, ended in deployed
        ],
    }


def top_case_techniques(
    session: Session, ctx: Ctx, since: datetime, limit: int = 10, org_id: int | None = None
) -> list[tuple[str, int]]:
    """ATT&CK techniques on readable cases opened since, most frequent first."""
    counts: Counter[str] = Counter()
    for (techniques,) in session.execute(
        sa.select(Case.techniques).where(
            *_cases_scope(ctx, now(), org_id),
            Case.created_at >= since,
            sa.cast(Case.techniques, sa.Text) != "[]",
        )
    ).all():
        for t in techniques or []:
            counts[f"{t.get('id')} {t.get('name')}"] += 1
    return counts.most_common(limit)
