"""Cases: opened by hand, from a template or from alerts; a status workflow with the
resolution recorded; MITRE ATT&CK techniques; the timeline of every action; shares with
other organisations. Tasks and observables have their own modules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.audit.service import record
from shieldwall.auth.models import Organisation, User
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import get_org, require
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.intel.errors import Conflict, Forbidden, InvalidInput, NotFound
from shieldwall.intel.visibility import (
    case_branches,
)
from shieldwall.knowledge.models import Galaxy, GalaxyCluster
from shieldwall.response import observables, sla, tasks, terms
from shieldwall.response.common import (
    CaseAccess,
    assignee_for,
    case_access,
    find_user,
    iso,
    org_names,
    page_limit,
    stricter_tlp,
    timeline,
    user_emails,
)
from shieldwall.response.models import (
    SEVERITIES,
    Alert,
    AlertObservable,
    Case,
    CaseShare,
    CaseTask,
    CaseTemplate,
    CaseTimeline,
)
from shieldwall.response.notify import Message, notify
from shieldwall.response.schemas import (
    CaseIn,
    CaseUpdate,
    ShareIn,
)

# status -> the statuses it may move to
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("in_progress", "resolved"),
    "in_progress": ("resolved",),
    "resolved": ("closed", "in_progress"),
    "closed": ("in_progress",),
}
OPEN = ("new", "in_progress")


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class CaseFilter:
    status: list[str] | None = None
    severity: list[str] | None = None
    assignee: str | None = None  # an e-mail, an id, or "me"
    tag: str | None = None
    q: str | None = None  # substring of the title
    breached: bool | None = None
    org_id: int | None = None
    shared: bool | None = None  # true: cases other organisations shared with the caller
    number: int | None = None
    after: int = 0  # keyset: ids below this one (newest first)
    limit: int = 50


def _filters(session: Session, ctx: Ctx, f: CaseFilter, at: datetime) -> list[Any]:
    conds: list[Any] = []
    if f.status:
        conds.append(Case.status.in_(f.status))
    if f.severity:
        conds.append(Case.severity.in_(f.severity))
    if f.assignee:
        if f.assignee == "me":
            conds.append(Case.assignee_id == ctx.principal.user_id)
        elif f.assignee == "none":
            conds.append(Case.assignee_id.is_(None))
        else:
            conds.append(Case.assignee_id == find_user(session, f.assignee, "assignee").id)
    if f.tag:
        conds.append(terms.tag_match(f.tag))
    if f.q:
        conds.extend(terms.title_match(f.q))
    if f.breached is True:
        conds.append(sla.breached_cases_condition(at))
    elif f.breached is False:
        conds.append(~sla.breached_cases_condition(at))
    if f.org_id is not None:
        conds.append(Case.org_id == f.org_id)
    if f.shared is True:
        conds.append(Case.org_id != ctx.org_id)
    elif f.shared is False:
        conds.append(Case.org_id == ctx.org_id)
    if f.number is not None:
        conds.append(Case.number == f.number)
    if f.after:
        conds.append(Case.id < f.after)
    return conds


def case_query(
    session: Session, ctx: Ctx, f: CaseFilter, at: datetime | None = None
) -> sa.Select[Any]:
    """The page of readable cases matching the filter, newest first. Each way of reading
    (own organisation, shares, deployments) is its own query walking its own index down
    from the newest, cut at the page; their union is cut again: a page never needs every
    case the reader may see."""
    at = at or now()
    conds = _filters(session, ctx, f, at)
    limit = page_limit(f.limit)
    branches = case_branches(ctx.principal, at)
    if len(branches) == 1:
        return sa.select(Case).where(branches[0], *conds).order_by(Case.id.desc()).limit(limit)
    parts = [
        sa.select(Case.id).where(b, *conds).order_by(Case.id.desc()).limit(limit).subquery()
        for b in branches
    ]
    ids = sa.union(*[sa.select(p.c.id) for p in parts]).subquery()
    return (
        sa.select(Case)
        .where(Case.id.in_(sa.select(ids.c.id)))
        .order_by(Case.id.desc())
        .limit(limit)
    )


def list_cases(session: Session, ctx: Ctx, f: CaseFilter) -> list[Case]:
    """Cases the caller may read, newest first; page with `after` = the last id seen."""
    for name, values, allowed in (
        ("status", f.status, TRANSITIONS),
        ("severity", f.severity, SEVERITIES),
    ):
        for v in values or []:
            if v not in allowed:
                raise InvalidInput(f"{name} is one of {', '.join(allowed)}", field=name)
    return list(session.execute(case_query(session, ctx, f)).scalars())


def get_case(session: Session, ctx: Ctx, ref: str | int) -> CaseAccess:
    return case_access(session, ctx, ref)


def case_briefs(session: Session, ctx: Ctx, cases: Sequence[Case]) -> list[dict[str, Any]]:
    """List rows: the case's fields, its organisation and assignee by name, SLA state."""
    at = now()
    users = user_emails(session, {c.assignee_id for c in cases if c.assignee_id})
    orgs = org_names(session, {c.org_id for c in cases})
    return [case_brief(c, orgs.get(c.org_id, ""), users.get(c.assignee_id or 0), at) for c in cases]


