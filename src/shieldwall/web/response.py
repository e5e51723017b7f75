"""Response pages: the alert queue (triage, bulk actions, merge into a case), the case board
and the case (tasks, logs, timeline, observables, sharing), assistance requests (request,
decide, deploy a team, the deployment log, closure), teams and rosters."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from fastapi import Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from shieldwall.auth.models import Organisation
from shieldwall.db.engine import get_database
from shieldwall.intel.errors import InvalidInput
from shieldwall.response import alerts as alert_svc
from shieldwall.response import assistance as assist_svc
from shieldwall.response import cases as case_svc
from shieldwall.response import observables as obs_svc
from shieldwall.response import rosters as roster_svc
from shieldwall.response import tasks as task_svc
from shieldwall.response import teams as team_svc
from shieldwall.response import templates as template_svc
from shieldwall.response.common import case_access, user_emails
from shieldwall.response.schemas import (
    AlertBulk,
    AssistanceIn,
    AttachmentIn,
    CaseIn,
    CaseUpdate,
    CloseIn,
    ContactIn,
    DecisionIn,
    DeployIn,
    LogIn,
    ObservableIn,
    PromoteIn,
    RosterIn,
    ShareIn,
    ShiftIn,
    TaskIn,
    TaskLogIn,
    TaskUpdate,
    TeamIn,
    TeamMemberIn,
)
from shieldwall.web.core import (
    Form,
    PageViewer,
    flag,
    lines,
    many,
    opt,
    redirect,
    render,
    text,
    web_router,
)
from shieldwall.web.intel import DISTRIBUTIONS

router = web_router()
SEVERITIES = ["low", "medium", "high", "critical"]
TLPS = ["clear", "green", "amber", "amber+strict", "red"]


def _ids(form: Any, name: str = "ids") -> list[int]:
    return [int(v) for v in many(form, name) if v.isdigit()]


# ---------------------------------------------------------------- alerts


@router.get("/alerts", response_class=HTMLResponse)
def alerts(
    request: Request,
    viewer: PageViewer,
    status: str | None = None,
    severity: str | None = None,
    type: str | None = None,
    q: str | None = None,
    observable: str | None = None,
    breached: bool | None = None,
    after: int = 0,
) -> Response:
    f = alert_svc.AlertFilter(
        status=status or None,
        severity=severity or None,
        type=type or None,
        q=q or None,
        observable=observable or None,
        breached=breached,
        after=after,
        limit=50,
        newest_first=True,
    )
    params = {k: v for k, v in request.query_params.items() if v and k != "after"}
    with get_database().reading() as session:
        items = alert_svc.list_alerts(session, viewer.ctx, f)
        open_cases = case_svc.list_cases(
            session,
            viewer.ctx,
            case_svc.CaseFilter(status=["new", "in_progress"], shared=False, limit=50),
        )
        return render(
            request,
            "alerts.html",
            items=items,
            filters=params,
            cases=open_cases,
            slas={a.id: alert_svc.sla.alert_sla(a) for a in items},
            severities=SEVERITIES,
            next=items[-1].id if len(items) == 50 else None,
        )


@router.get("/alerts/{ref}", response_class=HTMLResponse)
def alert_page(request: Request, viewer: PageViewer, ref: str) -> Response:
    with get_database().reading() as session:
        alert = alert_svc.get_alert(session, viewer.ctx, ref)
        observables = alert_svc.observables_of(session, [alert.id]).get(alert.id, [])
        return render(
            request,
            "alert.html",
            alert=alert,
            observables=observables,
            sla=alert_svc.sla.alert_sla(alert),
        )


@router.post("/alerts/bulk")
def bulk(viewer: PageViewer, form: Form) -> Response:
    ids = _ids(form)
    if not ids:
        raise InvalidInput("choose alerts first", field="ids")
    action = text(form, "action")
    with get_database().writing() as session:
        if action == "merge":
            target = opt(form, "case")
            if target:
                case_svc.merge_alerts(session, viewer.ctx, target, ids)
                case_id = (
                    int(target)
                    if target.isdigit()
                    else case_access(session, viewer.ctx, target).case.id
                )
            else:
                case_id = case_svc.create_case(session, viewer.ctx, CaseIn(alerts=ids)).id
            message, to = f"{len(ids)} alerts merged into case {case_id}", f"/ui/cases/{case_id}"
        elif action in ("acknowledged", "ignored", "new"):
            alert_svc.bulk_update(
                session, viewer.ctx, AlertBulk.model_validate({"ids": ids, "status": action})
            )
            message, to = f"{len(ids)} alerts {action}", "/ui/alerts"
        elif action in SEVERITIES:
            alert_svc.bulk_update(
                session, viewer.ctx, AlertBulk.model_validate({"ids": ids, "severity": action})
            )
            message, to = f"{len(ids)} alerts now {action}", "/ui/alerts"
        else:
            raise InvalidInput("choose what to do with the alerts", field="action")
    return redirect(to, message)


# ---------------------------------------------------------------- cases


@router.get("/cases", response_class=HTMLResponse)
def cases(
    request: Request,
    viewer: PageViewer,
    q: str | None = None,
    assignee: str | None = None,
    tag: str | None = None,
    breached: bool | None = None,
    shared: bool | None = None,
    after: int = 0,
) -> Response:
    status = request.query_params.getlist("status")
    severity = request.query_params.getlist("severity")
    f = case_svc.CaseFilter(
        status=[s for s in status if s] or None,
        severity=[s for s in severity if s] or None,
        assignee=assignee or None,
        tag=tag or None,
        q=q or None,
        breached=breached,
        shared=shared,
        after=after,
        limit=50,
    )
    params = [(k, v) for k, v in request.query_params.multi_items() if v and k != "after"]
    with get_database().reading() as session:
        items = case_svc.list_cases(session, viewer.ctx, f)
        return render(
            request,
            "cases.html",
            items=case_svc.case_briefs(session, viewer.ctx, items),
            filters=dict(params),
            params=params,
            status=status,
            templates=template_svc.list_templates(session, viewer.ctx),
            severities=SEVERITIES,
            tlps=TLPS,
            next=items[-1].id if len(items) == 50 else None,
        )


@router.post("/cases")
def create_case(viewer: PageViewer, form: Form) -> Response:
    data = CaseIn.model_validate(
        {
            "title": opt(form, "title"),
            "description": opt(form, "description"),
            "severity": opt(form, "severity"),
            "tlp": opt(form, "tlp"),
            "template": opt(form, "template"),
            "tags": lines(form, "tags") or None,
        }
    )
    with get_database().writing() as session:
        case = case_svc.create_case(session, viewer.ctx, data)
        case_id = case.id
    return redirect(f"/ui/cases/{case_id}", "case opened")


@router.get("/cases/{ref}", response_class=HTMLResponse)
def case_page(request: Request, viewer: PageViewer, ref: str) -> Response:
    with get_database().reading() as session:
        access = case_access(session, viewer.ctx, ref)
        case = case_svc.case_out(session, viewer.ctx, access)
        observables = obs_svc.observables(session, viewer.ctx, ref)
        timeline = case_svc.case_timeline(session, viewer.ctx, ref)
        logs = {t["id"]: task_svc.task_logs(session, viewer.ctx, t["id"]) for t in case["tasks"]}
        authors = user_emails(
            session, {log.author_id for rows in logs.values() for log, _ in rows if log.author_id}
        )
        orgs = [
            o
            for o in session.query(Organisation).order_by(Organisation.name).all()
            if o.id != access.case.org_id
        ]
        from shieldwall.response.models import AssistanceRequest

        requests = (
            session.query(AssistanceRequest)
            .filter(AssistanceRequest.case_id == access.case.id)
            .all()
        )
        return render(
            request,
            "case.html",
            case=case,
            right=access.right,
            observables=observables,
            timeline=timeline,
            logs=logs,
            authors=authors,
            orgs=orgs,
            requests=requests,
            severities=SEVERITIES,
            tlps=TLPS,
            distributions=DISTRIBUTIONS,
            own=access.case.org_id == viewer.org_id,
        )


@router.post("/cases/{ref}/update")
def update_case(ref: str, viewer: PageViewer, form: Form) -> Response:
    change: dict[str, Any] = {}
    for name in ("title", "severity", "tlp", "status", "resolution", "summary", "description"):
        value = opt(form, name)
        if value is not None:
            change[name] = value
    if "assignee" in form:
        change["assignee"] = text(form, "assignee")
    if opt(form, "duplicate_of"):
        change["duplicate_of"] = int(text(form, "duplicate_of"))
    if opt(form, "techniques") is not None:
        change["techniques"] = lines(form, "techniques")
    with get_database().writing() as session:
        case_svc.update_case(session, viewer.ctx, ref, CaseUpdate(**change))
    return redirect(f"/ui/cases/{ref}", "case saved")


@router.post("/cases/{ref}/tasks")
def add_task(ref: str, viewer: PageViewer, form: Form) -> Response:
    due = opt(form, "due_at")
    data = TaskIn(
        title=text(form, "title"),
        group=text(form, "group") or "default",
        assignee=opt(form, "assignee"),
        due_at=_when(due, "due_at") if due else None,
    )
    with get_database().writing() as session:
        task_svc.add_task(session, viewer.ctx, ref, data)
    return redirect(f"/ui/cases/{ref}#tasks", "task added")


def _when(value: str, field: str) -> datetime:
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{field} is a date and time", field=field) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@router.post("/tasks/{task_id}/update")
def update_task(task_id: int, viewer: PageViewer, form: Form) -> Response:
    change: dict[str, Any] = {}
    if opt(form, "status"):
        change["status"] = text(form, "status")
    if "assignee" in form:
        change["assignee"] = text(form, "assignee")
    with get_database().writing() as session:
        task = task_svc.update_task(session, viewer.ctx, task_id, TaskUpdate(**change))
        case_id = task.case_id
    return redirect(f"/ui/cases/{case_id}#task-{task_id}", "task saved")


@router.post("/tasks/{task_id}/logs")
async def add_log(task_id: int, request: Request, viewer: PageViewer, form: Form) -> Response:
    upload = form.get("file")
    attachment = None
    if isinstance(upload, UploadFile) and upload.filename:
        raw = await upload.read()
        if raw:
            attachment = AttachmentIn(
                name=upload.filename,
                content_type=upload.content_type or "application/octet-stream",
                data=base64.b64encode(raw).decode(),
            )
    data = TaskLogIn(message=text(form, "message"), attachment=attachment)
    with get_database().writing() as session:
        log = task_svc.add_log(session, viewer.ctx, task_id, data)
        case_id = log.case_id
    return redirect(f"/ui/cases/{case_id}#task-{task_id}", "log added")


@router.post("/cases/{ref}/observables")
def add_observables(ref: str, viewer: PageViewer, form: Form) -> Response:
    items = [
        ObservableIn.model_validate(
            {
                "type": text(form, "type"),
                "value": v,
                "ioc": flag(form, "ioc"),
                "tlp": text(form, "tlp") or "amber",
            }
        )
        for v in lines(form, "values")
    ]
    if not items:
        raise InvalidInput("give at least one value", field="values")
    with get_database().writing() as session:
        added = obs_svc.add_observables(session, viewer.ctx, ref, items)
    return redirect(f"/ui/cases/{ref}#observables", f"{len(added)} observables added")


@router.post("/cases/{ref}/observables/share")
def share_observables(ref: str, viewer: PageViewer, form: Form) -> Response:
    data = PromoteIn(
        observables=_ids(form, "observables"),
        event=opt(form, "event"),
        info=opt(form, "info"),
        distribution=int(text(form, "distribution") or 0),
        publish=flag(form, "publish"),
    )
    with get_database().writing() as session:
        event, linked = obs_svc.promote(session, viewer.ctx, ref, data)
        event_id = event.id
    return redirect(
        f"/ui/cases/{ref}#observables", f"{linked} observables shared as intel in event {event_id}"
    )


@router.post("/cases/{ref}/alerts")
def merge(ref: str, viewer: PageViewer, form: Form) -> Response:
    with get_database().writing() as session:
        case_svc.merge_alerts(session, viewer.ctx, ref, _ids(form))
    return redirect(f"/ui/cases/{ref}", "alerts merged")


@router.post("/cases/{ref}/shares")
def share(ref: str, viewer: PageViewer, form: Form) -> Response:
    data = ShareIn.model_validate(
        {"org": text(form, "org"), "profile": text(form, "profile") or "read_only"}
    )
    with get_database().writing() as session:
        case_svc.share_case(session, viewer.ctx, ref, data)
    return redirect(f"/ui/cases/{ref}#shares", f"shared with {data.org} ({data.profile})")


@router.post("/cases/{ref}/shares/remove")
def unshare(ref: str, viewer: PageViewer, form: Form) -> Response:
    with get_database().writing() as session:
        case_svc.unshare_case(session, viewer.ctx, ref, text(form, "org"))
    return redirect(f"/ui/cases/{ref}#shares", "share ended")


# ---------------------------------------------------------------- assistance


@router.get("/assistance", response_class=HTMLResponse)
def assistance(request: Request, viewer: PageViewer, status: str | None = None) -> Response:
    with get_database().reading() as session:
        items = assist_svc.list_requests(
            session, viewer.ctx, assist_svc.RequestFilter(status=[status] if status else None)
        )
        mine = case_svc.list_cases(
            session,
            viewer.ctx,
            case_svc.CaseFilter(status=["new", "in_progress"], shared=False, limit=100),
        )
        return render(
            request,
            "assistance.html",
            items=[assist_svc.request_out(session, viewer.ctx, r, full=False) for r in items],
            cases=mine,
            severities=SEVERITIES,
            status=status,
        )


@router.post("/assistance")
def request_assistance(viewer: PageViewer, form: Form) -> Response:
    contact = ContactIn(
        name=text(form, "contact_name"),
        email=text(form, "contact_email"),
        phone=text(form, "contact_phone"),
    )
    data = AssistanceIn.model_validate(
        {
            "case": text(form, "case"),
            "title": text(form, "title"),
            "needed": text(form, "needed"),
            "skills": lines(form, "skills"),
            "urgency": text(form, "urgency") or "high",
            "affected_networks": lines(form, "networks"),
            "contacts": [contact],
        }
    )
    with get_database().writing() as session:
        req = assist_svc.request_assistance(session, viewer.ctx, data)
        req_id = req.id
    return redirect(f"/ui/assistance/{req_id}", "assistance requested; the coordinators are told")


@router.get("/assistance/{ref}", response_class=HTMLResponse)
def assistance_page(request: Request, viewer: PageViewer, ref: str) -> Response:
    with get_database().reading() as session:
        req = assist_svc.get_request(session, viewer.ctx, ref)
        out = assist_svc.request_out(session, viewer.ctx, req)
        coordinator = viewer.can("response:assistance:coordinate")
        candidates = assist_svc.candidates(session, viewer.ctx, ref) if coordinator else []
        logs = {}
        for d in out["deployments"]:
            rows = assist_svc.deployment_logs(session, viewer.ctx, d["id"])
            authors = user_emails(session, {x.author_id for x in rows if x.author_id})
            logs[d["id"]] = [assist_svc.log_out(x, authors) for x in rows]
        return render(
            request,
            "assistance_request.html",
            req=out,
            coordinator=coordinator,
            requester=req.org_id == viewer.org_id,
            candidates=candidates,
            logs=logs,
        )


@router.post("/assistance/{ref}/decision")
def decide(ref: str, viewer: PageViewer, form: Form) -> Response:
    data = DecisionIn(approve=text(form, "decision") == "approve", reason=text(form, "reason"))
    with get_database().writing() as session:
        assist_svc.decide(session, viewer.ctx, ref, data)
    return redirect(f"/ui/assistance/{ref}", "approved" if data.approve else "declined")


@router.post("/assistance/{ref}/deploy")
def deploy(ref: str, viewer: PageViewer, form: Form) -> Response:
    data = DeployIn(
        team=text(form, "team"),
        hours=float(text(form, "hours") or 72),
        members=many(form, "members"),
    )
    with get_database().writing() as session:
        assist_svc.deploy(session, viewer.ctx, ref, data)
    return redirect(f"/ui/assistance/{ref}", f"team {data.team} deployed")


@router.post("/deployments/{deployment_id}/end")
def end_deployment(deployment_id: int, viewer: PageViewer, form: Form) -> Response:
    with get_database().writing() as session:
        dep = assist_svc.end_deployment(session, viewer.ctx, deployment_id)
        request_id = dep.request_id
    return redirect(f"/ui/assistance/{request_id}", "deployment ended; the team's access is gone")


@router.post("/deployments/{deployment_id}/log")
def deployment_log(deployment_id: int, viewer: PageViewer, form: Form) -> Response:
    with get_database().writing() as session:
        log = assist_svc.add_log(
            session, viewer.ctx, deployment_id, LogIn(message=text(form, "message"))
        )
        from shieldwall.response.models import Deployment

        dep = session.get(Deployment, log.deployment_id)
        request_id = dep.request_id if dep else 0
    return redirect(f"/ui/assistance/{request_id}", "logged")


@router.post("/assistance/{ref}/close")
def close(ref: str, viewer: PageViewer, form: Form) -> Response:
    with get_database().writing() as session:
        assist_svc.close_request(
            session, viewer.ctx, ref, CloseIn(lessons_learned=text(form, "lessons_learned"))
        )
    return redirect(f"/ui/assistance/{ref}", "closed; lessons learned recorded")


# ---------------------------------------------------------------- teams and rosters


@router.get("/teams", response_class=HTMLResponse)
def teams(request: Request, viewer: PageViewer) -> Response:
    with get_database().reading() as session:
        busy = team_svc.busy_users(session)
        items = [
            team_svc.team_out(session, t, busy) for t in team_svc.list_teams(session, viewer.ctx)
        ]
        rosters = [
            roster_svc.roster_out(session, r, with_shifts=True)
            for r in roster_svc.list_rosters(session, viewer.ctx)
        ]
        on_call = roster_svc.on_call_users(session, viewer.org_id)
        emails = user_emails(session, set(on_call))
        return render(
            request,
            "teams.html",
            teams=items,
            rosters=rosters,
            on_call=[emails.get(u) for u in on_call],
        )


@router.post("/teams")
def create_team(viewer: PageViewer, form: Form) -> Response:
    with get_database().writing() as session:
        team_svc.create_team(
            session,
            viewer.ctx,
            TeamIn(name=text(form, "name"), description=text(form, "description")),
        )
    return redirect("/ui/teams", "team created")


@router.post("/teams/{ref}/members")
def set_member(ref: str, viewer: PageViewer, form: Form) -> Response:
    data = TeamMemberIn(
        user=text(form, "user"),
        skills=lines(form, "skills"),
        lead=flag(form, "lead"),
        available=not flag(form, "unavailable"),
    )
    with get_database().writing() as session:
        team_svc.set_member(session, viewer.ctx, ref, data)
    return redirect("/ui/teams", f"{data.user} in the team")


@router.post("/rosters")
def create_roster(viewer: PageViewer, form: Form) -> Response:
    with get_database().writing() as session:
        roster_svc.create_roster(session, viewer.ctx, RosterIn(name=text(form, "name")))
    return redirect("/ui/teams#rosters", "roster created")


@router.post("/rosters/{ref}/shifts")
def add_shift(ref: str, viewer: PageViewer, form: Form) -> Response:
    data = ShiftIn.model_validate(
        {
            "user": text(form, "user"),
            "starts_at": _when(text(form, "starts_at"), "starts_at"),
            "ends_at": _when(text(form, "ends_at"), "ends_at"),
            "position": text(form, "position") or "primary",
        }
    )
    with get_database().writing() as session:
        roster_svc.add_shift(session, viewer.ctx, ref, data)
    return redirect("/ui/teams#rosters", "shift added")
