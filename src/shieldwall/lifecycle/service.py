"""Lifecycle settings per attribute type, scores as a reader sees them, and the expiry pass
that marks indicators past their lifetime (and clears the mark when they live again)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from shieldwall.audit.service import Actor, record
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.db.base import UTCDateTime
from shieldwall.intel.errors import InvalidInput, NotFound
from shieldwall.intel.models import Attribute, AttributeTag, Event, EventTag, Sighting, Tag
from shieldwall.intel.types import type_table
from shieldwall.intel.visibility import attribute_condition, sighting_condition, tag_condition
from shieldwall.lifecycle.models import LifecycleSetting
from shieldwall.lifecycle.score import (
    EXPIRATION,
    SIGHTING,
    Mark,
    Parameters,
    Score,
    base_score,
    compute,
    observed,
)

DEFAULT = "default"  # the settings of every type without its own

_IPS = ("ip-src", "ip-dst", "ip-src|port", "ip-dst|port", "domain|ip")
_HOSTS = ("domain", "hostname", "hostname|port")
_URLS = ("url", "uri", "link")
_EMAIL = ("email", "email-src", "email-dst", "email-reply-to", "email-subject")
_HASHES = (
    "md5",
    "sha1",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "sha512/224",
    "sha512/256",
    "sha3-224",
    "sha3-256",
    "sha3-384",
    "sha3-512",
    "ssdeep",
    "imphash",
    "impfuzzy",
    "tlsh",
    "authentihash",
    "pehash",
    "vhash",
    "telfhash",
    "cdhash",
    "malware-sample",
    "filename|md5",
    "filename|sha1",
    "filename|sha224",
    "filename|sha256",
    "filename|sha384",
    "filename|sha512",
    "filename|sha512/224",
    "filename|sha512/256",
    "filename|sha3-224",
    "filename|sha3-256",
    "filename|sha3-384",
    "filename|sha3-512",
    "filename|ssdeep",
    "filename|imphash",
    "filename|impfuzzy",
    "filename|tlsh",
    "filename|authentihash",
    "filename|pehash",
    "filename|vhash",
)


def _family(types: Iterable[str], params: Parameters) -> dict[str, Parameters]:
    return dict.fromkeys(types, params)


# Built-in defaults. Addresses change hands within weeks (and the score falls fast at
# first, decay_speed > 1); host names and URLs last months; a file hash names the same file
# for ever, so its indicators hold their score for most of two years (decay_speed < 1).
BUILT_IN_DEFAULT = Parameters(
    lifetime_days=365, decay_speed=1.0, threshold=30, default_base_score=80,
    false_positive_penalty=0.5,
)  # fmt: skip
BUILT_IN: dict[str, Parameters] = {
    **_family(_IPS, replace(BUILT_IN_DEFAULT, lifetime_days=45, decay_speed=2.0)),
    **_family(_URLS, replace(BUILT_IN_DEFAULT, lifetime_days=90, decay_speed=1.5)),
    **_family(_HOSTS, replace(BUILT_IN_DEFAULT, lifetime_days=180, decay_speed=1.5)),
    **_family(_EMAIL, replace(BUILT_IN_DEFAULT, lifetime_days=180, decay_speed=1.0)),
    **_family(_HASHES, replace(BUILT_IN_DEFAULT, lifetime_days=730, decay_speed=0.5)),
}

FIELDS = (
    "lifetime_days",
    "decay_speed",
    "threshold",
    "default_base_score",
    "false_positive_penalty",
)


class SettingChange(BaseModel):
    """New values for a type's settings; fields left out keep their current value."""

    model_config = ConfigDict(extra="forbid")
    lifetime_days: float | None = Field(None, gt=0, le=36500, description="days an indicator lives")
    decay_speed: float | None = Field(None, gt=0, le=100, description="MISP's delta")
    threshold: float | None = Field(None, ge=0, le=100, description="decayed below this score")
    default_base_score: float | None = Field(None, ge=0, le=100)
    false_positive_penalty: float | None = Field(
        None, ge=0, le=1, description="share of the score each false positive takes away"
    )


