"""Event, attribute and object writes. Each public function runs inside the caller's single
transaction and appends to the audit log in it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.audit.service import Change, record, record_many
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import find_or_create_remote_org, require
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.correlation import index as correlation_index
from shieldwall.correlation.rules import INDEXED_TYPES
from shieldwall.db.base import new_uuid
from shieldwall.db.bulk import RowWriter, insert_rows
from shieldwall.db.ids import reserve_ids
from shieldwall.intel import attachments
from shieldwall.intel.common import (
    CANONICAL_UUID,
    attribute_tag_names,
    check_tlp,
    check_uuid,
    editable_event,
    effective_distribution,
    ensure_tags,
    event_tag_names,
    get_attribute,
    get_object,
    ref_condition,
    resolve_sharing_group,
)
from shieldwall.intel.errors import Conflict, Forbidden, InvalidInput, NotFound
from shieldwall.intel.models import (
    Attribute,
    AttributeTag,
    Event,
    EventTag,
    MispObject,
    ObjectReference,
    Sighting,
    Tag,
)
from shieldwall.intel.schemas import (
    AttributeIn,
    AttributeUpdate,
    EventIn,
    EventUpdate,
    ObjectIn,
    ReferenceIn,
    TagRef,
)
from shieldwall.intel.templates import validate_object
from shieldwall.intel.types import check_type_and_category, split_and_normalise, type_table
from shieldwall.intel.visibility import object_condition
from shieldwall.metrics import count_on_commit

# Column order of the attribute rows built by _attribute_row.
ATTRIBUTE_COLUMNS = (
    "id",
    "uuid",
    "event_id",
    "object_id",
    "object_relation",
    "category",
    "type",
    "value1",
    "value2",
    "to_ids",
    "timestamp",
    "distribution",
    "sharing_group_id",
    "comment",
    "first_seen",
    "last_seen",
    "deleted",
    "disable_correlation",
)


class _Batch:
    """Attribute rows of one write, with their tags and sightings. Rows go to `writer` as
    they are built when one is open (streamed to the database), else gather in `rows`.
    Each row takes its id from `ids` (reserved beforehand, db.ids), so nothing written has
    to be read back to be tagged, sighted or indexed."""

    def __init__(self, ids: Iterator[int] | None = None) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.writer: RowWriter | None = None
        self.ids: Iterator[int] = ids if ids is not None else iter(())
        self.uuids: list[str] = []
        self.attribute_tags: list[tuple[int, str, bool]] = []  # (attribute id, tag name, local)
        self.sightings: list[tuple[int, Any]] = []
        self.files: list[tuple[int, bytes]] = []  # (attribute id, stored file)
        self.seen: set[tuple[str, str, str, str]] = set()
        self.groups: dict[int | str, int | None] = {}  # sharing group reference -> id
        self.duplicates = 0
        # (id, type, value1) of the rows the correlation indexes hold (IP and ssdeep).
        self.indexed: list[tuple[int, str, str]] = []
        # Kept when the caller answers with what was written (keep_rows).
        self.kept: list[tuple[Any, ...]] | None = None
        # One time for every attribute of the write that brings none (as MISP stamps a save).
        self.now = now()

    def reserve(self, session: Session, n: int) -> None:
        """Ids for up to n rows, when the caller has not shared a reservation."""
        self.ids = iter(reserve_ids(session.connection(), Attribute.__table__, n))  # type: ignore[arg-type]

    def add(self, row: tuple[Any, ...]) -> None:
        self.uuids.append(row[1])
        if self.kept is not None:
            self.kept.append(row)
        if self.writer is not None:
            self.writer.write(row)
        else:
            self.rows.append(row)


def _attribute_group(
    session: Session, ctx: Ctx, a: AttributeIn, field: str, batch: _Batch
) -> int | None:
    """The sharing group of a distribution-4 attribute, resolved once per reference."""
    ref = a.sharing_group_id or a.sharing_group_uuid
    try:
        return batch.groups[ref]  # type: ignore[index]
    except (KeyError, TypeError):
        pass
    if batch.writer is not None:
        raise RuntimeError("sharing groups are resolved before rows are streamed")
    sg_id = resolve_sharing_group(session, ctx, 4, ref, f"{field}.sharing_group_id")
    batch.groups[ref] = sg_id  # type: ignore[index]
    return sg_id


def _when(value: datetime | str | None, field: str, name: str) -> datetime | None:
    """An attribute time as stored: MISP's blanks ("" or epoch 0) are none, naive is UTC."""
    if not value or isinstance(value, str):
        return None
    # Stored in UTC: what is kept of a write (Written) reads as the database gives it back.
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if value.year < 1970:
        raise InvalidInput("a time is not before 1970", field=f"{field}.{name}")
    if value.timestamp() == 0:
        return None
    return value


def _attribute_row(
    session: Session,
    ctx: Ctx,
    event: Event,
    a: AttributeIn,
    field: str,
    batch: _Batch,
    object_id: int | None = None,
    object_distribution: int | None = None,
    skip_duplicates: bool = True,
) -> None:
    # The import hot path: field names for errors are built only when an error is raised.
    attr_type = a.type
    if not attr_type:
        raise InvalidInput("an attribute needs a type", field=f"{field}.type")
    try:
        category = check_type_and_category(attr_type, a.category)
    except InvalidInput as exc:
        raise InvalidInput(exc.detail, field=f"{field}.{exc.field}") from None
    value = a.value
    content = None
    if a.data:
        packed = attachments.incoming(attr_type, value, a.data, encrypt=a.encrypt, field=field)
        value, content = packed.value, packed.data
    try:
        value1, value2 = split_and_normalise(attr_type, value)
    except InvalidInput as exc:
        raise InvalidInput(exc.detail, field=f"{field}.value") from None
    if object_id is None:
        key = (attr_type, category, value1, value2)
        if key in batch.seen:
            if skip_duplicates:
                batch.duplicates += 1
                return
            raise InvalidInput(
                f"the event already has a {attr_type} attribute with this value",
                field=f"{field}.value",
            )
        batch.seen.add(key)
    sg_id = _attribute_group(session, ctx, a, field, batch) if a.distribution == 4 else None
    uuid = a.uuid
    if uuid is None or not CANONICAL_UUID.match(uuid):
        uuid = check_uuid(uuid, f"{field}.uuid") or new_uuid()
    try:
        attr_id = next(batch.ids)
    except StopIteration:
        raise RuntimeError("more attribute rows than ids reserved") from None
    if a.tags:
        check_tlp(
            effective_distribution(a.distribution, event.distribution),
            [t.name for t in a.tags],
            f"{field}.distribution",
            "attribute",
        )
        for t in a.tags:
            batch.attribute_tags.append((attr_id, t.name.strip(), bool(t.local)))
    first_seen = _when(a.first_seen, field, "first_seen") if a.first_seen else None
    last_seen = _when(a.last_seen, field, "last_seen") if a.last_seen else None
    if first_seen and last_seen and last_seen < first_seen:
        raise InvalidInput("last_seen is before first_seen", field=f"{field}.last_seen")
    timestamp = _when(a.timestamp, field, "timestamp") if a.timestamp else None
    to_ids = a.to_ids
    if to_ids is None:
        to_ids = _default_to_ids().get(attr_type, False)
    for s in a.sightings:
        batch.sightings.append((attr_id, s))
    if content is not None:
        batch.files.append((attr_id, content))
    if attr_type in INDEXED_TYPES:
        batch.indexed.append((attr_id, attr_type, value1))
    batch.add(
        (
            attr_id,
            uuid,
            event.id,
            object_id,
            a.object_relation if object_id is not None else None,
            category,
            attr_type,
            value1,
            value2,
            bool(to_ids),
            timestamp or batch.now,
            a.distribution,
            sg_id,
            a.comment or "",
            first_seen,
            last_seen,
            bool(a.deleted),
            bool(a.disable_correlation),
        )
    )


