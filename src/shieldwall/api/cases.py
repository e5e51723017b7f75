"""Cases in the native API: the board with filters, the case with its tasks, logs,
attachments, observables (and what intel knows of them), timeline and shares; case
templates."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.api.search import MAX_AFTER
from shieldwall.intel.serialize import event_summary
from shieldwall.response import cases as svc
from shieldwall.response import observables as obs_svc
from shieldwall.response import tasks as task_svc
from shieldwall.response import templates as tpl
from shieldwall.response.common import case_access, org_names, user_emails
from shieldwall.response.models import CaseAttachment
from shieldwall.response.schemas import (
    CaseIn,
    CaseUpdate,
    MergeIn,
    ObservableIn,
    PromoteIn,
    ShareIn,
    TaskIn,
    TaskLogIn,
    TaskUpdate,
    TemplateIn,
    TemplateUpdate,
)

router = APIRouter(tags=["cases"])

_LIST = Query(max_length=20)


@router.get("/cases")
def list_cases(
    ctx: CurrentCtx,
    db: ReadDB,
    status: Annotated[list[str] | None, _LIST] = None,
    severity: Annotated[list[str] | None, _LIST] = None,
    assignee: Annotated[str | None, Query(max_length=255)] = None,
    tag: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    breached: bool | None = None,
    org_id: Annotated[int | None, Query(ge=1, le=MAX_AFTER)] = None,
    shared: bool | None = None,
    number: Annotated[int | None, Query(ge=1, le=MAX_AFTER)] = None,
    after: Annotated[int, Query(ge=0, le=MAX_AFTER)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """Cases the caller may read (its organisation's, those shared with it, those its
    running deployments are on), newest first. `status` and `severity` repeat for several
    values; `assignee` is an e-mail, `me` or `none`; `q` searches titles; `shared=true`
    only other organisations' cases."""
    f = svc.CaseFilter(
        status=status,
        severity=severity,
        assignee=assignee,
        tag=tag,
        q=q,
        breached=breached,
        org_id=org_id,
        shared=shared,
        number=number,
        after=after,
        limit=limit,
    )
    items = svc.list_cases(db, ctx, f)
    return {
        "items": svc.case_briefs(db, ctx, items),
        "next": items[-1].id if len(items) == limit else None,
    }


