"""Cases: opened by hand, from a template or from alerts; a status workflow with the
resolution recorded; tasks with logs and attachments; observables linked to intel; MITRE
ATT&CK techniques; a timeline of every action; shares with other organisations."""

from __future__ import annotations

import base64
import binascii
import hashlib
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
from shieldwall.intel.errors import Conflict, Forbidden, InvalidInput, NotFound, TooLarge
from shieldwall.intel.models import Attribute, Event, Sighting
from shieldwall.intel.visibility import (
    CASE_RIGHTS,
    attribute_condition,
    case_condition,
    sighting_condition,
)
from shieldwall.knowledge.models import Galaxy, GalaxyCluster
from shieldwall.response import sla
from shieldwall.response.common import (
    CaseAccess,
    case_access,
    escape_like,
    find_user,
    iso,
    normalise_observable,
    page_limit,
    right_on,
    stricter_tlp,
    timeline,
)
from shieldwall.response.models import (
    SEVERITIES,
    Alert,
    AlertObservable,
    Case,
    CaseAttachment,
    CaseObservable,
    CaseShare,
    CaseTask,
    CaseTemplate,
    CaseTimeline,
    TaskLog,
)
from shieldwall.response.notify import Message, notify
from shieldwall.response.schemas import (
    CaseIn,
    CaseUpdate,
    ObservableIn,
    PromoteIn,
    ShareIn,
    TaskIn,
    TaskLogIn,
    TaskUpdate,
)
from shieldwall.server_settings import effective_settings

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


def case_query(
    session: Session, ctx: Ctx, f: CaseFilter, at: datetime | None = None
) -> sa.Select[Any]:
    at = at or now()
    q = sa.select(Case).where(case_condition(ctx.principal, at))
    if f.status:
        q = q.where(Case.status.in_(f.status))
    if f.severity:
        q = q.where(Case.severity.in_(f.severity))
    if f.assignee:
        if f.assignee == "me":
            q = q.where(Case.assignee_id == ctx.principal.user_id)
        elif f.assignee == "none":
            q = q.where(Case.assignee_id.is_(None))
        else:
            q = q.where(Case.assignee_id == find_user(session, f.assignee, "assignee").id)
    if f.tag:
        # JSON arrays: the tag in quotes within the stored list.
        q = q.where(sa.cast(Case.tags, sa.Text).like(f'%"{escape_like(f.tag)}"%', escape="\\"))
    if f.q:
        q = q.where(Case.title.ilike(f"%{escape_like(f.q)}%", escape="\\"))
    if f.breached is True:
        q = q.where(sla.breached_cases_condition(at))
    elif f.breached is False:
        q = q.where(~sla.breached_cases_condition(at))
    if f.org_id is not None:
        q = q.where(Case.org_id == f.org_id)
    if f.shared is True:
        q = q.where(Case.org_id != ctx.org_id)
    elif f.shared is False:
        q = q.where(Case.org_id == ctx.org_id)
    if f.number is not None:
        q = q.where(Case.number == f.number)
    if f.after:
        q = q.where(Case.id < f.after)
    return q.order_by(Case.id.desc()).limit(page_limit(f.limit))


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
            "tasks": [task_out(t) for t in tasks(session, c.id)],
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


def _assignee(session: Session, ctx: Ctx, case: Case, ref: str, field: str = "assignee") -> User:
    """An assignee reads the case: a user of its organisation, of an organisation it is
    shared with, or deployed on it."""
    user = find_user(session, ref, field)
    from shieldwall.intel.visibility import Principal

    probe = Ctx(Principal(org_id=user.org_id, user_id=user.id, kind="user"), ctx.actor, ctx.opts)
    if user.org_id != case.org_id and right_on(session, probe, case) == "none":
        raise InvalidInput(
            f"{user.email} cannot read this case, so cannot be assigned to it", field=field
        )
    return user


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
    if data.assignee:
        case.assignee_id = _assignee(session, ctx, case, data.assignee).id
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
        _add_observable(session, ctx, case, obs, f"observables[{i}]")
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
        _tell_assignee(session, case)
    return case


