"""Sightings: add by attribute or by value, list, search, delete."""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import QueryableAttribute, Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from shieldwall.audit.service import Actor, record
from shieldwall.auth.models import Organisation
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import get_org, require
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.db.bulk import insert_rows
from shieldwall.ids import as_id
from shieldwall.intel.common import get_attribute, get_event, is_uuid, ref_condition
from shieldwall.intel.errors import Forbidden, InvalidInput, NotFound
from shieldwall.intel.models import Attribute, Event, Sighting
from shieldwall.intel.schemas import SightingCreate
from shieldwall.intel.search import candidates, value_equals
from shieldwall.intel.visibility import attribute_condition, sighting_condition
from shieldwall.lifecycle import service as lifecycle

EXPIRATION = 2
# Values per query: their OR stays well under SQLite's expression depth (1000) and bound
# parameter limits.
_CHUNK = 250
# Attributes, events and organisations one search names.
MAX_REFS = 1000


def _chunks(items: list[str], size: int = _CHUNK) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def exact_value_condition(values: list[str]) -> ColumnElement[bool]:
    """Attributes holding one of the values exactly (after the type normalisers), as value1,
    value2 or the composite "value1|value2". Unlike search, "%" is a character here, not a
    wildcard: a sighting by value must never reach attributes that only look alike."""
    forms: set[str] = set()
    conds: list[ColumnElement[bool]] = []
    for raw in values:
        if "\x00" in raw:
            raise InvalidInput("a value has no NUL character", field="value")
        if raw.strip() == "":
            continue
        forms |= candidates(raw)
        if "|" in raw:
            left, _, right = raw.partition("|")
            conds.append(
                sa.and_(
                    value_equals(Attribute.value1, candidates(left)),
                    value_equals(Attribute.value2, candidates(right)),
                )
            )
    if not forms:
        raise InvalidInput("an empty value matches nothing", field="value")
    conds.append(value_equals(Attribute.value1, forms))
    conds.append(value_equals(Attribute.value2, forms))
    return sa.or_(*conds)


def add_sightings(session: Session, ctx: Ctx, data: SightingCreate) -> list[tuple[Sighting, str]]:
    """Sight one attribute (by id or uuid), or every readable attribute holding the values;
    returns each sighting with its attribute's uuid, as list_sightings does, in attribute
    order. An expiration (type 2) replaces the organisation's earlier expiration of the same
    attribute, as in MISP: an indicator expires once per organisation. The expiry marks of
    the sighted attributes are brought up to date (shieldwall.lifecycle)."""
    require(ctx, Permission.SIGHTING_ADD)
    when = data.date_sighting or now()
    if when > now():
        raise InvalidInput("a sighting cannot be in the future", field="date_sighting")
    targets: list[tuple[int, int, str]] = []
    if data.attribute:
        attr, event = get_attribute(session, ctx, data.attribute)
        targets.append((attr.id, event.id, attr.uuid))
    values = [v for v in [*data.values, data.value or ""] if v.strip()]
    for chunk in _chunks(values):
        rows = session.execute(
            sa.select(Attribute.id, Attribute.event_id, Attribute.uuid)
            .join(Event, Event.id == Attribute.event_id)
            .where(exact_value_condition(chunk), attribute_condition(ctx.principal, ctx.opts))
            .order_by(Attribute.id)
        ).all()
        targets.extend((r[0], r[1], r[2]) for r in rows)
    if not data.attribute and not values:
        raise InvalidInput("give an attribute id or uuid, or one or more values", field="attribute")
    if not targets:
        raise NotFound("no readable attribute matches", field="value" if values else "attribute")
    targets = list(dict.fromkeys(targets))
    replaced = 0
    if data.type == EXPIRATION:
        ids = [a for a, _, _ in targets]
        for i in range(0, len(ids), _CHUNK):
            result = session.execute(
                sa.delete(Sighting).where(
                    Sighting.org_id == ctx.org_id,
                    Sighting.type == EXPIRATION,
                    Sighting.attribute_id.in_(ids[i : i + _CHUNK]),
                ),
                execution_options={"synchronize_session": False},
            )
            replaced += getattr(result, "rowcount", 0) or 0
    sightings = [
        Sighting(
            attribute_id=a,
            event_id=e,
            org_id=ctx.org_id,
            type=data.type,
            source=data.source,
            date_sighting=when,
        )
        for a, e, _ in targets
    ]
    session.add_all(sightings)
    session.flush()
    # A sighting revives an expired indicator; an expiration sighting expires it now.
    lifecycle.refresh(session, [a for a, _, _ in targets])
    change: dict[str, object] = {
        "attribute_ids": [s.attribute_id for s in sightings][:100],
        "type": data.type,
        "source": data.source,
    }
    if replaced:
        change["replaced_expirations"] = replaced
    record(
        session,
        ctx.actor,
        "create",
        "Sighting",
        title=f"{len(sightings)} sightings of type {data.type}",
        change=change,
    )
    return [(s, uuid) for s, (_, _, uuid) in zip(sightings, targets, strict=True)]