@lru_cache(maxsize=1)
def _default_to_ids() -> dict[str, bool]:
    return type_table().default_to_ids


def _flush_batch(session: Session, ctx: Ctx, event: Event, batch: _Batch, tag_field: str) -> None:
    """Insert gathered attributes (unless streamed), their tags and sightings."""
    _flush_batches(session, ctx, [(event, batch)], tag_field)


def _flush_batches(
    session: Session, ctx: Ctx, pairs: Sequence[tuple[Event, _Batch]], tag_field: str
) -> None:
    """_flush_batch for several events at once: one statement per kind of row for all of
    them (an import writes a group of events with a handful of round trips)."""
    conn = session.connection()
    indexed: list[tuple[int, str, str]] = []
    for _, batch in pairs:
        if batch.rows:
            # Straight to the driver (COPY on PostgreSQL): bulk import speed.
            insert_rows(conn, Attribute.__table__, ATTRIBUTE_COLUMNS, batch.rows)  # type: ignore[arg-type]
            batch.rows = []
        indexed.extend(batch.indexed)
        batch.indexed = []
    if indexed:
        correlation_index.index_items(session, indexed)
    files = [f for _, batch in pairs for f in batch.files]
    if files:
        attachments.insert(session, files)
    for _, batch in pairs:
        batch.files = []
    names = [n for _, batch in pairs for _, n, _ in batch.attribute_tags]
    if names:
        require(ctx, Permission.TAG_ATTACH)
        tags = ensure_tags(session, ctx, names, tag_field)
        rows = []
        seen: set[tuple[int, int]] = set()
        for event, batch in pairs:
            for attr_id, name, local in batch.attribute_tags:
                tag = tags.get(name)
                if tag is None:
                    continue
                k = (attr_id, tag.id)
                if k in seen:
                    continue
                seen.add(k)
                rows.append(
                    {
                        "attribute_id": attr_id,
                        "event_id": event.id,
                        "tag_id": tag.id,
                        "local": local,
                    }
                )
        if rows:
            session.execute(sa.insert(AttributeTag), rows)
    sightings = [
        {
            "uuid": check_uuid(s.uuid, "Sighting.uuid") or new_uuid(),
            "attribute_id": attr_id,
            "event_id": event.id,
            "org_id": ctx.org_id,
            "type": s.type,
            "source": s.source,
            "date_sighting": s.date_sighting or now(),
        }
        for event, batch in pairs
        for attr_id, s in batch.sightings
    ]
    if sightings:
        require(ctx, Permission.SIGHTING_ADD)
        session.execute(sa.insert(Sighting), sightings)


def _attach_tags(
    session: Session,
    ctx: Ctx,
    link: type[EventTag] | type[AttributeTag],
    owned_by: sa.ColumnElement[bool],
    owner: dict[str, int],
    tags: Sequence[TagRef],
    field: str,
) -> list[str]:
    """Attach tags (created when missing and allowed) to an event or an attribute: `owned_by`
    selects the owner's links, `owner` fills a new link. Returns the names newly attached."""
    if not tags:
        return []
    require(ctx, Permission.TAG_ATTACH)
    found = ensure_tags(session, ctx, [t.name for t in tags], field)
    existing = set(session.execute(sa.select(link.tag_id).where(owned_by)).scalars())
    added = []
    for t in tags:
        tag = found.get(t.name)
        if tag is None or tag.id in existing:
            continue
        if tag.local_only and not t.local:
            raise InvalidInput(f"tag {tag.name!r} may only be attached locally", field="local")
        session.add(link(**owner, tag_id=tag.id, local=bool(t.local)))
        existing.add(tag.id)
        added.append(tag.name)
    session.flush()
    return added


def _changes_shared(added: Sequence[str], tags: Sequence[TagRef]) -> bool:
    """Whether attaching changed what is shared: local tags never leave this instance, so
    (as in MISP) they neither move the timestamp nor unpublish."""
    local = {t.name.strip() for t in tags if t.local}
    return any(name not in local for name in added)


def _attach_event_tags(
    session: Session, ctx: Ctx, event: Event, tags: Sequence[TagRef], field: str
) -> list[str]:
    return _attach_tags(
        session, ctx, EventTag, EventTag.event_id == event.id, {"event_id": event.id}, tags, field
    )


@dataclass
class _NewEvent:
    """An event inserted with its tags and objects, its attribute rows still to write."""

    event: Event
    data: EventIn
    batch: _Batch
    plain: list[tuple[AttributeIn, str]]
    members: list[tuple[AttributeIn, str, int]]
    objects: list[int]
    orgc_id: int
    sg_id: int | None
    skip_duplicates: bool


def create_event(
    session: Session,
    ctx: Ctx,
    data: EventIn,
    *,
    keep_orgc: bool = False,
    skip_duplicates: bool = True,
) -> Event:
    """Create an event with its attributes, objects, tags and sightings, in bulk.

    keep_orgc: take the creator organisation from the data (imports and sync, site admins
    and sync users only); otherwise the creator is the caller's organisation.
    """
    return create_events(
        session, ctx, [data], keep_orgc=keep_orgc, skip_duplicates=skip_duplicates
    )[0]


