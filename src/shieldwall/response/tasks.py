"""Tasks of a case: groups, assignees, statuses and due dates; logs on them with
attachments kept with their size and SHA-256 within the attachment limit."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.audit.service import record
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.intel.errors import InvalidInput, NotFound, TooLarge
from shieldwall.response.common import CaseAccess, assignee_for, case_access, iso, timeline
from shieldwall.response.models import Case, CaseAttachment, CaseTask, TaskLog
from shieldwall.response.notify import Message, notify
from shieldwall.response.schemas import TaskIn, TaskLogIn, TaskUpdate
from shieldwall.server_settings import effective_settings


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
        task.assignee_id = assignee_for(session, ctx, case, data.assignee).id
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
        _tell_taskassignee_for(session, case, task)
    return task


def _tell_taskassignee_for(session: Session, case: Case, task: CaseTask) -> None:
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
            else assignee_for(session, ctx, access.case, change["assignee"]).id
        )
        if new_id != task.assignee_id:
            task.assignee_id = new_id
            recorded["assignee"] = new_id
            if new_id and new_id != ctx.principal.user_id:
                _tell_taskassignee_for(session, access.case, task)
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
