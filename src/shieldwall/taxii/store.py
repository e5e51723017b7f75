"""The stored STIX objects TAXII serves: events rendered into them by a catch-up keyed on event
timestamps, versions kept with their latest/first flags, and date_added handed out in one
increasing sequence so `added_after` and the page keys never skip an object.

Each object is tied to what it renders (see StixObject), so reads decide visibility from the
live intel rows: a change of distribution, sharing group, tag or publication is honoured at
once, and only the bodies wait for the next catch-up."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.audit.service import Actor
from shieldwall.auth.permissions import Permission
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.db.bulk import insert_rows
from shieldwall.db.engine import Database
from shieldwall.exchange.stix import event_objects
from shieldwall.intel.models import Attribute, Event, MispObject, ObjectReference
from shieldwall.intel.serialize import event_detail
from shieldwall.intel.visibility import Principal, ReadOptions
from shieldwall.misp.shapes import event_shape
from shieldwall.taxii.models import StixEventState, StixObject, StixObjectEvent

log = logging.getLogger("shieldwall.taxii")

CONTAINER_TYPES = frozenset({"report", "grouping"})
SHARED_TYPES = frozenset({"identity", "marking-definition"})
_PG_LOCK_KEY = 0x7A411  # serialises writers of taxii_objects so date_added only grows
_TICK = timedelta(microseconds=1)


def parse_timestamp(value: str) -> datetime:
    """A STIX/TAXII timestamp (RFC 3339, UTC, 'Z') as an aware datetime; ValueError if not."""
    if not isinstance(value, str) or not value.endswith("Z") or "T" not in value:
        raise ValueError(f"{value!r} is not a UTC timestamp such as 2024-01-31T10:00:00.000Z")
    return datetime.fromisoformat(value[:-1] + "+00:00")


def format_timestamp(value: datetime) -> str:
    """STIX/TAXII form: milliseconds when they suffice, else microseconds."""
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    us = value.microsecond
    return f"{text}.{us // 1000:03d}Z" if us % 1000 == 0 else f"{text}.{us:06d}Z"


def object_version(obj: dict[str, Any]) -> datetime | None:
    """modified, else created; None for unversioned objects (most cyber observables)."""
    for name in ("modified", "created"):
        if isinstance(obj.get(name), str):
            return parse_timestamp(obj[name])
    return None


def lock_writers(session: Session) -> None:
    """Held until the transaction ends; SQLite write transactions are serialised already."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))


class Clock:
    """date_added values for one transaction: after every value stored, one microsecond apart."""

    def __init__(self, session: Session) -> None:
        last = session.execute(sa.select(sa.func.max(StixObject.date_added))).scalar()
        start = now()
        self._next = start if last is None or start > last else last + _TICK

    def take(self) -> datetime:
        value = self._next
        self._next += _TICK
        return value


# --- rendering events -------------------------------------------------------------------------


def _render_ctx(event: Event) -> Ctx:
    principal = Principal(org_id=event.org_id, permissions=frozenset(Permission), kind="system")
    return Ctx(principal, Actor(org_id=event.org_id, label="taxii"), ReadOptions())


