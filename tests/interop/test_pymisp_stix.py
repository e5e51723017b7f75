"""The real PyMISP against a live Shieldwall: restSearch with return_format='stix2' and
upload_stix, across organisations."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from pymisp import MISPEvent, PyMISP

from tests.exchange.stix_helpers import assert_valid, oasis_bundle
from tests.interop.conftest import add_event


def test_search_stix2_follows_the_access_rules(misp_as: Callable[[str, str], PyMISP]) -> None:
    a = misp_as("CERT-A", "Org Admin")
    b = misp_as("CERT-B", "User")
    shared = add_event(
        a, "community wave", 1, ("domain", "wave.example"), ("ip-dst", "203.0.113.7")
    )
    add_event(a, "A only", 0, ("domain", "a-only.example"))
    for controller in ("events", "attributes"):
        bundle = b.search(controller=controller, return_format="stix2")
        assert isinstance(bundle, dict) and bundle["type"] == "bundle", bundle
        assert_valid(bundle)
        text = json.dumps(bundle)
        assert "wave.example" in text and "a-only.example" not in text
        assert [o["id"] for o in bundle["objects"] if o["type"] == "grouping"] == [
            f"grouping--{shared.uuid}"
        ]
    own = a.search(controller="events", return_format="stix2")
    assert "a-only.example" in json.dumps(own)


def test_upload_stix(misp_as: Callable[[str, str], PyMISP], tmp_path: Path) -> None:
    a = misp_as("CERT-A", "Org Admin")
    path = tmp_path / "oasis.json"
    path.write_text(json.dumps(oasis_bundle()))
    response = a.upload_stix(path, version="2")
    assert response.status_code == 200, response.text
    event = a.get_event(response.json()["Event"]["id"], pythonify=True)
    assert isinstance(event, MISPEvent)
    assert {x.value for x in event.attributes} == {
        "4bac27393bdd9777ce02453256c5577cd02275510b2227f473d03f533924f877",
        "c2.poison-ivy.example",
    }
    assert [o.name for o in event.objects] == ["domain-ip"]
    broken = oasis_bundle()
    broken["objects"][3]["pattern"] = "[domain-name:value = "
    response = a.upload_stix(data=json.dumps(broken), version="2")
    assert response.status_code == 422
    assert "indicator--9e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f" in response.json()["message"]
    b = misp_as("CERT-B", "User")
    empty = b.search(controller="events", return_format="stix2")
    assert_valid(empty)
    assert "objects" not in empty