def list_sightings(
    session: Session,
    ctx: Ctx,
    *,
    attribute: str | None = None,
    event: str | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[tuple[Sighting, str]]:
    q = (
        sa.select(Sighting, Attribute.uuid)
        .join(Attribute, Attribute.id == Sighting.attribute_id)
        .join(Event, Event.id == Sighting.event_id)
        .where(sighting_condition(ctx.principal, ctx.opts), Sighting.id > after)
        .order_by(Sighting.id)
        .limit(limit)
    )
    if attribute:
        attr, _ = get_attribute(session, ctx, attribute)
        q = q.where(Sighting.attribute_id == attr.id)
    if event:
        q = q.where(Sighting.event_id == get_event(session, ctx, event).id)
    return [(r[0], r[1]) for r in session.execute(q).all()]


@dataclass
class SightingFilter:
    """What a sighting search asks for; empty lists mean "any"."""

    attribute: list[str] = field(default_factory=list)  # attribute ids or uuids
    event: list[str] = field(default_factory=list)  # event ids or uuids
    type: list[int] = field(default_factory=list)
    org: list[str] = field(default_factory=list)  # organisation ids, uuids or names
    not_org: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None
    after: int = 0  # keyset: sightings with a larger id (oldest first only)
    limit: int = 1000
    newest_first: bool = False


@dataclass(frozen=True)
class SightingHit:
    """A sighting with what its readers are shown alongside it."""

    sighting: Sighting
    attribute: Attribute
    event: Event  # with org and orgc loaded
    org: Organisation | None  # the sighting organisation


def _org_ids(session: Session, refs: list[str]) -> list[int]:
    """Ids of the organisations named by id, uuid or name; unknown ones match nothing."""
    ids: list[int] = []
    for ref in refs:
        try:
            ids.append(get_org(session, ref).id)
        except NotFound:
            continue
    return ids


def _refs(
    id_col: QueryableAttribute[int],
    uuid_col: QueryableAttribute[str],
    refs: list[str],
    field_name: str,
) -> ColumnElement[bool]:
    """One IN list of ids and one of uuids (an OR per reference would outgrow SQLite's
    expression depth)."""
    ids: set[int] = set()
    uuids: set[str] = set()
    for ref in refs:
        text = str(ref).strip()
        ident = as_id(text)
        if ident is not None:
            ids.add(ident)
        elif is_uuid(text):
            uuids.add(str(_uuid.UUID(text)))
        else:
            raise InvalidInput(f"{text!r} is neither an id nor a UUID", field=field_name)
    return sa.or_(id_col.in_(sorted(ids)), uuid_col.in_(sorted(uuids)))


def search_sightings(session: Session, ctx: Ctx, f: SightingFilter) -> list[SightingHit]:
    """Sightings the caller may read under the sighting policy, filtered; an attribute or
    event the caller cannot read simply contributes nothing."""
    for t in f.type:
        if t not in (0, 1, 2):
            raise InvalidInput("a sighting type is 0, 1 or 2", field="type")
    if len(f.attribute) + len(f.event) > MAX_REFS:
        raise InvalidInput(f"at most {MAX_REFS} attributes or events", field="id")
    if len(f.org) + len(f.not_org) > MAX_REFS:
        raise InvalidInput(f"at most {MAX_REFS} organisations", field="org")
    if not 1 <= f.limit <= 100_000:
        raise InvalidInput("limit is from 1 to 100000", field="limit")
    for name, texts in (("org", [*f.org, *f.not_org]), ("source", f.source)):
        if any("\x00" in t for t in texts):
            raise InvalidInput(f"{name} has no NUL character", field=name)
    sighting_org = aliased(Organisation)
    q = (
        sa.select(Sighting, Attribute, Event, sighting_org)
        .join(Attribute, Attribute.id == Sighting.attribute_id)
        .join(Event, Event.id == Sighting.event_id)
        .outerjoin(sighting_org, sighting_org.id == Sighting.org_id)
        .where(sighting_condition(ctx.principal, ctx.opts))
    )
    if f.attribute:
        q = q.where(_refs(Attribute.id, Attribute.uuid, f.attribute, "attribute"))
    if f.event:
        q = q.where(_refs(Event.id, Event.uuid, f.event, "event"))
    if f.type:
        q = q.where(Sighting.type.in_(sorted(set(f.type))))
    if f.org:
        q = q.where(Sighting.org_id.in_(_org_ids(session, f.org) or [-1]))
    if f.not_org:
        excluded = _org_ids(session, f.not_org)
        if excluded:
            q = q.where(Sighting.org_id.not_in(excluded))
    if f.source:
        q = q.where(Sighting.source.in_(f.source))
    if f.since is not None:
        q = q.where(Sighting.date_sighting >= f.since)
    if f.until is not None:
        q = q.where(Sighting.date_sighting <= f.until)
    if f.newest_first:
        q = q.order_by(Sighting.date_sighting.desc(), Sighting.id.desc())
    else:
        q = q.where(Sighting.id > f.after).order_by(Sighting.id)
    rows = session.execute(q.limit(f.limit)).all()
    return [SightingHit(r[0], r[1], r[2], r[3]) for r in rows]


def delete_sighting(session: Session, ctx: Ctx, sighting_ref: int | str) -> Sighting:
    """Delete a sighting (by id or uuid) the caller may read. MISP's rule: site admins, or
    a member of the organisation that made it who may modify the organisation's data."""
    require(ctx, Permission.SIGHTING_ADD)
    require(ctx, Permission.EVENT_MODIFY_ORG)
    row = session.execute(
        sa.select(Sighting, Event.org_id)
        .join(Attribute, Attribute.id == Sighting.attribute_id)
        .join(Event, Event.id == Sighting.event_id)
        .where(
            ref_condition(Sighting.id, Sighting.uuid, sighting_ref, "sighting"),
            sighting_condition(ctx.principal, ctx.opts),
        )
    ).first()
    if row is None:
        raise NotFound(f"sighting {sighting_ref} not found", field="sighting")
    sighting, event_org = row
    if not (ctx.principal.is_site_admin or sighting.org_id == ctx.org_id):
        raise Forbidden("only the organisation that made a sighting deletes it")
    record(
        session,
        ctx.actor,
        "delete",
        "Sighting",
        model_id=sighting.id,
        model_uuid=sighting.uuid,
        change={"attribute_id": sighting.attribute_id, "event_org_id": event_org},
    )
    session.delete(sighting)
    session.flush()
    lifecycle.refresh(session, [sighting.attribute_id])
    return sighting


def record_bulk(
    session: Session,
    actor: Actor,
    org_id: int,
    targets: Iterable[tuple[int, int]],
    source: str,
    when: datetime | None = None,
) -> int:
    """Sightings (type 0) of many attributes at once, for an organisation, with a source
    (a sensor's name): what a hunt records. `targets` are (attribute id, event id) pairs the
    caller has already resolved under the organisation's read view. One audit entry."""
    pairs = list(dict.fromkeys(targets))
    if not pairs:
        return 0
    at = when or now()
    insert_rows(
        session.connection(),
        Sighting.__table__,  # type: ignore[arg-type]
        ("uuid", "attribute_id", "event_id", "org_id", "type", "source", "date_sighting"),
        [(str(_uuid.uuid4()), a, e, org_id, 0, source, at) for a, e in pairs],
    )
    lifecycle.refresh(session, [a for a, _ in pairs])
    record(
        session,
        actor,
        "create",
        "Sighting",
        title=f"{len(pairs)} sightings of type 0 from {source}",
        change={"attribute_ids": [a for a, _ in pairs][:100], "type": 0, "source": source},
    )
    return len(pairs)