@dataclass(frozen=True)
class Settings:
    """The effective settings: the built-in defaults with the site's changes over them."""

    default: Parameters
    by_type: dict[str, Parameters]
    changed: frozenset[str]  # types (and "default") the site has changed

    def for_type(self, attribute_type: str) -> Parameters:
        return self.by_type.get(attribute_type, self.default)


def _params(row: LifecycleSetting) -> Parameters:
    return Parameters(**{name: float(getattr(row, name)) for name in FIELDS})


def load(session: Session) -> Settings:
    rows = {r.attribute_type: r for r in session.execute(sa.select(LifecycleSetting)).scalars()}
    default = _params(rows[DEFAULT]) if DEFAULT in rows else BUILT_IN_DEFAULT
    by_type = dict(BUILT_IN)
    by_type.update({t: _params(r) for t, r in rows.items() if t != DEFAULT})
    return Settings(default, by_type, frozenset(rows))


def _check_type(attribute_type: str) -> str:
    if attribute_type != DEFAULT and attribute_type not in type_table().types:
        raise InvalidInput(
            f"{attribute_type!r} is not an attribute type (nor {DEFAULT!r})",
            field="attribute_type",
        )
    return attribute_type


def setting_out(settings: Settings, attribute_type: str) -> dict[str, Any]:
    params = settings.default if attribute_type == DEFAULT else settings.for_type(attribute_type)
    if attribute_type in settings.changed:
        source = "site"
    elif attribute_type in BUILT_IN or attribute_type == DEFAULT:
        source = "built-in"
    else:
        source = DEFAULT
    return {"attribute_type": attribute_type, **params.__dict__, "source": source}


def list_settings(session: Session) -> list[dict[str, Any]]:
    """The default, then every type with settings of its own (built-in or the site's)."""
    settings = load(session)
    types = sorted(set(settings.by_type) - {DEFAULT})
    return [setting_out(settings, DEFAULT)] + [setting_out(settings, t) for t in types]


def get_setting(session: Session, attribute_type: str) -> dict[str, Any]:
    return setting_out(load(session), _check_type(attribute_type))


def change_settings(
    session: Session, ctx: Ctx, changes: dict[str, SettingChange | None]
) -> list[dict[str, Any]]:
    """Apply changes to several types at once (None puts a type back on its built-in
    settings), in the caller's transaction, with one audit entry. Site admins only."""
    require(ctx, Permission.SITE_ADMIN)
    if not changes:
        raise InvalidInput("name at least one attribute type", field="attribute_type")
    if len(changes) > 500:
        raise InvalidInput("at most 500 types at once", field="attribute_type")
    before = load(session)
    audit: dict[str, Any] = {}
    for attribute_type, change in changes.items():
        _check_type(attribute_type)
        old = setting_out(before, attribute_type)
        row = session.get(LifecycleSetting, attribute_type)
        if change is None:
            if row is not None:
                session.delete(row)
            audit[attribute_type] = {"reset": True, "was": _values(old)}
            continue
        values = {**_values(old), **change.model_dump(exclude_none=True)}
        if row is None:
            row = LifecycleSetting(attribute_type=attribute_type, **values)
            session.add(row)
        else:
            for name, value in values.items():
                setattr(row, name, value)
        row.modified_by = ctx.principal.user_id
        audit[attribute_type] = {"was": _values(old), "now": values}
    session.flush()
    record(
        session,
        ctx.actor,
        "edit",
        "LifecycleSetting",
        title=f"lifecycle settings of {len(changes)} types changed",
        change=audit,
    )
    after = load(session)
    return [setting_out(after, t) for t in changes]


def _values(out: dict[str, Any]) -> dict[str, float]:
    return {name: out[name] for name in FIELDS}


# ---------------------------------------------------------------- scores as a reader sees them


@dataclass(frozen=True)
class Overrides:
    """Per-request changes to every type's parameters (MISP's modelOverrides and score)."""

    lifetime_days: float | None = None
    decay_speed: float | None = None
    threshold: float | None = None

    def apply(self, params: Parameters) -> Parameters:
        changed = {k: v for k, v in self.__dict__.items() if v is not None}
        return replace(params, **changed) if changed else params