def _exportable(tags: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Local tags, tags restricted to one organisation and non-exportable ones stay here.
    return [
        t
        for t in tags
        if not t.get("local") and t.get("org_id") is None and t.get("exportable", True)
    ]


def event_view(session: Session, event: Event) -> dict[str, Any]:
    """The whole event (live content), MISP-shaped, with only the tags that may leave."""
    detail = event_detail(session, _render_ctx(event), event)
    detail["tags"] = _exportable(detail.get("tags", []))
    for a in detail["attributes"] + [a for o in detail["objects"] for a in o["attributes"]]:
        a["tags"] = _exportable(a.get("tags", []))
    return event_shape(detail)


@dataclass
class Tie:
    """What a rendered object shows, hence who may read it."""

    attribute_id: int | None = None
    object_id: int | None = None
    ref_attribute_id: int | None = None
    ref_object_id: int | None = None
    container: bool = False
    shared: bool = False

    @property
    def owned(self) -> bool:
        return self.attribute_id is not None or self.object_id is not None


def _uuid_part(stix_id: Any) -> str:
    return stix_id.split("--", 1)[1] if isinstance(stix_id, str) and "--" in stix_id else ""


_REF_KEYS = ("_ref", "_refs")


def _references(value: Any, key: str = "", out: list[str] | None = None) -> list[str]:
    """Every identifier an object points at (*_ref and *_refs properties, nested too). Strings
    are taken where they stand and only containers are descended into: a generator per value
    was a third of classifying a large event."""
    found: list[str] = [] if out is None else out
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, str):
                if k.endswith(_REF_KEYS):
                    found.append(v)
            elif isinstance(v, (dict, list)):
                _references(v, k, found)
    elif isinstance(value, list):
        refs = key.endswith(_REF_KEYS)
        for v in value:
            if isinstance(v, str):
                if refs:
                    found.append(v)
            elif isinstance(v, (dict, list)):
                _references(v, key, found)
    elif isinstance(value, str) and key.endswith(_REF_KEYS):
        found.append(value)
    return found


class Owners:
    """Maps the uuids of one event's attributes, objects and references to what they are."""

    def __init__(self, session: Session, event: Event) -> None:
        self.event_uuid = event.uuid
        self.attributes = dict(
            session.execute(
                sa.select(Attribute.uuid, Attribute.id).where(Attribute.event_id == event.id)
            ).all()
        )
        self.objects = dict(
            session.execute(
                sa.select(MispObject.uuid, MispObject.id).where(MispObject.event_id == event.id)
            ).all()
        )
        self.references = {
            r.uuid: (r.object_id, r.referenced_uuid)
            for r in session.execute(
                sa.select(
                    ObjectReference.uuid, ObjectReference.object_id, ObjectReference.referenced_uuid
                ).where(ObjectReference.event_id == event.id)
            )
        }

    def owner(self, uuid: str) -> tuple[int | None, int | None] | None:
        """(attribute id, object id) the uuid belongs to, or None."""
        if uuid in self.attributes:
            return self.attributes[uuid], None
        if uuid in self.objects:
            return None, self.objects[uuid]
        return None


def classify(owners: Owners, objects: list[dict[str, Any]]) -> list[Tie]:
    """Tie each rendered object to the attribute or MISP object it shows. An object pointed at
    only by owned objects (an observable, a galaxy cluster a relationship leads to) takes the
    owner of the first that points at it, so it is never shown to a reader who may not see
    that; what is left (identities, markings, event-level galaxies) is shared by the event."""
    ties: list[Tie] = []
    by_id: dict[str, tuple[int | None, int | None]] = {}
    for obj in objects:
        uuid = _uuid_part(obj.get("id"))
        tie = Tie()
        kind = obj.get("type")
        if kind in CONTAINER_TYPES and uuid == owners.event_uuid:
            tie.container = True
        elif kind in SHARED_TYPES:
            tie.shared = True
        elif (own := owners.owner(uuid)) is not None:
            tie.attribute_id, tie.object_id = own
        elif uuid in owners.references:
            source_object, target = owners.references[uuid]
            tie.object_id = source_object
            tie.ref_attribute_id, tie.ref_object_id = owners.owner(target) or (None, None)
        if tie.owned:
            by_id[obj["id"]] = (tie.attribute_id, tie.object_id)
        ties.append(tie)
    # Relationships and what only owned objects point at, until nothing changes. An object's
    # references are read once, not again on every pass.
    refs: dict[int, list[str]] = {}
    for _ in range(3):
        changed = False
        for i, (obj, tie) in enumerate(zip(objects, ties, strict=True)):
            if tie.container or tie.shared:
                continue
            if obj.get("type") == "relationship" and not tie.owned:
                source = by_id.get(obj.get("source_ref", ""))
                if source is not None:
                    tie.attribute_id, tie.object_id = source
                    by_id[obj["id"]] = source
                    changed = True
            if obj.get("type") == "relationship" and tie.owned and tie.ref_attribute_id is None:
                target = by_id.get(obj.get("target_ref", ""))
                if target is not None and target != (tie.attribute_id, tie.object_id):
                    tie.ref_attribute_id, tie.ref_object_id = target
            if tie.owned:
                if i not in refs:
                    refs[i] = _references(obj)
                for ref in refs[i]:
                    if ref not in by_id and not ref.startswith(("identity--", "marking-def")):
                        by_id[ref] = (tie.attribute_id, tie.object_id)
                        changed = True
        for obj, tie in zip(objects, ties, strict=True):
            if not (tie.container or tie.shared or tie.owned) and obj["id"] in by_id:
                tie.attribute_id, tie.object_id = by_id[obj["id"]]
        if not changed:
            break
    for tie in ties:
        if not (tie.container or tie.owned):
            tie.shared = True
    return ties


