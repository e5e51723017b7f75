"""Objects POSTed to a collection: accepted with a pending status, then, in the background and
in one transaction, checked one by one, imported as an event owned by the writer's
organisation (through the MISP import path) and kept verbatim in the collection."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
import stix2
from sqlalchemy.orm import Session

from shieldwall.audit.service import Actor, record
from shieldwall.auth.models import User
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import principal_for
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.db.engine import Database
from shieldwall.exchange.misp_json import ImportReport, import_event
from shieldwall.exchange.stix import StixError, bundle_events
from shieldwall.intel.errors import Forbidden, InvalidInput
from shieldwall.intel.models import Attribute, Event, MispObject
from shieldwall.intel.visibility import TLP_AMBER_STRICT, TLP_RED, tlp_level
from shieldwall.server_settings import read_options
from shieldwall.taxii.collections import Access
from shieldwall.taxii.models import StixObject, TaxiiCollection, TaxiiStatus
from shieldwall.taxii.store import (
    Clock,
    Owners,
    Tie,
    classify,
    lock_writers,
    mark_posted,
    object_version,
    reflag,
)

log = logging.getLogger("shieldwall.taxii")

# A claim on a pending status older than this is free again (its worker died).
STALE_CLAIM = timedelta(minutes=5)


def _entry(obj: Any, message: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": str(obj.get("id", "")) if isinstance(obj, dict) else ""}
    if isinstance(obj, dict) and isinstance(obj.get("modified") or obj.get("created"), str):
        entry["version"] = obj.get("modified") or obj.get("created")
    if message is not None:
        entry["message"] = message
    return entry


def accept(session: Session, ctx: Ctx, access: Access, body: bytes) -> TaxiiStatus:
    """Check the envelope's shape and record a pending status (committed by the caller)."""
    if not access.can_write:
        raise Forbidden("this collection may not be written by your organisation")
    if not ctx.principal.can(Permission.EVENT_ADD):
        raise Forbidden(f"this needs the permission {Permission.EVENT_ADD.value}")
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not JSON: {exc}", field="body") from None
    if not isinstance(envelope, dict):
        raise InvalidInput("the body must be a TAXII envelope (an object)", field="body")
    objects = envelope.get("objects")
    if not isinstance(objects, list) or not objects:
        raise InvalidInput("the envelope must hold a non-empty list of objects", field="objects")
    for i, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise InvalidInput("each object must be a JSON object", field=f"objects[{i}]")
    status = TaxiiStatus(
        collection_id=access.collection.id,
        user_id=ctx.principal.user_id,
        org_id=ctx.org_id,
        total_count=len(objects),
        pending_count=len(objects),
        pendings=[_entry(o) for o in objects],
        envelope=body.decode(),
    )
    session.add(status)
    session.flush()
    record(
        session,
        ctx.actor,
        "add",
        "TaxiiStatus",
        model_id=status.id,
        model_uuid=status.uuid,
        title=f"{len(objects)} objects posted to collection {access.collection.title}"[:200],
    )
    return status