def _tell_assignee(session: Session, case: Case) -> None:
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
        new_id = None if not ref_ else _assignee(session, ctx, case, ref_).id
        if new_id != case.assignee_id:
            recorded["assignee"] = [case.assignee_id, new_id]
            case.assignee_id = new_id
            if case.status == "new" and new_id is not None and case.acknowledged_at is None:
                case.acknowledged_at = at
            if new_id and new_id != ctx.principal.user_id:
                _tell_assignee(session, case)
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
            if _insert_observable(
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


# ---------------------------------------------------------------- tasks and logs


def tasks(session: Session, case_id: int) -> list[CaseTask]:
    return list(
        session.execute(
            sa.select(CaseTask)
            .where(CaseTask.case_id == case_id)
            .order_by(CaseTask.order, CaseTask.id)
        ).scalars()
    )


def task_out(t: CaseTask) -> dict[str, Any]:
    return {
        "id": t.id,
        "uuid": t.uuid,
        "case_id": t.case_id,
        "title": t.title,
        "group": t.group,
        "description": t.description,
        "status": t.status,
        "assignee_id": t.assignee_id,
        "due_at": iso(t.due_at),
        "overdue": t.due_at is not None
        and t.status not in ("completed", "cancelled")
        and t.due_at <= now(),
        "order": t.order,
        "org_id": t.org_id,
        "started_at": iso(t.started_at),
        "completed_at": iso(t.completed_at),
        "created_at": t.created_at.isoformat(),
    }


def _task(session: Session, ctx: Ctx, task_id: int, need: str) -> tuple[CaseAccess, CaseTask]:
    task = session.get(CaseTask, task_id)
    if task is None:
        raise NotFound(f"task {task_id} not found", field="task")
    try:
        access = case_access(session, ctx, task.case_id, need)
    except NotFound:
        raise NotFound(f"task {task_id} not found", field="task") from None
    return access, task


def add_task(session: Session, ctx: Ctx, ref: str, data: TaskIn) -> CaseTask:
    access = case_access(session, ctx, ref, "contribute")
    case = access.case
    order = data.order
    if order is None:
        top = session.execute(
            sa.select(sa.func.max(CaseTask.order)).where(CaseTask.case_id == case.id)
        ).scalar()
        order = int(top if top is not None else -1) + 1
    task = CaseTask(
        case_id=case.id,
        title=data.title,
        group=data.group,
        description=data.description,
        due_at=data.due_at,
        order=order,
        org_id=ctx.org_id,
    )
    if data.assignee:
        task.assignee_id = _assignee(session, ctx, case, data.assignee).id
    session.add(task)
    session.flush()
    timeline(
        session,
        ctx,
        case.id,
        "task.created",
        f"task added: {task.title[:200]}",
        {"task_id": task.id},
    )
    record(
        session,
        ctx.actor,
        "create",
        "CaseTask",
        model_id=task.id,
        model_uuid=task.uuid,
        title=task.title[:200],
        change={"case_id": case.id},
    )
    if task.assignee_id and task.assignee_id != ctx.principal.user_id:
        _tell_task_assignee(session, case, task)
    return task


def _tell_task_assignee(session: Session, case: Case, task: CaseTask) -> None:
    notify(
        session,
        Message(
            "task.assigned",
            f"task assigned to you on case #{case.number}: {task.title[:200]}",
            link=f"/api/v1/tasks/{task.id}",
            payload={"case_id": case.id, "task_id": task.id},
        ),
        users=[task.assignee_id] if task.assignee_id else [],
    )


def update_task(session: Session, ctx: Ctx, task_id: int, data: TaskUpdate) -> CaseTask:
    access, task = _task(session, ctx, task_id, "contribute")
    change = data.model_dump(exclude_unset=True)
    at = now()
    recorded: dict[str, Any] = {}
    for name in ("title", "group", "description", "due_at", "order"):
        if name in change and change[name] != getattr(task, name):
            recorded[name] = (
                change[name].isoformat() if isinstance(change[name], datetime) else change[name]
            )
            setattr(task, name, change[name])
    if "assignee" in change:
        new_id = (
            None
            if not change["assignee"]
            else _assignee(session, ctx, access.case, change["assignee"]).id
        )
        if new_id != task.assignee_id:
            task.assignee_id = new_id
            recorded["assignee"] = new_id
            if new_id and new_id != ctx.principal.user_id:
                _tell_task_assignee(session, access.case, task)
    status = change.get("status")
    if status and status != task.status:
        recorded["status"] = [task.status, status]
        task.status = status
        if status == "in_progress" and task.started_at is None:
            task.started_at = at
        if status in ("completed", "cancelled"):
            task.completed_at = at
        else:
            task.completed_at = None
    if not recorded:
        return task
    task.modified_at = at
    access.case.modified_at = at
    session.flush()
    what = f"task {task.title[:150]}: " + ", ".join(
        f"{k} {v[0]} -> {v[1]}" if k == "status" else k for k, v in recorded.items()
    )
    timeline(
        session,
        ctx,
        access.case.id,
        "task.updated",
        what,
        {"task_id": task.id, **{k: v for k, v in recorded.items() if k != "description"}},
        at,
    )
    record(
        session,
        ctx.actor,
        "update",
        "CaseTask",
        model_id=task.id,
        model_uuid=task.uuid,
        title=task.title[:200],
        change=recorded,
    )
    return task


def get_task(session: Session, ctx: Ctx, task_id: int) -> CaseTask:
    return _task(session, ctx, task_id, "read_only")[1]


def _attachment(session: Session, ctx: Ctx, case: Case, data: Any) -> CaseAttachment:
    limit = effective_settings().attachment_max_bytes
    compact = "".join(data.data.split())
    if len(compact) * 3 // 4 > limit + 2:
        raise TooLarge(
            f"the attachment is larger than {limit // (1024 * 1024)} MiB (SHIELDWALL_ATTACHMENT_MAX_MB)",
            field="attachment.data",
        )
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("attachment data is not valid base64", field="attachment.data") from None
    if len(raw) > limit:
        raise TooLarge(
            f"the attachment is larger than {limit // (1024 * 1024)} MiB (SHIELDWALL_ATTACHMENT_MAX_MB)",
            field="attachment.data",
        )
    name = data.name.replace("/", "_").replace("\\", "_")
    att = CaseAttachment(
        case_id=case.id,
        name=name,
        content_type=data.content_type,
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        data=raw,
        created_by_id=ctx.principal.user_id,
    )
    session.add(att)
    session.flush()
    return att


def add_log(session: Session, ctx: Ctx, task_id: int, data: TaskLogIn) -> TaskLog:
    """A log on a task (contributors and up), with an optional attachment."""
    access, task = _task(session, ctx, task_id, "contribute")
    att = _attachment(session, ctx, access.case, data.attachment) if data.attachment else None
    log = TaskLog(
        task_id=task.id,
        case_id=task.case_id,
        message=data.message,
        author_id=ctx.principal.user_id,
        org_id=ctx.org_id,
        attachment_id=att.id if att else None,
    )
    session.add(log)
    if task.status == "waiting":
        task.status = "in_progress"
        task.started_at = now()
    session.flush()
    timeline(
        session,
        ctx,
        task.case_id,
        "task.log",
        f"log on {task.title[:150]}" + (f" with {att.name} ({att.size} bytes)" if att else ""),
        {
            "task_id": task.id,
            "log_id": log.id,
            **({"attachment": att.uuid, "sha256": att.sha256} if att else {}),
        },
    )
    record(
        session,
        ctx.actor,
        "create",
        "TaskLog",
        model_id=log.id,
        model_uuid=log.uuid,
        title=task.title[:200],
        change={
            "task_id": task.id,
            **({"attachment_sha256": att.sha256, "size": att.size} if att else {}),
        },
    )
    return log


def task_logs(
    session: Session, ctx: Ctx, task_id: int
) -> list[tuple[TaskLog, CaseAttachment | None]]:
    _task(session, ctx, task_id, "read_only")
    rows = session.execute(
        sa.select(TaskLog, CaseAttachment)
        .outerjoin(CaseAttachment, CaseAttachment.id == TaskLog.attachment_id)
        .where(TaskLog.task_id == task_id)
        .order_by(TaskLog.id)
    ).all()
    return [(r[0], r[1]) for r in rows]


def log_out(
    log: TaskLog, att: CaseAttachment | None, authors: dict[int, str] | None = None
) -> dict[str, Any]:
    return {
        "id": log.id,
        "uuid": log.uuid,
        "task_id": log.task_id,
        "message": log.message,
        "author_id": log.author_id,
        "author": (authors or {}).get(log.author_id or 0),
        "org_id": log.org_id,
        "created_at": log.created_at.isoformat(),
        "attachment": attachment_out(att) if att else None,
    }


def attachment_out(a: CaseAttachment) -> dict[str, Any]:
    return {
        "id": a.uuid,
        "name": a.name,
        "content_type": a.content_type,
        "size": a.size,
        "sha256": a.sha256,
    }


def get_attachment(session: Session, ctx: Ctx, ref: str, attachment_uuid: str) -> CaseAttachment:
    access = case_access(session, ctx, ref)
    att = session.execute(
        sa.select(CaseAttachment)
        .where(CaseAttachment.case_id == access.case.id, CaseAttachment.uuid == attachment_uuid)
        .options(sa.orm.undefer(CaseAttachment.data))
    ).scalar_one_or_none()
    if att is None:
        raise NotFound(f"attachment {attachment_uuid!r} not found", field="attachment")
    return att


# ---------------------------------------------------------------- observables


def _insert_observable(
    session: Session,
    case: Case,
    type_: str,
    value: str,
    key: str,
    tlp: str,
    ioc: bool,
    sighted: bool,
    tags: list[str],
    message: str,
    attribute_id: int | None = None,
) -> CaseObservable | None:
    existing = session.execute(
        sa.select(CaseObservable).where(
            CaseObservable.case_id == case.id,
            CaseObservable.type == type_,
            CaseObservable.value_key == key,
        )
    ).scalar_one_or_none()
    if existing is not None:
        existing.ioc = existing.ioc or ioc
        existing.sighted = existing.sighted or sighted
        existing.tags = sorted(set(existing.tags) | set(tags))
        if attribute_id and existing.attribute_id is None:
            existing.attribute_id = attribute_id
        return None
    obs = CaseObservable(
        case_id=case.id,
        type=type_,
        value=value,
        value_key=key,
        tlp=tlp,
        ioc=ioc,
        sighted=sighted,
        tags=sorted(set(tags)),
        message=message,
        attribute_id=attribute_id,
    )
    session.add(obs)
    session.flush()
    return obs


def _add_observable(
    session: Session, ctx: Ctx, case: Case, data: ObservableIn, field: str
) -> CaseObservable | None:
    n = normalise_observable(data, field)
    return _insert_observable(
        session,
        case,
        n.type,
        n.value,
        n.key,
        data.tlp,
        data.ioc,
        data.sighted,
        data.tags,
        data.message,
    )


def add_observables(
    session: Session, ctx: Ctx, ref: str, items: Sequence[ObservableIn]
) -> list[CaseObservable]:
    access = case_access(session, ctx, ref, "contribute")
    added = []
    for i, data in enumerate(items):
        obs = _add_observable(session, ctx, access.case, data, f"[{i}]")
        if obs is not None:
            added.append(obs)
    if added:
        timeline(
            session,
            ctx,
            access.case.id,
            "observable.added",
            f"{len(added)} observables added",
            {"observables": [f"{o.type}:{o.value[:100]}" for o in added[:20]]},
        )
        record(
            session,
            ctx.actor,
            "create",
            "CaseObservable",
            model_id=access.case.id,
            model_uuid=access.case.uuid,
            title=f"{len(added)} observables",
        )
    return added


def delete_observable(session: Session, ctx: Ctx, ref: str, observable_id: int) -> None:
    access = case_access(session, ctx, ref, "contribute")
    obs = session.get(CaseObservable, observable_id)
    if obs is None or obs.case_id != access.case.id:
        raise NotFound(f"observable {observable_id} not found", field="observable")
    session.delete(obs)
    session.flush()
    timeline(
        session,
        ctx,
        access.case.id,
        "observable.removed",
        f"observable removed: {obs.type} {obs.value[:100]}",
    )
    record(
        session,
        ctx.actor,
        "delete",
        "CaseObservable",
        model_id=observable_id,
        title=obs.value[:200],
    )


def observables(session: Session, ctx: Ctx, ref: str) -> list[dict[str, Any]]:
    """The case's observables, each with what intel knows of it as far as the caller may
    read: the linked attribute and its sightings (count, last seen), and other readable
    attributes of the same value."""
    access = case_access(session, ctx, ref)
    rows = list(
        session.execute(
            sa.select(CaseObservable)
            .where(CaseObservable.case_id == access.case.id)
            .order_by(CaseObservable.id)
        ).scalars()
    )
    linked = _readable_attributes(session, ctx, {o.attribute_id for o in rows if o.attribute_id})
    sightings = _sighting_summary(session, ctx, sorted(linked))
    known = _known_in_intel(session, ctx, rows)
    out = []
    for o in rows:
        item = observable_out(o)
        attr = linked.get(o.attribute_id or 0)
        item["attribute"] = (
            {
                "id": attr[0],
                "uuid": attr[1],
                "event_id": attr[2],
                "event_uuid": attr[3],
                "sightings": sightings.get(
                    attr[0], {"count": 0, "false_positives": 0, "last_seen": None}
                ),
            }
            if attr
            else None
        )
        events = known.get((o.type, o.value), [])
        item["intel"] = {"events": events[:10], "event_count": len(events)}
        if attr and sightings.get(attr[0], {}).get("count"):
            item["sighted"] = True
        out.append(item)
    return out


def observable_out(o: CaseObservable) -> dict[str, Any]:
    return {
        "id": o.id,
        "uuid": o.uuid,
        "type": o.type,
        "value": o.value,
        "tlp": o.tlp,
        "ioc": o.ioc,
        "sighted": o.sighted,
        "tags": o.tags,
        "message": o.message,
        "attribute_id": o.attribute_id,
        "created_at": o.created_at.isoformat(),
    }


def _readable_attributes(
    session: Session, ctx: Ctx, ids: set[int]
) -> dict[int, tuple[int, str, int, str]]:
    if not ids:
        return {}
    rows = session.execute(
        sa.select(Attribute.id, Attribute.uuid, Event.id, Event.uuid)
        .join(Event, Event.id == Attribute.event_id)
        .where(Attribute.id.in_(sorted(ids)), attribute_condition(ctx.principal, ctx.opts))
    ).all()
    return {r[0]: (r[0], r[1], r[2], r[3]) for r in rows}


def _sighting_summary(
    session: Session, ctx: Ctx, attribute_ids: list[int]
) -> dict[int, dict[str, Any]]:
    if not attribute_ids:
        return {}
    rows = session.execute(
        sa.select(
            Sighting.attribute_id,
            Sighting.type,
            sa.func.count(),
            sa.func.max(Sighting.date_sighting),
        )
        .join(Attribute, Attribute.id == Sighting.attribute_id)
        .join(Event, Event.id == Sighting.event_id)
        .where(
            Sighting.attribute_id.in_(attribute_ids), sighting_condition(ctx.principal, ctx.opts)
        )
        .group_by(Sighting.attribute_id, Sighting.type)
    ).all()
    out: dict[int, dict[str, Any]] = {}
    for attr_id, kind, count, last in rows:
        s = out.setdefault(attr_id, {"count": 0, "false_positives": 0, "last_seen": None})
        if kind == 0:
            s["count"] += count
            s["last_seen"] = last.isoformat() if last else None
        elif kind == 1:
            s["false_positives"] += count
    return out


def _known_in_intel(
    session: Session, ctx: Ctx, rows: Sequence[CaseObservable]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Readable events holding each observable's value (exact, on either part)."""
    if not rows:
        return {}
    from shieldwall.intel.search import SearchFilter, search_attributes

    values = sorted({o.value for o in rows})[:1000]
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    hits = search_attributes(session, ctx, SearchFilter(value=values, limit=5000))
    by_value: dict[str, dict[int, str]] = {}
    for attr, event_uuid in hits:
        for v in {attr.value1, attr.value2, attr.value} - {""}:
            by_value.setdefault(v, {})[attr.event_id] = event_uuid
    for o in rows:
        events = by_value.get(o.value, {})
        out[(o.type, o.value)] = [{"id": eid, "uuid": u} for eid, u in sorted(events.items())]
    return out


def promote(session: Session, ctx: Ctx, ref: str, data: PromoteIn) -> tuple[Event, int]:
    """Chosen observables into intel: a new event of the caller's organisation (with the
    chosen distribution), or an existing event the caller may edit. Each attribute carries
    its observable's TLP as a tag, so the TLP guard holds; observables are linked to their
    attributes, and sightings of those attributes show on the case."""
    from shieldwall.intel import events as ev
    from shieldwall.intel.schemas import AttributeIn, EventIn, TagRef

    access = case_access(session, ctx, ref, "contribute")
    case = access.case
    wanted = sorted(set(data.observables))
    found = {
        o.id: o
        for o in session.execute(
            sa.select(CaseObservable).where(
                CaseObservable.case_id == case.id, CaseObservable.id.in_(wanted)
            )
        ).scalars()
    }
    for i, oid in enumerate(data.observables):
        if oid not in found:
            raise NotFound(f"observable {oid} is not on this case", field=f"observables[{i}]")
    chosen = [found[i] for i in wanted]
    attrs = [
        AttributeIn(
            type=o.type,
            value=o.value,
            comment=(o.message or f"from case #{case.number}")[:1000],
            to_ids=o.ioc,
            tags=[TagRef(name=f"tlp:{o.tlp}")] if o.tlp != "clear" else [TagRef(name="tlp:clear")],
        )
        for o in chosen
    ]
    # The TLP markings are the one vocabulary every promoted attribute carries: they are
    # created when missing, whatever the caller's right to create tags.
    from shieldwall.intel.common import ensure_tags
    from shieldwall.intel.visibility import Principal

    markings = sorted({t.name for a in attrs for t in a.tags} | {f"tlp:{case.tlp}"})
    tagger = Ctx(
        Principal(
            org_id=ctx.org_id,
            user_id=ctx.principal.user_id,
            permissions=frozenset({Permission.TAG_EDIT}),
        ),
        ctx.actor,
        ctx.opts,
    )
    ensure_tags(session, tagger, markings, "observables")
    if data.event:
        created = ev.add_attributes(session, ctx, data.event, attrs, break_on_duplicate=False)
        event = (
            session.get(Event, created[0].event_id)
            if created
            else ev.editable_event(session, ctx, data.event)
        )
        assert event is not None
    else:
        event = ev.create_event(
            session,
            ctx,
            EventIn(
                info=data.info or f"Case #{case.number}: {case.title}"[:65535],
                distribution=data.distribution,
                sharing_group_id=data.sharing_group_id,
                threat_level_id=data.threat_level_id,
                attributes=attrs,
                tags=[TagRef(name=f"tlp:{case.tlp}")],
            ),
        )
        created = list(
            session.execute(sa.select(Attribute).where(Attribute.event_id == event.id)).scalars()
        )
    by_value = {(a.type, a.value): a for a in created}
    linked = 0
    for o in chosen:
        attr = by_value.get((o.type, o.value))
        if attr is not None:
            o.attribute_id = attr.id
            linked += 1
    if data.publish:
        ev.publish_event(session, ctx, event.id)
    session.flush()
    timeline(
        session,
        ctx,
        case.id,
        "intel.shared",
        f"{linked} observables shared as intel in event {event.id}: {event.info[:150]}",
        {"event_id": event.id, "event_uuid": event.uuid, "distribution": event.distribution},
    )
    record(
        session,
        ctx.actor,
        "promote",
        "Case",
        model_id=case.id,
        model_uuid=case.uuid,
        title=case.title[:200],
        change={"event_id": event.id, "observables": wanted},
    )
    return event, linked


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


def sightings_flow_back(
    session: Session, attribute_ids: Sequence[int], sensor_name: str, at: datetime
) -> int:
    """A hunt sighted attributes: open cases holding them as observables note it on their
    timeline, once a sighting batch; returns the cases touched."""
    if not attribute_ids:
        return 0
    rows = session.execute(
        sa.select(CaseObservable.case_id, CaseObservable.id, CaseObservable.value)
        .join(Case, Case.id == CaseObservable.case_id)
        .where(CaseObservable.attribute_id.in_(sorted(set(attribute_ids))), Case.status.in_(OPEN))
    ).all()
    by_case: dict[int, list[str]] = {}
    for case_id, obs_id, value in rows:
        by_case.setdefault(case_id, []).append(value)
        session.execute(
            sa.update(CaseObservable).where(CaseObservable.id == obs_id).values(sighted=True)
        )
    for case_id, values in by_case.items():
        timeline(
            session,
            None,
            case_id,
            "observable.sighted",
            f"sensor {sensor_name} saw {len(values)} of the case's observables: {', '.join(v[:60] for v in values[:5])}",
            {"sensor": sensor_name, "values": values[:50]},
            at,
        )
    return len(by_case)


def right_names() -> tuple[str, ...]:
    return CASE_RIGHTS