@dataclass(frozen=True)
class Written:
    """An event just created, with the attribute rows written for it (ATTRIBUTE_COLUMNS
    order, ids included): its creator's answer is built from them, not read back."""

    event: Event
    attributes: list[tuple[Any, ...]]


def create_event_written(
    session: Session, ctx: Ctx, data: EventIn, *, skip_duplicates: bool = True
) -> Written:
    """create_event, keeping the attribute rows it wrote."""
    started = _start_events(session, ctx, [data], keep_orgc=False, skip_duplicates=skip_duplicates)
    started[0].batch.kept = []
    _write_attribute_rows(session, ctx, started)
    _finish_events(session, ctx, started)
    return Written(started[0].event, started[0].batch.kept)


def create_events(
    session: Session,
    ctx: Ctx,
    items: Sequence[EventIn],
    *,
    keep_orgc: bool = False,
    skip_duplicates: bool = True,
) -> list[Event]:
    """Create several events as create_event does, with one statement per kind of row for
    all of them (events, tags, objects, attributes, references, audit entries): imports
    pay a handful of round trips per group, not per event. Any error fails the whole call;
    callers that want a bad event to fail alone retry one by one."""
    started = _start_events(
        session, ctx, items, keep_orgc=keep_orgc, skip_duplicates=skip_duplicates
    )
    _write_attribute_rows(session, ctx, started)
    _finish_events(session, ctx, started)
    return [new.event for new in started]


def _start_events(
    session: Session,
    ctx: Ctx,
    items: Sequence[EventIn],
    *,
    keep_orgc: bool,
    skip_duplicates: bool,
) -> list[_NewEvent]:
    """Checks, then the events' rows, their tags and objects."""
    require(ctx, Permission.EVENT_ADD)
    uuids = [check_uuid(data.uuid, "uuid") or new_uuid() for data in items]
    if len(set(uuids)) != len(uuids):
        dup = next(u for u in uuids if uuids.count(u) > 1)
        raise Conflict(f"an event with uuid {dup} appears twice", field="uuid")
    clash = _first_taken(session, Event.uuid, uuids)
    if clash:
        raise Conflict(f"an event with uuid {clash} already exists", field="uuid")
    creators: dict[tuple[str | None, str], int] = {}
    groups: dict[tuple[int, int | str | None], int | None] = {}
    t = now()
    events: list[Event] = []
    meta: list[tuple[int, int | None]] = []
    for data, uuid in zip(items, uuids, strict=True):
        orgc_id = ctx.org_id
        if data.orgc and (data.orgc.uuid or data.orgc.name) and keep_orgc:
            if not (ctx.principal.is_site_admin or ctx.principal.can(Permission.SYNC)):
                raise Forbidden(
                    "only site admins and sync users keep another creator organisation",
                    field="Orgc",
                )
            creator = (check_uuid(data.orgc.uuid, "Orgc.uuid"), data.orgc.name)
            if creator not in creators:
                creators[creator] = find_or_create_remote_org(session, ctx, *creator).id
            orgc_id = creators[creator]
        check_tlp(data.distribution, [t.name for t in data.tags], "distribution")
        group_ref = (data.distribution, data.sharing_group_id)
        if group_ref not in groups:
            groups[group_ref] = resolve_sharing_group(
                session, ctx, data.distribution, data.sharing_group_id, "sharing_group_id"
            )
        sg_id = groups[group_ref]
        extends = check_uuid(data.extends_uuid, "extends_uuid")
        if data.published and not ctx.principal.can(Permission.EVENT_PUBLISH):
            raise Forbidden("you may not publish events", field="published")
        events.append(
            Event(
                uuid=uuid,
                info=data.info,
                date=data.date or t.date(),
                threat_level_id=data.threat_level_id,
                analysis=data.analysis,
                distribution=data.distribution,
                sharing_group_id=sg_id,
                org_id=ctx.org_id,
                orgc_id=orgc_id,
                user_id=ctx.principal.user_id,
                published=data.published,
                publish_timestamp=(data.publish_timestamp or t)
                if data.published
                else data.publish_timestamp,
                timestamp=data.timestamp or t,
                locked=data.locked,
                extends_uuid=extends,
                disable_correlation=data.disable_correlation,
            )
        )
        meta.append((orgc_id, sg_id))
    # One INSERT ... RETURNING for the group's events.
    session.add_all(events)
    session.flush()
    _insert_event_tags(session, ctx, list(zip(events, items, strict=True)))
    objects, members = _insert_objects_of(
        session,
        ctx,
        [
            (event, o, f"objects[{i}]")
            for event, data in zip(events, items, strict=True)
            for i, o in enumerate(data.objects)
        ],
    )
    started: list[_NewEvent] = []
    k = 0
    for event, data, (orgc_id, sg_id) in zip(events, items, meta, strict=True):
        n = len(data.objects)
        batch = _Batch()
        batch.now = t
        plain = [(a, f"attributes[{i}]") for i, a in enumerate(data.attributes)]
        mine = [m for ms in members[k : k + n] for m in ms]
        # Sharing groups are looked up now: no statement may run while rows are streamed.
        for a, field in plain:
            if a.distribution == 4:
                _attribute_group(session, ctx, a, field, batch)
        for a, field, _ in mine:
            if a.distribution == 4:
                _attribute_group(session, ctx, a, field, batch)
        started.append(
            _NewEvent(
                event, data, batch, plain, mine, objects[k : k + n], orgc_id, sg_id, skip_duplicates
            )
        )
        k += n
    return started


def _insert_event_tags(session: Session, ctx: Ctx, pairs: Sequence[tuple[Event, EventIn]]) -> None:
    """The tags of new events, created when missing and allowed, in one statement."""
    names = [t.name for _, data in pairs for t in data.tags]
    if not names:
        return
    require(ctx, Permission.TAG_ATTACH)
    found = ensure_tags(session, ctx, names, "tags")
    rows = []
    for event, data in pairs:
        attached: set[int] = set()
        for t in data.tags:
            tag = found.get(t.name)
            if tag is None or tag.id in attached:
                continue
            if tag.local_only and not t.local:
                raise InvalidInput(f"tag {tag.name!r} may only be attached locally", field="local")
            attached.add(tag.id)
            rows.append({"event_id": event.id, "tag_id": tag.id, "local": bool(t.local)})
    if rows:
        session.execute(sa.insert(EventTag), rows)