# The columns of a new stored version, in the order _row gives them.
_COLUMNS = (
    "stix_id",
    "type",
    "spec_version",
    "version",
    "date_added",
    "body",
    "is_latest",
    "is_first",
    "container",
    "event_id",
    "attribute_id",
    "object_id",
    "ref_attribute_id",
    "ref_object_id",
    "collection_id",
)


def _row(
    obj: dict[str, Any],
    body: str,
    clock: Clock,
    tie: Tie,
    event_id: int | None,
    collection_id: int | None = None,
) -> tuple[Any, ...]:
    """The values of one new stored version (as _COLUMNS); takes its date_added from the
    clock."""
    added = clock.take()
    return (
        obj["id"],
        obj["type"],
        str(obj.get("spec_version", "2.1")),
        object_version(obj) or added,
        added,
        body,
        True,
        True,
        tie.container,
        event_id,
        tie.attribute_id,
        tie.object_id,
        tie.ref_attribute_id,
        tie.ref_object_id,
        collection_id,
    )


def _insert(
    session: Session,
    obj: dict[str, Any],
    body: str,
    clock: Clock,
    tie: Tie,
    event_id: int | None,
    collection_id: int | None = None,
) -> int:
    values = _row(obj, body, clock, tie, event_id, collection_id)
    row = StixObject(**dict(zip(_COLUMNS, values, strict=True)))
    session.add(row)
    session.flush()
    return row.id


def reflag(
    session: Session, stix_ids: Iterable[str], event_id: int | None, collection_id: int | None
) -> None:
    """Recompute is_latest/is_first among the versions of each id in one scope (an event's
    rendering with what was posted for it, the shared objects, or a collection's posted
    objects)."""
    ids = sorted(set(stix_ids))
    if not ids:
        return
    columns = (StixObject.id, StixObject.stix_id, StixObject.is_latest, StixObject.is_first)
    # An event's scope holds its rendering and what was posted for it alike: a rendering
    # after an edit is a later version of the posted object with the same id.
    scope = (
        (
            StixObject.event_id.is_(None),
            StixObject.collection_id.is_(None)
            if collection_id is None
            else StixObject.collection_id == collection_id,
        )
        if event_id is None
        else (StixObject.event_id == event_id,)
    )
    order = (StixObject.stix_id, StixObject.version, StixObject.id)
    if event_id is not None:
        # One event's rows in one read. By chunks of ids, SQLite answers each chunk through
        # the event_id index, walking all of the event's rows: a 43,000-attribute event
        # (86,000 objects, 172 chunks) spent most of its render here, under the write lock.
        wanted = set(ids)
        rows = session.execute(sa.select(*columns).where(*scope).order_by(*order)).all()
        _reflag_rows(session, [r for r in rows if r.stix_id in wanted])
        return
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = session.execute(
            sa.select(*columns).where(StixObject.stix_id.in_(chunk), *scope).order_by(*order)
        ).all()
        _reflag_rows(session, rows)


def _reflag_rows(session: Session, rows: Sequence[Any]) -> None:
    """Set the flags of versions read in (stix_id, version, id) order where they differ."""
    grouped: dict[str, list[Any]] = {}
    for r in rows:
        grouped.setdefault(r.stix_id, []).append(r)
    for versions in grouped.values():
        last = len(versions) - 1
        for i, r in enumerate(versions):
            want = (i == last, i == 0)
            if (r.is_latest, r.is_first) != want:
                session.execute(
                    sa.update(StixObject)
                    .where(StixObject.id == r.id)
                    .values(is_latest=want[0], is_first=want[1])
                )


