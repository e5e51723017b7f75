"""Reading stored STIX objects: TAXII's filters, the collection's saved search and the reader's
access rules, all in SQL, one keyset page at a time over (date_added, row id)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from shieldwall.context import Ctx
from shieldwall.intel.models import Attribute, AttributeTag, Event, EventTag, MispObject, Tag
from shieldwall.intel.visibility import attribute_condition, event_condition, object_condition
from shieldwall.taxii.models import StixEventState, StixObject, StixObjectEvent, TaxiiCollection


@dataclass(frozen=True)
class ObjectFilter:
    """TAXII's filters. versions holds 'first', 'last', 'all' and timestamps (any matches)."""

    added_after: datetime | None = None
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    versions: tuple[str | datetime, ...] = ("last",)
    spec_versions: tuple[str, ...] = ()


class Stored(NamedTuple):
    id: int
    date_added: datetime
    stix_id: str
    version: datetime
    spec_version: str
    container: bool
    event_id: int | None
    body: str = ""


@dataclass
class Page:
    rows: list[Stored] = field(default_factory=list)
    more: bool = False
    # Where the next page starts: after the last row given, or after the last row read
    # when a page ends short of the limit.
    last_key: tuple[datetime, int] | None = None


# Objects that others point at to say who made them and how they are marked: a collection
# holds them wherever it holds an object of an event that uses them.
REFERENCED_TYPES = ("identity", "marking-definition")


def _search(
    coll: TaxiiCollection | None, event_id: Any, *, rows: bool, referenced: bool = False
) -> list[ColumnElement[bool]]:
    """The saved search for the event whose id is `event_id` (and, with `rows`, for the
    row's own attribute). With `referenced` (identities and markings) a tag is met by the
    event or any of its attributes and a type by any of its attributes, so that whatever
    the collection holds of the event comes with the objects it points at. Every subquery
    is correlated one level up only, where the column it names lives: SQLAlchemy correlates
    to the enclosing SELECT alone."""
    if coll is None:
        return []
    conds: list[ColumnElement[bool]] = []
    if coll.tags:
        names = tuple(t.lower() for t in coll.tags)
        tagged = [
            sa.exists(
                sa.select(1)
                .select_from(EventTag)
                .join(Tag, Tag.id == EventTag.tag_id)
                .where(EventTag.event_id == event_id, sa.func.lower(Tag.name).in_(names))
            )
        ]

        def attribute_tagged(which: ColumnElement[bool]) -> sa.Exists:
            return sa.exists(
                sa.select(1)
                .select_from(AttributeTag)
                .join(Tag, Tag.id == AttributeTag.tag_id)
                .where(which, sa.func.lower(Tag.name).in_(names))
            )

        if rows:
            tagged.append(attribute_tagged(AttributeTag.attribute_id == StixObject.attribute_id))
        if referenced:
            tagged.append(attribute_tagged(AttributeTag.event_id == event_id))
        conds.append(sa.or_(*tagged))
    on_event: list[ColumnElement[bool]] = []
    if coll.org_ids:
        on_event.append(Event.orgc_id.in_(coll.org_ids))
    if coll.sharing_group_ids:
        on_event.append(Event.distribution == 4)
        on_event.append(Event.sharing_group_id.in_(coll.sharing_group_ids))
    if coll.published_only:
        on_event.append(Event.published.is_(True))
    if on_event:
        conds.append(
            sa.exists(
                sa.select(1)
                .select_from(Event)
                .where(Event.id == event_id, *on_event)
                .correlate_except(Event)
            )
        )
    if rows and coll.types:
        conds.append(
            sa.exists(
                sa.select(1)
                .select_from(Attribute)
                .where(Attribute.id == StixObject.attribute_id, Attribute.type.in_(coll.types))
            )
        )
    if referenced and coll.types:
        conds.append(
            sa.exists(
                sa.select(1)
                .select_from(Attribute)
                .where(Attribute.event_id == event_id, Attribute.type.in_(coll.types))
            )
        )
    return conds