def _write_attribute_rows(session: Session, ctx: Ctx, started: Sequence[_NewEvent]) -> None:
    """Build and write the attribute rows of these events through one writer: rows stream
    to the database while the rest are built (no statement in between)."""
    wanted = sum(len(new.plain) + len(new.members) for new in started)
    ids = iter(reserve_ids(session.connection(), Attribute.__table__, wanted))  # type: ignore[arg-type]
    with RowWriter(session.connection(), Attribute.__table__, ATTRIBUTE_COLUMNS) as writer:  # type: ignore[arg-type]
        for new in started:
            new.batch.writer = writer
            new.batch.ids = ids
            for a, field in new.plain:
                _attribute_row(
                    session,
                    ctx,
                    new.event,
                    a,
                    field,
                    new.batch,
                    skip_duplicates=new.skip_duplicates,
                )
            for a, field, obj_id in new.members:
                _attribute_row(session, ctx, new.event, a, field, new.batch, object_id=obj_id)
    for new in started:
        new.batch.writer = None


def _finish_events(session: Session, ctx: Ctx, started: Sequence[_NewEvent]) -> None:
    """Attribute tags, sightings, references, metrics and the audit entries."""
    _flush_batches(session, ctx, [(new.event, new.batch) for new in started], "attributes.tags")
    refs: list[tuple[int, int, ReferenceIn, str]] = []
    for new in started:
        for i, (obj_id, o) in enumerate(zip(new.objects, new.data.objects, strict=True)):
            refs.extend(
                (new.event.id, obj_id, r, f"objects[{i}].references[{j}]")
                for j, r in enumerate(o.references)
            )
    if refs:
        _insert_references_of(session, refs)
    count_on_commit(session, "events", len(started))
    count_on_commit(session, "attributes", sum(len(new.batch.uuids) for new in started))
    record_many(
        session,
        ctx.actor,
        [
            Change(
                "create",
                "Event",
                model_id=new.event.id,
                model_uuid=new.event.uuid,
                title=new.event.info[:200],
                change={
                    "distribution": new.event.distribution,
                    "sharing_group_id": new.sg_id,
                    "orgc_id": new.orgc_id,
                    "attributes": len(new.batch.uuids),
                    "objects": len(new.data.objects),
                    "tags": [t.name for t in new.data.tags],
                    "duplicates_skipped": new.batch.duplicates,
                    "published": new.event.published,
                },
            )
            for new in started
        ],
    )


def _insert_objects(
    session: Session, ctx: Ctx, event: Event, items: Sequence[tuple[ObjectIn, str]]
) -> tuple[list[int], list[tuple[AttributeIn, str, int]]]:
    """Validate objects against their templates and insert them in one statement. Returns
    their ids and their attributes as (attribute, field, object id), categories defaulted
    from the template, for the caller to add."""
    ids, members = _insert_objects_of(session, ctx, [(event, o, field) for o, field in items])
    return ids, [m for ms in members for m in ms]


def _insert_objects_of(
    session: Session, ctx: Ctx, items: Sequence[tuple[Event, ObjectIn, str]]
) -> tuple[list[int], list[list[tuple[AttributeIn, str, int]]]]:
    """_insert_objects for objects of several events: their ids, and each one's attributes."""
    built: list[tuple[dict[str, Any], ObjectIn, Any, str]] = []
    groups: dict[tuple[int, int | str | None], int | None] = {}
    t = now()
    for event, o, field in items:
        try:
            tpl = validate_object(
                o.name, o.template_uuid, [(a.object_relation, a.type) for a in o.attributes]
            )
        except InvalidInput as exc:
            raise InvalidInput(exc.detail, field=f"{field}.{exc.field}") from None
        group_ref = (o.distribution, o.sharing_group_id)
        if group_ref not in groups:
            groups[group_ref] = resolve_sharing_group(
                session, ctx, o.distribution, o.sharing_group_id, f"{field}.sharing_group_id"
            )
        if o.first_seen and o.last_seen and o.last_seen < o.first_seen:
            raise InvalidInput("last_seen is before first_seen", field=f"{field}.last_seen")
        obj = {
            "uuid": check_uuid(o.uuid, f"{field}.uuid") or new_uuid(),
            "event_id": event.id,
            "name": o.name,
            "meta_category": o.meta_category or (tpl.meta_category if tpl else ""),
            "description": o.description or (tpl.description if tpl else ""),
            "template_uuid": tpl.uuid if tpl else o.template_uuid,
            "template_version": tpl.version
            if tpl and o.template_version is None
            else o.template_version,
            "comment": o.comment,
            "distribution": o.distribution,
            "sharing_group_id": groups[group_ref],
            "timestamp": o.timestamp or t,
            "first_seen": o.first_seen,
            "last_seen": o.last_seen,
            "deleted": o.deleted,
        }
        built.append((obj, o, tpl, field))
    uuids = [b[0]["uuid"] for b in built]
    fields = {b[0]["uuid"]: b[3] for b in built}
    if len(set(uuids)) != len(uuids):
        dup = next(u for u in uuids if uuids.count(u) > 1)
        raise Conflict(f"object uuid {dup} appears twice", field=f"{fields[dup]}.uuid")
    clash = _first_taken(session, MispObject.uuid, uuids)
    if clash:
        raise Conflict(f"an object with uuid {clash} already exists", field=f"{fields[clash]}.uuid")
    ids: dict[str, int] = {}
    if built:
        # One multi-row INSERT ... RETURNING: one round trip for all of them.
        rows = session.connection().execute(
            sa.insert(MispObject).returning(MispObject.uuid, MispObject.id),
            [b[0] for b in built],
        )
        ids = {uuid: obj_id for uuid, obj_id in rows}
    members: list[list[tuple[AttributeIn, str, int]]] = []
    for obj, o, tpl, field in built:
        obj_id = ids[str(obj["uuid"])]
        mine = []
        for j, a in enumerate(o.attributes):
            _default_category(tpl, a)
            mine.append((a, f"{field}.attributes[{j}]", obj_id))
        members.append(mine)
    return [ids[u] for u in uuids], members


def _default_category(tpl: Any, a: AttributeIn) -> None:
    """An object attribute without a category takes the first its template allows."""
    if tpl is not None and a.category is None:
        cats = tpl.attributes.get(a.object_relation or "", {}).get("categories")
        if cats:
            a.category = cats[0]


def _insert_references(
    session: Session, event: Event, refs: list[tuple[int, ReferenceIn, str]]
) -> None:
    _insert_references_of(session, [(event.id, obj_id, r, field) for obj_id, r, field in refs])


