"""Warninglists from pymispwarninglists; which are enabled is stored per instance. Values are
checked by a matcher compiled from the enabled lists (knowledge/warninglist_matcher.py), kept
per process and on disk under the var dir, and compiled again when the enabled lists or their
versions change."""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.audit.service import record
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.config import get_settings
from shieldwall.context import Ctx
from shieldwall.ids import as_id
from shieldwall.intel.errors import InvalidInput, NotFound
from shieldwall.knowledge.models import Warninglist
from shieldwall.knowledge.warninglist_matcher import TABLES_FORMAT, Hit, ListInfo, Matcher

if TYPE_CHECKING:
    from pymispwarninglists import WarningList, WarningLists

log = logging.getLogger("shieldwall.knowledge.warninglists")


@lru_cache(maxsize=1)
def library() -> WarningLists:
    # Imported on first use: the package pulls in jsonschema's format grammars (over a
    # second at start-up) and commands that never check a value should not pay for them.
    from pymispwarninglists import WarningLists

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


def check_values(session: Session, values: Sequence[str]) -> dict[str, list[Hit]]:
    """For each value, the enabled warninglists that hold it, whatever the lists' attribute
    types (MISP's checkValue); values that hit nothing are left out."""
    m = matcher(session)
    check, explain = m.untyped, m.hits
    out: dict[str, list[Hit]] = {}
    for value in values:
        mask = check(value)
        if mask:
            out[value] = explain(value, mask)
    return out


def update(session: Session, ctx: Ctx) -> int:
    require(ctx, Permission.SITE_ADMIN)
    added = sync(session)
    record(
        session, ctx.actor, "update", "Warninglist", title="warninglists", change={"added": added}
    )
    return added


def any_enabled(session: Session) -> bool:
    """Whether any warninglist is enabled (the matcher is compiled when one is)."""
    return bool(matcher(session).infos)


def warned(session: Session, items: Sequence[tuple[str, str]]) -> list[bool]:
    """For each (attribute type, value): whether an enabled warninglist that applies to the
    type holds the value, or either half of a composite value (MISP's enforceWarninglist)."""
    m = matcher(session)
    typed = m.typed_mask
    return [bool(typed(t, v)) for t, v in items]


def unwarned(session: Session, attrs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The serialised attributes (dicts with "type" and "value") no enabled warninglist
    applying to their type holds: MISP's enforceWarninglist."""
    found = warned(session, [(a["type"], a["value"]) for a in attrs])
    return [a for a, hit in zip(attrs, found, strict=True) if not hit]


def unwarn_event(session: Session, detail: dict[str, Any]) -> dict[str, Any]:
    """unwarned over a serialised event's attributes and its objects' (in place)."""
    detail["attributes"] = unwarned(session, detail["attributes"])
    for o in detail["objects"]:
        o["attributes"] = unwarned(session, o["attributes"])
    return detail


def hits(session: Session, items: Sequence[tuple[str, str]]) -> list[list[Hit]]:
    """For each (attribute type, value): the enabled warninglists applying to the type that
    hold the value (or a half of a composite value), with the entry each one matched."""
    m = matcher(session)
    return [m.typed_hits(t, v) for t, v in items]


def flag_attributes(session: Session, attrs: Sequence[dict[str, Any]]) -> None:
    """Add `warninglist_hits` ([{id, name}] of the enabled lists the value is on) to each
    serialised attribute (dicts with "type" and "value")."""
    found = hits(session, [(a["type"], a["value"]) for a in attrs])
    for a, hit_list in zip(attrs, found, strict=True):
        a["warninglist_hits"] = [
            {"id": h.warninglist.id, "name": h.warninglist.name} for h in hit_list
        ]


def flag_event(session: Session, detail: dict[str, Any]) -> dict[str, Any]:
    """flag_attributes over a serialised event's attributes, its objects' included."""
    flag_attributes(
        session, [*detail["attributes"], *(a for o in detail["objects"] for a in o["attributes"])]
    )
    return detail


# ---------------------------------------------------------------- the compiled matcher

_build_lock = threading.Lock()
_compiled: tuple[tuple[tuple[int, str, int], ...], Matcher] | None = None
CACHE_DIR = "warninglist-cache"


def matcher(session: Session) -> Matcher:
    """The matcher of the enabled warninglists, rebuilt when they or their versions change
    (one per process: compiling every list takes seconds, checking then costs microseconds).
    A compiled matcher is kept on disk under the var dir, so the next process (a command,
    another server worker) reads it back in about a second instead of compiling again."""
    global _compiled
    key = tuple(
        (row.id, row.name, row.version)
        for row in session.execute(
            sa.select(Warninglist.id, Warninglist.name, Warninglist.version)
            .where(Warninglist.enabled.is_(True))
            .order_by(Warninglist.id)
        )
    )
    current = _compiled
    if current is not None and current[0] == key:
        return current[1]
    with _build_lock:
        current = _compiled
        if current is not None and current[0] == key:
            return current[1]
        built = _stored_or_compiled(key)
        _compiled = (key, built)
        return built


def _stored_or_compiled(key: tuple[tuple[int, str, int], ...]) -> Matcher:
    if not key:  # nothing enabled: the package's lists are never read (hundreds of MB)
        return Matcher([], [])
    path = cache_path(key)
    stored = _read_stored(path, key)
    if stored is not None:
        return stored
    lib = library()
    chosen = [(ident, name) for ident, name, _ in key if name in lib]
    built = Matcher(
        [ListInfo(ident, name, lib[name].type) for ident, name in chosen],
        [lib[name] for _, name in chosen],
    )
    _store(path, key, built)
    return built


def cache_path(key: tuple[tuple[int, str, int], ...]) -> Path:
    """Where the matcher of these enabled lists is kept: named after the lists (row id,
    name, version), the package that ships them and the shape of the tables, so enabling,
    disabling or updating a list, or upgrading the package, names another file."""
    from importlib.metadata import version

    digest = hashlib.sha256(
        repr((TABLES_FORMAT, version("pymispwarninglists"), key)).encode()
    ).hexdigest()
    return get_settings().var_dir / CACHE_DIR / f"matcher-{digest[:32]}.marshal"


def _read_stored(path: Path, key: tuple[tuple[int, str, int], ...]) -> Matcher | None:
    # marshal, not pickle: reading it runs no code. The file is the instance's own (the
    # var dir also holds its database and secret key); one that is unreadable, cut short
    # or of another shape is compiled again and replaced.
    try:
        stored = marshal.loads(path.read_bytes())
        if stored["key"] != key:
            return None
        return Matcher.from_tables(stored["tables"])
    except FileNotFoundError:
        return None
    except (OSError, EOFError, ValueError, TypeError, KeyError) as exc:
        log.warning("warninglist matcher %s not read back (%s): compiling it again", path, exc)
        return None


def _store(path: Path, key: tuple[tuple[int, str, int], ...], built: Matcher) -> None:
    """Write the matcher's tables (whole files only: written aside, then renamed) and
    remove those of other list choices."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        partial.write_bytes(marshal.dumps({"key": key, "tables": built.tables()}))
        os.replace(partial, path)
        for other in path.parent.glob("matcher-*.marshal"):
            if other != path:
                other.unlink(missing_ok=True)
    except OSError as exc:  # a read-only var dir: every process compiles its own
        log.warning("warninglist matcher not stored in %s: %s", path.parent, exc)