def _store_owned(
    session: Session,
    event: Event,
    items: list[tuple[dict[str, Any], str, Tie]],
    clock: Clock,
    interrupt: Callable[[], bool] | None = None,
    posted: frozenset[str] = frozenset(),
) -> None:
    existing: dict[str, list[Any]] = {}
    for r in session.execute(
        sa.select(StixObject.id, StixObject.stix_id, StixObject.version, StixObject.body).where(
            StixObject.event_id == event.id, StixObject.collection_id.is_(None)
        )
    ):
        existing.setdefault(r.stix_id, []).append(r)
    touched: set[str] = set()
    drop: list[int] = []
    new: list[tuple[Any, ...]] = []
    for obj, body, tie in items:
        sid = obj["id"]
        rows = existing.pop(sid, [])
        version = object_version(obj)
        if version is None:  # unversioned: one row, replaced when its content changes
            if len(rows) == 1 and rows[0].body == body:
                continue
            drop.extend(r.id for r in rows)
        else:
            same = [r for r in rows if r.version == version]
            if same and same[0].body == body:
                continue
            drop.extend(r.id for r in same)
        new.append(_row(obj, body, clock, tie, event.id))
        # A first version is alone in its scope (its flags are right as inserted) unless a
        # posted object has its id.
        if rows or sid in posted:
            touched.add(sid)
    # Written straight to the driver (COPY on PostgreSQL), in rendering order, so ids and
    # date_added rise together as before: a unit-of-work flush per object was most of a
    # render's time, all of it under the write lock.
    # In pieces, so that a render in the server can give way to a request between them.
    table: Any = StixObject.__table__
    for start in range(0, len(new), _INSERT_PIECE):
        _give_way(interrupt)
        insert_rows(session.connection(), table, _COLUMNS, new[start : start + _INSERT_PIECE])
    for rows in existing.values():  # no longer rendered: gone with every version
        drop.extend(r.id for r in rows)
    for start in range(0, len(drop), 500):
        session.execute(sa.delete(StixObject).where(StixObject.id.in_(drop[start : start + 500])))
    reflag(session, touched, event.id, None)


_VERSION_KEYS = frozenset(("created", "modified"))


def _content(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in _VERSION_KEYS}


def _store_shared(
    session: Session, event: Event, items: list[tuple[dict[str, Any], str, Tie]], clock: Clock
) -> None:
    """Shared objects (identities, markings, galaxy clusters of the event) are stored once
    per content, not once per event timestamp: an event whose rendering says the same as the
    latest version uses that version. A changed content is a new version, later than the
    latest and created when the first was, and every event using an earlier version uses it
    too: whoever may read any of those events gets the object's latest version."""
    linked = dict(
        session.execute(
            sa.select(StixObjectEvent.object_row_id, StixObject.stix_id)
            .join(StixObject, StixObject.id == StixObjectEvent.object_row_id)
            .where(StixObjectEvent.event_id == event.id)
        ).all()
    )
    keep: set[int] = set()
    touched: set[str] = set()
    for obj, body, tie in items:
        latest = session.execute(
            sa.select(StixObject.id, StixObject.version, StixObject.body).where(
                StixObject.stix_id == obj["id"],
                StixObject.event_id.is_(None),
                StixObject.collection_id.is_(None),
                StixObject.is_latest.is_(True),
            )
        ).first()
        if latest is not None and _content(orjson.loads(latest.body)) == _content(obj):
            row_id = latest.id
        else:
            if latest is not None and isinstance(obj.get("modified"), str):
                obj, body = _later_version(obj, latest)
            row_id = _insert(session, obj, body, clock, tie, None)
            touched.add(obj["id"])
            if latest is not None:
                _link_users(session, obj["id"], row_id, event.id)
        keep.add(row_id)
        if row_id not in linked:
            session.add(StixObjectEvent(object_row_id=row_id, event_id=event.id))
    session.flush()
    # Earlier versions of what the event still uses stay linked (its history); what it no
    # longer uses goes.
    used = {obj["id"] for obj, _, _ in items}
    gone = sorted(r for r, sid in linked.items() if r not in keep and sid not in used)
    if gone:
        session.execute(
            sa.delete(StixObjectEvent).where(
                StixObjectEvent.event_id == event.id, StixObjectEvent.object_row_id.in_(gone)
            )
        )
        orphans = sa.select(StixObject.stix_id).where(
            StixObject.id.in_(gone),
            ~sa.exists().where(StixObjectEvent.object_row_id == StixObject.id),
        )
        touched.update(session.execute(orphans).scalars())
        session.execute(
            sa.delete(StixObject).where(
                StixObject.id.in_(gone),
                ~sa.exists().where(StixObjectEvent.object_row_id == StixObject.id),
            )
        )
    reflag(session, touched, None, None)


