"""Native API shapes of intel objects (explicit fields: no column leaks by accident)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from shieldwall.auth.models import Organisation
from shieldwall.context import Ctx
from shieldwall.db.lists import in_values
from shieldwall.intel.models import (
    Attribute,
    AttributeTag,
    Event,
    EventTag,
    MispObject,
    ObjectReference,
    SharingGroup,
    Sighting,
    Tag,
)
from shieldwall.intel.visibility import (
    attribute_condition,
    event_condition,
    object_condition,
    sighting_condition,
    tag_condition,
)


@lru_cache(maxsize=4096)
def iso(value: datetime | None) -> str | None:
    # Cached: the attributes of an event mostly share a handful of timestamps.
    return value.isoformat() if value is not None else None


def org_out(org: Organisation) -> dict[str, Any]:
    return {
        "id": org.id,
        "uuid": org.uuid,
        "name": org.name,
        "description": org.description,
        "nationality": org.nationality,
        "sector": org.sector,
        "type": org.type,
        "contacts": org.contacts,
        "local": org.local,
        "created_at": iso(org.created_at),
        "modified_at": iso(org.modified_at),
    }


def org_brief(org: Organisation) -> dict[str, Any]:
    return {"id": org.id, "uuid": org.uuid, "name": org.name, "local": org.local}


def tag_out(tag: Tag, local: bool | None = None) -> dict[str, Any]:
    out = {
        "id": tag.id,
        "name": tag.name,
        "colour": tag.colour,
        "exportable": tag.exportable,
        "hide_tag": tag.hide_tag,
        "local_only": tag.local_only,
        "numerical_value": tag.numerical_value,
        "org_id": tag.org_id,
    }
    if local is not None:
        out["local"] = local
    return out


def attribute_out(
    a: Attribute | sa.Row[Any] | tuple[Any, ...],
    tags: list[dict[str, Any]] | None = None,
    event_uuid: str | None = None,
) -> dict[str, Any]:
    """An attribute (an ORM object or a row of the attributes table's columns)."""
    if isinstance(a, sa.Row | tuple):
        return _attribute_row_out(a, tags, event_uuid)
    out: dict[str, Any] = {
        "id": a.id,
        "uuid": a.uuid,
        "event_id": a.event_id,
        "object_id": a.object_id,
        "object_relation": a.object_relation,
        "category": a.category,
        "type": a.type,
        "value": f"{a.value1}|{a.value2}" if a.value2 else a.value1,
        "value1": a.value1,
        "value2": a.value2,
        "to_ids": a.to_ids,
        "timestamp": iso(a.timestamp),
        "distribution": a.distribution,
        "sharing_group_id": a.sharing_group_id,
        "comment": a.comment,
        "first_seen": iso(a.first_seen),
        "last_seen": iso(a.last_seen),
        "deleted": a.deleted,
        "disable_correlation": a.disable_correlation,
        "expired_at": iso(a.expired_at),
    }
    if event_uuid is not None:
        out["event_uuid"] = event_uuid
    if tags is not None:
        out["tags"] = tags
    return out


_ATTRIBUTE_COLUMNS = tuple(c.name for c in Attribute.__table__.c)


def _attribute_row_out(
    row: sa.Row[Any] | tuple[Any, ...], tags: list[dict[str, Any]] | None, event_uuid: str | None
) -> dict[str, Any]:
    # Event views of tens of thousands of attributes: a row unpacks in C, where reading its
    # fields by name costs six times as much.
    out = dict(zip(_ATTRIBUTE_COLUMNS, row, strict=True))
    v1, v2 = out["value1"], out["value2"]
    out["value"] = f"{v1}|{v2}" if v2 else v1
    out["timestamp"] = iso(out["timestamp"])
    out["first_seen"] = iso(out["first_seen"])
    out["last_seen"] = iso(out["last_seen"])
    out["expired_at"] = iso(out["expired_at"])
    if event_uuid is not None:
        out["event_uuid"] = event_uuid
    if tags is not None:
        out["tags"] = tags
    return out


def sharing_group_out(sg: SharingGroup) -> dict[str, Any]:
    return {
        "id": sg.id,
        "uuid": sg.uuid,
        "name": sg.name,
        "description": sg.description,
        "releasability": sg.releasability,
        "org": org_brief(sg.org),
        "active": sg.active,
        "roaming": sg.roaming,
        "local": sg.local,
        "all_local_orgs": any(s.server_url is None and s.all_orgs for s in sg.servers),
        "members": [
            {"org": org_brief(m.org), "extend": m.extend}
            for m in sorted(sg.members, key=lambda m: m.org_id)
        ],
        "servers": [
            {"url": s.server_url, "name": s.server_name, "all_orgs": s.all_orgs} for s in sg.servers
        ],
        "created_at": iso(sg.created_at),
        "modified_at": iso(sg.modified_at),
    }


def sighting_out(s: Sighting, attribute_uuid: str | None = None) -> dict[str, Any]:
    return {
        "id": s.id,
        "uuid": s.uuid,
        "attribute_id": s.attribute_id,
        "attribute_uuid": attribute_uuid,
        "event_id": s.event_id,
        "org_id": s.org_id,
        "type": s.type,
        "source": s.source,
        "date_sighting": iso(s.date_sighting),
    }


_SUMMARY_FIELDS = (
    "id",
    "uuid",
    "info",
    "date",
    "threat_level_id",
    "analysis",
    "distribution",
    "sharing_group_id",
    "user_id",
    "published",
    "publish_timestamp",
    "timestamp",
    "locked",
    "extends_uuid",
    "disable_correlation",
)
_ORG_BRIEF = ("id", "uuid", "name", "local")


def _summary(fields: dict[str, Any], org: dict[str, Any], orgc: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    out["date"] = fields["date"].isoformat()
    out["publish_timestamp"] = iso(fields["publish_timestamp"])
    out["timestamp"] = iso(fields["timestamp"])
    out["org"] = org
    out["orgc"] = orgc
    return out


def event_summary(e: Event) -> dict[str, Any]:
    return _summary(
        {f: getattr(e, f) for f in _SUMMARY_FIELDS}, org_brief(e.org), org_brief(e.orgc)
    )


def event_summaries(session: Session, *where: ColumnElement[bool]) -> list[dict[str, Any]]:
    """event_summary of the events matching `where`, read as plain rows: a list of hundreds
    of related events costs one query and no ORM objects."""
    org, orgc = aliased(Organisation), aliased(Organisation)
    cols = [getattr(Event, f) for f in _SUMMARY_FIELDS]
    org_cols = [getattr(org, f) for f in _ORG_BRIEF] + [getattr(orgc, f) for f in _ORG_BRIEF]
    # On the connection and fetched at once: the ORM's row handling and a fetch per row
    # cost more than the query for hundreds of related events.
    rows = (
        session.connection()
        .execute(
            sa.select(*cols, *org_cols)
            .join(org, org.id == Event.org_id)
            .join(orgc, orgc.id == Event.orgc_id)
            .where(*where)
        )
        .all()
    )
    n, k = len(_SUMMARY_FIELDS), len(_ORG_BRIEF)
    return [
        _summary(
            dict(zip(_SUMMARY_FIELDS, row[:n], strict=True)),
            dict(zip(_ORG_BRIEF, row[n : n + k], strict=True)),
            dict(zip(_ORG_BRIEF, row[n + k :], strict=True)),
        )
        for row in rows
    ]


def _tags_for_attributes(
    session: Session, ctx: Ctx, attribute_ids: list[int], event_id: int | None = None
) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    wanted = set(attribute_ids)
    for cond in _chunks(attribute_ids, AttributeTag.attribute_id, event_id, AttributeTag.event_id):
        rows = session.execute(
            sa.select(AttributeTag.attribute_id, AttributeTag.local, Tag)
            .join(Tag, Tag.id == AttributeTag.tag_id)
            .where(cond, tag_condition(ctx.principal))
            .order_by(Tag.name)
        ).all()
        for attr_id, local, tag in rows:
            if attr_id in wanted:
                out[attr_id].append(tag_out(tag, local))
    return out


def event_tags(session: Session, ctx: Ctx, event_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        sa.select(EventTag.local, Tag)
        .join(Tag, Tag.id == EventTag.tag_id)
        .where(EventTag.event_id == event_id, tag_condition(ctx.principal))
        .order_by(Tag.name)
    ).all()
    return [tag_out(tag, local) for local, tag in rows]


def attributes_with_tags(
    session: Session,
    ctx: Ctx,
    attrs: Sequence[Attribute | sa.Row[Any] | _WrittenRow],
    event_uuids: dict[int, str] | None = None,
    *,
    event_id: int | None = None,
) -> list[dict[str, Any]]:
    """Serialised attributes with their tags; event_id when all belong to that event."""
    tags = _tags_for_attributes(session, ctx, [a.id for a in attrs], event_id)
    return [
        attribute_out(a, tags.get(a.id, []), event_uuids.get(a.event_id) if event_uuids else None)
        for a in attrs
    ]


def _readable_attributes(
    session: Session, ctx: Ctx, which: ColumnElement[bool], include_deleted: bool
) -> list[sa.Row[Any]]:
    """The attributes matching `which` that the caller may read, in id order. Rows, not ORM
    objects: events of tens of thousands of attributes are read often, and building an ORM
    object per attribute costs more than the query."""
    # On the connection, not the ORM session: plain columns need none of the ORM's row
    # handling, which costs as much again as the query for a large event.
    return list(
        session.connection()
        .execute(
            sa.select(*Attribute.__table__.c)
            .join(Event, Event.id == Attribute.event_id)
            .where(
                which,
                attribute_condition(ctx.principal, ctx.opts, include_deleted=include_deleted),
            )
            .order_by(Attribute.id)
        )
        .all()  # one fetchall: iterating fetches a row a call
    )


def readable_attributes(session: Session, ctx: Ctx, ids: list[int]) -> list[dict[str, Any]]:
    """The live attributes among `ids` that the caller may read, serialised (no tags)."""
    if not ids:
        return []
    rows = _readable_attributes(session, ctx, in_values(session, Attribute.id, ids), False)
    return [attribute_out(r) for r in rows]


def event_detail(
    session: Session,
    ctx: Ctx,
    e: Event,
    *,
    include_deleted: bool = False,
    sightings: bool = True,
    written: Sequence[tuple[Any, ...]] | None = None,
) -> dict[str, Any]:
    """The event with its tags, attributes, objects and references as the reader may see
    them; each attribute with its sighting counts unless `sightings` is False (exports that
    do not carry them skip the query). `written`: every attribute row of an event the
    reader's organisation has just created (intel.events.Written), used instead of reading
    them back."""
    out = event_summary(e)
    out["tags"] = event_tags(session, ctx, e.id)
    if e.sharing_group is not None:
        out["sharing_group"] = {
            "id": e.sharing_group.id,
            "uuid": e.sharing_group.uuid,
            "name": e.sharing_group.name,
        }
    objects = list(
        session.execute(
            sa.select(MispObject)
            .join(Event, Event.id == MispObject.event_id)
            .where(
                MispObject.event_id == e.id,
                object_condition(ctx.principal, ctx.opts, include_deleted=include_deleted),
            )
            .order_by(MispObject.id)
        ).scalars()
    )
    attrs: Sequence[Any]
    if written is not None and not include_deleted and _reads_all(ctx, e):
        attrs = _written_rows(written, {o.id for o in objects})
    else:
        attrs = _readable_attributes(session, ctx, Attribute.event_id == e.id, include_deleted)
    serialised = attributes_with_tags(session, ctx, attrs, event_id=e.id)
    if sightings:
        counts = sighting_counts(session, ctx, [a.id for a in attrs], e.id)
        for a in serialised:
            a["sightings"] = counts.get(
                a["id"], {"sighting": 0, "false_positive": 0, "expiration": 0}
            )
    by_object: dict[int, list[dict[str, Any]]] = defaultdict(list)
    loose: list[dict[str, Any]] = []
    for a in serialised:
        (by_object[a["object_id"]] if a["object_id"] else loose).append(a)
    visible_uuids = {a["uuid"] for a in serialised} | {o.uuid for o in objects}
    refs: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if objects:
        for r in session.execute(
            sa.select(ObjectReference)
            .where(
                ObjectReference.object_id.in_([o.id for o in objects]),
                ObjectReference.deleted.is_(False),
            )
            .order_by(ObjectReference.id)
        ).scalars():
            if r.referenced_uuid in visible_uuids:
                refs[r.object_id].append(reference_out(r))
    out["attributes"] = loose
    out["objects"] = [object_out(o, by_object.get(o.id, []), refs.get(o.id, [])) for o in objects]
    return out


def _reads_all(ctx: Ctx, e: Event) -> bool:
    """Whether the reader reads every live attribute of the event (in a live object or in
    none): the owner organisation and site admins do (intel.visibility)."""
    return ctx.principal.is_site_admin or ctx.principal.org_id == e.org_id


class _WrittenRow(tuple[Any, ...]):
    """A written attribute row read as the database gives it back: the table's columns in
    order (expired_at last, never set on a new attribute), fields by name."""

    __slots__ = ()

    @property
    def id(self) -> int:
        return int(self[0])

    @property
    def event_id(self) -> int:
        return int(self[2])


def _written_rows(written: Sequence[tuple[Any, ...]], live_objects: set[int]) -> list[_WrittenRow]:
    """The rows of a write that an event view shows: live, in no object or a live one, in
    id order (as _readable_attributes reads them)."""
    rows = [
        _WrittenRow((*r, None))
        for r in written
        if not r[16] and (r[3] is None or r[3] in live_objects)
    ]
    rows.sort(key=lambda r: r[0])
    return rows


def reference_out(r: ObjectReference) -> dict[str, Any]:
    return {
        "id": r.id,
        "uuid": r.uuid,
        "object_id": r.object_id,
        "referenced_uuid": r.referenced_uuid,
        "referenced_type": r.referenced_type,
        "relationship_type": r.relationship_type,
        "comment": r.comment,
        "timestamp": iso(r.timestamp),
    }


def object_out(
    o: MispObject, attributes: list[dict[str, Any]], references: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": o.id,
        "uuid": o.uuid,
        "event_id": o.event_id,
        "name": o.name,
        "meta_category": o.meta_category,
        "description": o.description,
        "template_uuid": o.template_uuid,
        "template_version": o.template_version,
        "comment": o.comment,
        "distribution": o.distribution,
        "sharing_group_id": o.sharing_group_id,
        "timestamp": iso(o.timestamp),
        "first_seen": iso(o.first_seen),
        "last_seen": iso(o.last_seen),
        "deleted": o.deleted,
        "attributes": attributes,
        "references": references,
    }


def _chunks(
    ids: list[int], column: Any, event_id: int | None, event_column: Any
) -> Iterator[ColumnElement[bool]]:
    """Conditions selecting rows of these attributes: one by event when all belong to one
    event (an event view), else chunks of ids."""
    if event_id is not None:
        yield event_column == event_id
        return
    for i in range(0, len(ids), 900):
        yield column.in_(ids[i : i + 900])


def sighting_counts(
    session: Session, ctx: Ctx, attribute_ids: list[int], event_id: int | None = None
) -> dict[int, dict[str, int]]:
    names = {0: "sighting", 1: "false_positive", 2: "expiration"}
    out: dict[int, dict[str, int]] = {}
    wanted = set(attribute_ids)
    for cond in _chunks(attribute_ids, Sighting.attribute_id, event_id, Sighting.event_id):
        rows = session.execute(
            sa.select(Sighting.attribute_id, Sighting.type, sa.func.count())
            .join(Attribute, Attribute.id == Sighting.attribute_id)
            .join(Event, Event.id == Sighting.event_id)
            .where(cond, sighting_condition(ctx.principal, ctx.opts))
            .group_by(Sighting.attribute_id, Sighting.type)
        ).all()
        for attr_id, kind, count in rows:
            if attr_id not in wanted:
                continue
            out.setdefault(attr_id, {"sighting": 0, "false_positive": 0, "expiration": 0})[
                names[kind]
            ] = count
    return out


def sightings_last_seen(
    session: Session, ctx: Ctx, attribute_ids: list[int], event_id: int | None = None
) -> dict[int, datetime]:
    """When each attribute was last sighted (type 0), of the sightings the caller may read."""
    out: dict[int, datetime] = {}
    for cond in _chunks(attribute_ids, Sighting.attribute_id, event_id, Sighting.event_id):
        rows = session.execute(
            sa.select(Sighting.attribute_id, sa.func.max(Sighting.date_sighting))
            .join(Attribute, Attribute.id == Sighting.attribute_id)
            .join(Event, Event.id == Sighting.event_id)
            .where(cond, Sighting.type == 0, sighting_condition(ctx.principal, ctx.opts))
            .group_by(Sighting.attribute_id)
        ).all()
        out.update({attr_id: last for attr_id, last in rows if last is not None})
    return out


def object_detail(
    session: Session, ctx: Ctx, obj: MispObject, *, include_deleted: bool = False
) -> dict[str, Any]:
    """One object with the attributes and references the caller may read."""
    attrs = _readable_attributes(session, ctx, Attribute.object_id == obj.id, include_deleted)
    serialised = attributes_with_tags(session, ctx, attrs)
    refs = []
    for r in session.execute(
        sa.select(ObjectReference)
        .where(ObjectReference.object_id == obj.id, ObjectReference.deleted.is_(False))
        .order_by(ObjectReference.id)
    ).scalars():
        # A reference is shown only when its target is readable by the caller.
        target_attr = session.execute(
            sa.select(Attribute.id)
            .join(Event, Event.id == Attribute.event_id)
            .where(
                Attribute.uuid == r.referenced_uuid,
                attribute_condition(ctx.principal, ctx.opts),
            )
        ).first()
        target_obj = (
            None
            if target_attr
            else session.execute(
                sa.select(MispObject.id)
                .join(Event, Event.id == MispObject.event_id)
                .where(
                    MispObject.uuid == r.referenced_uuid,
                    object_condition(ctx.principal, ctx.opts),
                )
            ).first()
        )
        if target_attr or target_obj:
            refs.append(reference_out(r))
    return object_out(obj, serialised, refs)


def object_briefs(session: Session, object_ids: set[int]) -> dict[int, dict[str, Any]]:
    """uuid, name and meta-category of objects (their attributes were already checked)."""
    out: dict[int, dict[str, Any]] = {}
    ids = sorted(object_ids)
    for i in range(0, len(ids), 900):
        for oid, uuid, name, meta in session.execute(
            sa.select(
                MispObject.id, MispObject.uuid, MispObject.name, MispObject.meta_category
            ).where(MispObject.id.in_(ids[i : i + 900]))
        ).all():
            out[oid] = {"uuid": uuid, "name": name, "meta_category": meta}
    return out


def event_context(session: Session, ctx: Ctx, event_ids: set[int]) -> dict[int, dict[str, Any]]:
    """MISP's CSV includeContext columns for events the caller may read."""
    out: dict[int, dict[str, Any]] = {}
    ids = sorted(event_ids)
    for i in range(0, len(ids), 900):
        for e in session.execute(
            sa.select(Event).where(
                Event.id.in_(ids[i : i + 900]), event_condition(ctx.principal, ctx.opts)
            )
        ).scalars():
            out[e.id] = {
                "event_info": e.info,
                "event_member_org": e.org.name,
                "event_source_org": e.orgc.name,
                "event_distribution": e.distribution,
                "event_threat_level_id": e.threat_level_id,
                "event_analysis": e.analysis,
                "event_date": e.date.isoformat(),
                "event_tag": ",".join(t["name"] for t in event_tags(session, ctx, e.id)),
                "event_timestamp": str(int(e.timestamp.timestamp())),
            }
    return out


def sightings_for_attributes(
    session: Session, ctx: Ctx, attributes: list[dict[str, Any]]
) -> dict[int, list[dict[str, Any]]]:
    """The sightings of serialised attributes that the caller may read, by attribute id."""
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    uuids = {a["id"]: a["uuid"] for a in attributes}
    ids = sorted(uuids)
    for i in range(0, len(ids), 900):
        for s in session.execute(
            sa.select(Sighting)
            .join(Attribute, Attribute.id == Sighting.attribute_id)
            .join(Event, Event.id == Sighting.event_id)
            .where(
                Sighting.attribute_id.in_(ids[i : i + 900]),
                sighting_condition(ctx.principal, ctx.opts),
            )
            .order_by(Sighting.id)
        ).scalars():
            out[s.attribute_id].append(sighting_out(s, uuids[s.attribute_id]))
    return out