def _insert_references_of(
    session: Session, refs: Sequence[tuple[int, int, ReferenceIn, str]]
) -> None:
    """Object references (event id, object id, reference, field), in one statement. A
    target is looked up in its reference's own event only: a reference cannot probe others."""
    targets = []
    for _, _, r, field in refs:
        target = check_uuid(r.referenced_uuid, f"{field}.referenced_uuid")
        assert target is not None
        targets.append(target)
    event_ids = sorted({event_id for event_id, _, _, _ in refs})
    wanted = sorted(set(targets))
    kinds: dict[tuple[int, str], str] = {}
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        for model, name in ((Attribute, "Attribute"), (MispObject, "Object")):
            for event_id, u in session.execute(
                sa.select(model.event_id, model.uuid).where(
                    model.uuid.in_(chunk), model.event_id.in_(event_ids)
                )
            ):
                kinds[(event_id, u)] = name
    rows = []
    for (event_id, object_id, r, field), target in zip(refs, targets, strict=True):
        kind = kinds.get((event_id, target))
        if kind is None:
            raise InvalidInput(
                f"referenced uuid {target} is not an attribute or object of this event",
                field=f"{field}.referenced_uuid",
            )
        rows.append(
            {
                "uuid": check_uuid(r.uuid, f"{field}.uuid") or new_uuid(),
                "object_id": object_id,
                "event_id": event_id,
                "referenced_uuid": target,
                "referenced_type": kind,
                "relationship_type": r.relationship_type,
                "comment": r.comment,
            }
        )
    if rows:
        session.execute(sa.insert(ObjectReference), rows)


def _edited(event: Event) -> None:
    """MISP's rule: a change to an event's content moves its timestamp and unpublishes it."""
    event.timestamp = now()
    event.published = False


def update_event(session: Session, ctx: Ctx, ref: str | int, data: EventUpdate) -> Event:
    event = editable_event(session, ctx, ref)
    changes: dict[str, Any] = {}
    fields = data.model_fields_set
    for name in ("info", "date", "threat_level_id", "analysis", "disable_correlation", "locked"):
        if name in fields:
            value = getattr(data, name)
            if value is None:
                raise InvalidInput(f"{name} may not be null", field=name)
            if getattr(event, name) != value:
                changes[name] = [getattr(event, name), value]
                setattr(event, name, value)
    if "extends_uuid" in fields:
        ext = check_uuid(data.extends_uuid, "extends_uuid")
        if ext == event.uuid:
            raise InvalidInput("an event cannot extend itself", field="extends_uuid")
        changes["extends_uuid"] = [event.extends_uuid, ext]
        event.extends_uuid = ext
    if "distribution" in fields or "sharing_group_id" in fields:
        dist = data.distribution if data.distribution is not None else event.distribution
        sg_ref = data.sharing_group_id if "sharing_group_id" in fields else event.sharing_group_id
        check_tlp(dist, event_tag_names(session, event.id), "distribution")
        sg_id = resolve_sharing_group(session, ctx, dist, sg_ref, "sharing_group_id")
        if (dist, sg_id) != (event.distribution, event.sharing_group_id):
            changes["distribution"] = [event.distribution, dist]
            changes["sharing_group_id"] = [event.sharing_group_id, sg_id]
            event.distribution, event.sharing_group_id = dist, sg_id
            _recheck_attribute_tlp(session, event)
    if changes:
        _edited(event)
    session.flush()
    record(
        session,
        ctx.actor,
        "update",
        "Event",
        model_id=event.id,
        model_uuid=event.uuid,
        title=event.info[:200],
        change=changes,
    )
    return event


def _recheck_attribute_tlp(session: Session, event: Event) -> None:
    """An event's new distribution must not widen attributes marked tlp:red that inherit it."""
    rows = session.execute(
        sa.select(Attribute.id, Attribute.distribution, Tag.name)
        .join(AttributeTag, AttributeTag.attribute_id == Attribute.id)
        .join(Tag, Tag.id == AttributeTag.tag_id)
        .where(
            Attribute.event_id == event.id,
            Attribute.distribution == 5,
            sa.func.lower(Tag.name).in_(("tlp:red", "tlp:amber+strict")),
        )
    ).all()
    for attr_id, dist, name in rows:
        check_tlp(
            effective_distribution(dist, event.distribution),
            [name],
            "distribution",
            f"event whose attribute {attr_id}",
        )


def delete_event(session: Session, ctx: Ctx, ref: str | int) -> None:
    event = editable_event(session, ctx, ref)
    record(
        session,
        ctx.actor,
        "delete",
        "Event",
        model_id=event.id,
        model_uuid=event.uuid,
        title=event.info[:200],
    )
    # Bulk deletes keep large events cheap; children first so both engines agree.
    for model in (Sighting, AttributeTag, ObjectReference, EventTag):
        session.execute(sa.delete(model).where(model.event_id == event.id))
    session.execute(sa.delete(Attribute).where(Attribute.event_id == event.id))
    session.execute(sa.delete(MispObject).where(MispObject.event_id == event.id))
    session.execute(sa.delete(Event).where(Event.id == event.id))
    session.expunge(event)


def publish_event(session: Session, ctx: Ctx, ref: str | int, publish: bool = True) -> Event:
    event = editable_event(session, ctx, ref)
    require(ctx, Permission.EVENT_PUBLISH)
    if publish:
        check_tlp(event.distribution, event_tag_names(session, event.id), "distribution")
        event.published = True
        event.publish_timestamp = now()
    else:
        event.published = False
    session.flush()
    record(
        session,
        ctx.actor,
        "publish" if publish else "unpublish",
        "Event",
        model_id=event.id,
        model_uuid=event.uuid,
        title=event.info[:200],
    )
    return event


def tag_event(session: Session, ctx: Ctx, ref: str | int, tags: list[TagRef]) -> list[str]:
    event = editable_event(session, ctx, ref)
    names = event_tag_names(session, event.id) + [t.name for t in tags]
    check_tlp(event.distribution, names, "tags")
    added = _attach_event_tags(session, ctx, event, tags, "tags")
    if _changes_shared(added, tags):
        _edited(event)
    record(
        session,
        ctx.actor,
        "tag",
        "Event",
        model_id=event.id,
        model_uuid=event.uuid,
        title=event.info[:200],
        change={"added": added},
    )
    return added


def _detach_tag(
    session: Session,
    ctx: Ctx,
    link: type[EventTag] | type[AttributeTag],
    owner: sa.ColumnElement[bool],
    tag_name: str,
    what: str,
) -> None:
    """Remove a tag from an event or an attribute; NotFound when it does not carry it."""
    require(ctx, Permission.TAG_ATTACH)
    tag_id = session.execute(sa.select(Tag.id).where(Tag.name == tag_name)).scalar_one_or_none()
    removed = 0
    if tag_id is not None:
        result = session.execute(sa.delete(link).where(owner, link.tag_id == tag_id))
        removed = getattr(result, "rowcount", 0) or 0
    if not removed:
        raise NotFound(f"the {what} has no tag {tag_name!r}", field="tag")