def _later_version(obj: dict[str, Any], latest: Any) -> tuple[dict[str, Any], str]:
    """The object as a version after `latest`: its created the first version's (STIX keeps
    created across versions), its modified after the latest's."""
    previous = orjson.loads(latest.body)
    version = object_version(obj)
    floor = latest.version + timedelta(milliseconds=1)
    out = dict(obj)
    if isinstance(previous.get("created"), str):  # each version keeps the first's
        out["created"] = previous["created"]
    if version is None or version < floor:
        out["modified"] = format_timestamp(floor)
    return out, orjson.dumps(out).decode()


def _link_users(session: Session, stix_id: str, row_id: int, event_id: int) -> None:
    """Link the new version to every other event that uses an earlier one."""
    earlier = sa.select(StixObject.id).where(
        StixObject.stix_id == stix_id,
        StixObject.event_id.is_(None),
        StixObject.collection_id.is_(None),
        StixObject.id != row_id,
    )
    users = (
        sa.select(StixObjectEvent.event_id)
        .where(StixObjectEvent.object_row_id.in_(earlier), StixObjectEvent.event_id != event_id)
        .distinct()
        .subquery()
    )
    session.execute(
        sa.insert(StixObjectEvent).from_select(
            ["object_row_id", "event_id"], sa.select(sa.literal(row_id), users.c.event_id)
        )
    )


class RenderInterrupted(Exception):
    """A render gave way to a request: its savepoint is rolled back and it is tried again."""


# Rows of stored objects written between two looks at `interrupt` (a few tenths of a second
# of SQLite's write lock at most).
_INSERT_PIECE = 2000


def _give_way(interrupt: Callable[[], bool] | None) -> None:
    if interrupt is not None and interrupt():
        raise RenderInterrupted


def render_event(
    session: Session,
    event: Event,
    clock: Clock,
    interrupt: Callable[[], bool] | None = None,
) -> int:
    """Bring the stored objects of one event up to date with it; returns how many it has.

    With `interrupt`, a render of more than _INSERT_PIECE objects looks between its steps
    and raises RenderInterrupted once that returns True; the caller rolls back what the
    render wrote. (A smaller render holds the write lock for milliseconds: it never gives
    way.)"""
    objects = event_objects(event_view(session, event))
    if len(objects) <= _INSERT_PIECE:
        interrupt = None
    _give_way(interrupt)
    ties = classify(Owners(session, event), objects)
    posted: frozenset[str] = frozenset()
    state = session.get(StixEventState, event.id)
    if state is not None and state.posted:
        objects, ties, posted = _after_post(session, event, state, objects, ties)
    _give_way(interrupt)
    owned: list[tuple[dict[str, Any], str, Tie]] = []
    shared: list[tuple[dict[str, Any], str, Tie]] = []
    seen: set[str] = set()
    for obj, tie in zip(objects, ties, strict=True):
        if obj["id"] in seen:
            continue
        seen.add(obj["id"])
        body = orjson.dumps(obj).decode()
        (shared if tie.shared else owned).append((obj, body, tie))
    _store_owned(session, event, owned, clock, interrupt, posted)
    _give_way(interrupt)
    _store_shared(session, event, shared, clock)
    return len(objects)


