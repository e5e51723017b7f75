"""Correlations at read time.

Exact matches come from the attribute value indexes (value1 and value2), so nothing is
stored per pair and nothing needs rebuilding when attributes change. IP containment and
ssdeep similarity use their per-attribute indexes (correlation/index.py). The answer holds
only attributes the reader may read, on both sides.

A value shared by more than `cap` correlating attributes (the event's own included) is
reported as over-correlating instead of linked, as MISP does."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import ppdeep
import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.correlation.models import (
    CorrelationExclusion,
    CorrelationNetwork,
    CorrelationSsdeep,
)
from shieldwall.correlation.rules import (
    NETWORK_TYPES,
    NON_CORRELATING_TYPES,
    PRIMARY_ONLY_TYPES,
    SSDEEP_TYPES,
    Exclusions,
    Network,
    correlating_values,
    masked,
    parse_network,
    ssdeep_chunks,
)
from shieldwall.db.lists import in_values, pg_array
from shieldwall.intel.models import VALUE_KEY_LEN, Attribute, Event
from shieldwall.intel.search import value_key
from shieldwall.intel.visibility import Principal, ReadOptions, attribute_condition
from shieldwall.server_settings import effective_settings

CHUNK = 500


# The fields of matched attributes the exact query brings back (Correlations.details).
DETAIL = ("id", "event_id", "uuid", "type", "category", "value1", "value2", "to_ids")


class Source(NamedTuple):
    """An attribute whose correlations are asked for (a tuple: events bring tens of
    thousands)."""

    id: int
    event_id: int
    type: str
    value1: str
    value2: str
    uuid: str = ""


class Match(NamedTuple):
    source_id: int
    attribute_id: int
    event_id: int
    value: str  # the source's value that correlates
    kind: str  # "exact", "cidr" or "ssdeep"
    score: int | None = None  # ssdeep similarity


@dataclass
class Correlations:
    matches: list[Match] = field(default_factory=list)
    # Values shared by more attributes than the cap: value -> source attribute ids.
    over: dict[str, list[int]] = field(default_factory=dict)
    # Matched attributes read along the way: id -> their DETAIL fields, in that order.
    details: dict[int, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Options:
    cap: int
    ssdeep_threshold: int
    advanced: bool

    @classmethod
    def from_settings(cls) -> Options:
        s = effective_settings()
        return cls(s.correlation_cap, s.ssdeep_threshold, s.advanced_correlations)


def correlating_conditions() -> list[sa.ColumnElement[bool]]:
    """Conditions on a candidate attribute (Attribute and Event in the FROM clause)."""
    return [
        Attribute.deleted.is_(False),
        Attribute.disable_correlation.is_(False),
        Attribute.type.not_in(sorted(NON_CORRELATING_TYPES)),
        Event.disable_correlation.is_(False),
    ]


def exclusions(session: Session) -> Exclusions:
    return Exclusions(session.execute(sa.select(CorrelationExclusion.value)).scalars())


_SOURCE_COLUMNS = (
    Attribute.id,
    Attribute.event_id,
    Attribute.type,
    Attribute.value1,
    Attribute.value2,
    Attribute.uuid,
)


def event_sources(session: Session, event_id: int) -> list[Source]:
    """The attributes of an event that take part in correlation."""
    # Plain columns, read on the connection: the ORM's row handling would cost as much again.
    rows = (
        session.connection()
        .execute(
            sa.select(*_SOURCE_COLUMNS)
            .join(Event, Event.id == Attribute.event_id)
            .where(Attribute.event_id == event_id, *correlating_conditions())
        )
        .all()
    )
    return [Source(*r) for r in rows]


def attribute_sources(session: Session, attribute_ids: Iterable[int]) -> list[Source]:
    """The given attributes that take part in correlation."""
    ids = sorted(set(attribute_ids))
    if not ids:
        return []
    rows = (
        session.connection()
        .execute(
            sa.select(*_SOURCE_COLUMNS)
            .join(Event, Event.id == Attribute.event_id)
            .where(in_values(session, Attribute.id, ids), *correlating_conditions())
        )
        .all()
    )
    return [Source(*r) for r in rows]


def _exact(
    session: Session,
    sources: Sequence[Source],
    excluded: Exclusions,
    cap: int,
    result: Correlations,
    own_event: int | None,
) -> None:
    wanted: dict[str, list[Source]] = defaultdict(list)
    for s in sources:
        for v in correlating_values(s.type, s.value1, s.value2):
            if not (excluded and excluded.excluded(v)):
                wanted[v].append(s)
    if not wanted:
        return
    values = sorted(wanted)
    # With one source event, its own attributes are counted from the sources (they are all
    # of its correlating attributes) instead of being read again.
    elsewhere = [Attribute.event_id != own_event] if own_event is not None else []
    cols = tuple(getattr(Attribute, name) for name in DETAIL)
    holders = _exact_lateral if session.get_bind().dialect.name == "postgresql" else _exact_counted
    held = holders(session, cols, values, elsewhere, cap)
    found: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for row in held:
        attr_id, event_id = row[0], row[1]
        found[row[-1]].append((attr_id, event_id))
        result.details[attr_id] = row[:-1]
    for v, sources_v in wanted.items():
        hits = found.get(v, [])
        own = len(sources_v) if own_event is not None else 0
        if len(hits) + own > cap:
            result.over[v] = sorted({s.id for s in sources_v})
            continue
        for s in sources_v:
            for attr_id, event_id in hits:
                if event_id != s.event_id:
                    result.matches.append(Match(s.id, attr_id, event_id, v, "exact"))


def _exact_counted(
    session: Session,
    cols: tuple[Any, ...],
    values: list[str],
    elsewhere: list[sa.ColumnElement[bool]],
    cap: int,
) -> list[Any]:
    """Holders of the values, at most cap + 1 a value (enough to know it over-correlates), on
    SQLite (no LATERAL). The value-key index counts each key's rows first, from the index
    alone: a key it counts cap + 1 times or less holds no more holders than that, so those
    values are read whole in one statement; the few keys it counts more often are read a
    value at a time with a limit, so a value held by thousands costs what one held by a
    hundred does. Each half (value1, value2) on its own: a value over the cap in either is
    over it in all."""
    conn = session.connection()
    rows: list[Any] = []
    halves: tuple[tuple[Any, list[sa.ColumnElement[bool]]], ...] = (
        (Attribute.value1, []),
        (
            Attribute.value2,
            [
                Attribute.value2 != Attribute.value1,
                Attribute.type.not_in(sorted(PRIMARY_ONLY_TYPES)),
            ],
        ),
    )
    wanted = sorted({v[:VALUE_KEY_LEN] for v in values})
    for column, extra in halves:
        key = value_key(column)
        counts: dict[str, int] = dict(
            conn.execute(
                sa.select(key, sa.func.count()).where(in_values(session, key, wanted)).group_by(key)
            ).all()
        )
        if not counts:
            continue
        light: list[str] = []
        heavy: list[str] = []
        for v in values:
            n = counts.get(v[:VALUE_KEY_LEN], 0)
            if n:
                (light if n <= cap + 1 else heavy).append(v)
        base = (
            sa.select(*cols, column.label("v"))
            .join(Event, Event.id == Attribute.event_id)
            .where(*extra, *elsewhere, *correlating_conditions())
        )
        if light:
            light_keys = sorted({v[:VALUE_KEY_LEN] for v in light})
            rows += conn.execute(
                base.where(in_values(session, key, light_keys), in_values(session, column, light))
            ).all()
        for v in heavy:
            # Lists of one, as the light ones: with a plain `=` and a limit, SQLite's
            # planner may scan the table instead of probing the index.
            rows += conn.execute(
                base.where(
                    in_values(session, key, [v[:VALUE_KEY_LEN]]), in_values(session, column, [v])
                ).limit(cap + 1)
            ).all()
    return rows


def _exact_lateral(
    session: Session,
    cols: tuple[Any, ...],
    values: list[str],
    elsewhere: list[sa.ColumnElement[bool]],
    cap: int,
) -> list[Any]:
    """The same on PostgreSQL, reading at most cap + 1 holders a value and half (a LATERAL
    probe per value): a value held by thousands costs what one held by a hundred does."""
    listed = sa.func.unnest(pg_array(values, sa.Text())).table_valued("val").render_derived()
    first = (
        sa.select(*cols)
        .join(Event, Event.id == Attribute.event_id)
        .where(
            value_key(Attribute.value1) == value_key(listed.c.val),
            Attribute.value1 == listed.c.val,
            *elsewhere,
            *correlating_conditions(),
        )
        .limit(cap + 1)
    )
    second = (
        sa.select(*cols)
        .join(Event, Event.id == Attribute.event_id)
        .where(
            value_key(Attribute.value2) == value_key(listed.c.val),
            Attribute.value2 == listed.c.val,
            Attribute.value2 != Attribute.value1,
            Attribute.type.not_in(sorted(PRIMARY_ONLY_TYPES)),
            *elsewhere,
            *correlating_conditions(),
        )
        .limit(cap + 1)
    )
    holders = sa.union_all(first, second).lateral("holders")
    q = sa.select(*holders.c, listed.c.val).select_from(listed).join(holders, sa.true())
    return list(session.connection().execute(q).all())  # one fetch, not one a row


def _candidates(session: Session, ids: Iterable[int]) -> dict[int, tuple[int, str, str]]:
    """Correlating attributes among `ids`: id -> (event id, type, value1)."""
    wanted = sorted(set(ids))
    out: dict[int, tuple[int, str, str]] = {}
    if not wanted:
        return out
    rows = session.execute(
        sa.select(Attribute.id, Attribute.event_id, Attribute.type, Attribute.value1)
        .join(Event, Event.id == Attribute.event_id)
        .where(in_values(session, Attribute.id, wanted), *correlating_conditions())
    ).all()
    for attr_id, event_id, attr_type, value1 in rows:
        out[attr_id] = (event_id, attr_type, value1)
    return out


def _range_lengths(session: Session) -> dict[int, list[int]]:
    rows = session.execute(
        sa.select(CorrelationNetwork.family, CorrelationNetwork.plen)
        .where(CorrelationNetwork.hi.is_not(None))
        .distinct()
    ).all()
    out: dict[int, list[int]] = defaultdict(list)
    for family, plen in rows:
        out[family].append(plen)
    return out


def _networks(
    session: Session,
    sources: Sequence[Source],
    excluded: Exclusions,
    cap: int,
    result: Correlations,
) -> None:
    nets: list[tuple[Source, Network]] = []
    for s in sources:
        if s.type in NETWORK_TYPES and not (excluded and excluded.excluded(s.value1)):
            net = parse_network(s.value1)
            if net is not None:
                nets.append((s, net))
    if not nets:
        return
    lengths = _range_lengths(session)
    hits: dict[int, set[int]] = defaultdict(set)  # source id -> candidate attribute ids
    found: dict[int, Network] = {}
    # Networks (from the index) that contain a source: look their start up at each prefix
    # length networks are stored with.
    probes: dict[tuple[int, bytes], list[tuple[Source, Network]]] = defaultdict(list)
    for s, net in nets:
        for plen in lengths.get(net.family, []):
            if plen <= net.plen:
                probes[(net.family, masked(net.lo, plen))].append((s, net))
    by_family: dict[int, list[bytes]] = defaultdict(list)
    for family, lo in probes:
        by_family[family].append(lo)
    for family, los in by_family.items():
        for i in range(0, len(los), CHUNK):
            rows = session.execute(
                sa.select(
                    CorrelationNetwork.attribute_id,
                    CorrelationNetwork.plen,
                    CorrelationNetwork.lo,
                    CorrelationNetwork.hi,
                ).where(
                    CorrelationNetwork.family == family,
                    in_values(session, CorrelationNetwork.lo, los[i : i + CHUNK]),
                    CorrelationNetwork.hi.is_not(None),
                )
            ).all()
            for attr_id, plen, lo, hi in rows:
                other = Network(family, plen, bytes(lo), bytes(hi or b""))
                for s, net in probes[(family, other.lo)]:
                    if other.contains(net):
                        hits[s.id].add(attr_id)
                        found[attr_id] = other
    # Addresses and networks inside a source network.
    for s, net in nets:
        if net.hi is None:
            continue
        inside_rows = session.execute(
            sa.select(CorrelationNetwork.attribute_id)
            .where(
                CorrelationNetwork.family == net.family,
                CorrelationNetwork.lo >= net.lo,
                CorrelationNetwork.lo <= net.hi,
            )
            .limit(cap + 2)
        ).all()
        inside = {r[0] for r in inside_rows} - {s.id}
        if len(inside) > cap:
            result.over[s.value1] = sorted({*result.over.get(s.value1, []), s.id})
            continue
        hits[s.id].update(inside)
    candidates = _candidates(session, {a for ids in hits.values() for a in ids})
    for s, _net in nets:
        if s.value1 in result.over:
            continue
        for attr_id in sorted(hits.get(s.id, ())):
            c = candidates.get(attr_id)
            if c is None or c[0] == s.event_id or c[2] == s.value1:
                continue  # not correlating, same event, or an exact match found already
            if excluded and excluded.excluded(c[2]):
                continue
            result.matches.append(Match(s.id, attr_id, c[0], s.value1, "cidr"))


def _ssdeep(
    session: Session,
    sources: Sequence[Source],
    excluded: Exclusions,
    threshold: int,
    result: Correlations,
) -> None:
    hashes = [
        s
        for s in sources
        if s.type in SSDEEP_TYPES and not (excluded and excluded.excluded(s.value1))
    ]
    for s in hashes:
        keys = ssdeep_chunks(s.value1)
        if not keys:
            continue
        per_size: dict[int, list[str]] = defaultdict(list)
        for bs, chunk in keys:
            per_size[bs].append(chunk)
        cond = sa.or_(
            *(
                sa.and_(CorrelationSsdeep.block_size == bs, CorrelationSsdeep.chunk.in_(chunks))
                for bs, chunks in per_size.items()
            )
        )
        ids = session.execute(sa.select(CorrelationSsdeep.attribute_id).where(cond).distinct())
        candidates = _candidates(session, (r[0] for r in ids))
        for attr_id, (event_id, _t, value1) in sorted(candidates.items()):
            if event_id == s.event_id or value1 == s.value1:
                continue
            if excluded and excluded.excluded(value1):
                continue
            try:
                score = ppdeep.compare(s.value1, value1)
            except ValueError:
                continue
            if score >= threshold:
                result.matches.append(Match(s.id, attr_id, event_id, s.value1, "ssdeep", score))


def _readable(session: Session, p: Principal, opts: ReadOptions, ids: Iterable[int]) -> set[int]:
    wanted = sorted(set(ids))
    if p.is_site_admin:
        return set(wanted)
    if not wanted:
        return set()
    return set(
        session.execute(
            sa.select(Attribute.id)
            .join(Event, Event.id == Attribute.event_id)
            .where(in_values(session, Attribute.id, wanted), attribute_condition(p, opts))
        ).scalars()
    )


def correlate(
    session: Session,
    principal: Principal,
    opts: ReadOptions,
    sources: Sequence[Source],
    options: Options | None = None,
    *,
    whole_event: int | None = None,
) -> Correlations:
    """Correlations of `sources` with attributes of other events, as `principal` may read
    them (both the source and the match must be readable). `whole_event`: the sources are
    every correlating attribute of that event (event_sources), so the event's own holders
    of a value are counted from them instead of being read again."""
    o = options or Options.from_settings()
    result = Correlations()
    if not sources:
        return result
    if session.get_bind().dialect.name == "postgresql":
        # Many short index probes: parallel workers cost more to start than they save.
        session.execute(sa.text("SET LOCAL max_parallel_workers_per_gather = 0"))
    excluded = exclusions(session)
    _exact(session, sources, excluded, o.cap, result, whole_event)
    if o.advanced:
        _networks(session, sources, excluded, o.cap, result)
        _ssdeep(session, sources, excluded, o.ssdeep_threshold, result)
    readable = _readable(
        session,
        principal,
        opts,
        {m.attribute_id for m in result.matches}
        | {m.source_id for m in result.matches}
        | {i for ids in result.over.values() for i in ids},
    )
    result.matches = [
        m for m in result.matches if m.attribute_id in readable and m.source_id in readable
    ]
    result.over = {
        v: kept for v, ids in result.over.items() if (kept := [i for i in ids if i in readable])
    }
    return result


def written_sources(event: Event, written: Iterable[tuple[Any, ...]]) -> list[Source]:
    """event_sources of an event just created, from the attribute rows its write kept
    (intel.events.Written): the same attributes, without reading them back."""
    if event.disable_correlation:
        return []
    return [
        Source(r[0], r[2], r[6], r[7], r[8], r[1])
        for r in written
        if not r[16] and not r[17] and r[6] not in NON_CORRELATING_TYPES
    ]


def for_event(
    session: Session,
    principal: Principal,
    opts: ReadOptions,
    event_id: int,
    options: Options | None = None,
    sources: Sequence[Source] | None = None,
) -> Correlations:
    """Correlations of every correlating attribute of the event; `sources` when the caller
    has them (written_sources)."""
    if sources is None:
        sources = event_sources(session, event_id)
    return correlate(session, principal, opts, sources, options, whole_event=event_id)