@dataclass(frozen=True)
class Facts:
    """What the score needs from an attribute."""

    id: int
    event_id: int
    type: str
    seen: datetime  # observed(): last_seen, else timestamp


def facts(a: Attribute) -> Facts:
    return Facts(a.id, a.event_id, a.type, observed(a.timestamp, a.last_seen))


def _chunks(items: Sequence[int], size: int = 500) -> Iterable[list[int]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def _marks(session: Session, ctx: Ctx, ids: list[int]) -> dict[int, list[Mark]]:
    """The sightings of these attributes the reader may read (the sighting policy holds)."""
    out: dict[int, list[Mark]] = {}
    for chunk in _chunks(ids):
        rows = session.execute(
            sa.select(Sighting.attribute_id, Sighting.type, Sighting.date_sighting)
            .join(Attribute, Attribute.id == Sighting.attribute_id)
            .join(Event, Event.id == Sighting.event_id)
            .where(Sighting.attribute_id.in_(chunk), sighting_condition(ctx.principal, ctx.opts))
        ).all()
        for attribute_id, kind, at in rows:
            out.setdefault(attribute_id, []).append(Mark(kind, at))
    return out


Rated = list[tuple[str, float | None]]


def _rated_tags(
    session: Session, ctx: Ctx, attribute_ids: list[int], event_ids: list[int]
) -> tuple[dict[int, Rated], dict[int, Rated]]:
    """Tags with a numerical value the reader may see, by attribute and by event."""

    def rated(owner: Any, tag_id: Any, ids: list[int]) -> dict[int, Rated]:
        out: dict[int, Rated] = {}
        for chunk in _chunks(ids):
            for key, name, value in session.execute(
                sa.select(owner, Tag.name, Tag.numerical_value)
                .join(Tag, Tag.id == tag_id)
                .where(
                    owner.in_(chunk),
                    Tag.numerical_value.is_not(None),
                    tag_condition(ctx.principal),
                )
            ).all():
                out.setdefault(key, []).append((name, value))
        return out

    return (
        rated(AttributeTag.attribute_id, AttributeTag.tag_id, attribute_ids),
        rated(EventTag.event_id, EventTag.tag_id, event_ids),
    )


def scores(
    session: Session,
    ctx: Ctx,
    items: Sequence[Facts],
    *,
    overrides: Overrides | None = None,
    at: datetime | None = None,
) -> dict[int, tuple[Score, Parameters]]:
    """The score of each attribute as the reader sees it: from the sightings and tags the
    reader may read, so the score reveals nothing the access rules hide. Attributes the
    caller passes are assumed readable (they come from a read path)."""
    at = at or now()
    settings = load(session)
    ids = sorted({f.id for f in items})
    marks = _marks(session, ctx, ids)
    by_attr, by_event = _rated_tags(session, ctx, ids, sorted({f.event_id for f in items}))
    out: dict[int, tuple[Score, Parameters]] = {}
    for f in items:
        params = settings.for_type(f.type)
        if overrides is not None:
            params = overrides.apply(params)
        base = base_score(
            by_attr.get(f.id, []), by_event.get(f.event_id, []), params.default_base_score
        )
        out[f.id] = (compute(params, base, f.seen, marks.get(f.id, []), at), params)
    return out


def lifecycle_out(score: Score, params: Parameters, expired_at: datetime | None) -> dict[str, Any]:
    """The lifecycle block of a native attribute view."""
    return {
        "score": round(score.score, 4),
        "base_score": round(score.base_score, 4),
        "threshold": params.threshold,
        "decayed": score.decayed,
        "expired": expired_at is not None,
        "expired_at": expired_at.isoformat() if expired_at else None,
        "expires_at": score.expires_at.isoformat(),
        "reference_time": score.reference.isoformat(),
        "false_positives": score.false_positives,
    }


def attribute_lifecycle(session: Session, ctx: Ctx, attr: Attribute) -> dict[str, Any]:
    score, params = scores(session, ctx, [facts(attr)])[attr.id]
    return lifecycle_out(score, params, attr.expired_at)


# ---------------------------------------------------------------- expiry


def _seen() -> ColumnElement[datetime]:
    return sa.func.coalesce(Attribute.last_seen, Attribute.timestamp, type_=UTCDateTime)


def _lit(value: datetime) -> ColumnElement[datetime]:
    return sa.literal(value, UTCDateTime)


def _cutoff(settings: Settings, at: datetime, shift: timedelta = timedelta()) -> Any:
    """Per attribute, the reference time at or before which its lifetime is over at `at`
    (plus `shift`): at - lifetime of its type."""
    whens: dict[str, ColumnElement[datetime]] = {}
    default = settings.default
    for t, p in settings.by_type.items():
        if p.lifetime_days != default.lifetime_days:
            whens[t] = _lit(at + shift - timedelta(days=p.lifetime_days))
    fallback = _lit(at + shift - timedelta(days=default.lifetime_days))
    if not whens:
        return fallback
    return sa.case(whens, value=Attribute.type, else_=fallback)


def _positive_after(since: Any, at: datetime) -> ColumnElement[bool]:
    p = aliased(Sighting)
    return sa.exists(
        sa.select(1)
        .where(
            p.attribute_id == Attribute.id,
            p.type == SIGHTING,
            p.date_sighting > since,
            p.date_sighting <= at,
        )
        .correlate_except(p)
    )


def _reference_at_or_before(limit: Any, at: datetime) -> ColumnElement[bool]:
    """The reference time (score.compute) is at or before `limit`."""
    return sa.and_(_seen() <= limit, ~_positive_after(limit, at))


def _ended_by_sighting(at: datetime) -> ColumnElement[bool]:
    """An expiration sighting at or after the reference time (and not after `at`)."""
    e = aliased(Sighting)
    p = aliased(Sighting)
    return sa.exists(
        sa.select(1)
        .where(
            e.attribute_id == Attribute.id,
            e.type == EXPIRATION,
            e.date_sighting <= at,
            e.date_sighting >= _seen(),
            ~sa.exists(
                sa.select(1)
                .where(
                    p.attribute_id == Attribute.id,
                    p.type == SIGHTING,
                    p.date_sighting > e.date_sighting,
                    p.date_sighting <= at,
                )
                # Two levels down: the attribute row is the outermost query's.
                .correlate_except(p)
            ),
        )
        .correlate_except(e)
    )


def expired_condition(settings: Settings, at: datetime) -> ColumnElement[bool]:
    """Attributes that score.compute calls expired at `at`, from all their sightings."""
    return sa.or_(
        _reference_at_or_before(_cutoff(settings, at), at),
        _ended_by_sighting(at),
    )


@dataclass
class ExpiryReport:
    expired: int = 0  # newly marked expired
    revived: int = 0  # marked before, live again (a sighting, an edit, a longer lifetime)
    dry_run: bool = False


Progress = Callable[[int, int], None]


def _id_span(session: Session) -> tuple[int, int]:
    low, high = session.execute(
        sa.select(sa.func.min(Attribute.id), sa.func.max(Attribute.id))
    ).one()
    return (low or 0, high or 0)


def _apply(
    session: Session, where: ColumnElement[bool], settings: Settings, at: datetime, dry_run: bool
) -> tuple[int, int]:
    due = expired_condition(settings, at)
    live = Attribute.deleted.is_(False)
    newly = sa.and_(where, live, Attribute.expired_at.is_(None), due)
    again = sa.and_(where, live, Attribute.expired_at.is_not(None), ~due)
    if dry_run:
        count = sa.select(sa.func.count()).select_from(Attribute)
        return (
            session.execute(count.where(newly)).scalar_one(),
            session.execute(count.where(again)).scalar_one(),
        )
    opts = {"synchronize_session": False}
    expired = session.execute(
        sa.update(Attribute).where(newly).values(expired_at=at), execution_options=opts
    )
    revived = session.execute(
        sa.update(Attribute).where(again).values(expired_at=None), execution_options=opts
    )
    return (getattr(expired, "rowcount", 0) or 0, getattr(revived, "rowcount", 0) or 0)


def run_expiry(
    session: Session,
    actor: Actor,
    *,
    dry_run: bool = False,
    at: datetime | None = None,
    chunk: int = 20_000,
    on_progress: Progress | None = None,
) -> ExpiryReport:
    """Mark every live attribute whose lifetime is over (or that an expiration sighting
    ended) as expired, and clear the mark of those live again, in the caller's
    transaction, with one audit entry when anything changed. A dry run only counts.
    Safe to run on several workers at once: each pass reaches the same state."""
    at = at or now()
    settings = load(session)
    report = ExpiryReport(dry_run=dry_run)
    low, high = _id_span(session)
    total = max(0, high - low + 1) if high else 0
    start = low
    while high and start <= high:
        end = start + chunk
        expired, revived = _apply(
            session, sa.and_(Attribute.id >= start, Attribute.id < end), settings, at, dry_run
        )
        report.expired += expired
        report.revived += revived
        if on_progress is not None:
            on_progress(min(end, high + 1) - low, total)
        start = end
    if not dry_run and (report.expired or report.revived):
        record(
            session,
            actor,
            "expire",
            "Attribute",
            title=f"{report.expired} indicators expired, {report.revived} live again",
            change={"expired": report.expired, "revived": report.revived, "at": at},
        )
    return report


def refresh(session: Session, attribute_ids: Sequence[int], at: datetime | None = None) -> None:
    """Bring the expiry mark of these attributes up to date (after a sighting): a sighting
    revives an expired indicator, an expiration sighting expires it at once. Part of the
    caller's write, which records its own audit entry."""
    if not attribute_ids:
        return
    at = at or now()
    settings = load(session)
    for chunk in _chunks(sorted(set(attribute_ids))):
        _apply(session, Attribute.id.in_(chunk), settings, at, dry_run=False)


# ---------------------------------------------------------------- lists


def list_expired(
    session: Session, ctx: Ctx, *, after: int = 0, limit: int = 100
) -> list[tuple[Attribute, str]]:
    """Expired attributes the caller may read, by id."""
    q = (
        sa.select(Attribute, Event.uuid)
        .join(Event, Event.id == Attribute.event_id)
        .where(
            Attribute.expired_at.is_not(None),
            attribute_condition(ctx.principal, ctx.opts),
            Attribute.id > after,
        )
        .order_by(Attribute.id)
        .limit(limit)
    )
    return [(r[0], r[1]) for r in session.execute(q).all()]


def list_expiring(
    session: Session,
    ctx: Ctx,
    *,
    within: timedelta,
    to_ids_only: bool = False,
    after: int = 0,
    limit: int = 100,
    at: datetime | None = None,
) -> list[tuple[Attribute, str]]:
    """Live attributes the caller may read whose lifetime ends within `within`, by id."""
    if within <= timedelta() or within > timedelta(days=36500):
        raise InvalidInput("within is from 1 to 36500 days", field="within_days")
    at = at or now()
    settings = load(session)
    q = (
        sa.select(Attribute, Event.uuid)
        .join(Event, Event.id == Attribute.event_id)
        .where(
            Attribute.expired_at.is_(None),
            ~expired_condition(settings, at),
            _reference_at_or_before(_cutoff(settings, at, within), at),
            attribute_condition(ctx.principal, ctx.opts),
            Attribute.id > after,
        )
        .order_by(Attribute.id)
        .limit(limit)
    )
    if to_ids_only:
        q = q.where(Attribute.to_ids.is_(True))
    return [(r[0], r[1]) for r in session.execute(q).all()]


def require_known(attribute_type: str) -> None:
    """NotFound for a type nobody can have settings for (the API's GET)."""
    try:
        _check_type(attribute_type)
    except InvalidInput as exc:
        raise NotFound(exc.detail, field="attribute_type") from None
