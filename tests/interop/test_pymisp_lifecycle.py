"""The real PyMISP against a live Shieldwall: the decaying-model parameters of restSearch
and to_ids exports without expired indicators (includeExpired brings them back)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pymisp import MISPDecayingModel, MISPEvent, PyMISP

from shieldwall.clock import set_clock

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def days() -> Iterator[object]:
    def move(n: float) -> None:
        when = START + timedelta(days=n)
        set_clock(lambda: when)

    move(0)
    yield move
    set_clock(None)


def _add(misp: PyMISP) -> MISPEvent:
    e = MISPEvent()
    e.info = "lifecycle interop"
    e.distribution = 1
    e.add_attribute("ip-dst", "192.0.2.77", to_ids=True)
    e.add_attribute("sha256", "c" * 64, to_ids=True)
    created = misp.add_event(e, pythonify=True)
    assert isinstance(created, MISPEvent), created
    return created


def test_decay_score_through_pymisp(misp: PyMISP, days) -> None:  # type: ignore[no-untyped-def]
    _add(misp)
    days(20)
    attrs = misp.search(controller="attributes", include_decay_score=True, pythonify=True)
    scores = {a.value: a.decay_score[0] for a in attrs}
    assert scores["192.0.2.77"]["decayed"] and not scores["c" * 64]["decayed"]
    assert scores["192.0.2.77"]["DecayingModel"]["name"] == "Shieldwall lifecycle"
    kept = misp.search(controller="attributes", exclude_decayed=True, pythonify=True)
    assert [a.value for a in kept] == ["c" * 64]
    # MISP's score parameter lowers the threshold; modelOverrides reach the model.
    low = misp.search(controller="attributes", exclude_decayed=True, score=1, pythonify=True)
    assert len(low) == 2
    longer = misp.search(
        controller="attributes",
        exclude_decayed=True,
        modelOverrides={"lifetime": 3650},
        pythonify=True,
    )
    assert len(longer) == 2
    refused = misp.search(controller="attributes", include_decay_score=True, decayingModel=9)
    assert isinstance(refused, dict) and "decayingModel" in str(refused)


def test_expired_indicators_leave_to_ids_exports(misp: PyMISP, days) -> None:  # type: ignore[no-untyped-def]
    event = _add(misp)
    days(50)
    text = misp.search(controller="attributes", to_ids=1, return_format="text")
    assert sorted(text.split()) == ["192.0.2.77", "c" * 64]  # not marked yet
    report = misp.direct_call("api/v1/lifecycle/expire", {})
    assert report == {"expired": 1, "revived": 0, "dry_run": False}
    text = misp.search(controller="attributes", to_ids=1, return_format="text")
    assert text.split() == ["c" * 64]
    both = misp.search(controller="attributes", to_ids=1, return_format="text", includeExpired=1)
    assert sorted(both.split()) == ["192.0.2.77", "c" * 64]
    # Stored and readable: a plain search and the event still hold it.
    found = misp.search(controller="attributes", value="192.0.2.77", pythonify=True)
    assert [a.value for a in found] == ["192.0.2.77"]
    # A new sighting revives it.
    misp.add_sighting({"value": "192.0.2.77"})
    text = misp.search(controller="attributes", to_ids=1, return_format="text")
    assert sorted(text.split()) == ["192.0.2.77", "c" * 64]
    # An expiration sighting expires it at once.
    misp.add_sighting({"value": "192.0.2.77", "type": "2"})
    text = misp.search(controller="attributes", to_ids=1, return_format="text")
    assert text.split() == ["c" * 64]
    assert event.id


def test_bad_decay_parameters_are_refused_by_name(misp: PyMISP) -> None:
    for kwargs, field in [
        (
            {"include_decay_score": True, "modelOverrides": {"lifetime": -1}},
            "modelOverrides.lifetime",
        ),
        ({"exclude_decayed": True, "score": "high"}, "score"),
        ({"score": 40}, "score"),  # a score without a decay score asked for
    ]:
        answer = misp.search(controller="attributes", **kwargs)
        assert isinstance(answer, dict), answer
        status, body = answer["errors"]  # PyMISP's shape of an error answer
        assert status == 422 and field in body["errors"], (kwargs, answer)


def test_decaying_model_paths(misp: PyMISP, misp_as: Callable[[str, str], PyMISP]) -> None:
    models = misp.decaying_models(pythonify=True)
    assert len(models) == 1
    model = models[0]
    assert isinstance(model, MISPDecayingModel)
    assert str(model.id) == "1" and model.enabled and model.formula == "Polynomial"
    assert {"lifetime", "decay_speed", "threshold"} <= set(model.parameters)
    assert "ip-dst" in model.attribute_types
    viewed = misp.direct_call("decayingModel/view/1")
    assert viewed["DecayingModel"]["uuid"] == model.uuid
    missing = misp.direct_call("decayingModel/view/7")
    assert missing["errors"][0] == 404
    assert misp.enable_decaying_model(1)["success"] is True
    refused = misp.disable_decaying_model(1)
    assert refused["errors"][0] == 403 and "cannot be disabled" in str(refused)
    assert misp.update_decaying_models()["success"] is True
    user = misp_as("LIFECYCLE-ORG", "user")
    assert user.update_decaying_models()["errors"][0] == 403
    assert len(user.decaying_models()) == 1