def _posted_to(coll: TaxiiCollection, event_id: Any) -> ColumnElement[bool]:
    """The event was made from objects posted to the collection: what it renders into after
    later edits is in the collection whatever its search says."""
    return event_id.in_(
        sa.select(StixEventState.event_id).where(StixEventState.collection_id == coll.id)
    )


def _attribute_readable(ctx: Ctx, attribute_id: Any) -> ColumnElement[bool]:
    return sa.exists(
        sa.select(1)
        .select_from(Attribute)
        .join(Event, Event.id == Attribute.event_id)
        .where(Attribute.id == attribute_id, attribute_condition(ctx.principal, ctx.opts))
    )


def _ties(ctx: Ctx) -> list[ColumnElement[bool]]:
    """The attribute, MISP object and relationship target a row shows must be readable; a
    MISP object only when every live attribute of it is (its rendering shows them all)."""
    p, opts = ctx.principal, ctx.opts

    def object_ok(column: Any, whole: bool) -> ColumnElement[bool]:
        readable: ColumnElement[bool] = sa.exists(
            sa.select(1)
            .select_from(MispObject)
            .join(Event, Event.id == MispObject.event_id)
            .where(MispObject.id == column, object_condition(p, opts))
        )
        if whole and not p.is_site_admin:
            part = aliased(Attribute)
            hidden = sa.exists(
                sa.select(1)
                .select_from(part)
                .where(
                    part.object_id == column,
                    part.deleted.is_(False),
                    ~_attribute_readable(ctx, part.id),
                )
            )
            readable = sa.and_(readable, ~hidden)
        return sa.or_(column.is_(None), readable)

    return [
        sa.or_(
            StixObject.attribute_id.is_(None), _attribute_readable(ctx, StixObject.attribute_id)
        ),
        sa.or_(
            StixObject.ref_attribute_id.is_(None),
            _attribute_readable(ctx, StixObject.ref_attribute_id),
        ),
        object_ok(StixObject.object_id, True),
        object_ok(StixObject.ref_object_id, False),
    ]


def readable(ctx: Ctx, coll: TaxiiCollection | None) -> ColumnElement[bool]:
    """Rows the caller may read, in the collection (None: anywhere)."""
    p, opts = ctx.principal, ctx.opts
    search = _search(coll, StixObject.event_id, rows=True)
    in_collection: ColumnElement[bool] = sa.and_(sa.true(), *search)
    if coll is not None:
        in_collection = sa.or_(StixObject.collection_id == coll.id, in_collection)
        if search:
            in_collection = sa.or_(in_collection, _posted_to(coll, StixObject.event_id))
    owned = sa.and_(
        StixObject.event_id.is_not(None),
        sa.exists(
            sa.select(1)
            .select_from(Event)
            .where(Event.id == StixObject.event_id, event_condition(p, opts))
        ),
        in_collection,
        *_ties(ctx),
    )
    link = StixObjectEvent.event_id
    membership: ColumnElement[bool] = sa.true()
    event_search = _search(coll, link, rows=False)
    if coll is not None and (event_search or coll.types):
        # A search by attribute type holds attributes' renderings, and what they point at.
        whole = sa.false() if coll.types else sa.and_(*event_search)
        pointed_at = sa.and_(
            StixObject.type.in_(REFERENCED_TYPES),
            *_search(coll, link, rows=False, referenced=True),
        )
        membership = sa.or_(whole, pointed_at, _posted_to(coll, link))
    shared = sa.and_(
        StixObject.event_id.is_(None),
        sa.exists(
            sa.select(1)
            .select_from(StixObjectEvent)
            .join(Event, Event.id == StixObjectEvent.event_id)
            .where(
                StixObjectEvent.object_row_id == StixObject.id,
                event_condition(p, opts),
                membership,
            )
        ),
    )
    return sa.or_(owned, shared)


