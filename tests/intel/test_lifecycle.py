"""The indicator lifecycle over simulated time against the real database: the expiry pass
(what it marks, what it revives, dry runs, the audit entry), sightings keeping the mark
current, settings changes, the scheduled job, and the SQL expiry rule agreeing with the
pure score for random histories."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from shieldwall.audit.models import AuditEntry
from shieldwall.audit.service import Actor
from shieldwall.clock import set_clock
from shieldwall.context import system_ctx
from shieldwall.intel import sightings
from shieldwall.intel.errors import Forbidden, InvalidInput
from shieldwall.intel.models import Attribute, Event, Sighting
from shieldwall.intel.schemas import SightingCreate
from shieldwall.jobs.lifecycle import expiry_scheduler, run_expiry_job
from shieldwall.lifecycle import service as lifecycle
from shieldwall.lifecycle.score import Mark, compute, observed
from shieldwall.lifecycle.service import SettingChange

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACTOR = Actor(label="test")


class Clock:
    def __init__(self) -> None:
        self.now = START
        set_clock(lambda: self.now)

    def days(self, n: float) -> None:
        self.now = START + timedelta(days=n)


@pytest.fixture
def clock() -> Iterator[Clock]:
    c = Clock()
    yield c
    set_clock(None)


def _event(session: Any, org_id: int, attrs: list[tuple[str, str]], **kw: Any) -> list[int]:
    e = Event(info="lifecycle", date=date(2026, 3, 1), org_id=org_id, orgc_id=org_id, **kw)
    session.add(e)
    session.flush()
    rows = [
        Attribute(event_id=e.id, category="Network activity", type=t, value1=v, to_ids=True)
        for t, v in attrs
    ]
    session.add_all(rows)
    session.flush()
    return [a.id for a in rows]


def _expired(db: Any) -> set[int]:
    with db.reading() as s:
        return set(
            s.execute(sa.select(Attribute.id).where(Attribute.expired_at.is_not(None))).scalars()
        )


def _pass(db: Any, **kw: Any) -> lifecycle.ExpiryReport:
    with db.writing() as s:
        return lifecycle.run_expiry(s, ACTOR, **kw)


def test_expiry_pass_over_simulated_time(instance, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    db = instance.db
    with db.writing() as s:
        ip, url, domain, sha, other = _event(
            s,
            instance.host_org_id,
            [
                ("ip-dst", "192.0.2.1"),
                ("url", "https://evil.example/x"),
                ("domain", "evil.example"),
                ("sha256", "a" * 64),
                ("text", "something"),
            ],
        )
    expected = {44: set(), 46: {ip}, 91: {ip, url}, 181: {ip, url, domain}}
    expected |= {366: {ip, url, domain, other}, 731: {ip, url, domain, other, sha}}
    for d, marked in expected.items():
        clock.days(d)
        _pass(db)
        assert _expired(db) == marked, d
    # Expired indicators stay stored and readable.
    with db.reading() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Attribute)).scalar_one() == 5


def test_dry_run_counts_and_changes_nothing(instance, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    with instance.db.writing() as s:
        _event(s, instance.host_org_id, [("ip-src", "198.51.100.1"), ("ip-src", "198.51.100.2")])
    clock.days(50)
    with instance.db.reading() as s:
        report = lifecycle.run_expiry(s, ACTOR, dry_run=True)
    assert (report.expired, report.revived, report.dry_run) == (2, 0, True)
    assert _expired(instance.db) == set()
    seen: list[tuple[int, int]] = []
    with instance.db.writing() as s:
        report = lifecycle.run_expiry(
            s, ACTOR, chunk=1, on_progress=lambda d, t: seen.append((d, t))
        )
    assert report.expired == 2 and len(_expired(instance.db)) == 2
    assert seen[-1][0] == seen[-1][1] and len(seen) == 2  # one step per id chunk
    # A second pass finds nothing new and writes no audit entry.
    with instance.db.reading() as s:
        before = s.execute(sa.select(sa.func.count()).select_from(AuditEntry)).scalar_one()
    assert _pass(instance.db).expired == 0
    with instance.db.reading() as s:
        after = s.execute(sa.select(sa.func.count()).select_from(AuditEntry)).scalar_one()
        last = (
            s.execute(
                sa.select(AuditEntry).where(AuditEntry.action == "expire").order_by(AuditEntry.id)
            )
            .scalars()
            .all()
        )
    assert after == before and len(last) == 1 and last[0].change["expired"] == 2


def test_deleted_attributes_are_left_alone(instance, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    with instance.db.writing() as s:
        (a,) = _event(s, instance.host_org_id, [("ip-dst", "192.0.2.9")])
        s.execute(sa.update(Attribute).where(Attribute.id == a).values(deleted=True))
    clock.days(100)
    assert _pass(instance.db).expired == 0


def _sight(instance: Any, attribute_id: int, kind: int, when: datetime | None = None) -> None:
    ctx = system_ctx(instance.host_org_id)
    with instance.db.writing() as s:
        sightings.add_sightings(
            s, ctx, SightingCreate(attribute=str(attribute_id), type=kind, date_sighting=when)
        )


def test_sightings_revive_and_expire_at_once(instance, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    with instance.db.writing() as s:
        ip, domain = _event(
            s, instance.host_org_id, [("ip-dst", "192.0.2.7"), ("domain", "a.example")]
        )
    clock.days(60)
    _pass(instance.db)
    assert _expired(instance.db) == {ip}
    # A sighting dated inside the old lifetime does not bring it back...
    _sight(instance, ip, 0, START + timedelta(days=10))
    assert _expired(instance.db) == {ip}
    # ...a current one does, and the clock restarts from it.
    _sight(instance, ip, 0)
    assert _expired(instance.db) == set()
    clock.days(60 + 44)
    assert _pass(instance.db).expired == 0
    clock.days(60 + 45)
    assert _pass(instance.db).expired == 1
    # An expiration sighting expires at once, without waiting for the pass.
    _sight(instance, domain, 2)
    assert _expired(instance.db) == {ip, domain}
    # A false positive lowers the score but does not expire.
    clock.days(110)
    _sight(instance, domain, 0)
    _sight(instance, domain, 1)
    assert _expired(instance.db) == {ip}
    # Deleting the sighting that kept it live lets the pass expire it again.
    with instance.db.reading() as s:
        positive = s.execute(
            sa.select(Sighting.id).where(Sighting.attribute_id == domain, Sighting.type == 0)
        ).scalar_one()
    with instance.db.writing() as s:
        sightings.delete_sighting(s, system_ctx(instance.host_org_id), positive)
    assert domain in _expired(instance.db)


def test_settings_change_is_one_audited_transaction(instance, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    ctx = system_ctx(instance.host_org_id)
    with instance.db.writing() as s:
        (ip,) = _event(s, instance.host_org_id, [("ip-dst", "192.0.2.3")])
    clock.days(50)
    _pass(instance.db)
    assert _expired(instance.db) == {ip}
    # One bad entry: nothing lands.
    with pytest.raises(InvalidInput) as bad, instance.db.writing() as s:
        lifecycle.change_settings(
            s, ctx, {"ip-dst": SettingChange(lifetime_days=90), "no-such-type": SettingChange()}
        )
    assert bad.value.field == "attribute_type"
    with instance.db.reading() as s:
        assert lifecycle.get_setting(s, "ip-dst")["lifetime_days"] == 45
    with instance.db.writing() as s:
        out = lifecycle.change_settings(
            s,
            ctx,
            {"ip-dst": SettingChange(lifetime_days=90), "default": SettingChange(threshold=10)},
        )
    assert [o["source"] for o in out] == ["site", "site"]
    assert out[0]["decay_speed"] == 2.0  # kept from the built-in setting
    with instance.db.reading() as s:
        entry = s.execute(
            sa.select(AuditEntry).where(AuditEntry.model == "LifecycleSetting")
        ).scalar_one()
        assert entry.change["ip-dst"]["was"]["lifetime_days"] == 45
        assert entry.change["ip-dst"]["now"]["lifetime_days"] == 90
        assert lifecycle.get_setting(s, "text")["threshold"] == 10  # from the new default
        assert lifecycle.get_setting(s, "text")["source"] == "default"
    # A longer lifetime brings the indicator back at the next pass.
    report = _pass(instance.db)
    assert (report.expired, report.revived) == (0, 1) and _expired(instance.db) == set()
    with instance.db.writing() as s:
        lifecycle.change_settings(s, ctx, {"ip-dst": None})
        assert lifecycle.get_setting(s, "ip-dst")["source"] == "built-in"
    assert _pass(instance.db).expired == 1


def test_only_site_admins_change_settings(instance, make_user) -> None:  # type: ignore[no-untyped-def]
    from shieldwall.auth import service as auth
    from shieldwall.context import Ctx

    member = make_user("ORG-ADMINS", "org-admin")
    with instance.db.writing() as s:
        user = auth.get_user(s, system_ctx(instance.host_org_id), member.email)
        ctx = Ctx(auth.principal_for(user), ACTOR)
        with pytest.raises(Forbidden):
            lifecycle.change_settings(s, ctx, {"ip-dst": SettingChange(lifetime_days=1)})


def test_scheduled_job_marks_expired_indicators(instance, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    with instance.db.writing() as s:
        (ip,) = _event(s, instance.host_org_id, [("ip-dst", "192.0.2.50")])
    clock.days(46)
    assert run_expiry_job(instance.db) is not None

    assert _expired(instance.db) == {ip}
    clock.days(46 + 1)
    _sight(instance, ip, 0)
    assert _expired(instance.db) == set()
    clock.days(46 + 50)

    async def scenario() -> None:
        stop = threading.Event()
        task = asyncio.create_task(expiry_scheduler(interval=0.01, stop=stop))
        for _ in range(2000):
            await asyncio.sleep(0.01)
            if _expired(instance.db) == {ip}:
                break
        stop.set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert _expired(instance.db) == {ip}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_expiry_rule_agrees_with_the_score(instance, clock: Clock, seed: int) -> None:  # type: ignore[no-untyped-def]
    """Random attributes (timestamps, last_seen) and sightings of every type: at several
    times, the attributes the SQL rule calls expired are exactly those compute() does."""
    rng = random.Random(seed)
    types = ["ip-dst", "domain", "url", "text", "md5"]
    with instance.db.writing() as s:
        ids = _event(s, instance.host_org_id, [(rng.choice(types), f"v{i}") for i in range(60)])
        for a in s.execute(sa.select(Attribute).where(Attribute.id.in_(ids))).scalars():
            a.timestamp = START + timedelta(days=rng.uniform(-400, 0))
            if rng.random() < 0.3:
                a.last_seen = a.timestamp - timedelta(days=rng.uniform(0, 100))
            for _ in range(rng.randint(0, 4)):
                s.add(
                    Sighting(
                        attribute_id=a.id,
                        event_id=a.event_id,
                        org_id=instance.host_org_id,
                        type=rng.choice([0, 0, 1, 2]),
                        date_sighting=START + timedelta(days=rng.uniform(-400, 400)),
                    )
                )
    with instance.db.reading() as s:
        settings = lifecycle.load(s)
        attrs = list(s.execute(sa.select(Attribute).where(Attribute.id.in_(ids))).scalars())
        marks: dict[int, list[Mark]] = {}
        for sg in s.execute(sa.select(Sighting)).scalars():
            marks.setdefault(sg.attribute_id, []).append(Mark(sg.type, sg.date_sighting))
        for offset in (0, 30, 100, 200, 400):
            when = START + timedelta(days=offset)
            by_sql = set(
                s.execute(
                    sa.select(Attribute.id).where(
                        Attribute.id.in_(ids), lifecycle.expired_condition(settings, when)
                    )
                ).scalars()
            )
            by_score = {
                a.id
                for a in attrs
                if compute(
                    settings.for_type(a.type),
                    80,
                    observed(a.timestamp, a.last_seen),
                    marks.get(a.id, []),
                    when,
                ).expired
            }
            assert by_sql == by_score, offset
            assert 0 < len(by_score) < len(ids)
