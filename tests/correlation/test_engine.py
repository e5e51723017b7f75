"""The correlation engine against a brute-force reference over generated data: exact values
(value1 and value2, MISP's type rules), CIDR containment (IPv4 and IPv6), ssdeep similarity,
exclusions (exact and `%`), the over-correlation cap, and the disable flags. The reference
compares every attribute with every other one in plain Python."""

from __future__ import annotations

import random
from typing import Any

import ppdeep
import pytest
import sqlalchemy as sa

from shieldwall.context import system_ctx
from shieldwall.correlation import engine
from shieldwall.correlation.index import rebuild
from shieldwall.correlation.models import CorrelationExclusion, CorrelationNetwork
from shieldwall.correlation.rules import (
    NETWORK_TYPES,
    Exclusions,
    correlating_values,
    parse_network,
)
from shieldwall.intel import events as ev
from shieldwall.intel.models import Attribute, Event
from shieldwall.intel.schemas import AttributeIn, AttributeUpdate, EventIn

IPV4 = [f"10.0.{i}.{j}" for i in (0, 1, 2) for j in (1, 5, 130, 200)] + ["192.168.0.2"]
CIDR4 = ["10.0.1.0/24", "10.0.0.0/16", "10.0.1.128/25", "192.168.0.0/30", "10.0.1.5/32"]
IPV6 = ["2001:db8::1", "2001:db8:0:1::5", "2001:db9::7"]
CIDR6 = ["2001:db8::/32", "2001:db8:0:1::/64", "2001:db8:0:1::/127"]
DOMAINS = ["a.example", "b.example", "c.example", "shared.example"]
HASHES = ["d41d8cd98f00b204e9800998ecf8427e", "0cc175b9c0f1b6a831c399e269772661"]
TEXTS = ["80", "over", "alpha", "beta"]


def _ssdeep_family(rng: random.Random, n: int) -> list[str]:
    """Hashes of related buffers (a base with small edits) and an unrelated one."""
    base = bytes(rng.getrandbits(8) for _ in range(6000))
    out = []
    for _ in range(n):
        data = bytearray(base)
        for _ in range(rng.randint(0, 40)):
            data[rng.randrange(len(data))] = rng.getrandbits(8)
        out.append(ppdeep.hash(bytes(data)))
    out.append(ppdeep.hash(bytes(rng.getrandbits(8) for _ in range(6000))))
    return out


def _attribute(rng: random.Random, ssdeeps: list[str]) -> dict[str, Any]:
    kind = rng.choice(
        ["ip", "cidr", "ip6", "cidr6", "ipport", "domainip", "domain", "md5", "text",
         "comment", "ssdeep", "port"]
    )  # fmt: skip
    value: str
    match kind:
        case "ip":
            t, value = rng.choice(["ip-dst", "ip-src"]), rng.choice(IPV4)
        case "cidr":
            t, value = "ip-dst", rng.choice(CIDR4)
        case "ip6":
            t, value = "ip-src", rng.choice(IPV6)
        case "cidr6":
            t, value = "ip-dst", rng.choice(CIDR6)
        case "ipport":
            t, value = "ip-dst|port", f"{rng.choice(IPV4)}|{rng.choice(['80', '443'])}"
        case "domainip":
            t, value = "domain|ip", f"{rng.choice(DOMAINS)}|{rng.choice(IPV4)}"
        case "domain":
            t, value = "domain", rng.choice(DOMAINS)
        case "md5":
            t, value = "md5", rng.choice(HASHES)
        case "text":
            t, value = "text", rng.choice(TEXTS)
        case "comment":
            t, value = "comment", rng.choice(TEXTS)
        case "ssdeep":
            t, value = "ssdeep", rng.choice(ssdeeps)
        case _:
            t, value = "port", rng.choice(["80", "443"])
    return {
        "type": t,
        "value": value,
        "disable_correlation": rng.random() < 0.08,
        "deleted": rng.random() < 0.05,
    }


