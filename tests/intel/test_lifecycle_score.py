"""The lifecycle score as a pure function of an indicator's facts and a moving time: decay
shape, threshold, sightings resetting the clock, false positives, expiration sightings,
base scores from tags, and the built-in settings."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shieldwall.intel.types import type_table
from shieldwall.lifecycle.score import (
    EXPIRATION,
    FALSE_POSITIVE,
    SIGHTING,
    Mark,
    Parameters,
    base_score,
    compute,
    observed,
    tag_base,
)
from shieldwall.lifecycle.service import BUILT_IN, BUILT_IN_DEFAULT

T0 = datetime(2026, 1, 1, tzinfo=UTC)
P = Parameters(
    lifetime_days=100, decay_speed=2.0, threshold=30, default_base_score=80,
    false_positive_penalty=0.5,
)  # fmt: skip


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def at(n: float, marks: list[Mark] | None = None, params: Parameters = P, base: float = 80.0):  # type: ignore[no-untyped-def]
    return compute(params, base, T0, marks or [], day(n))


def test_fresh_indicator_scores_its_base_and_decays_to_zero_at_its_lifetime() -> None:
    assert at(0).score == 80 and not at(0).expired and not at(0).decayed
    series = [at(n).score for n in range(0, 101, 5)]
    assert all(a > b for a, b in itertools.pairwise(series))  # strictly falling
    assert at(99.99).score > 0 and not at(99.99).expired
    for n in (100, 101, 500):
        assert at(n).score == 0 and at(n).expired and at(n).decayed
    assert at(0).expires_at == day(100)


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5, 0.9])
@pytest.mark.parametrize("speed", [0.5, 1.0, 3.0])
def test_polynomial_shape(fraction: float, speed: float) -> None:
    """MISP's formula: base * (1 - (t / lifetime) ^ (1 / decay_speed))."""
    params = Parameters(100, speed, 30, 80, 0.5)
    got = at(100 * fraction, params=params).score
    assert got == pytest.approx(80 * (1 - fraction ** (1 / speed)))


def test_decay_speed_above_one_falls_fast_first_and_below_one_holds() -> None:
    fast = Parameters(100, 3.0, 30, 80, 0.5)
    slow = Parameters(100, 0.3, 30, 80, 0.5)
    assert at(10, params=fast).score < 50 < at(10, params=slow).score
    # Halfway the slow one is still near its base, the fast one long past half of it.
    assert at(50, params=slow).score > 70 and at(50, params=fast).score < 20


def test_threshold_marks_decayed_where_the_curve_crosses_it() -> None:
    # base * (1 - x^(1/d)) = threshold  =>  x = (1 - threshold/base)^d
    crossing = 100 * (1 - 30 / 80) ** 2.0
    assert not at(crossing - 0.01).decayed and at(crossing - 0.01).score > 30
    assert at(crossing + 0.01).decayed and at(crossing + 0.01).score < 30
    assert not at(crossing + 0.01).expired  # decayed is not expired


def test_a_sighting_resets_the_clock_and_future_ones_do_not_count_yet() -> None:
    marks = [Mark(SIGHTING, day(60))]
    assert at(60, marks).score == 80 and at(60, marks).reference == day(60)
    assert at(120, marks).score == pytest.approx(at(60).score)  # 60 days after the sighting
    assert not at(150, marks).expired and at(160, marks).expired
    assert at(150, marks).expires_at == day(160)
    # Before its date the sighting does not exist: the clock runs from T0.
    assert at(59, marks).reference == T0 and at(59, marks).score == at(59).score


def test_a_sighting_older_than_the_attribute_changes_nothing() -> None:
    marks = [Mark(SIGHTING, day(-30))]
    assert at(40, marks) == at(40)


def test_last_seen_stands_for_the_attribute_when_set() -> None:
    assert observed(T0, None) == T0
    assert observed(T0, day(-50)) == day(-50)
    old = compute(P, 80, observed(T0, day(-50)), [], day(10))
    assert old.score == pytest.approx(at(60).score)


