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
from shieldwall.taxii.models import StixObject, StixObjectEvent, TaxiiCollection


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
    # The key of the last row read (dropped ones included), for the next page.
    last_key: tuple[datetime, int] | None = None


def _collection_filters(coll: TaxiiCollection | None) -> list[ColumnElement[bool]]:
    """The saved search, on the event (Event in the FROM clause) and the object's attribute."""
    if coll is None:
        return []
    conds: list[ColumnElement[bool]] = []
    if coll.tags:
        names = tuple(t.lower() for t in coll.tags)
        event_tagged = sa.exists(
            sa.select(1)
            .select_from(EventTag)
            .join(Tag, Tag.id == EventTag.tag_id)
            .where(EventTag.event_id == Event.id, sa.func.lower(Tag.name).in_(names))
        )
        attribute_tagged = sa.exists(
            sa.select(1)
            .select_from(AttributeTag)
            .join(Tag, Tag.id == AttributeTag.tag_id)
            .where(
                AttributeTag.attribute_id == StixObject.attribute_id,
                sa.func.lower(Tag.name).in_(names),
            )
        )
        conds.append(sa.or_(event_tagged, attribute_tagged))
    if coll.org_ids:
        conds.append(Event.orgc_id.in_(coll.org_ids))
    if coll.sharing_group_ids:
        conds.append(
            sa.and_(Event.distribution == 4, Event.sharing_group_id.in_(coll.sharing_group_ids))
        )
    if coll.published_only:
        conds.append(Event.published.is_(True))
    if coll.types:
        conds.append(
            sa.exists(
                sa.select(1)
                .select_from(Attribute)
                .where(Attribute.id == StixObject.attribute_id, Attribute.type.in_(coll.types))
            )
        )
    return conds


def _ties(ctx: Ctx) -> list[ColumnElement[bool]]:
    """The attribute, MISP object and relationship target a row shows must be readable; a
    MISP object only when every live attribute of it is (its rendering shows them all)."""
    p, opts = ctx.principal, ctx.opts

    def attribute_ok(column: Any) -> ColumnElement[bool]:
        return sa.or_(
            column.is_(None),
            sa.exists(
                sa.select(1)
                .select_from(Attribute)
                .where(Attribute.id == column, attribute_condition(p, opts))
            ),
        )

    def object_ok(column: Any, whole: bool) -> ColumnElement[bool]:
        readable = sa.exists(
            sa.select(1)
            .select_from(MispObject)
            .where(MispObject.id == column, object_condition(p, opts))
        )
        if whole and not p.is_site_admin:
            inner = aliased(Attribute)
            hidden = sa.exists(
                sa.select(1)
                .select_from(inner)
                .where(
                    inner.object_id == column,
                    inner.deleted.is_(False),
                    ~sa.exists(
                        sa.select(1)
                        .select_from(Attribute)
                        .where(Attribute.id == inner.id, attribute_condition(p, opts))
                    ),
                )
            )
            readable = sa.and_(readable, ~hidden)
        return sa.or_(column.is_(None), readable)

    return [
        attribute_ok(StixObject.attribute_id),
        attribute_ok(StixObject.ref_attribute_id),
        object_ok(StixObject.object_id, True),
        object_ok(StixObject.ref_object_id, False),
    ]


def readable(ctx: Ctx, coll: TaxiiCollection | None) -> ColumnElement[bool]:
    """Rows the caller may read, in the collection (None: anywhere)."""
    p, opts = ctx.principal, ctx.opts
    search = _collection_filters(coll)
    in_collection: ColumnElement[bool] = sa.and_(sa.true(), *search)
    if coll is not None:
        in_collection = sa.or_(StixObject.collection_id == coll.id, in_collection)
    owned = sa.and_(
        StixObject.event_id.is_not(None),
        sa.exists(
            sa.select(1)
            .select_from(Event)
            .where(
                Event.id == StixObject.event_id,
                event_condition(p, opts),
                in_collection,
                *_ties(ctx),
            )
        ),
    )
    if coll is not None and coll.types:
        return owned  # a search by attribute type holds attributes' renderings only
    shared = sa.and_(
        StixObject.event_id.is_(None),
        sa.exists(
            sa.select(1)
            .select_from(StixObjectEvent)
            .join(Event, Event.id == StixObjectEvent.event_id)
            .where(
                StixObjectEvent.object_row_id == StixObject.id,
                event_condition(p, opts),
                *search,
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
    query = sa.select(*cols).where(readable(ctx, coll), *_filters(flt))
    if after is not None:
        query = query.where(sa.tuple_(StixObject.date_added, StixObject.id) > sa.tuple_(*after))
    rows = [
        Stored(*r)
        for r in session.execute(
            query.order_by(StixObject.date_added, StixObject.id).limit(limit + 1)
        )
    ]
    more = len(rows) > limit
    rows = rows[:limit]
    out = Page(rows=rows, more=more)
    if rows:
        out.last_key = (rows[-1].date_added, rows[-1].id)
    if bodies and not ctx.principal.is_site_admin:
        out.rows = _cut_containers(session, ctx, rows)
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
