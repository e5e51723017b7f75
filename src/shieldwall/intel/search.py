"""Search over attributes and events: by value (exact, prefix, % wildcard), type, category,
tags, organisation, event, dates, timestamps, published and to_ids. Keyset paging by id."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from shieldwall.auth.models import Organisation
from shieldwall.context import Ctx
from shieldwall.ids import as_id
from shieldwall.intel.errors import InvalidInput
from shieldwall.intel.models import VALUE_KEY_LEN, Attribute, AttributeTag, Event, EventTag, Tag
from shieldwall.intel.types import norm_email, norm_hostname, norm_ip, norm_mac, norm_url
from shieldwall.intel.visibility import attribute_condition, event_condition, tag_condition

Column = QueryableAttribute


def value_key(col: Any) -> sa.ColumnElement[str]:
    # Literal arguments, not bound ones: both engines use an expression index only when the
    # query's expression is the indexed one to the letter, substr(value1, 1, 200).
    return sa.func.substr(col, sa.literal_column("1"), sa.literal_column(str(VALUE_KEY_LEN)))


_DIGITS = re.compile(r"^[0-9]+$")


def candidates(value: str) -> set[str]:
    """Forms a searched value may be stored under after normalisation."""
    v = value.strip()
    out = {v, v.lower()}
    if v.endswith(".") and len(v) > 1:
        out.add(v.rstrip(".").lower())
    # The forms the type normalisers store: IDNA host names, URLs with a lower-case scheme
    # and host, MAC addresses with colons, bracketed IPv6.
    for norm in (norm_ip, norm_hostname, norm_url, norm_email, norm_mac):
        try:
            out.add(norm(v))
        except ValueError:
            continue
    return out


def value_equals(col: Column[str], values: set[str]) -> ColumnElement[bool]:
    # The indexed key narrows the rows; the full comparison settles long values.
    keys = {v[:VALUE_KEY_LEN] for v in values}
    return sa.and_(value_key(col).in_(sorted(keys)), col.in_(sorted(values)))


def _successor(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("_", "\\_")


def _pattern(col: Column[str], pattern: str) -> ColumnElement[bool]:
    stem = pattern.rstrip("%")
    if stem and "%" not in stem and len(stem) <= VALUE_KEY_LEN:
        # Prefix: a range on the indexed key, which both engines serve from the b-tree.
        return sa.and_(value_key(col) >= stem, value_key(col) < _successor(stem))
    # Anything else scans; compare case-insensitively so both engines agree (as MISP does).
    return sa.func.lower(col).like(_escape_like(pattern.lower()), escape="\\")


# Longer LIKE patterns are refused by SQLite (SQLITE_MAX_LIKE_PATTERN_LENGTH is 50,000) and
# are never useful; exact values may be as long as stored ones.
MAX_PATTERN_LEN = 10_000


def _check_pattern(pattern: str, field: str) -> None:
    if len(pattern) > MAX_PATTERN_LEN:
        raise InvalidInput(
            f"a wildcard pattern has at most {MAX_PATTERN_LEN} characters", field=field
        )


def value_match_condition(values: list[str]) -> ColumnElement[bool]:
    """Attributes whose value1, value2 or composite value matches one of the values."""
    exact: set[str] = set()
    conds: list[ColumnElement[bool]] = []
    for raw in values:
        if raw is None or str(raw).strip() == "":
            continue
        raw = str(raw)
        if "%" in raw:
            _check_pattern(raw, "value")
            for col in (Attribute.value1, Attribute.value2):
                conds.append(_pattern(col, raw))
            conds.append(_pattern(Attribute.value1, raw.lower()))
        else:
            exact |= candidates(raw)
            if "|" in raw:
                left, _, right = raw.partition("|")
                conds.append(
                    sa.and_(
                        value_equals(Attribute.value1, candidates(left)),
                        value_equals(Attribute.value2, candidates(right)),
                    )
                )
    if exact:
        conds.append(value_equals(Attribute.value1, exact))
        conds.append(value_equals(Attribute.value2, exact))
    if not conds:
        raise InvalidInput("an empty value matches nothing", field="value")
    return sa.or_(*conds)


@dataclass
class TagFilter:
    any_of: list[str] = field(default_factory=list)
    all_of: list[str] = field(default_factory=list)
    none_of: list[str] = field(default_factory=list)

    @classmethod
    def from_names(cls, names: list[str] | None) -> TagFilter:
        """Any of these tags; a leading ! excludes one (the CLI's and the exports' --tag)."""
        return cls(
            any_of=[t for t in names or [] if not t.startswith("!")],
            none_of=[t[1:] for t in names or [] if t.startswith("!")],
        )


@dataclass
class SearchFilter:
    value: list[str] = field(default_factory=list)
    type: list[str] = field(default_factory=list)
    category: list[str] = field(default_factory=list)
    tags: TagFilter = field(default_factory=TagFilter)
    org: list[str] = field(default_factory=list)
    event: list[str] = field(default_factory=list)
    uuid: list[str] = field(default_factory=list)
    info: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    # When the event was created here (the situational picture counts by it).
    created_from: datetime | None = None
    created_to: datetime | None = None
    timestamp_from: datetime | None = None
    timestamp_to: datetime | None = None
    publish_timestamp_from: datetime | None = None
    publish_timestamp_to: datetime | None = None
    published: bool | None = None
    to_ids: bool | None = None
    include_deleted: bool = False
    # Leave out attributes the lifecycle marked expired (to_ids exports do by default).
    exclude_expired: bool = False
    # Event fields: MISP's index filters (values; a leading ! excludes).
    threat_level: list[int] = field(default_factory=list)
    distribution: list[int] = field(default_factory=list)
    analysis: list[int] = field(default_factory=list)
    without_threat_level: list[int] = field(default_factory=list)
    without_distribution: list[int] = field(default_factory=list)
    without_analysis: list[int] = field(default_factory=list)
    has_proposal: bool | None = None
    # MISP's quickFilter/searchall: a substring of a value, comment, event info or tag name,
    # or a whole attribute or event uuid.
    quick: str | None = None
    # The event's timestamp (MISP's event_timestamp), on attribute searches.
    event_timestamp_from: datetime | None = None
    event_timestamp_to: datetime | None = None
    # Sharing groups by id or uuid: events in one; attributes in one, or inheriting their
    # event's.
    sharing_group: list[str] = field(default_factory=list)
    # Tags on the event only (MISP's event_tags), where `tags` also matches attribute tags.
    event_tags: TagFilter = field(default_factory=TagFilter)
    after: int = 0
    limit: int = 100


def _tag_ids(session: Session, ctx: Ctx, names: list[str]) -> list[int]:
    conds = []
    for n in names:
        _check_pattern(n, "tags")
        conds.append(Tag.name.like(_escape_like(n), escape="\\") if "%" in n else Tag.name == n)
    if not conds:
        return []
    return list(
        session.execute(
            sa.select(Tag.id).where(sa.or_(*conds), tag_condition(ctx.principal))
        ).scalars()
    )


def _org_ids(session: Session, refs: list[str]) -> list[int]:
    ids: list[int] = []
    for r in refs:
        ident = as_id(r)
        cond = (
            Organisation.id == ident
            if ident is not None
            else sa.or_(Organisation.uuid == r, Organisation.name == r)
        )
        ids.extend(session.execute(sa.select(Organisation.id).where(cond)).scalars())
    return ids or [-1]


def _contains(col: Any, text: str) -> ColumnElement[bool]:
    return sa.func.lower(col).like(f"%{_escape_like(text.lower())}%", escape="\\")


def _sharing_group_ids(session: Session, refs: list[str]) -> list[int]:
    from shieldwall.intel.models import SharingGroup

    ids = [i for i in (as_id(r) for r in refs) if i is not None]
    uuids = [str(r) for r in refs if as_id(r) is None]
    if uuids:
        ids += session.execute(
            sa.select(SharingGroup.id).where(SharingGroup.uuid.in_(uuids))
        ).scalars()
    return ids or [-1]


def _visible_tag_match(ctx: Ctx, text: str) -> sa.Select[Any]:
    return sa.select(Tag.id).where(_contains(Tag.name, text), tag_condition(ctx.principal))


def _quick_attribute(ctx: Ctx, text: str) -> ColumnElement[bool]:
    """An attribute matching MISP's quickFilter (Attribute and Event in the FROM clause)."""
    _check_pattern(text, "quickFilter")
    tags = _visible_tag_match(ctx, text)
    return sa.or_(
        _contains(Attribute.value1, text),
        _contains(Attribute.value2, text),
        _contains(Attribute.comment, text),
        _contains(Event.info, text),
        Attribute.uuid == text.strip(),
        Event.uuid == text.strip(),
        sa.exists(
            sa.select(1).where(
                AttributeTag.attribute_id == Attribute.id, AttributeTag.tag_id.in_(tags)
            )
        ),
        sa.exists(sa.select(1).where(EventTag.event_id == Event.id, EventTag.tag_id.in_(tags))),
    )