def _populate(instance: Any, seed: int, n_events: int = 14) -> None:
    rng = random.Random(seed)
    ssdeeps = _ssdeep_family(rng, 4)
    ctx = system_ctx(instance.host_org_id)
    with instance.db.writing() as s:
        for i in range(n_events):
            attrs = [_attribute(rng, ssdeeps) for _ in range(rng.randint(3, 14))]
            ev.create_event(
                s,
                ctx,
                EventIn.model_validate(
                    {
                        "info": f"event {i}",
                        "disable_correlation": rng.random() < 0.1,
                        "Attribute": attrs,
                    }
                ),
                skip_duplicates=True,
            )


def _rows(instance: Any) -> list[dict[str, Any]]:
    with instance.db.reading() as s:
        rows = s.execute(
            sa.select(
                Attribute.id,
                Attribute.event_id,
                Attribute.type,
                Attribute.value1,
                Attribute.value2,
                Attribute.deleted,
                Attribute.disable_correlation,
                Event.disable_correlation.label("event_disabled"),
            ).join(Event, Event.id == Attribute.event_id)
        ).all()
    return [r._asdict() for r in rows]


def _reference(
    rows: list[dict[str, Any]], event_id: int, opts: engine.Options, patterns: list[str]
) -> tuple[set[tuple[int, int, str]], set[str]]:
    """Every (source, match, kind) of the event's attributes, and the over-correlating
    values, by comparing each attribute with each other one."""
    excluded = Exclusions(patterns)

    def live(r: dict[str, Any]) -> bool:
        return not (r["deleted"] or r["disable_correlation"] or r["event_disabled"])

    def values(r: dict[str, Any]) -> list[str]:
        return correlating_values(r["type"], r["value1"], r["value2"])

    def holders(v: str) -> list[dict[str, Any]]:
        return [b for b in rows if live(b) and v in values(b)]

    out: set[tuple[int, int, str]] = set()
    over: set[str] = set()
    sources = [r for r in rows if r["event_id"] == event_id and live(r)]
    for s in sources:
        for v in values(s):
            if excluded.excluded(v):
                continue
            if len(holders(v)) > opts.cap:
                over.add(v)
                continue
            out |= {(s["id"], b["id"], "exact") for b in holders(v) if b["event_id"] != event_id}
        if not opts.advanced:
            continue
        # A value too common to link exactly takes no part in CIDR correlation either.
        if (
            s["type"] in NETWORK_TYPES
            and not excluded.excluded(s["value1"])
            and len(holders(s["value1"])) <= opts.cap
        ):
            net = parse_network(s["value1"])
            assert net is not None
            if net.hi is not None:
                inside = [
                    b
                    for b in rows
                    if b["id"] != s["id"]
                    and b["type"] in NETWORK_TYPES
                    and net.contains(parse_network(b["value1"]))  # type: ignore[arg-type]
                ]
                if len(inside) > opts.cap:
                    over.add(s["value1"])
                    continue
            for b in rows:
                if (
                    not live(b)
                    or b["type"] not in NETWORK_TYPES
                    or b["event_id"] == event_id
                    or b["value1"] == s["value1"]
                    or excluded.excluded(b["value1"])
                ):
                    continue
                other = parse_network(b["value1"])
                assert other is not None
                if net.contains(other) or other.contains(net):
                    out.add((s["id"], b["id"], "cidr"))
        if s["type"] == "ssdeep" and not excluded.excluded(s["value1"]):
            for b in rows:
                if (
                    live(b)
                    and b["type"] == "ssdeep"
                    and b["event_id"] != event_id
                    and b["value1"] != s["value1"]
                    and not excluded.excluded(b["value1"])
                    and ppdeep.compare(s["value1"], b["value1"]) >= opts.ssdeep_threshold
                ):
                    out.add((s["id"], b["id"], "ssdeep"))
    return out, over