def _filters(flt: ObjectFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if flt.added_after is not None:
        conds.append(StixObject.date_added > flt.added_after)
    if flt.ids:
        conds.append(StixObject.stix_id.in_(flt.ids))
    if flt.types:
        conds.append(StixObject.type.in_(flt.types))
    if flt.spec_versions:
        conds.append(StixObject.spec_version.in_(flt.spec_versions))
    if "all" not in flt.versions:
        which: list[ColumnElement[bool]] = []
        if "last" in flt.versions:
            which.append(StixObject.is_latest.is_(True))
        if "first" in flt.versions:
            which.append(StixObject.is_first.is_(True))
        stamps = [v for v in flt.versions if isinstance(v, datetime)]
        if stamps:
            which.append(StixObject.version.in_(stamps))
        conds.append(sa.or_(*which))
    return conds


COLUMNS = (
    StixObject.id,
    StixObject.date_added,
    StixObject.stix_id,
    StixObject.version,
    StixObject.spec_version,
    StixObject.container,
    StixObject.event_id,
)


# A page reads the collection in key order a slice at a time: first the next keys alone
# (an index range with a LIMIT), then the readable rows between them. Asked in one query,
# PostgreSQL estimates the access rules as very selective and reads every remaining row of
# the collection to sort them, so a page would cost more the more the collection holds.
# A reader who may see little gets a short page (with `more`) after SLICES slices.
SLICES = 10


def _key() -> Any:
    return sa.tuple_(StixObject.date_added, StixObject.id)


def page(
    session: Session,
    ctx: Ctx,
    coll: TaxiiCollection,
    flt: ObjectFilter,
    after: tuple[datetime, int] | None,
    limit: int,
    *,
    bodies: bool = True,
) -> Page:
    """Up to `limit` readable rows after the key, oldest first; reports and groupings have
    their object_refs cut to what the caller may read (and are dropped when none is left)."""
    cols: Sequence[Any] = (*COLUMNS, StixObject.body) if bodies else COLUMNS
    cheap = _filters(flt)
    rule = readable(ctx, coll)
    rows: list[Stored] = []
    key = after
    exhausted = False
    for _ in range(SLICES):
        keys = sa.select(StixObject.date_added, StixObject.id).where(*cheap)
        if key is not None:
            keys = keys.where(_key() > sa.tuple_(*key))
        found = session.execute(
            keys.order_by(StixObject.date_added, StixObject.id).limit(limit + 1)
        ).all()
        if not found:
            exhausted = True
            break
        upper = (found[-1].date_added, found[-1].id)
        query = sa.select(*cols).where(*cheap, rule, _key() <= sa.tuple_(*upper))
        if key is not None:
            query = query.where(_key() > sa.tuple_(*key))
        rows.extend(
            Stored(*r)
            for r in session.execute(query.order_by(StixObject.date_added, StixObject.id))
        )
        key = upper
        if len(found) <= limit:
            exhausted = True
            break
        if len(rows) > limit:
            break
    out = Page(rows=rows[:limit], more=len(rows) > limit or not exhausted)
    if len(rows) > limit:
        out.last_key = (rows[limit - 1].date_added, rows[limit - 1].id)
    else:
        out.last_key = key
    if bodies and not ctx.principal.is_site_admin:
        out.rows = _cut_containers(session, ctx, out.rows)
    return out


def _cut_containers(session: Session, ctx: Ctx, rows: list[Stored]) -> list[Stored]:
    events = {r.event_id for r in rows if r.container and r.event_id is not None}
    if not events:
        return rows
    seen: set[str] = set()
    owned = sa.select(StixObject.stix_id).where(
        StixObject.event_id.in_(events), readable(ctx, None)
    )
    seen.update(session.execute(owned).scalars())
    shared = (
        sa.select(StixObject.stix_id)
        .join(StixObjectEvent, StixObjectEvent.object_row_id == StixObject.id)
        .where(StixObjectEvent.event_id.in_(events))
    )
    seen.update(session.execute(shared).scalars())
    out = []
    for r in rows:
        if not r.container:
            out.append(r)
            continue
        body = orjson.loads(r.body)
        refs = [ref for ref in body.get("object_refs", []) if ref in seen]
        if not refs:
            continue
        if len(refs) != len(body.get("object_refs", [])):
            body["object_refs"] = refs
            r = r._replace(body=orjson.dumps(body).decode())
        out.append(r)
    return out