def _claim(db: Database, status_uuid: str) -> bool:
    with db.writing() as session:
        result = session.execute(
            sa.update(TaxiiStatus)
            .where(
                TaxiiStatus.uuid == status_uuid,
                TaxiiStatus.status == "pending",
                sa.or_(
                    TaxiiStatus.claimed_at.is_(None), TaxiiStatus.claimed_at < now() - STALE_CLAIM
                ),
            )
            .values(claimed_at=now())
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _writer_ctx(session: Session, status: TaxiiStatus) -> Ctx | None:
    user = session.get(User, status.user_id) if status.user_id is not None else None
    if user is None or user.disabled:
        return None
    return Ctx(
        principal_for(user),
        Actor(user_id=user.id, org_id=user.org_id, label=user.email),
        read_options(),
    )


def _check(objects: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """The objects valid as STIX 2.1, and why each other one is not (by position)."""
    valid, failed = [], {}
    for i, obj in enumerate(objects):
        try:
            stix2.parse(obj, allow_custom=True, version="2.1")
        except Exception as exc:  # stix2 raises many types, each naming the problem
            failed[i] = str(exc)
            continue
        valid.append(obj)
    return valid, failed


def _convert(objects: list[dict[str, Any]], failed: dict[str, str]) -> list[dict[str, Any]]:
    """MISP events from the objects; an object the converter names as bad is failed alone and
    the rest converted again."""
    remaining = list(objects)
    while remaining:
        try:
            return bundle_events(
                {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": remaining}
            )
        except StixError as exc:
            named = [o for o in remaining if str(o.get("id")) in str(exc)]
            if not named:
                for o in remaining:
                    failed[str(o.get("id"))] = str(exc)
                return []
            for o in named:
                failed[str(o.get("id"))] = str(exc)
            remaining = [o for o in remaining if o not in named]
    return []


def _lowered(distribution: int, tags: list[Any]) -> int:
    """The distribution as far as the TLP guard lets it go: tlp:red keeps an event to its
    organisation or a sharing group, tlp:amber+strict to its organisation."""
    level = tlp_level({str(t.get("name", "")) for t in tags if isinstance(t, dict)})
    if (level == TLP_RED and distribution in (1, 2, 3)) or (
        level == TLP_AMBER_STRICT and distribution != 0
    ):
        return 0
    return distribution


def _share_as(raw: dict[str, Any], coll: TaxiiCollection) -> None:
    """The collection's distribution for a posted event, lowered where its TLP marking (or
    an attribute's) forbids it, so that a marked post is stored rather than refused."""
    event_distribution = _lowered(coll.distribution, raw.get("Tag") or [])
    raw["distribution"] = event_distribution
    raw["sharing_group_id"] = coll.sharing_group_id if event_distribution == 4 else None
    if event_distribution == 4 and coll.sharing_group is not None:
        # The MISP import path finds sharing groups by uuid.
        raw["SharingGroup"] = {"uuid": coll.sharing_group.uuid}
    holders: list[tuple[dict[str, Any], int]] = [(raw, event_distribution)]
    for o in raw.get("Object") or []:
        own = o.get("distribution")
        holders.append((o, event_distribution if own in (None, 5, "5") else int(own)))
    for holder, inherited in holders:
        for a in holder.get("Attribute") or []:
            own = a.get("distribution")
            effective = inherited if own in (None, 5, "5") else int(own)
            if _lowered(effective, a.get("Tag") or []) != effective:
                a["distribution"] = 0


def _posted_mark(session: Session, event_id: int) -> datetime:
    """After the event's and its contents' own timestamps, and after now: an attribute or
    object that carries a later one was changed after the post."""
    stamps = [
        now(),
        session.execute(sa.select(Event.timestamp).where(Event.id == event_id)).scalar(),
        session.execute(
            sa.select(sa.func.max(Attribute.timestamp)).where(Attribute.event_id == event_id)
        ).scalar(),
        session.execute(
            sa.select(sa.func.max(MispObject.timestamp)).where(MispObject.event_id == event_id)
        ).scalar(),
    ]
    return max(s for s in stamps if s is not None)


def _ties(
    session: Session, created: list[int], objects: list[dict[str, Any]]
) -> list[tuple[int, Tie]]:
    """For each posted object, the event it belongs to and what of it it shows (the
    attribute or MISP object with its uuid, or that a tied object points at), so that reads
    apply the same rules to it as to a rendering; untied objects go with the first event."""
    out: list[tuple[int, Tie]] = [(created[0], Tie()) for _ in objects]
    placed = [False] * len(objects)
    for event_id in created:
        event = session.get(Event, event_id)
        if event is None:
            continue
        for i, tie in enumerate(classify(Owners(session, event), objects)):
            if not placed[i] and (tie.owned or tie.container):
                tie.shared = False
                out[i] = (event_id, tie)
                placed[i] = True
    return out


def _import(
    session: Session, ctx: Ctx, access_collection_id: int, objects: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Import and store; returns (successes, failures)."""
    valid, bad = _check(objects)
    failures = [_entry(objects[i], msg) for i, msg in bad.items()]
    named: dict[str, str] = {}
    events = _convert(valid, named) if valid else []
    failures.extend(_entry(o, named[str(o.get("id"))]) for o in valid if str(o.get("id")) in named)
    valid = [o for o in valid if str(o.get("id")) not in named]
    if not valid:
        return [], failures
    coll = session.get(TaxiiCollection, access_collection_id)
    if coll is None or (coll.distribution == 4 and coll.sharing_group_id is None):
        why = (
            "the collection is gone"
            if coll is None
            else "the collection shares posted events with a sharing group that no longer exists"
        )
        return [], failures + [_entry(o, why) for o in valid]
    report = ImportReport()
    created: list[int] = []
    for raw in events:
        for key in ("Org", "Orgc", "org_id", "orgc_id", "id"):
            raw.pop(key, None)  # the writer's organisation owns and creates the event
        _share_as(raw, coll)
        before = report.pending_created
        import_event(session, ctx, raw, report)
        if report.pending_created > before:
            created.append(
                session.execute(sa.select(Event.id).where(Event.uuid == raw["uuid"])).scalar_one()
            )
    if report.failed or not created:
        why = "; ".join(report.errors) or "the bundle's event is stored already"
        return [], failures + [_entry(o, f"not imported: {why}") for o in valid]
    for event_id in created:
        mark_posted(session, event_id, access_collection_id, _posted_mark(session, event_id))
    lock_writers(session)
    clock = Clock(session)
    successes, stored = [], set()
    touched: dict[int, set[str]] = {}
    for obj, (event_id, tie) in zip(valid, _ties(session, created, valid), strict=True):
        version = object_version(obj)
        existing = session.execute(
            sa.select(StixObject.id).where(
                StixObject.collection_id == access_collection_id,
                StixObject.stix_id == obj["id"],
                StixObject.version == version if version is not None else sa.false(),
            )
        ).first()
        if existing is None and obj["id"] not in stored:
            added = clock.take()
            session.add(
                StixObject(
                    stix_id=obj["id"],
                    type=obj["type"],
                    spec_version=str(obj.get("spec_version", "2.1")),
                    version=version or added,
                    date_added=added,
                    body=orjson.dumps(obj).decode(),
                    container=tie.container,
                    event_id=event_id,
                    attribute_id=tie.attribute_id,
                    object_id=tie.object_id,
                    ref_attribute_id=tie.ref_attribute_id,
                    ref_object_id=tie.ref_object_id,
                    collection_id=access_collection_id,
                )
            )
            stored.add(obj["id"])
            touched.setdefault(event_id, set()).add(obj["id"])
        successes.append(_entry(obj))
    session.flush()
    for event_id, ids in touched.items():
        reflag(session, ids, event_id, access_collection_id)
    return successes, failures


def _complete(
    session: Session, status: TaxiiStatus, successes: list[Any], failures: list[Any]
) -> None:
    status.status = "complete"
    status.successes = successes
    status.failures = failures
    status.success_count = len(successes)
    status.failure_count = len(failures)
    status.pendings = []
    status.pending_count = 0
    status.envelope = None


def process(db: Database, status_uuid: str) -> None:
    """Complete one pending status (no-op when another worker holds or finished it)."""
    if not _claim(db, status_uuid):
        return
    try:
        with db.writing() as session:
            status = session.execute(
                sa.select(TaxiiStatus).where(TaxiiStatus.uuid == status_uuid)
            ).scalar_one()
            objects = orjson.loads(status.envelope or "{}").get("objects", [])
            ctx = _writer_ctx(session, status)
            if ctx is None:
                failures = [_entry(o, "the writer's account is gone or disabled") for o in objects]
                _complete(session, status, [], failures)
                return
            successes, failures = _import(session, ctx, status.collection_id, objects)
            _complete(session, status, successes, failures)
    except Exception as exc:
        log.exception("TAXII status %s could not be completed", status_uuid)
        with db.writing() as session:
            status = session.execute(
                sa.select(TaxiiStatus).where(TaxiiStatus.uuid == status_uuid)
            ).scalar_one()
            objects = orjson.loads(status.envelope or "{}").get("objects", [])
            reason = f"the objects could not be stored: {type(exc).__name__}"
            _complete(session, status, [], [_entry(o, reason) for o in objects])


def process_pending(db: Database) -> int:
    """Complete statuses left pending (a server stopped before its background work ran)."""
    with db.reading() as session:
        uuids = list(
            session.execute(
                sa.select(TaxiiStatus.uuid)
                .where(TaxiiStatus.status == "pending")
                .order_by(TaxiiStatus.id)
                .limit(100)
            ).scalars()
        )
    for u in uuids:
        process(db, u)
    return len(uuids)


def status_for(session: Session, ctx: Ctx, status_uuid: str) -> TaxiiStatus | None:
    """A status the caller may read: their organisation's, or any for a site admin."""
    status = session.execute(
        sa.select(TaxiiStatus).where(TaxiiStatus.uuid == status_uuid.lower())
    ).scalar_one_or_none()
    if status is None or not (ctx.principal.is_site_admin or status.org_id == ctx.org_id):
        return None
    return status


def delete_object(session: Session, ctx: Ctx, access: Access, rows: list[Any]) -> int:
    """DELETE of an object: the versions given (readable rows of the collection). Posted
    objects are removed; an attribute's or MISP object's rendering is deleted through the
    intel store (soft delete, as MISP does), which the caller must be allowed to edit.
    Returns the versions removed."""
    if not (access.can_read and access.can_write):
        raise Forbidden("deleting needs read and write rights on the collection")
    from shieldwall.intel import events as ev
    from shieldwall.intel.visibility import can_edit_event

    removed = 0
    posted: dict[int, set[str]] = {}
    for r in rows:
        event = session.get(Event, r.event_id) if r.event_id is not None else None
        if event is None or not can_edit_event(ctx.principal, event):
            raise Forbidden(f"{r.stix_id} belongs to an event you may not change")
        full = session.get(StixObject, r.id)
        if full is None:
            continue
        if full.collection_id is not None:
            session.delete(full)
            posted.setdefault(full.collection_id, set()).add(full.stix_id)
            record(
                session,
                ctx.actor,
                "delete",
                "StixObject",
                model_id=full.id,
                title=f"{full.stix_id} {full.version.isoformat()}",
                change={"collection_id": full.collection_id},
            )
        elif full.attribute_id is not None and full.ref_attribute_id is None:
            ev.delete_attribute(session, ctx, full.attribute_id)
            session.execute(
                sa.delete(StixObject).where(StixObject.attribute_id == full.attribute_id)
            )
        elif (
            full.object_id is not None
            and full.ref_attribute_id is None
            and full.ref_object_id is None
        ):
            ev.delete_object(session, ctx, full.object_id)
            session.execute(sa.delete(StixObject).where(StixObject.object_id == full.object_id))
        else:
            raise Forbidden(
                f"{r.stix_id} is rendered from the event as a whole; change the event instead"
            )
        removed += 1
    session.flush()
    for collection_id, ids in posted.items():
        events = {r.event_id for r in rows}
        for event_id in events:
            reflag(session, ids, event_id, collection_id)
    return removed