def untag_event(session: Session, ctx: Ctx, ref: str | int, tag_name: str) -> None:
    event = editable_event(session, ctx, ref)
    _detach_tag(session, ctx, EventTag, EventTag.event_id == event.id, tag_name, "event")
    _edited(event)
    record(
        session,
        ctx.actor,
        "untag",
        "Event",
        model_id=event.id,
        model_uuid=event.uuid,
        title=event.info[:200],
        change={"removed": tag_name},
    )


# ---------------------------------------------------------------- attributes


def add_attributes(
    session: Session,
    ctx: Ctx,
    event_ref: str | int,
    items: list[AttributeIn],
    *,
    break_on_duplicate: bool = True,
) -> list[Attribute]:
    """Add attributes to an event in bulk. A duplicate (same type, category and value of a live
    non-object attribute) is refused when break_on_duplicate, else skipped."""
    event = editable_event(session, ctx, event_ref)
    batch = _Batch()
    batch.reserve(session, len(items))
    existing = session.execute(
        sa.select(Attribute.type, Attribute.category, Attribute.value1, Attribute.value2).where(
            Attribute.event_id == event.id,
            Attribute.object_id.is_(None),
            Attribute.deleted.is_(False),
        )
    ).all()
    batch.seen = {tuple(r) for r in existing}  # type: ignore[misc]
    for i, a in enumerate(items):
        _attribute_row(
            session,
            ctx,
            event,
            a,
            f"attributes[{i}]",
            batch,
            skip_duplicates=not break_on_duplicate,
        )
    uuids = batch.uuids
    _check_free_uuids(session, uuids)
    _flush_batch(session, ctx, event, batch, "attributes.tags")
    count_on_commit(session, "attributes", len(uuids))
    _edited(event)
    session.flush()
    record(
        session,
        ctx.actor,
        "create",
        "Attribute",
        model_id=event.id,
        model_uuid=event.uuid,
        title=f"{len(uuids)} attributes added to event {event.id}",
        change={
            "event_id": event.id,
            "count": len(uuids),
            "uuids": uuids[:100],
            "duplicates_skipped": batch.duplicates,
        },
    )
    attrs: list[Attribute] = []
    for i in range(0, len(uuids), 500):
        attrs.extend(
            session.execute(
                sa.select(Attribute).where(Attribute.uuid.in_(uuids[i : i + 500]))
            ).scalars()
        )
    order = {u: i for i, u in enumerate(uuids)}
    attrs.sort(key=lambda a: order[a.uuid])
    return attrs


def _first_taken(session: Session, column: Any, uuids: Sequence[str]) -> str | None:
    """One of `uuids` already stored in `column`, if any."""
    for i in range(0, len(uuids), 500):
        clash = session.execute(
            sa.select(column).where(column.in_(uuids[i : i + 500])).limit(1)
        ).scalar_one_or_none()
        if clash:
            return str(clash)
    return None


def _check_free_uuids(session: Session, uuids: list[str]) -> None:
    clash = _first_taken(session, Attribute.uuid, uuids)
    if clash:
        raise Conflict(f"an attribute with uuid {clash} already exists", field="uuid")


def _editable_attribute(
    session: Session, ctx: Ctx, ref: str | int, include_deleted: bool = False
) -> tuple[Attribute, Event]:
    attr, event = get_attribute(session, ctx, ref, include_deleted=include_deleted)
    editable_event(session, ctx, event)
    return attr, event


def _refuse_duplicate(session: Session, attr: Attribute, attr_type: str, category: str) -> None:
    """MISP's rule: one live attribute per (type, category, value) outside objects."""
    if attr.object_id is not None:
        return
    clash = session.execute(
        sa.select(Attribute.id)
        .where(
            Attribute.event_id == attr.event_id,
            Attribute.id != attr.id,
            Attribute.object_id.is_(None),
            Attribute.deleted.is_(False),
            Attribute.type == attr_type,
            Attribute.category == category,
            Attribute.value1 == attr.value1,
            Attribute.value2 == attr.value2,
        )
        .limit(1)
    ).first()
    if clash:
        raise Conflict(
            f"the event already has a {attr_type} attribute with this value", field="value"
        )


def update_attribute(
    session: Session, ctx: Ctx, ref: str | int, data: AttributeUpdate
) -> Attribute:
    attr, event = _editable_attribute(session, ctx, ref)
    fields = data.model_fields_set
    changes: dict[str, Any] = {}
    new_type = data.type if "type" in fields and data.type else attr.type
    new_category = data.category if "category" in fields and data.category else attr.category
    if new_type != attr.type or new_category != attr.category:
        check_type_and_category(new_type, new_category)
    content = None
    if data.data:
        # A new file: it settles the value too (a malware sample's filename|md5).
        value = data.value if data.value is not None else attr.value
        packed = attachments.incoming(new_type, value, data.data, encrypt=data.encrypt, field="")
        content = packed.data
        if packed.value != attr.value:
            data.value = packed.value
            fields = fields | {"value"}
    if "value" in fields or new_type != attr.type:
        raw = data.value if data.value is not None else attr.value
        v1, v2 = split_and_normalise(new_type, raw)
        if (v1, v2) != (attr.value1, attr.value2):
            changes["value"] = [attr.value, f"{v1}|{v2}" if v2 else v1]
            attr.value1, attr.value2 = v1, v2
    if changes.get("value") or new_type != attr.type or new_category != attr.category:
        _refuse_duplicate(session, attr, new_type, new_category)
    if new_type != attr.type:
        changes["type"] = [attr.type, new_type]
        attr.type = new_type
    if new_category != attr.category:
        changes["category"] = [attr.category, new_category]
        attr.category = new_category
    for name in ("to_ids", "comment", "first_seen", "last_seen", "disable_correlation"):
        if name in fields:
            value = getattr(data, name)
            if value is None and name in ("to_ids", "comment", "disable_correlation"):
                raise InvalidInput(f"{name} may not be null", field=name)
            if getattr(attr, name) != value:
                changes[name] = [getattr(attr, name), value]
                setattr(attr, name, value)
    if attr.first_seen and attr.last_seen and attr.last_seen < attr.first_seen:
        raise InvalidInput("last_seen is before first_seen", field="last_seen")
    if "distribution" in fields or "sharing_group_id" in fields:
        dist = data.distribution if data.distribution is not None else attr.distribution
        sg_ref = data.sharing_group_id if "sharing_group_id" in fields else attr.sharing_group_id
        check_tlp(
            effective_distribution(dist, event.distribution),
            attribute_tag_names(session, attr.id),
            "distribution",
            "attribute",
        )
        sg_id = resolve_sharing_group(session, ctx, dist, sg_ref, "sharing_group_id")
        if (dist, sg_id) != (attr.distribution, attr.sharing_group_id):
            changes["distribution"] = [attr.distribution, dist]
            attr.distribution, attr.sharing_group_id = dist, sg_id
    if content is not None and attachments.replace(session, attr.id, content):
        changes["data"] = {"size": len(content)}
    if changes:
        attr.timestamp = now()
        _edited(event)
    session.flush()
    if ("value" in changes or "type" in changes) and (
        attr.type in INDEXED_TYPES or changes.get("type", [None])[0] in INDEXED_TYPES
    ):
        correlation_index.reindex_attributes(session, [attr.id])
    record(
        session,
        ctx.actor,
        "update",
        "Attribute",
        model_id=attr.id,
        model_uuid=attr.uuid,
        title=f"{attr.type} in event {event.id}",
        change=changes,
    )
    return attr