@router.post("/cases", status_code=201)
def create_case(data: CaseIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """Open a case by hand, from a template and/or from alerts (merged into it)."""
    case = svc.create_case(db, ctx, data)
    out = svc.case_out(db, ctx, case_access(db, ctx, case.id))
    db.commit()
    return out


@router.get("/cases/{ref}")
def get_case(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    """The case with its tasks and shares, and the caller's right on it (read_only,
    contribute or full)."""
    return svc.case_out(db, ctx, svc.get_case(db, ctx, ref))


@router.patch("/cases/{ref}")
def update_case(ref: str, data: CaseUpdate, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """Change fields; `status` moves along new -> in_progress -> resolved (with a
    `resolution`) -> closed, and back to in_progress to reopen."""
    case = svc.update_case(db, ctx, ref, data)
    out = svc.case_out(db, ctx, case_access(db, ctx, case.id))
    db.commit()
    return out


@router.delete("/cases/{ref}", status_code=204)
def delete_case(ref: str, ctx: CurrentCtx, db: WriteDB) -> Response:
    svc.delete_case(db, ctx, ref)
    db.commit()
    return Response(status_code=204)


@router.post("/cases/{ref}/alerts")
def merge(ref: str, data: MergeIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """Merge alerts of the caller's organisation into the case (their observables too)."""
    copied = svc.merge_alerts(db, ctx, ref, data.alerts)
    db.commit()
    return {"merged": len(set(data.alerts)), "observables_added": copied}


@router.get("/cases/{ref}/timeline")
def timeline(
    ref: str,
    ctx: CurrentCtx,
    db: ReadDB,
    after: Annotated[int, Query(ge=0, le=MAX_AFTER)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> dict[str, Any]:
    """Every action on the case, oldest first."""
    items = svc.case_timeline(db, ctx, ref, after, limit)
    return {"items": items, "next": items[-1]["id"] if len(items) == limit else None}


# ---------------------------------------------------------------- tasks


@router.get("/cases/{ref}/tasks")
def case_tasks(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    access = case_access(db, ctx, ref)
    return {"items": [task_svc.task_out(t) for t in task_svc.tasks(db, access.case.id)]}


@router.post("/cases/{ref}/tasks", status_code=201)
def add_task(ref: str, data: TaskIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    out = task_svc.task_out(task_svc.add_task(db, ctx, ref, data))
    db.commit()
    return out


@router.get("/tasks/{task_id}")
def get_task(task_id: int, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return task_svc.task_out(task_svc.get_task(db, ctx, task_id))


@router.patch("/tasks/{task_id}")
def update_task(task_id: int, data: TaskUpdate, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    out = task_svc.task_out(task_svc.update_task(db, ctx, task_id, data))
    db.commit()
    return out


@router.get("/tasks/{task_id}/logs")
def task_logs(task_id: int, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    rows = task_svc.task_logs(db, ctx, task_id)
    authors = user_emails(db, {log.author_id for log, _ in rows if log.author_id})
    return {"items": [task_svc.log_out(log, att, authors) for log, att in rows]}


@router.post("/tasks/{task_id}/logs", status_code=201)
def add_log(task_id: int, data: TaskLogIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """A log on a task; `attachment` carries a file (base64) within the attachment limit,
    stored with its SHA-256."""
    log = task_svc.add_log(db, ctx, task_id, data)
    att = db.get(CaseAttachment, log.attachment_id) if log.attachment_id else None
    out = task_svc.log_out(log, att)
    db.commit()
    return out


@router.get("/cases/{ref}/attachments/{attachment}")
def attachment(ref: str, attachment: str, ctx: CurrentCtx, db: ReadDB) -> Response:
    att = task_svc.get_attachment(db, ctx, ref, attachment)
    name = att.name.replace('"', "")
    return Response(
        content=att.data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-SHA256": att.sha256,
        },
    )


# ---------------------------------------------------------------- observables


@router.get("/cases/{ref}/observables")
def case_observables(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    """Observables with the intel behind them as far as the caller may read: the linked
    attribute and its sightings, and readable events holding the same value."""
    return {"items": obs_svc.observables(db, ctx, ref)}


@router.post("/cases/{ref}/observables", status_code=201)
def add_observables(
    ref: str, items: list[ObservableIn], ctx: CurrentCtx, db: WriteDB
) -> dict[str, Any]:
    added = obs_svc.add_observables(db, ctx, ref, items)
    out = {"items": [obs_svc.observable_out(o) for o in added], "added": len(added)}
    db.commit()
    return out


@router.delete("/cases/{ref}/observables/{observable_id}", status_code=204)
def delete_observable(ref: str, observable_id: int, ctx: CurrentCtx, db: WriteDB) -> Response:
    obs_svc.delete_observable(db, ctx, ref, observable_id)
    db.commit()
    return Response(status_code=204)


@router.post("/cases/{ref}/observables/share", status_code=201)
def promote(ref: str, data: PromoteIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """Chosen observables into intel: a new event with the chosen distribution, or an
    existing event the caller may edit (`event`)."""
    event, linked = obs_svc.promote(db, ctx, ref, data)
    out = {"event": event_summary(event), "linked": linked}
    db.commit()
    return out


# ---------------------------------------------------------------- shares


@router.get("/cases/{ref}/shares")
def case_shares(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    access = case_access(db, ctx, ref)
    return {"items": [svc.share_out(s, n) for s, n in svc.shares(db, access.case.id)]}


@router.post("/cases/{ref}/shares", status_code=201)
def share(ref: str, data: ShareIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """Share with an organisation: profile read_only, contribute (tasks, logs,
    observables) or full. Again with another profile changes it."""
    s = svc.share_case(db, ctx, ref, data)
    out = svc.share_out(s, org_names(db, {s.org_id}).get(s.org_id, ""))
    db.commit()
    return out


@router.delete("/cases/{ref}/shares/{org}", status_code=204)
def unshare(ref: str, org: str, ctx: CurrentCtx, db: WriteDB) -> Response:
    """End the share: the organisation loses the case at once."""
    svc.unshare_case(db, ctx, ref, org)
    db.commit()
    return Response(status_code=204)


# ---------------------------------------------------------------- templates


@router.get("/case-templates", tags=["case templates"])
def templates(ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return {"items": [tpl.template_out(t) for t in tpl.list_templates(db, ctx)]}


@router.post("/case-templates", status_code=201, tags=["case templates"])
def create_template(data: TemplateIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    out = tpl.template_out(tpl.create_template(db, ctx, data))
    db.commit()
    return out


@router.get("/case-templates/{ref}", tags=["case templates"])
def get_template(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return tpl.template_out(tpl.get_template(db, ctx, ref))


@router.patch("/case-templates/{ref}", tags=["case templates"])
def update_template(ref: str, data: TemplateUpdate, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    out = tpl.template_out(tpl.update_template(db, ctx, ref, data))
    db.commit()
    return out


@router.delete("/case-templates/{ref}", status_code=204, tags=["case templates"])
def delete_template(ref: str, ctx: CurrentCtx, db: WriteDB) -> Response:
    tpl.delete_template(db, ctx, ref)
    db.commit()
    return Response(status_code=204)