def case_brief(
    c: Case, org: str, assignee: str | None, at: datetime | None = None
) -> dict[str, Any]:
    return {
        "id": c.id,
        "uuid": c.uuid,
        "number": c.number,
        "org_id": c.org_id,
        "org": org,
        "title": c.title,
        "severity": c.severity,
        "tlp": c.tlp,
        "pap": c.pap,
        "status": c.status,
        "resolution": c.resolution,
        "assignee_id": c.assignee_id,
        "assignee": assignee,
        "tags": c.tags,
        "created_at": c.created_at.isoformat(),
        "modified_at": c.modified_at.isoformat(),
        "sla": sla.case_sla(c, at),
    }


def case_out(session: Session, ctx: Ctx, access: CaseAccess) -> dict[str, Any]:
    c = access.case
    users = user_emails(session, {c.assignee_id or 0, c.created_by_id or 0})
    out = case_brief(
        c, org_names(session, {c.org_id}).get(c.org_id, ""), users.get(c.assignee_id or 0)
    )
    out.update(
        {
            "description": c.description,
            "summary": c.summary,
            "duplicate_of": c.duplicate_of_id,
            "template_id": c.template_id,
            "custom_fields": c.custom_fields,
            "techniques": c.techniques,
            "created_by": users.get(c.created_by_id or 0),
            "acknowledged_at": iso(c.acknowledged_at),
            "resolved_at": iso(c.resolved_at),
            "closed_at": iso(c.closed_at),
            "right": access.right,
            "tasks": [tasks.task_out(t) for t in tasks.tasks(session, c.id)],
            "alerts": session.execute(
                sa.select(sa.func.count()).select_from(Alert).where(Alert.case_id == c.id)
            ).scalar_one(),
            "shares": [share_out(s, n) for s, n in shares(session, c.id)]
            if access.right == "full" or c.org_id == ctx.org_id or ctx.principal.is_site_admin
            else [],
        }
    )
    return out


# ---------------------------------------------------------------- writing


def _next_number(session: Session, org_id: int) -> int:
    # One case number at a time per organisation: the organisation's row is the lock on
    # PostgreSQL (SQLite writers are serialised already).
    session.execute(sa.select(Organisation.id).where(Organisation.id == org_id).with_for_update())
    top = session.execute(sa.select(sa.func.max(Case.number)).where(Case.org_id == org_id)).scalar()
    return int(top or 0) + 1


def _check_custom_fields(
    template: CaseTemplate | None,
    values: dict[str, Any],
    field: str = "custom_fields",
    partial: bool = False,
) -> dict[str, Any]:
    """Values checked against the template's definitions (type, options, required); free
    keys are kept as given when the case has no template."""
    if template is None or not template.custom_fields:
        for k in values:
            if not isinstance(k, str) or not k or len(k) > 100:
                raise InvalidInput("custom field names are 1-100 characters", field=field)
        return dict(values)
    defs = {d["name"]: d for d in template.custom_fields}
    out: dict[str, Any] = {}
    for name, value in values.items():
        d = defs.get(name)
        if d is None:
            raise InvalidInput(
                f"the template defines no custom field {name!r}", field=f"{field}.{name}"
            )
        if value is None:
            out[name] = None
            continue
        kind = d.get("type", "string")
        ok = {
            "string": isinstance(value, str),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
            "date": isinstance(value, str) and _is_date(value),
        }[kind]
        if not ok:
            raise InvalidInput(f"{name} is a {kind}", field=f"{field}.{name}")
        if d.get("options") and value not in d["options"]:
            raise InvalidInput(
                f"{name} is one of {', '.join(map(str, d['options']))}", field=f"{field}.{name}"
            )
        out[name] = value
    if not partial:
        for name, d in defs.items():
            if d.get("required") and out.get(name) in (None, ""):
                raise InvalidInput(f"the custom field {name} is required", field=f"{field}.{name}")
    return out