def delete_attribute(session: Session, ctx: Ctx, ref: str | int, *, hard: bool = False) -> None:
    attr, event = _editable_attribute(session, ctx, ref, include_deleted=hard)
    if hard:
        record(
            session,
            ctx.actor,
            "delete",
            "Attribute",
            model_id=attr.id,
            model_uuid=attr.uuid,
            title=f"{attr.type} {attr.value[:100]} (hard)",
            change={"event_id": event.id},
        )
        session.execute(sa.delete(Sighting).where(Sighting.attribute_id == attr.id))
        session.execute(sa.delete(AttributeTag).where(AttributeTag.attribute_id == attr.id))
        session.execute(sa.delete(Attribute).where(Attribute.id == attr.id))
        session.expunge(attr)
    else:
        attr.deleted = True
        attr.timestamp = now()
        record(
            session,
            ctx.actor,
            "soft_delete",
            "Attribute",
            model_id=attr.id,
            model_uuid=attr.uuid,
            title=f"{attr.type} {attr.value[:100]}",
            change={"event_id": event.id},
        )
    _edited(event)
    session.flush()


def restore_attribute(session: Session, ctx: Ctx, ref: str | int) -> Attribute:
    attr, event = _editable_attribute(session, ctx, ref, include_deleted=True)
    if not attr.deleted:
        raise Conflict("the attribute is not deleted", field="attribute")
    _refuse_duplicate(session, attr, attr.type, attr.category)
    attr.deleted = False
    attr.timestamp = now()
    _edited(event)
    session.flush()
    record(
        session,
        ctx.actor,
        "restore",
        "Attribute",
        model_id=attr.id,
        model_uuid=attr.uuid,
        title=attr.type,
    )
    return attr


def tag_attribute(session: Session, ctx: Ctx, ref: str | int, tags: list[TagRef]) -> list[str]:
    attr, event = _editable_attribute(session, ctx, ref)
    require(ctx, Permission.TAG_ATTACH)
    names = attribute_tag_names(session, attr.id) + [t.name for t in tags]
    check_tlp(
        effective_distribution(attr.distribution, event.distribution), names, "tags", "attribute"
    )
    added = _attach_tags(
        session,
        ctx,
        AttributeTag,
        AttributeTag.attribute_id == attr.id,
        {"attribute_id": attr.id, "event_id": event.id},
        tags,
        "tags",
    )
    if _changes_shared(added, tags):
        attr.timestamp = now()
        _edited(event)
    session.flush()
    record(
        session,
        ctx.actor,
        "tag",
        "Attribute",
        model_id=attr.id,
        model_uuid=attr.uuid,
        title=attr.type,
        change={"added": added},
    )
    return added


def untag_attribute(session: Session, ctx: Ctx, ref: str | int, tag_name: str) -> None:
    attr, event = _editable_attribute(session, ctx, ref)
    _detach_tag(
        session, ctx, AttributeTag, AttributeTag.attribute_id == attr.id, tag_name, "attribute"
    )
    attr.timestamp = now()
    _edited(event)
    record(
        session,
        ctx.actor,
        "untag",
        "Attribute",
        model_id=attr.id,
        model_uuid=attr.uuid,
        title=attr.type,
        change={"removed": tag_name},
    )


# ---------------------------------------------------------------- objects


def add_object(session: Session, ctx: Ctx, event_ref: str | int, data: ObjectIn) -> MispObject:
    event = editable_event(session, ctx, event_ref)
    batch = _Batch()
    obj_ids, members = _insert_objects(session, ctx, event, [(data, "object")])
    batch.reserve(session, len(members))
    obj = session.get_one(MispObject, obj_ids[0])
    for a, field, obj_id in members:
        _attribute_row(session, ctx, event, a, field, batch, object_id=obj_id)
    _check_free_uuids(session, batch.uuids)
    _flush_batch(session, ctx, event, batch, "attributes.tags")
    if data.references:
        _insert_references(
            session, event, [(obj.id, r, f"references[{j}]") for j, r in enumerate(data.references)]
        )
    _edited(event)
    session.flush()
    record(
        session,
        ctx.actor,
        "create",
        "Object",
        model_id=obj.id,
        model_uuid=obj.uuid,
        title=obj.name,
        change={"event_id": event.id, "attributes": len(batch.uuids)},
    )
    return obj


def add_object_attributes(
    session: Session, ctx: Ctx, ref: str | int, items: Sequence[AttributeIn]
) -> list[str]:
    """Add attributes to an existing object; the object with them must still fit its
    template. Returns the new attributes' uuids."""
    obj, event = get_object(session, ctx, ref)
    editable_event(session, ctx, event)
    present = session.execute(
        sa.select(Attribute.object_relation, Attribute.type).where(
            Attribute.object_id == obj.id, Attribute.deleted.is_(False)
        )
    ).all()
    try:
        tpl = validate_object(
            obj.name,
            obj.template_uuid,
            [(r, t) for r, t in present] + [(a.object_relation, a.type) for a in items],
        )
    except InvalidInput as exc:
        raise InvalidInput(exc.detail, field=f"object.{exc.field}") from None
    batch = _Batch()
    batch.reserve(session, len(items))
    for j, a in enumerate(items):
        _default_category(tpl, a)
        _attribute_row(session, ctx, event, a, f"attributes[{j}]", batch, object_id=obj.id)
    _check_free_uuids(session, batch.uuids)
    _flush_batch(session, ctx, event, batch, "attributes.tags")
    obj.timestamp = now()
    _edited(event)
    session.flush()
    record(
        session,
        ctx.actor,
        "update",
        "Object",
        model_id=obj.id,
        model_uuid=obj.uuid,
        title=obj.name,
        change={"attributes_added": len(batch.uuids)},
    )
    return batch.uuids


