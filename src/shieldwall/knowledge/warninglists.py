"""Warninglists from pymispwarninglists; which are enabled is stored per instance. Checking
a value runs the enabled lists held in memory (loaded once per process)."""

from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa
from pymispwarninglists import WarningList, WarningLists
from sqlalchemy.orm import Session

from shieldwall.audit.service import record
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.context import Ctx
from shieldwall.ids import as_id
from shieldwall.intel.errors import InvalidInput, NotFound
from shieldwall.knowledge.models import Warninglist


@lru_cache(maxsize=1)
def library() -> WarningLists:
    return WarningLists(slow_search=False)


def sync(session: Session) -> int:
    rows = {w.name: w for w in session.execute(sa.select(Warninglist)).scalars()}
    added = 0
    for name, data in sorted(library().items()):
        version = int(data.version or 1)
        row = rows.get(name)
        if row is None:
            session.add(Warninglist(name=name, type=data.type, version=version))
            added += 1
        elif row.version != version:
            row.version, row.type = version, data.type
    session.flush()
    return added


def list_warninglists(
    session: Session, *, enabled: bool | None = None
) -> list[tuple[Warninglist, WarningList]]:
    q = sa.select(Warninglist).order_by(Warninglist.name)
    if enabled is not None:
        q = q.where(Warninglist.enabled.is_(enabled))
    lib = library()
    return [(row, lib[row.name]) for row in session.execute(q).scalars() if row.name in lib]


def get_warninglist(session: Session, ref: str | int) -> tuple[Warninglist, WarningList]:
    ident = as_id(ref)
    cond = Warninglist.id == ident if ident is not None else Warninglist.name == str(ref)
    row = session.execute(sa.select(Warninglist).where(cond)).scalar_one_or_none()
    if row is None or row.name not in library():
        raise NotFound(f"warninglist {ref} not found", field="warninglist")
    return row, library()[row.name]


def set_enabled(
    session: Session, ctx: Ctx, refs: list[str | int], enabled: bool | None
) -> list[Warninglist]:
    """Enable, disable (or, with None, toggle) warninglists named by id or name."""
    require(ctx, Permission.SITE_ADMIN)
    if not refs:
        raise InvalidInput("name a warninglist by id or name", field="id")
    changed = []
    for ref in refs:
        row, _ = get_warninglist(session, ref)
        row.enabled = (not row.enabled) if enabled is None else enabled
        changed.append(row)
        record(
            session,
            ctx.actor,
            "enable" if row.enabled else "disable",
            "Warninglist",
            model_id=row.id,
            title=row.name,
        )
    session.flush()
    return changed


def check_values(session: Session, values: list[str]) -> dict[str, list[tuple[Warninglist, str]]]:
    """For each value, the enabled warninglists it hits, with the list's matching rule."""
    enabled = list_warninglists(session, enabled=True)
    out: dict[str, list[tuple[Warninglist, str]]] = {}
    for value in values:
        hits = [(row, data.type) for row, data in enabled if value in data]
        if hits:
            out[value] = hits
    return out


def update(session: Session, ctx: Ctx) -> int:
    require(ctx, Permission.SITE_ADMIN)
    added = sync(session)
    record(
        session, ctx.actor, "update", "Warninglist", title="warninglists", change={"added": added}
    )
    return added


def warned(session: Session, items: list[tuple[str, str]]) -> list[bool]:
    """For each (attribute type, value): whether an enabled warninglist that applies to the
    type holds the value (either half of a composite value), as MISP's enforceWarninglist
    decides."""
    enabled = [
        (data, set(data.matching_attributes or []))
        for _, data in list_warninglists(session, enabled=True)
    ]
    if not enabled:
        return [False] * len(items)
    out = []
    for attr_type, value in items:
        parts = [value, *value.split("|")] if "|" in value else [value]
        hit = False
        for data, types in enabled:
            if types and attr_type not in types:
                continue
            if any(part in data for part in parts):
                hit = True
                break
        out.append(hit)
    return out