def _is_date(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


_ATTACK_GALAXY = "mitre-attack-pattern"


def check_techniques(
    session: Session, refs: Sequence[str], field: str = "techniques"
) -> list[dict[str, Any]]:
    """MITRE ATT&CK techniques from the galaxy data: by id (T1566, T1566.001), cluster
    uuid or tag name."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    if not refs:
        return out
    from shieldwall.knowledge.galaxies import load_clusters

    galaxy = session.execute(
        sa.select(Galaxy).where(Galaxy.type == _ATTACK_GALAXY)
    ).scalar_one_or_none()
    if galaxy is None:
        raise InvalidInput("the MITRE ATT&CK galaxy is not installed", field=field)
    load_clusters(session, galaxy)
    for i, ref in enumerate(refs):
        ref = ref.strip()
        q = (
            sa.select(GalaxyCluster)
            .join(Galaxy, Galaxy.id == GalaxyCluster.galaxy_id)
            .where(Galaxy.type == _ATTACK_GALAXY)
        )
        if ref.upper().startswith("T") and ref[1:].replace(".", "").isdigit():
            like = f"% - {ref.upper()}"
            q = q.where(GalaxyCluster.value.like(like))
        elif ref.startswith("misp-galaxy:"):
            q = q.where(GalaxyCluster.tag_name == ref)
        else:
            q = q.where(GalaxyCluster.uuid == ref.lower())
        cluster = session.execute(q.limit(1)).scalars().first()
        if cluster is None:
            raise InvalidInput(
                f"no MITRE ATT&CK technique {ref!r} in the galaxy data", field=f"{field}[{i}]"
            )
        technique_id = cluster.value.rsplit(" - ", 1)[-1]
        if cluster.uuid in seen:
            continue
        seen.add(cluster.uuid)
        out.append(
            {
                "id": technique_id,
                "name": cluster.value.rsplit(" - ", 1)[0],
                "cluster_uuid": cluster.uuid,
                "tag": cluster.tag_name,
            }
        )
    return out


def _template(session: Session, ctx: Ctx, ref: str) -> CaseTemplate:
    from shieldwall.response.templates import get_template

    return get_template(session, ctx, ref)


def create_case(session: Session, ctx: Ctx, data: CaseIn) -> Case:
    """A case of the caller's organisation: by hand, from a template and/or from alerts
    (merged into it; their observables copied)."""
    require(ctx, Permission.CASE_MANAGE)
    template = _template(session, ctx, data.template) if data.template else None
    alerts = _mergeable_alerts(session, ctx, data.alerts) if data.alerts else []
    title = data.title or (alerts[0].title if alerts else None)
    if not title:
        raise InvalidInput("a case needs a title (or alerts to take it from)", field="title")
    if (
        template is not None
        and template.title_prefix
        and not title.startswith(template.title_prefix)
    ):
        title = f"{template.title_prefix} {title}"
    severity = data.severity or (template.severity if template else None)
    if severity is None:
        severity = max((a.severity for a in alerts), key=SEVERITIES.index, default="medium")
    tlp = data.tlp or (template.tlp if template else "amber")
    for a in alerts:
        tlp = stricter_tlp(tlp, a.tlp) if data.tlp is None else tlp
    tags = list(data.tags) if data.tags is not None else list(template.tags if template else [])
    for a in alerts:
        tags += [t for t in a.tags if t not in tags]
    at = now()
    case = Case(
        org_id=ctx.org_id,
        number=_next_number(session, ctx.org_id),
        title=title,
        description=data.description
        if data.description is not None
        else (template.description if template else (alerts[0].description if alerts else "")),
        severity=severity,
        tlp=tlp,
        pap=data.pap or (template.pap if template else "amber"),
        tags=tags,
        template_id=template.id if template else None,
        custom_fields=_check_custom_fields(template, data.custom_fields),
        techniques=check_techniques(session, data.techniques),
        created_by_id=ctx.principal.user_id,
        created_at=at,
        modified_at=at,
    )
    session.add(case)
    session.flush()
    sla.stamp_case(session, case)
    terms.index_case(session, case)
    if data.assignee:
        case.assignee_id = assignee_for(session, ctx, case, data.assignee).id
        case.acknowledged_at = at  # somebody has it
    timeline(
        session,
        ctx,
        case.id,
        "case.created",
        f"case #{case.number} opened: {case.title[:200]}",
        at=at,
    )
    if template is not None:
        for i, t in enumerate(template.tasks):
            session.add(
                CaseTask(
                    case_id=case.id,
                    title=t["title"],
                    group=t.get("group", "default"),
                    description=t.get("description", ""),
                    order=i,
                    org_id=ctx.org_id,
                )
            )
        timeline(
            session,
            ctx,
            case.id,
            "template.applied",
            f"template {template.name}: {len(template.tasks)} tasks",
        )
    for i, obs in enumerate(data.observables):
        observables.add_observable(session, ctx, case, obs, f"observables[{i}]")
    if alerts:
        _merge(session, ctx, case, alerts)
    session.flush()
    record(
        session,
        ctx.actor,
        "create",
        "Case",
        model_id=case.id,
        model_uuid=case.uuid,
        title=case.title[:200],
        change={"number": case.number, "severity": case.severity, "alerts": [a.id for a in alerts]},
    )
    notify(
        session,
        Message(
            "case.created",
            f"case #{case.number} opened ({case.severity}): {case.title[:200]}",
            link=f"/api/v1/cases/{case.id}",
            payload={"case_id": case.id, "case_uuid": case.uuid},
        ),
        orgs=[case.org_id],
        org_permission=Permission.CASE_MANAGE,
        skip_user=ctx.principal.user_id,
    )
    if case.assignee_id and case.assignee_id != ctx.principal.user_id:
        _tellassignee_for(session, case)
    return case


def _tellassignee_for(session: Session, case: Case) -> None:
    notify(
        session,
        Message(
            "case.assigned",
            f"case #{case.number} assigned to you: {case.title[:200]}",
            link=f"/api/v1/cases/{case.id}",
            payload={"case_id": case.id},
        ),
        users=[case.assignee_id] if case.assignee_id else [],
    )


def update_case(session: Session, ctx: Ctx, ref: str, data: CaseUpdate) -> Case:
    """Change a case's fields; status moves along the workflow, resolving records the
    resolution (and summary); closing needs a resolved case."""
    access = case_access(session, ctx, ref, "full")
    case = access.case
    change = data.model_dump(exclude_unset=True)
    if not change:
        return case
    at = now()
    recorded: dict[str, Any] = {}
    for name in ("title", "description", "tlp", "pap", "tags", "summary"):
        if name in change and change[name] is not None and change[name] != getattr(case, name):
            if name == "tlp":
                _check_shared_tlp(session, case, change[name])
            recorded[name] = [getattr(case, name), change[name]]
            setattr(case, name, change[name])
    if change.get("severity") and change["severity"] != case.severity:
        recorded["severity"] = [case.severity, change["severity"]]
        case.severity = change["severity"]
        sla.stamp_case(session, case)
    if "custom_fields" in change and change["custom_fields"] is not None:
        template = session.get(CaseTemplate, case.template_id) if case.template_id else None
        merged = {
            **case.custom_fields,
            **_check_custom_fields(template, change["custom_fields"], partial=True),
        }
        case.custom_fields = merged
        recorded["custom_fields"] = change["custom_fields"]
    if "techniques" in change and change["techniques"] is not None:
        case.techniques = check_techniques(session, change["techniques"])
        recorded["techniques"] = [t["id"] for t in case.techniques]
    if "assignee" in change:
        ref_ = change["assignee"]
        new_id = None if not ref_ else assignee_for(session, ctx, case, ref_).id
        if new_id != case.assignee_id:
            recorded["assignee"] = [case.assignee_id, new_id]
            case.assignee_id = new_id
            if case.status == "new" and new_id is not None and case.acknowledged_at is None:
                case.acknowledged_at = at
            if new_id and new_id != ctx.principal.user_id:
                _tellassignee_for(session, case)
    if "duplicate_of" in change and change["duplicate_of"] is not None:
        if change["duplicate_of"] == case.id:
            raise InvalidInput("a case is no duplicate of itself", field="duplicate_of")
        case_access(session, ctx, change["duplicate_of"])  # must be readable
        case.duplicate_of_id = change["duplicate_of"]
    status = change.get("status")
    if status and status != case.status:
        _move(session, ctx, case, status, change.get("resolution"), at)
        recorded["status"] = status
    elif change.get("resolution") and change["resolution"] != case.resolution:
        if case.status not in ("resolved", "closed"):
            raise InvalidInput(
                "a resolution is set when resolving (status resolved)", field="resolution"
            )
        case.resolution = change["resolution"]
        recorded["resolution"] = change["resolution"]
    if case.resolution == "duplicate" and case.duplicate_of_id is None and status == "resolved":
        raise InvalidInput(
            "a duplicate names the case it duplicates (duplicate_of)", field="duplicate_of"
        )
    case.modified_at = at
    session.flush()
    if "title" in recorded or "tags" in recorded:
        terms.index_case(session, case)
    shown = {k: v for k, v in recorded.items() if k not in ("description", "summary")}
    if shown:
        timeline(
            session,
            ctx,
            case.id,
            "case.updated",
            "changed " + ", ".join(sorted(shown)),
            {k: v for k, v in shown.items() if k != "status"},
            at,
        )
    record(
        session,
        ctx.actor,
        "update",
        "Case",
        model_id=case.id,
        model_uuid=case.uuid,
        title=case.title[:200],
        change=recorded,
    )
    return case


def _move(
    session: Session, ctx: Ctx, case: Case, status: str, resolution: str | None, at: datetime
) -> None:
    if status not in TRANSITIONS[case.status]:
        raise InvalidInput(
            f"a {case.status} case moves to {' or '.join(TRANSITIONS[case.status])}, not {status}",
            field="status",
        )
    before = case.status
    if status == "resolved":
        if resolution is None:
            raise InvalidInput(
                "resolving records the resolution: true_positive, false_positive, duplicate or other",
                field="resolution",
            )
        case.resolution = resolution
        case.resolved_at = at
        if case.acknowledged_at is None:
            case.acknowledged_at = at
    elif status == "in_progress":
        if case.acknowledged_at is None:
            case.acknowledged_at = at
        if before in ("resolved", "closed"):  # reopened
            case.resolution = None
            case.resolved_at = None
            case.closed_at = None
    elif status == "closed":
        case.closed_at = at
    case.status = status
    what = f"status {before} -> {status}" + (f" ({resolution})" if status == "resolved" else "")
    timeline(
        session,
        ctx,
        case.id,
        "case.status",
        what,
        {"from": before, "to": status, "resolution": case.resolution},
        at,
    )
    notify(
        session,
        Message(
            "case.status",
            f"case #{case.number} {what}: {case.title[:200]}",
            link=f"/api/v1/cases/{case.id}",
            payload={
                "case_id": case.id,
                "from": before,
                "to": status,
                "resolution": case.resolution,
            },
        ),
        users=[case.assignee_id] if case.assignee_id else [],
        orgs=[case.org_id],
        org_permission=Permission.CASE_MANAGE,
        skip_user=ctx.principal.user_id,
    )


def delete_case(session: Session, ctx: Ctx, ref: str) -> None:
    """Delete a case: its organisation's, with response:case:manage; site admins."""
    access = case_access(session, ctx, ref, "full")
    case = access.case
    if case.org_id != ctx.org_id and not ctx.principal.is_site_admin:
        raise Forbidden("only the case's organisation deletes it")
    from shieldwall.response.models import AssistanceRequest

    if session.execute(
        sa.select(AssistanceRequest.id).where(AssistanceRequest.case_id == case.id)
    ).first():
        raise Conflict(
            "the case has an assistance request; close it rather than delete", field="case"
        )
    session.execute(
        sa.update(Alert).where(Alert.case_id == case.id).values(case_id=None, status="acknowledged")
    )
    session.delete(case)
    session.flush()
    record(
        session,
        ctx.actor,
        "delete",
        "Case",
        model_id=case.id,
        model_uuid=case.uuid,
        title=case.title[:200],
    )


# ---------------------------------------------------------------- alerts into cases


def _mergeable_alerts(session: Session, ctx: Ctx, ids: Sequence[int]) -> list[Alert]:
    require(ctx, Permission.ALERT_MANAGE)
    wanted = sorted(set(ids))
    rows = {
        a.id: a
        for a in session.execute(
            sa.select(Alert).where(Alert.id.in_(wanted), Alert.org_id == ctx.org_id)
        ).scalars()
    }
    for i, alert_id in enumerate(ids):
        alert = rows.get(alert_id)
        if alert is None:
            raise NotFound(f"alert {alert_id} not found", field=f"alerts[{i}]")
        if alert.status == "merged":
            raise Conflict(
                f"alert {alert_id} is already merged into case {alert.case_id}",
                field=f"alerts[{i}]",
            )
    return [rows[i] for i in wanted]


def _merge(session: Session, ctx: Ctx, case: Case, alerts: Sequence[Alert]) -> int:
    at = now()
    copied = 0
    for alert in alerts:
        alert.status = "merged"
        alert.case_id = case.id
        if alert.acknowledged_at is None:
            alert.acknowledged_at = at
            alert.acknowledged_by_id = ctx.principal.user_id
        for obs in session.execute(
            sa.select(AlertObservable).where(AlertObservable.alert_id == alert.id)
        ).scalars():
            if observables.insert_observable(
                session,
                case,
                obs.type,
                obs.value,
                obs.value_key,
                obs.tlp,
                obs.ioc,
                obs.sighted,
                obs.tags,
                obs.message,
                alert.attribute_id if obs.value == alert.observable else None,
            ):
                copied += 1
        timeline(
            session,
            ctx,
            case.id,
            "alert.merged",
            f"alert {alert.id} merged: {alert.title[:200]}",
            {"alert_id": alert.id, "source": alert.source, "source_ref": alert.source_ref},
            at,
        )
    return copied


def merge_alerts(session: Session, ctx: Ctx, ref: str, alert_ids: Sequence[int]) -> int:
    """Merge the caller's organisation's alerts into a case; returns observables added."""
    access = case_access(session, ctx, ref, "contribute")
    alerts = _mergeable_alerts(session, ctx, alert_ids)
    copied = _merge(session, ctx, access.case, alerts)
    access.case.modified_at = now()
    session.flush()
    record(
        session,
        ctx.actor,
        "merge",
        "Case",
        model_id=access.case.id,
        model_uuid=access.case.uuid,
        title=access.case.title[:200],
        change={"alerts": [a.id for a in alerts], "observables": copied},
    )
    return copied


# ---------------------------------------------------------------- sharing


def _check_shared_tlp(session: Session, case: Case, tlp: str) -> None:
    if tlp == "amber+strict":
        shared = session.execute(
            sa.select(CaseShare.id).where(CaseShare.case_id == case.id).limit(1)
        ).first()
        if shared:
            raise InvalidInput(
                "a TLP:AMBER+STRICT case stays in its organisation: unshare it first", field="tlp"
            )


def shares(session: Session, case_id: int) -> list[tuple[CaseShare, str]]:
    rows = session.execute(
        sa.select(CaseShare, Organisation.name)
        .join(Organisation, Organisation.id == CaseShare.org_id)
        .where(CaseShare.case_id == case_id)
        .order_by(CaseShare.id)
    ).all()
    return [(r[0], r[1]) for r in rows]


def share_out(s: CaseShare, org: str) -> dict[str, Any]:
    return {
        "org_id": s.org_id,
        "org": org,
        "profile": s.profile,
        "created_at": s.created_at.isoformat(),
    }


def share_case(session: Session, ctx: Ctx, ref: str, data: ShareIn) -> CaseShare:
    """Share the caller's organisation's case with another organisation (profile
    read_only, contribute or full); sharing again changes the profile. The receiving
    organisation is notified."""
    require(ctx, Permission.CASE_SHARE)
    access = case_access(session, ctx, ref, "full")
    case = access.case
    if case.org_id != ctx.org_id and not ctx.principal.is_site_admin:
        raise Forbidden("only the case's organisation shares it")
    if case.tlp == "amber+strict":
        raise InvalidInput(
            "a TLP:AMBER+STRICT case cannot leave its organisation; lower its TLP first",
            field="org",
        )
    org = get_org(session, data.org)
    if org.id == case.org_id:
        raise InvalidInput("a case is not shared with its own organisation", field="org")
    share = session.execute(
        sa.select(CaseShare).where(CaseShare.case_id == case.id, CaseShare.org_id == org.id)
    ).scalar_one_or_none()
    before = share.profile if share else None
    if share is None:
        share = CaseShare(
            case_id=case.id,
            org_id=org.id,
            profile=data.profile,
            created_by_id=ctx.principal.user_id,
        )
        session.add(share)
    share.profile = data.profile
    session.flush()
    timeline(
        session,
        ctx,
        case.id,
        "case.shared",
        f"shared with {org.name} ({data.profile})"
        if before is None
        else f"share with {org.name}: {before} -> {data.profile}",
        {"org_id": org.id, "profile": data.profile},
    )
    record(
        session,
        ctx.actor,
        "share",
        "Case",
        model_id=case.id,
        model_uuid=case.uuid,
        title=case.title[:200],
        change={"org_id": org.id, "profile": [before, data.profile]},
    )
    if before is None:
        owner = org_names(session, {case.org_id}).get(case.org_id, "another organisation")
        notify(
            session,
            Message(
                "case.shared",
                f"case #{case.number} of {owner} shared with {org.name} ({data.profile}): {case.title[:200]}",
                link=f"/api/v1/cases/{case.id}",
                payload={
                    "case_id": case.id,
                    "case_uuid": case.uuid,
                    "profile": data.profile,
                    "from_org_id": case.org_id,
                },
            ),
            orgs=[org.id],
            org_permission=Permission.CASE_MANAGE,
        )
    return share


def unshare_case(session: Session, ctx: Ctx, ref: str, org_ref: str) -> None:
    """End a share: the organisation's users lose the case at once (their next read)."""
    require(ctx, Permission.CASE_SHARE)
    access = case_access(session, ctx, ref, "full")
    case = access.case
    if case.org_id != ctx.org_id and not ctx.principal.is_site_admin:
        raise Forbidden("only the case's organisation unshares it")
    org = get_org(session, org_ref)
    share = session.execute(
        sa.select(CaseShare).where(CaseShare.case_id == case.id, CaseShare.org_id == org.id)
    ).scalar_one_or_none()
    if share is None:
        raise NotFound(f"the case is not shared with {org.name}", field="org")
    session.delete(share)
    # Their assignments go with their access.
    members = sa.select(User.id).where(User.org_id == org.id)
    if (
        case.assignee_id is not None
        and session.execute(members.where(User.id == case.assignee_id)).first()
    ):
        case.assignee_id = None
    session.execute(
        sa.update(CaseTask)
        .where(CaseTask.case_id == case.id, CaseTask.assignee_id.in_(members))
        .values(assignee_id=None)
    )
    session.flush()
    timeline(
        session,
        ctx,
        case.id,
        "case.unshared",
        f"no longer shared with {org.name}",
        {"org_id": org.id},
    )
    record(
        session,
        ctx.actor,
        "unshare",
        "Case",
        model_id=case.id,
        model_uuid=case.uuid,
        title=case.title[:200],
        change={"org_id": org.id},
    )
    notify(
        session,
        Message(
            "case.unshared",
            f"case #{case.number} is no longer shared with {org.name}",
            payload={"case_uuid": case.uuid},
        ),
        orgs=[org.id],
        org_permission=Permission.CASE_MANAGE,
    )


# ---------------------------------------------------------------- timeline


def case_timeline(
    session: Session, ctx: Ctx, ref: str, after: int = 0, limit: int = 500
) -> list[dict[str, Any]]:
    access = case_access(session, ctx, ref)
    rows = list(
        session.execute(
            sa.select(CaseTimeline)
            .where(CaseTimeline.case_id == access.case.id, CaseTimeline.id > after)
            .order_by(CaseTimeline.id)
            .limit(page_limit(limit))
        ).scalars()
    )
    users = user_emails(session, {r.user_id for r in rows if r.user_id})
    orgs = org_names(session, {r.org_id for r in rows if r.org_id})
    return [
        {
            "id": r.id,
            "at": r.at.isoformat(),
            "kind": r.kind,
            "summary": r.summary,
            "user": users.get(r.user_id or 0),
            "org": orgs.get(r.org_id or 0),
            "details": r.details,
        }
        for r in rows
    ]