def _event_filters(session: Session, ctx: Ctx, f: SearchFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.event_timestamp_from:
        conds.append(Event.timestamp >= f.event_timestamp_from)
    if f.event_timestamp_to:
        conds.append(Event.timestamp <= f.event_timestamp_to)
    if f.org:
        conds.append(Event.orgc_id.in_(_org_ids(session, f.org)))
    if f.event:
        ids = [i for i in (as_id(e) for e in f.event) if i is not None]
        uuids = [str(e) for e in f.event if as_id(e) is None]
        conds.append(sa.or_(Event.id.in_(ids), Event.uuid.in_(uuids)))
    if f.info:
        _check_pattern(f.info, "info")
        conds.append(
            sa.func.lower(Event.info).like(
                _escape_like(f.info.lower() if "%" in f.info else f"%{f.info.lower()}%"),
                escape="\\",
            )
        )
    if f.created_from:
        conds.append(Event.created_at >= f.created_from)
    if f.created_to:
        conds.append(Event.created_at < f.created_to)
    if f.date_from:
        conds.append(Event.date >= f.date_from)
    if f.date_to:
        conds.append(Event.date <= f.date_to)
    if f.published is not None:
        conds.append(Event.published.is_(f.published))
    if f.publish_timestamp_from:
        conds.append(Event.publish_timestamp >= f.publish_timestamp_from)
    if f.publish_timestamp_to:
        conds.append(Event.publish_timestamp <= f.publish_timestamp_to)
    for column, wanted, unwanted in (
        (Event.threat_level_id, f.threat_level, f.without_threat_level),
        (Event.distribution, f.distribution, f.without_distribution),
        (Event.analysis, f.analysis, f.without_analysis),
    ):
        if wanted:
            conds.append(column.in_(wanted))
        if unwanted:
            conds.append(column.not_in(unwanted))
    if f.has_proposal is not None:
        from shieldwall.intel.collab_models import ShadowAttribute

        open_proposal = sa.exists(
            sa.select(1).where(
                ShadowAttribute.event_id == Event.id, ShadowAttribute.deleted.is_(False)
            )
        )
        conds.append(open_proposal if f.has_proposal else ~open_proposal)
    return conds


def _event_tag_conditions(session: Session, ctx: Ctx, tags: TagFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []

    def has(ids: list[int]) -> ColumnElement[bool]:
        return sa.exists(
            sa.select(1).where(EventTag.event_id == Event.id, EventTag.tag_id.in_(ids or [-1]))
        )

    if tags.any_of:
        conds.append(has(_tag_ids(session, ctx, tags.any_of)))
    for name in tags.all_of:
        conds.append(has(_tag_ids(session, ctx, [name])))
    if tags.none_of:
        conds.append(~has(_tag_ids(session, ctx, tags.none_of)))
    return conds


def _attribute_tag_conditions(
    session: Session, ctx: Ctx, tags: TagFilter
) -> list[ColumnElement[bool]]:
    """MISP semantics: a tag matches an attribute when on the attribute or on its event."""
    conds: list[ColumnElement[bool]] = []

    def has(ids: list[int]) -> ColumnElement[bool]:
        ids = ids or [-1]
        return sa.or_(
            sa.exists(
                sa.select(1).where(
                    AttributeTag.attribute_id == Attribute.id, AttributeTag.tag_id.in_(ids)
                )
            ),
            sa.exists(
                sa.select(1).where(
                    EventTag.event_id == Attribute.event_id, EventTag.tag_id.in_(ids)
                )
            ),
        )

    if tags.any_of:
        conds.append(has(_tag_ids(session, ctx, tags.any_of)))
    for name in tags.all_of:
        conds.append(has(_tag_ids(session, ctx, [name])))
    if tags.none_of:
        conds.append(~has(_tag_ids(session, ctx, tags.none_of)))
    return conds


def _attribute_filters(f: SearchFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.value:
        conds.append(value_match_condition(f.value))
    if f.type:
        conds.append(Attribute.type.in_(f.type))
    if f.category:
        conds.append(Attribute.category.in_(f.category))
    if f.uuid:
        conds.append(Attribute.uuid.in_(f.uuid))
    if f.to_ids is not None:
        conds.append(Attribute.to_ids.is_(f.to_ids))
    if f.exclude_expired:
        conds.append(Attribute.expired_at.is_(None))
    if f.timestamp_from:
        conds.append(Attribute.timestamp >= f.timestamp_from)
    if f.timestamp_to:
        conds.append(Attribute.timestamp <= f.timestamp_to)
    return conds


def _attribute_extra(session: Session, ctx: Ctx, f: SearchFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.quick:
        conds.append(_quick_attribute(ctx, f.quick))
    if f.sharing_group:
        ids = _sharing_group_ids(session, f.sharing_group)
        conds.append(
            sa.or_(
                Attribute.sharing_group_id.in_(ids),
                sa.and_(Attribute.distribution == 5, Event.sharing_group_id.in_(ids)),
            )
        )
    return conds


def attribute_query(session: Session, ctx: Ctx, f: SearchFilter) -> sa.Select:
    return (
        sa.select(Attribute, Event.uuid)
        .join(Event, Event.id == Attribute.event_id)
        .where(
            attribute_condition(ctx.principal, ctx.opts, include_deleted=f.include_deleted),
            *_attribute_filters(f),
            *_event_filters(session, ctx, f),
            *_attribute_tag_conditions(session, ctx, f.tags),
            *_event_tag_conditions(session, ctx, f.event_tags),
            *_attribute_extra(session, ctx, f),
        )
        .order_by(Attribute.id)
    )


def search_attributes(session: Session, ctx: Ctx, f: SearchFilter) -> list[tuple[Attribute, str]]:
    q = attribute_query(session, ctx, f).where(Attribute.id > f.after).limit(f.limit)
    return [(r[0], r[1]) for r in session.execute(q).all()]


def keyset_pages(
    run: Callable[[Any], list[Any]],
    query: Any,
    key: Any,
    after: int,
    batch: int,
    key_of: Callable[[Any], int],
) -> Iterator[list[Any]]:
    """The rows of `query` in `key` order, `batch` at a time by keyset, so memory stays flat:
    `run` reads one page (a query with its key bound and its limit), `key_of` gives a row's
    key. The query is built by the caller before the first page is read, so a bad filter
    fails there and then."""
    while True:
        rows = run(query.where(key > after).limit(batch))
        if not rows:
            return
        yield rows
        if len(rows) < batch:
            return
        after = key_of(rows[-1])


def _orm_page(session: Session, scalars: bool = False) -> Callable[[Any], list[Any]]:
    """A page reader for ORM rows: the previous page's objects leave the session first."""

    def run(q: Any) -> list[Any]:
        session.expunge_all()
        result = session.execute(q)
        return list(result.scalars()) if scalars else [(r[0], r[1]) for r in result.all()]

    return run


def stream_attributes(
    session: Session, ctx: Ctx, f: SearchFilter, batch: int = 2000
) -> Iterator[list[tuple[Attribute, str]]]:
    """All matches in id order, a batch at a time, by keyset: memory stays flat."""
    q = attribute_query(session, ctx, f)
    return keyset_pages(_orm_page(session), q, Attribute.id, f.after, batch, lambda r: r[0].id)


def event_query(session: Session, ctx: Ctx, f: SearchFilter) -> sa.Select:
    q = sa.select(Event).where(
        event_condition(ctx.principal, ctx.opts),
        *_event_filters(session, ctx, f),
        *_event_tag_conditions(session, ctx, f.tags),
        *_event_tag_conditions(session, ctx, f.event_tags),
    )
    if f.sharing_group:
        q = q.where(Event.sharing_group_id.in_(_sharing_group_ids(session, f.sharing_group)))
    if f.quick:
        # The event's own fields, or any attribute of it the principal may read.
        _check_pattern(f.quick, "quickFilter")
        tags = _visible_tag_match(ctx, f.quick)
        own = sa.or_(
            _contains(Event.info, f.quick),
            Event.uuid == f.quick.strip(),
            sa.exists(sa.select(1).where(EventTag.event_id == Event.id, EventTag.tag_id.in_(tags))),
        )
        inner = (
            sa.select(Attribute.event_id)
            .join(Event, Event.id == Attribute.event_id)
            .where(
                attribute_condition(ctx.principal, ctx.opts, include_deleted=f.include_deleted),
                _quick_attribute(ctx, f.quick),
            )
            .correlate(None)
        )
        q = q.where(sa.or_(own, Event.id.in_(inner)))
    attr_conds = _attribute_filters(replace(f, timestamp_from=None, timestamp_to=None))
    if attr_conds:
        # Events holding at least one matching attribute the principal may read. The
        # subquery joins its own events row and is not correlated to the outer query, so
        # the access-rule subqueries inside attribute_condition bind to that row.
        q = q.where(
            Event.id.in_(
                sa.select(Attribute.event_id)
                .join(Event, Event.id == Attribute.event_id)
                .where(
                    attribute_condition(ctx.principal, ctx.opts, include_deleted=f.include_deleted),
                    *attr_conds,
                )
                .correlate(None)
            )
        )
    if f.timestamp_from:
        q = q.where(Event.timestamp >= f.timestamp_from)
    if f.timestamp_to:
        q = q.where(Event.timestamp <= f.timestamp_to)
    return q.order_by(Event.id)


def search_events(session: Session, ctx: Ctx, f: SearchFilter) -> list[Event]:
    q = event_query(session, ctx, f).where(Event.id > f.after).limit(f.limit)
    return list(session.execute(q).scalars())


def latest_events(session: Session, ctx: Ctx, f: SearchFilter, before: int = 0) -> list[Event]:
    """The matching events newest first, with ids below `before` (keyset paging the other
    way round, for lists people read from the top)."""
    q = event_query(session, ctx, f).order_by(None).order_by(Event.id.desc())
    if before:
        q = q.where(Event.id < before)
    return list(session.execute(q.limit(f.limit)).scalars())


def stream_events(
    session: Session, ctx: Ctx, f: SearchFilter, batch: int = 500
) -> Iterator[list[Event]]:
    q = event_query(session, ctx, f)
    return keyset_pages(
        _orm_page(session, scalars=True), q, Event.id, f.after, batch, lambda e: e.id
    )


def attribute_counts(session: Session, ctx: Ctx, event_ids: list[int]) -> dict[int, int]:
    """How many live attributes of each event the caller may read (MISP's attribute_count)."""
    counts: dict[int, int] = {}
    for i in range(0, len(event_ids), 500):
        rows = session.execute(
            sa.select(Attribute.event_id, sa.func.count())
            .join(Event, Event.id == Attribute.event_id)
            .where(
                Attribute.event_id.in_(event_ids[i : i + 500]),
                attribute_condition(ctx.principal, ctx.opts),
            )
            .group_by(Attribute.event_id)
        ).all()
        counts.update({event_id: n for event_id, n in rows})
    return counts


def stream_values(
    session: Session, ctx: Ctx, f: SearchFilter, batch: int = 10000
) -> Iterator[list[str]]:
    """The values of all matches in id order, a batch at a time: plain text exports read
    three columns, not whole attributes."""
    base = attribute_query(session, ctx, f).with_only_columns(
        Attribute.id, Attribute.value1, Attribute.value2
    )

    def run(q: Any) -> list[Any]:
        return list(session.execute(q).all())

    pages = keyset_pages(run, base, Attribute.id, f.after, batch, lambda r: r[0])
    return ([f"{v1}|{v2}" if v2 else v1 for _, v1, v2 in rows] for rows in pages)