def update_object(session: Session, ctx: Ctx, ref: str | int, data: dict[str, Any]) -> MispObject:
    obj, event = get_object(session, ctx, ref)
    editable_event(session, ctx, event)
    changes: dict[str, Any] = {}
    for name in ("comment", "first_seen", "last_seen"):
        if name in data and getattr(obj, name) != data[name]:
            changes[name] = [getattr(obj, name), data[name]]
            setattr(obj, name, data[name])
    if "distribution" in data or "sharing_group_id" in data:
        dist = data.get("distribution", obj.distribution)
        if dist is None or not 0 <= int(dist) <= 5:
            raise InvalidInput("distribution is 0 to 5", field="distribution")
        sg_id = resolve_sharing_group(
            session,
            ctx,
            int(dist),
            data.get("sharing_group_id", obj.sharing_group_id),
            "sharing_group_id",
        )
        if (int(dist), sg_id) != (obj.distribution, obj.sharing_group_id):
            changes["distribution"] = [obj.distribution, int(dist)]
            obj.distribution, obj.sharing_group_id = int(dist), sg_id
    if changes:
        obj.timestamp = now()
        _edited(event)
    session.flush()
    record(
        session,
        ctx.actor,
        "update",
        "Object",
        model_id=obj.id,
        model_uuid=obj.uuid,
        title=obj.name,
        change=changes,
    )
    return obj


def delete_object(session: Session, ctx: Ctx, ref: str | int, *, hard: bool = False) -> None:
    obj, event = get_object(session, ctx, ref, include_deleted=hard)
    editable_event(session, ctx, event)
    if hard:
        attr_ids = sa.select(Attribute.id).where(Attribute.object_id == obj.id)
        session.execute(sa.delete(Sighting).where(Sighting.attribute_id.in_(attr_ids)))
        session.execute(sa.delete(AttributeTag).where(AttributeTag.attribute_id.in_(attr_ids)))
        session.execute(sa.delete(Attribute).where(Attribute.object_id == obj.id))
        session.execute(sa.delete(ObjectReference).where(ObjectReference.object_id == obj.id))
        record(
            session,
            ctx.actor,
            "delete",
            "Object",
            model_id=obj.id,
            model_uuid=obj.uuid,
            title=f"{obj.name} (hard)",
        )
        session.execute(sa.delete(MispObject).where(MispObject.id == obj.id))
        session.expunge(obj)
    else:
        obj.deleted = True
        obj.timestamp = now()
        session.execute(
            sa.update(Attribute)
            .where(Attribute.object_id == obj.id)
            .values(deleted=True, timestamp=now())
        )
        record(
            session,
            ctx.actor,
            "soft_delete",
            "Object",
            model_id=obj.id,
            model_uuid=obj.uuid,
            title=obj.name,
        )
    _edited(event)
    session.flush()


def add_reference(
    session: Session, ctx: Ctx, object_ref: str | int, data: ReferenceIn
) -> ObjectReference:
    obj, event = get_object(session, ctx, object_ref)
    editable_event(session, ctx, event)
    _insert_references(session, event, [(obj.id, data, "reference")])
    ref = session.execute(
        sa.select(ObjectReference)
        .where(ObjectReference.object_id == obj.id)
        .order_by(ObjectReference.id.desc())
        .limit(1)
    ).scalar_one()
    _edited(event)
    record(
        session,
        ctx.actor,
        "create",
        "ObjectReference",
        model_id=ref.id,
        model_uuid=ref.uuid,
        title=f"{obj.name} {ref.relationship_type} {ref.referenced_uuid}",
    )
    return ref


def delete_reference(session: Session, ctx: Ctx, ref_id: str | int) -> int:
    """Delete a reference (by id or uuid); returns its id."""
    # Found only through an object the caller may read: no hint that others exist.
    cond = ref_condition(ObjectReference.id, ObjectReference.uuid, ref_id, "reference")
    row = session.execute(
        sa.select(ObjectReference, Event)
        .join(MispObject, MispObject.id == ObjectReference.object_id)
        .join(Event, Event.id == MispObject.event_id)
        .where(cond, object_condition(ctx.principal, ctx.opts))
    ).first()
    if row is None:
        raise NotFound(f"reference {ref_id} not found", field="reference")
    ref, event = row
    editable_event(session, ctx, event)
    record(
        session,
        ctx.actor,
        "delete",
        "ObjectReference",
        model_id=ref.id,
        model_uuid=ref.uuid,
        title=ref.relationship_type,
    )
    session.delete(ref)
    _edited(event)
    session.flush()
    return int(ref.id)


def refuse_duplicate_object(
    session: Session, ctx: Ctx, event_ref: str | int, data: ObjectIn
) -> None:
    """MISP's breakOnDuplicate for objects: refuse an object whose name and attributes (relation,
    type, value) match a live object of the event."""
    event = editable_event(session, ctx, event_ref)
    wanted: set[tuple[str | None, str, str, str]] = set()
    for j, a in enumerate(data.attributes):
        try:
            v1, v2 = split_and_normalise(a.type, a.value)
        except InvalidInput as exc:
            raise InvalidInput(exc.detail, field=f"attributes[{j}].value") from None
        wanted.add((a.object_relation, a.type, v1, v2))
    rows = session.execute(
        sa.select(
            MispObject.id,
            Attribute.object_relation,
            Attribute.type,
            Attribute.value1,
            Attribute.value2,
        )
        .join(Attribute, Attribute.object_id == MispObject.id)
        .where(
            MispObject.event_id == event.id,
            MispObject.name == data.name,
            MispObject.deleted.is_(False),
            Attribute.deleted.is_(False),
        )
    ).all()
    existing: dict[int, set[tuple[str | None, str, str, str]]] = {}
    for obj_id, rel, typ, v1, v2 in rows:
        existing.setdefault(obj_id, set()).add((rel, typ, v1, v2))
    for obj_id, attrs in existing.items():
        if attrs == wanted:
            raise Conflict(
                f"the event already has an identical {data.name} object ({obj_id})", field="Object"
            )