def _unchanged_since(session: Session, model: Any, ids: set[int], mark: datetime) -> set[int]:
    """Of the given attributes or MISP objects, those neither deleted nor edited after
    `mark`."""
    return set(
        session.execute(
            sa.select(model.id).where(
                model.id.in_(ids), model.deleted.is_(False), model.timestamp <= mark
            )
        ).scalars()
    )


def _after_post(
    session: Session,
    event: Event,
    state: StixEventState,
    objects: list[dict[str, Any]],
    ties: list[Tie],
) -> tuple[list[dict[str, Any]], list[Tie], frozenset[str]]:
    """The rendering of an event made from a TAXII POST, after an edit: what the posted
    objects still stand for (attributes and MISP objects no later than the post) is left
    to them, and what was edited or added since is rendered; a rendered object with a
    posted object's id is a later version of it (its modified moved past the posted one's if
    needed). The event's report or grouping refers to what stands and what was rendered.
    Returns the objects, their ties and the ids posted for the event."""
    rows = session.execute(
        sa.select(
            StixObject.stix_id,
            StixObject.type,
            StixObject.version,
            StixObject.attribute_id,
            StixObject.object_id,
            StixObject.container,
        ).where(StixObject.event_id == event.id, StixObject.collection_id.is_not(None))
    ).all()
    if not rows:  # nothing posted is left (the collection went): rendered as any event
        return objects, ties, frozenset()
    mark = state.posted_mark or event.timestamp
    attribute_ids = {r.attribute_id for r in rows if r.attribute_id is not None}
    object_ids = {r.object_id for r in rows if r.object_id is not None}
    standing_attributes = _unchanged_since(session, Attribute, attribute_ids, mark)
    standing_objects = _unchanged_since(session, MispObject, object_ids, mark)

    def stands(attribute_id: int | None, object_id: int | None) -> bool:
        if attribute_id is not None:
            return attribute_id in standing_attributes
        return object_id is not None and object_id in standing_objects

    posted_versions: dict[str, datetime] = {}
    for r in rows:
        if r.stix_id not in posted_versions or r.version > posted_versions[r.stix_id]:
            posted_versions[r.stix_id] = r.version
    kept: list[tuple[dict[str, Any], Tie]] = []
    for obj, tie in zip(objects, ties, strict=True):
        if tie.owned and stands(tie.attribute_id, tie.object_id):
            continue
        posted_version = posted_versions.get(obj["id"])
        version = object_version(obj)
        if posted_version is not None and version is not None and version <= posted_version:
            obj = {**obj, "modified": format_timestamp(posted_version + timedelta(milliseconds=1))}
        kept.append((obj, tie))
    present = {obj["id"] for obj, _ in kept}
    still = [
        r.stix_id
        for r in rows
        if not r.container
        and r.type not in SHARED_TYPES  # named by created_by_ref and marking refs instead
        and r.stix_id not in present
        and (
            (r.attribute_id is None and r.object_id is None) or stands(r.attribute_id, r.object_id)
        )
    ]
    for obj, tie in kept:
        if tie.container:
            refs = [ref for ref in obj.get("object_refs", []) if ref in present]
            obj["object_refs"] = refs + [i for i in dict.fromkeys(still) if i not in refs]
    return [o for o, _ in kept], [t for _, t in kept], frozenset(posted_versions)


def _state(session: Session, event_id: int) -> StixEventState:
    state = session.get(StixEventState, event_id)
    if state is None:
        state = StixEventState(event_id=event_id, posted=False)
        session.add(state)
    return state


def _mark(session: Session, event: Event) -> None:
    state = _state(session, event.id)
    state.rendered_timestamp = event.timestamp
    state.rendered_publish_timestamp = event.publish_timestamp
    session.flush()


