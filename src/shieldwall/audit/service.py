"""Appending to and verifying the audit chain.

Each entry's hash covers its own fields and the previous entry's hash, so altering or
removing an entry breaks every hash after it. Appends happen inside the caller's transaction.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.audit.models import AuditEntry, AuditHead
from shieldwall.auth.permissions import Permission
from shieldwall.clock import now
from shieldwall.intel.errors import Forbidden

if TYPE_CHECKING:
    from shieldwall.intel.visibility import Principal

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x5348_4C44  # advisory lock id serialising appends on PostgreSQL


@dataclass(frozen=True)
class Actor:
    """Who is acting, for audit entries and permission checks."""

    user_id: int | None = None
    org_id: int | None = None
    api_key_id: int | None = None
    ip: str | None = None
    request_id: str | None = None
    label: str = "system"
    extra: dict[str, Any] = field(default_factory=dict)


def _canonical(entry: AuditEntry) -> bytes:
    body = {
        "id": entry.id,
        "created_at": entry.created_at.isoformat(),
        "user_id": entry.user_id,
        "org_id": entry.org_id,
        "api_key_id": entry.api_key_id,
        "ip": entry.ip,
        "request_id": entry.request_id,
        "action": entry.action,
        "model": entry.model,
        "model_id": entry.model_id,
        "model_uuid": entry.model_uuid,
        "title": entry.title,
        "change": entry.change,
        "prev_hash": entry.prev_hash,
    }
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def compute_hash(entry: AuditEntry) -> str:
    return hashlib.sha256(_canonical(entry)).hexdigest()


def _json_safe(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))


@dataclass(frozen=True)
class Change:
    """One entry to append: what was done to which object, and how it changed."""

    action: str
    model: str
    model_id: int | None = None
    model_uuid: str | None = None
    title: str = ""
    change: dict[str, Any] | None = None


def record(
    session: Session,
    actor: Actor,
    action: str,
    model: str,
    *,
    model_id: int | None = None,
    model_uuid: str | None = None,
    title: str = "",
    change: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the session's transaction."""
    return record_many(
        session, actor, [Change(action, model, model_id, model_uuid, title, change)]
    )[0]


def record_many(session: Session, actor: Actor, changes: Sequence[Change]) -> list[AuditEntry]:
    """Append entries in order, in the session's transaction, with one read of the chain's
    end and one write: a bulk import records a group of events at the cost of one."""
    if not changes:
        return []
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
    last = session.execute(
        sa.select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    prev_hash = last.hash if last else GENESIS
    next_id = (last.id + 1) if last else 1
    created_at = now()
    entries = []
    for c in changes:
        entry = AuditEntry(
            id=next_id,
            created_at=created_at,
            user_id=actor.user_id,
            org_id=actor.org_id,
            api_key_id=actor.api_key_id,
            ip=actor.ip,
            request_id=actor.request_id,
            action=c.action,
            model=c.model,
            model_id=c.model_id,
            model_uuid=c.model_uuid,
            title=c.title,
            change=_json_safe(c.change or {}),
            prev_hash=prev_hash,
        )
        entry.hash = prev_hash = compute_hash(entry)
        entries.append(entry)
        next_id += 1
    session.add_all(entries)
    head = session.get(AuditHead, 1)
    if head is None:
        head = AuditHead(id=1)
        session.add(head)
    last_entry = entries[-1]
    head.last_id, head.last_hash = last_entry.id, last_entry.hash
    head.mac = seal(last_entry.id, last_entry.hash)
    session.flush()
    return entries


def _mac_key() -> bytes:
    from shieldwall.config import get_settings

    return hashlib.sha256(
        b"shieldwall-audit-head:" + get_settings().ensure_secret_key().encode()
    ).digest()


def seal(last_id: int, last_hash: str) -> str:
    return hmac.new(_mac_key(), f"{last_id}:{last_hash}".encode(), hashlib.sha256).hexdigest()


def list_entries(
    session: Session,
    principal: Principal,
    *,
    after: int = 0,
    limit: int = 100,
    model: str | None = None,
    action: str | None = None,
    user_id: int | None = None,
) -> list[AuditEntry]:
    """Entries the principal may read: site admins all of them, auditors (org admins) their
    organisation's, in id order after `after`."""
    q = sa.select(AuditEntry).where(AuditEntry.id > after).order_by(AuditEntry.id).limit(limit)
    if not principal.is_site_admin:
        if not principal.can(Permission.AUDIT_READ):
            raise Forbidden("reading the audit log needs admin:audit:read")
        q = q.where(AuditEntry.org_id == principal.org_id)
    if model:
        q = q.where(AuditEntry.model == model)
    if action:
        q = q.where(AuditEntry.action == action)
    if user_id is not None:
        q = q.where(AuditEntry.user_id == user_id)
    return list(session.execute(q).scalars())


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    reason: str = ""


def iter_entries(session: Session, batch: int = 5000) -> Iterator[AuditEntry]:
    last_id = 0
    while True:
        rows = (
            session.execute(
                sa.select(AuditEntry)
                .where(AuditEntry.id > last_id)
                .order_by(AuditEntry.id)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id
        session.expunge_all()


def verify(session: Session) -> VerifyResult:
    """Walk the chain; report the first entry altered, inserted or following a removal."""
    prev_hash = GENESIS
    expected_id = 1
    checked = 0
    for entry in iter_entries(session):
        if entry.id != expected_id:
            return VerifyResult(
                False, checked, expected_id, f"entry {expected_id} is missing (removed)"
            )
        if entry.prev_hash != prev_hash:
            return VerifyResult(
                False, checked, entry.id, "previous-hash link broken (an earlier entry removed)"
            )
        if compute_hash(entry) != entry.hash:
            return VerifyResult(
                False, checked, entry.id, "content does not match its hash (altered)"
            )
        prev_hash = entry.hash
        expected_id += 1
        checked += 1
    head = session.get(AuditHead, 1)
    if head is None:
        if checked:
            return VerifyResult(
                False, checked, expected_id - 1, "the chain head seal is missing (removed)"
            )
        return VerifyResult(True, 0)
    if not hmac.compare_digest(head.mac, seal(head.last_id, head.last_hash)):
        return VerifyResult(
            False, checked, head.last_id, "the chain head seal does not match (altered)"
        )
    if head.last_id != expected_id - 1 or head.last_hash != prev_hash:
        if head.last_id > expected_id - 1:
            return VerifyResult(
                False,
                checked,
                expected_id,
                f"entries {expected_id} to {head.last_id} are missing (removed)",
            )
        return VerifyResult(
            False, checked, head.last_id + 1, "entries after the sealed head (inserted)"
        )
    return VerifyResult(True, checked)