def test_each_false_positive_takes_its_penalty() -> None:
    one = [Mark(FALSE_POSITIVE, day(5))]
    two = [*one, Mark(FALSE_POSITIVE, day(6))]
    assert at(10, one).score == pytest.approx(at(10).score * 0.5)
    assert at(10, two).score == pytest.approx(at(10).score * 0.25)
    assert at(10, two).false_positives == 2
    assert at(10, two).decayed and not at(10).decayed
    # A false positive does not shorten the lifetime.
    assert not at(99, two).expired and at(99, two).expires_at == day(100)
    harsh = Parameters(100, 2.0, 30, 80, 1.0)
    assert at(6, one, params=harsh).score == 0 and not at(6, one, params=harsh).expired


def test_a_later_sighting_clears_earlier_false_positives() -> None:
    marks = [Mark(FALSE_POSITIVE, day(5)), Mark(SIGHTING, day(8)), Mark(FALSE_POSITIVE, day(9))]
    got = at(10, marks)
    assert got.false_positives == 1
    assert got.score == pytest.approx(compute(P, 80, day(8), [], day(10)).score * 0.5)


def test_an_expiration_sighting_ends_the_indicator_until_it_is_sighted_again() -> None:
    marks = [Mark(EXPIRATION, day(3))]
    assert not at(2, marks).expired
    assert at(3, marks).expired and at(3, marks).score == 0 and at(3, marks).expires_at == day(3)
    revived = [*marks, Mark(SIGHTING, day(7))]
    assert at(5, revived).expired
    assert not at(7, revived).expired and at(7, revived).score == 80
    # An expiration older than the reference time is history.
    assert not compute(P, 80, day(10), marks, day(11)).expired


@given(
    st.lists(
        st.tuples(st.sampled_from([SIGHTING, FALSE_POSITIVE, EXPIRATION]), st.integers(0, 200)),
        max_size=8,
    ),
    st.integers(0, 300),
)
def test_score_stays_within_bounds(raw: list[tuple[int, int]], now_day: int) -> None:
    got = at(now_day, [Mark(t, day(d)) for t, d in raw])
    assert 0 <= got.score <= 80
    assert got.expired == (got.expires_at <= day(now_day))
    assert got.decayed == (got.score < 30)
    if got.expired:
        assert got.score == 0


def test_tag_groups_follow_misp() -> None:
    assert tag_base("admiralty-scale:source-reliability") == "admiralty-scale"
    assert (
        tag_base('admiralty-scale:source-reliability="a"') == "admiralty-scale:source-reliability"
    )
    assert tag_base("tlp:white") == "tlp"
    assert tag_base("plain") == "plain"


def test_base_score_from_numerical_tags() -> None:
    assert base_score([], [], 80) == 80
    assert base_score([("plain", None)], [("other", None)], 55) == 55
    event = [('confidence:level="high"', 90.0)]
    assert base_score([], event, 80) == 90
    # The attribute's tag of the same group replaces the event's.
    assert base_score([('confidence:level="low"', 20.0)], event, 80) == 20
    # Groups are averaged.
    mixed = [('confidence:level="low"', 20.0), ('reliability:source="a"', 100.0)]
    assert base_score(mixed, event, 80) == 60
    assert base_score([("x:y", 400.0)], [], 80) == 100


def test_built_in_settings_name_real_types_and_keep_their_order() -> None:
    known = set(type_table().types)
    assert set(BUILT_IN) <= known
    life = {t: p.lifetime_days for t, p in BUILT_IN.items()}
    assert life["ip-dst"] < life["url"] < life["domain"] < BUILT_IN_DEFAULT.lifetime_days
    assert BUILT_IN_DEFAULT.lifetime_days < life["sha256"]
    assert 30 <= life["ip-src"] <= 60
