"""The lifecycle score of one indicator: pure functions of its facts and a given time.

The shape is MISP's polynomial decaying model: score(t) = base * (1 - (t / lifetime) ^
(1 / decay_speed)), t the time since the indicator was last known to be live. Shieldwall
adds what MISP leaves out: false-positive sightings lower the score, and an expiration
sighting ends the indicator's life. docs/user-guide.md ("Indicator lifecycle") states the
rules below for users; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

SIGHTING = 0
FALSE_POSITIVE = 1
EXPIRATION = 2

DAY = 86400.0


@dataclass(frozen=True)
class Parameters:
    """One type's settings. decay_speed is MISP's delta: above 1 the score falls fast at
    first, below 1 it holds and falls near the end of the lifetime."""

    lifetime_days: float
    decay_speed: float
    threshold: float
    default_base_score: float
    false_positive_penalty: float


@dataclass(frozen=True)
class Mark:
    """A sighting as the score sees it: its type and its date."""

    type: int
    at: datetime


@dataclass(frozen=True)
class Score:
    score: float
    base_score: float
    decayed: bool  # score below the threshold (MISP's "decayed")
    expired: bool  # lifetime over, or an expiration sighting since the reference time
    reference: datetime  # the time the age counts from
    expires_at: datetime  # when the lifetime ends, or when an expiration sighting ended it
    false_positives: int  # false-positive sightings that lower the score


def observed(timestamp: datetime, last_seen: datetime | None) -> datetime:
    """When the indicator was last known live from the attribute alone: its last_seen when
    set (an analyst's statement about the indicator), else its timestamp."""
    return last_seen if last_seen is not None else timestamp


def compute(
    params: Parameters,
    base_score: float,
    seen: datetime,
    marks: Iterable[Mark],
    at: datetime,
) -> Score:
    """The score at time `at` of an indicator observed at `seen` with these sightings.

    - Sightings dated after `at` do not exist yet and are ignored.
    - Reference time: the later of `seen` and the newest sighting (type 0).
    - Expired: the lifetime has passed since the reference time, or an expiration sighting
      (type 2) is dated at or after the reference time. An expired indicator scores 0.
    - Otherwise score = base * (1 - (age / lifetime) ^ (1 / decay_speed)), the age counted
      from the reference time (never below 0), then multiplied by (1 - penalty) for each
      false-positive sighting (type 1) dated after the newest sighting (all of them when
      there is none): a later sighting of the indicator clears earlier false positives.
    - Decayed: score below the threshold.
    """
    lifetime = timedelta(days=params.lifetime_days)
    positive: datetime | None = None
    expiration: datetime | None = None
    negatives: list[datetime] = []
    for m in marks:
        if m.at > at:
            continue
        if m.type == SIGHTING:
            positive = m.at if positive is None or m.at > positive else positive
        elif m.type == EXPIRATION:
            expiration = m.at if expiration is None or m.at > expiration else expiration
        elif m.type == FALSE_POSITIVE:
            negatives.append(m.at)
    reference = seen if positive is None or seen >= positive else positive
    false_positives = sum(1 for n in negatives if positive is None or n > positive)
    expires_at = reference + lifetime
    ended = False
    if expiration is not None and expiration >= reference:
        expires_at, ended = expiration, True
    expired = ended or at >= reference + lifetime
    if expired:
        score = 0.0
    else:
        age = max(0.0, (at - reference).total_seconds() / DAY)
        score = base_score * (1.0 - (age / params.lifetime_days) ** (1.0 / params.decay_speed))
        score *= (1.0 - params.false_positive_penalty) ** false_positives
        score = max(0.0, score)
    return Score(
        score=score,
        base_score=base_score,
        decayed=score < params.threshold,
        expired=expired,
        reference=reference,
        expires_at=expires_at,
        false_positives=false_positives,
    )


def tag_base(name: str) -> str:
    """The part of a tag name that says what it rates, as MISP groups them: the namespace
    of `ns:predicate`, `ns:predicate` of `ns:predicate="value"`, the whole name otherwise."""
    namespace, sep, rest = name.partition(":")
    if not sep:
        return name
    predicate, eq, _ = rest.partition("=")
    return f"{namespace}:{predicate}" if eq else namespace


def base_score(
    attribute_tags: Iterable[tuple[str, float | None]],
    event_tags: Iterable[tuple[str, float | None]],
    default: float,
) -> float:
    """The score an indicator starts from: the mean, over tag groups (tag_base), of the mean
    numerical value of its tags with one (taxonomy tags such as admiralty-scale or
    confidence levels carry them); an attribute's tags replace its event's tags of the
    same group. No numerical tag: the type's default. Clamped to 0..100."""
    groups: dict[str, list[float]] = {}
    for name, value in event_tags:
        if value is not None:
            groups.setdefault(tag_base(name), []).append(float(value))
    own: dict[str, list[float]] = {}
    for name, value in attribute_tags:
        if value is not None:
            own.setdefault(tag_base(name), []).append(float(value))
    groups.update(own)
    if not groups:
        return float(default)
    means = [sum(v) / len(v) for v in groups.values()]
    return min(100.0, max(0.0, sum(means) / len(means)))