def pending_events(session: Session, limit: int) -> list[int]:
    """Events whose stored objects are older than the event or its publication (or
    missing), oldest first."""
    return list(
        session.execute(
            sa.select(Event.id)
            .outerjoin(StixEventState, StixEventState.event_id == Event.id)
            .where(
                sa.or_(
                    StixEventState.event_id.is_(None),
                    StixEventState.rendered_timestamp.is_(None),
                    StixEventState.rendered_timestamp != Event.timestamp,
                    StixEventState.rendered_publish_timestamp.is_distinct_from(
                        Event.publish_timestamp
                    ),
                )
            )
            .order_by(Event.timestamp, Event.id)
            .limit(limit)
        ).scalars()
    )


def mark_posted(session: Session, event_id: int, collection_id: int, mark: datetime) -> None:
    """An event imported from a TAXII POST to the collection is served as posted until it is
    edited; what is edited or added after `mark` is rendered then (see _after_post)."""
    event = session.get(Event, event_id)
    if event is not None:
        _mark(session, event)
    state = _state(session, event_id)
    state.posted = True
    state.collection_id = collection_id
    state.posted_mark = mark
    session.flush()


def catch_up(
    db: Database,
    *,
    batch: int = 20,
    budget: float | None = None,
    slice_seconds: float | None = None,
    before: Callable[[], Any] | None = None,
    interrupt: Callable[[], bool] | None = None,
) -> int:
    """Render every event that changed since it was last rendered, a batch per transaction;
    with a budget (seconds), stop after the batch that passes it. Returns events rendered.

    With slice_seconds, a transaction ends after the event that passes the slice, or after
    any event once `interrupt` returns True (the rest of its batch waits for the next
    transaction), and `before` is called before each transaction: the server's job uses
    these to hand the write lock and the interpreter back to requests while it works
    through a backlog."""
    started = time.monotonic()
    done = 0
    while True:
        if before is not None:
            before()
        with db.writing() as session:
            opened = time.monotonic()
            lock_writers(session)
            ids = pending_events(session, batch)
            if not ids:
                return done
            clock = Clock(session)
            gave_way = False
            for event_id in ids:
                event = session.get(Event, event_id)
                if event is None:
                    _GAVE_WAY.pop(event_id, None)
                    continue
                try:
                    with session.begin_nested():
                        render_event(session, event, clock, _may_give_way(event_id, interrupt))
                except RenderInterrupted:
                    _GAVE_WAY.setdefault(event_id, time.monotonic())
                    gave_way = True
                    break
                except Exception:  # a converter failure must not stop the others
                    log.exception("event %s could not be rendered as STIX", event.uuid)
                _GAVE_WAY.pop(event_id, None)
                _mark(session, event)
                done += 1
                if slice_seconds is not None and (
                    time.monotonic() - opened > slice_seconds or (interrupt and interrupt())
                ):
                    break
        if gave_way and before is None:  # nobody to wait for: the next try would give way again
            return done
        if budget is not None and time.monotonic() - started > budget:
            return done


# Events whose render gave way to a request, with when it first did. A render gives way
# only for GIVE_WAY_SECONDS after that (then it runs to its end), so a server that is never
# idle still serves a large event's objects, a minute late at most.
GIVE_WAY_SECONDS = 60.0
_GAVE_WAY: dict[int, float] = {}


def _may_give_way(event_id: int, interrupt: Callable[[], bool] | None) -> Callable[[], bool] | None:
    first = _GAVE_WAY.get(event_id)
    if first is not None and time.monotonic() - first > GIVE_WAY_SECONDS:
        return None
    return interrupt


def sweep_orphans(db: Database) -> int:
    """Remove shared objects no event uses any more (their last event was deleted)."""
    with db.writing() as session:
        lock_writers(session)
        orphans = sa.select(StixObject.id).where(
            StixObject.event_id.is_(None),
            StixObject.collection_id.is_(None),
            ~sa.exists().where(StixObjectEvent.object_row_id == StixObject.id),
        )
        ids = list(session.execute(orphans).scalars())
        for start in range(0, len(ids), 500):
            session.execute(
                sa.delete(StixObject).where(StixObject.id.in_(ids[start : start + 500]))
            )
        return len(ids)