def _engine(
    instance: Any, event_id: int, opts: engine.Options
) -> tuple[set[tuple[int, int, str]], set[str]]:
    ctx = system_ctx(instance.host_org_id)
    with instance.db.reading() as s:
        got = engine.for_event(s, ctx.principal, ctx.opts, event_id, opts)
    return {(m.source_id, m.attribute_id, m.kind) for m in got.matches}, set(got.over)


def _event_ids(instance: Any) -> list[int]:
    with instance.db.reading() as s:
        return list(s.execute(sa.select(Event.id).order_by(Event.id)).scalars())


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("cap", [100, 3])
def test_engine_matches_brute_force(instance: Any, seed: int, cap: int) -> None:
    _populate(instance, seed)
    rows = _rows(instance)
    opts = engine.Options(cap=cap, ssdeep_threshold=40, advanced=True)
    kinds: set[str] = set()
    for event_id in _event_ids(instance):
        expected, expected_over = _reference(rows, event_id, opts, [])
        got, over = _engine(instance, event_id, opts)
        assert got == expected, event_id
        assert over == expected_over, event_id
        kinds |= {k for _, _, k in got}
    if cap == 100:
        # The generated data exercises every kind of correlation.
        assert kinds == {"exact", "cidr", "ssdeep"}


def test_exclusions_and_plain_correlation(instance: Any) -> None:
    _populate(instance, 7)
    patterns = ["a.example", "10.0.1.%", "%::/32"]
    with instance.db.writing() as s:
        s.add_all(CorrelationExclusion(value=p) for p in patterns)
    rows = _rows(instance)
    for advanced in (True, False):
        opts = engine.Options(cap=100, ssdeep_threshold=40, advanced=advanced)
        for event_id in _event_ids(instance):
            expected, expected_over = _reference(rows, event_id, opts, patterns)
            got, over = _engine(instance, event_id, opts)
            assert got == expected, (advanced, event_id)
            assert over == expected_over
            assert not any(v.startswith("10.0.1.") for v in over)


def test_index_follows_edits_and_deletes(instance: Any) -> None:
    """An IP attribute edited into another network, or hard-deleted, leaves the index; a
    rebuild gives the same index as the writes kept."""
    ctx = system_ctx(instance.host_org_id)
    with instance.db.writing() as s:
        a = ev.create_event(
            s, ctx, EventIn(info="a", attributes=[AttributeIn(type="ip-dst", value="10.9.0.0/16")])
        )
        b = ev.create_event(
            s, ctx, EventIn(info="b", attributes=[AttributeIn(type="ip-src", value="10.9.3.4")])
        )
        a_id, b_id = a.id, b.id
    opts = engine.Options(cap=100, ssdeep_threshold=40, advanced=True)
    got, _ = _engine(instance, a_id, opts)
    assert [k for _, _, k in got] == ["cidr"]
    with instance.db.writing() as s:
        attr_id = s.execute(sa.select(Attribute.id).where(Attribute.event_id == b_id)).scalar_one()
        ev.update_attribute(s, ctx, attr_id, AttributeUpdate(value="10.10.3.4"))
    assert _engine(instance, a_id, opts)[0] == set()
    with instance.db.writing() as s:
        ev.update_attribute(s, ctx, attr_id, AttributeUpdate(value="10.9.200.1"))
    assert len(_engine(instance, a_id, opts)[0]) == 1

    def index() -> list[tuple[Any, ...]]:
        with instance.db.reading() as s:
            return [
                tuple(r)
                for r in s.execute(
                    sa.select(CorrelationNetwork.__table__).order_by(
                        CorrelationNetwork.attribute_id
                    )
                )
            ]

    kept = index()
    with instance.db.writing() as s:
        counts = rebuild(s)
    assert counts["networks"] == 2
    assert index() == kept
    with instance.db.writing() as s:
        ev.delete_attribute(s, ctx, attr_id, hard=True)
    assert len(index()) == 1
    assert _engine(instance, a_id, opts)[0] == set()
