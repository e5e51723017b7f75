"""STIX 2.1 conversion without a database: the direct path for plain attributes writes what
misp-stix writes, exported bundles pass stix2-validator, third-party bundles convert to
MISP events, and bad bundles are refused naming the object and the problem."""

from __future__ import annotations

import copy
import json
import random
import uuid
from typing import Any

import pytest

from shieldwall.exchange.stix import StixError, bundle_events, bundle_stream, event_objects
from shieldwall.exchange.stix_fast import _NAMESPACE, FAST_TYPES, _v5, eligible
from shieldwall.intel.errors import InvalidInput
from tests.exchange.stix_helpers import (
    TLP2_GREEN,
    assert_valid,
    attack_bundle,
    oasis_bundle,
)

ORGC = {"id": "2", "name": "CERT Example", "uuid": "10d254ef-8a47-4d4a-8442-74fd9ccc4372"}

_VALUES: dict[str, tuple[str, list[str]]] = {
    "ip-src": ("Network activity", ["10.0.0.1", "2001:db8::1", "192.0.2.0/24", "2001:db8::/32"]),
    "ip-dst": ("Network activity", ["203.0.113.17", "198.51.100.0/25"]),
    "domain": ("Network activity", ["a.example", "x-y.a_b.example", "o'brien.example"]),
    "hostname": ("Network activity", ["www.h.example"]),
    "url": ("Network activity", ["http://x.example/a'b\\c", "https://e.example/p?q=1"]),
    "link": ("External analysis", ["https://ref.example/r"]),
    "uri": ("Network activity", ["/path/x"]),
    "md5": ("Payload delivery", ["d41d8cd98f00b204e9800998ecf8427e"]),
    "sha1": ("Artifacts dropped", ["da39a3ee5e6b4b0d3255bfef95601890afd80709"]),
    "sha256": (
        "Payload delivery",
        ["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    ),
    "email-src": ("Payload delivery", ["billing@bad.example", "o'hara@bad.example"]),
    "filename": ("Payload delivery", ["invoice.pdf.exe", "it's here.doc"]),
    "ip-dst|port": ("Network activity", ["203.0.113.5|443", "2001:db8::5|8080"]),
    "ip-src|port": ("Network activity", ["198.51.100.5|1024"]),
    "hostname|port": ("Network activity", ["mail.bad.example|25"]),
    "domain|ip": ("Network activity", ["cdn.bad.example|198.51.100.7", "v6.example|2001:db8::7"]),
}
_TAGS = [
    [],
    [{"name": "tlp:amber"}],
    [{"name": "tlp:amber+strict"}, {"name": "kill-chain:delivery"}],
    [{"name": "tlp:clear"}, {"name": 'admiralty-scale:source-reliability="b"'}],
    [{"name": 'estimative-language:confidence-in-analytic-judgment="moderate"'}],
]


def _attribute(kind: str, value: str, **extra: Any) -> dict[str, Any]:
    category = extra.pop("category", _VALUES.get(kind, ("Other", []))[0])
    return {
        "id": "1",
        "uuid": str(uuid.uuid4()),
        "event_id": "1",
        "object_id": "0",
        "object_relation": None,
        "category": category,
        "type": kind,
        "value": value,
        "to_ids": True,
        "timestamp": "1764000000",
        "distribution": "5",
        "sharing_group_id": "0",
        "comment": "",
        "deleted": False,
        "disable_correlation": False,
        "first_seen": None,
        "last_seen": None,
        "Tag": [],
        **extra,
    }


def _event(attributes: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": "1",
        "uuid": str(uuid.uuid4()),
        "info": "Phishing wave",
        "date": "2026-11-20",
        "threat_level_id": "2",
        "analysis": "1",
        "distribution": "1",
        "sharing_group_id": "0",
        "org_id": "2",
        "orgc_id": "2",
        "published": False,
        "publish_timestamp": "0",
        "timestamp": "1764000000",
        "Orgc": ORGC,
        "Tag": [],
        "Attribute": attributes,
        "Object": [],
        "Galaxy": [],
        **extra,
    }


def _by_id(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for o in objects:
        o = copy.deepcopy(o)
        if o["type"] in ("grouping", "report"):
            o["object_refs"] = sorted(o["object_refs"])
        out[o["id"]] = o
    return out


@pytest.mark.parametrize("seed", range(6))
def test_direct_path_writes_what_misp_stix_writes(seed: int) -> None:
    rng = random.Random(seed)
    attributes = []
    for _ in range(40):
        kind = rng.choice(sorted(_VALUES))
        attributes.append(
            _attribute(
                kind,
                rng.choice(_VALUES[kind][1]),
                to_ids=rng.random() < 0.5,
                comment=rng.choice(["", "seen in the wave"]),
                Tag=copy.deepcopy(rng.choice(_TAGS)),
                timestamp=str(1764000000 + rng.randrange(5)),
                first_seen=rng.choice([None, "2026-11-01T10:00:00.123456+00:00"]),
                last_seen=rng.choice(
                    [None, "2026-11-02T10:00:00.5+00:00", "2020-01-01T00:00:00+00:00"]
                ),
            )
        )
    event = _event(attributes)
    assert sum(eligible(a) for a in attributes) > 20  # the direct path is exercised
    fast = _by_id(event_objects(event))
    reference = _by_id(event_objects(event, fast=False))
    assert fast == reference


@pytest.mark.parametrize(
    "name",
    ["", "indicator--1 - based-on - observed-data--2", "é ✓ \\'\"", "x" * 300],
)
def test_relationship_ids_are_misp_stix_version_5_uuids(name: str) -> None:
    assert _NAMESPACE is not None
    assert _v5(name) == str(uuid.uuid5(_NAMESPACE, name))


def test_direct_path_only_takes_plain_attributes() -> None:
    assert eligible(_attribute("domain", "a.example"))
    assert eligible(_attribute("domain", "a.example", Tag=[{"name": "tlp:green"}]))
    assert not eligible(_attribute("domain", "o'brien.example"))
    assert not eligible(_attribute("domain", "a.example", Galaxy=[{"type": "x"}]))
    assert not eligible(_attribute("ip-dst|port", "203.0.113.5|https"))
    assert not eligible(_attribute("regkey", "HKLM\\Software"))
    assert {"domain", "ip-dst", "sha256", "url"} <= FAST_TYPES


def _rich_event() -> dict[str, Any]:
    attributes = [
        _attribute(
            "domain", "login.example.com", Tag=[{"name": "tlp:amber", "local": 0}], comment="C2"
        ),
        _attribute("ip-dst|port", "203.0.113.5|443", category="Network activity", to_ids=False),
        _attribute("email-src", "phisher@bad.example", category="Payload delivery"),
        _attribute("filename", "invoice.pdf.exe", category="Payload delivery", to_ids=False),
        _attribute("regkey", "HKLM\\Software\\Evil", category="Persistence mechanism"),
        _attribute("text", "free text context", category="Other", to_ids=False),
        _attribute("vulnerability", "CVE-2021-44228", category="External analysis", to_ids=False),
        _attribute("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        _attribute("url", "https://login.example.com/x"),
        _attribute("ip-src", "198.51.100.7", Tag=[{"name": "internal:only", "local": 1}]),
    ]
    file_object = {
        "id": "1",
        "uuid": str(uuid.uuid4()),
        "name": "file",
        "meta-category": "file",
        "template_uuid": "688c46fb-5edb-40a3-8273-1af7923e2215",
        "template_version": "22",
        "comment": "",
        "distribution": "5",
        "sharing_group_id": "0",
        "timestamp": "1764000000",
        "deleted": False,
        "Attribute": [
            _attribute("filename", "evil.exe", object_relation="filename", to_ids=False),
            _attribute(
                "sha256",
                "4bac27393bdd9777ce02453256c5577cd02275510b2227f473d03f533924f877",
                object_relation="sha256",
            ),
        ],
        "ObjectReference": [],
    }
    file_object["ObjectReference"] = [
        {
            "uuid": str(uuid.uuid4()),
            "referenced_uuid": attributes[0]["uuid"],
            "relationship_type": "communicates-with",
            "comment": "",
        }
    ]
    return _event(
        attributes,
        Object=[file_object],
        Tag=[
            {"name": "tlp:green", "local": 0, "exportable": True},
            {"name": "our-team:triage", "local": 1, "exportable": True},
            {"name": "secret-project", "local": 0, "exportable": False},
        ],
    )


def test_direct_path_on_an_event_with_objects_references_and_tags() -> None:
    event = _rich_event()
    assert _by_id(event_objects(event)) == _by_id(event_objects(event, fast=False))


def test_exported_bundles_pass_the_validator_and_leave_local_tags_out() -> None:
    event = _rich_event()
    body = b"".join(bundle_stream([event, _event([_attribute("domain", "b.example")])]))
    bundle = assert_valid(body)
    text = body.decode()
    assert "our-team:triage" not in text and "secret-project" not in text
    assert "internal:only" not in text
    types = {o["type"] for o in bundle["objects"]}
    assert {"grouping", "identity", "indicator", "observed-data", "marking-definition"} <= types
    # The organisation's identity is written once for both events.
    assert [o["id"] for o in bundle["objects"]].count(f"identity--{ORGC['uuid']}") == 1


def _round_trip(event: dict[str, Any]) -> dict[str, Any]:
    body = b"".join(bundle_stream([event]))
    assert_valid(body)
    (back,) = bundle_events(body)
    return back


def test_round_trip_field_by_field() -> None:
    event = _rich_event()
    back = _round_trip(event)
    assert back["uuid"] == event["uuid"] and back["info"] == event["info"]
    assert back["Orgc"] == {"name": ORGC["name"], "uuid": ORGC["uuid"]}
    assert {t["name"] for t in back["Tag"]} == {"tlp:green"}
    got = {a["uuid"]: a for a in back["Attribute"]}
    for a in event["Attribute"]:
        mine = got[a["uuid"]]
        for field in ("type", "category", "to_ids"):
            assert mine[field] == a[field], (field, a["type"])
        # STIX names registry hives in full: HKLM comes back as HKEY_LOCAL_MACHINE.
        expected = a["value"].replace("HKLM\\", "HKEY_LOCAL_MACHINE\\")
        assert mine["value"] == expected, a["type"]
        assert mine.get("comment", "") == a["comment"]
        exported = {t["name"] for t in a["Tag"] if not t.get("local")}
        assert {t["name"] for t in mine.get("Tag", [])} == exported
    (obj,) = back["Object"]
    source = event["Object"][0]
    assert obj["uuid"] == source["uuid"] and obj["name"] == "file"
    assert sorted((a["object_relation"], a["value"]) for a in obj["Attribute"]) == sorted(
        (a["object_relation"], a["value"]) for a in source["Attribute"]
    )
    assert [(r["referenced_uuid"], r["relationship_type"]) for r in obj["ObjectReference"]] == [
        (event["Attribute"][0]["uuid"], "communicates-with")
    ]


def test_round_trip_of_galaxies() -> None:
    galaxy = {
        "name": "Attack Pattern",
        "type": "mitre-attack-pattern",
        "namespace": "mitre-attack",
        "description": "ATT&CK tactics",
        "uuid": "c4e851fa-775f-11e7-8163-b774922098cd",
        "version": "9",
        "GalaxyCluster": [
            {
                "uuid": "2e34237d-8574-43f6-aaf9-d8f5ba6f2e5c",
                "type": "mitre-attack-pattern",
                "value": "Spearphishing Attachment - T1566.001",
                "tag_name": 'misp-galaxy:mitre-attack-pattern="Spearphishing Attachment - T1566.001"',
                "description": "Adversaries may send spearphishing e-mails.",
                "meta": {
                    "external_id": ["T1566.001"],
                    "kill_chain": ["mitre-attack:initial-access"],
                },
            }
        ],
    }
    tag = galaxy["GalaxyCluster"][0]["tag_name"]  # type: ignore[index]
    event = _event(
        [_attribute("domain", "lure.example")],
        Tag=[{"name": tag, "local": 0}],
        Galaxy=[galaxy],
    )
    objects = event_objects(event)
    assert any(o["type"] == "attack-pattern" for o in objects)
    back = _round_trip(event)
    assert tag in {t["name"] for t in back["Tag"]}


def test_oasis_shaped_bundle_imports_with_indicators_observables_and_tlp() -> None:
    (event,) = bundle_events(oasis_bundle())
    attributes = {a["value"]: a for a in event["Attribute"]}
    sha = attributes["4bac27393bdd9777ce02453256c5577cd02275510b2227f473d03f533924f877"]
    assert sha["type"] == "sha256" and sha["to_ids"] is True
    # The relationship to the malware becomes the malware's galaxy tag on the indicator;
    # TLP 1.0 and TLP 2.0 markings become tlp: tags.
    assert {t["name"] for t in sha["Tag"]} == {"tlp:white", 'misp-galaxy:malware="Poison Ivy"'}
    domain = attributes["c2.poison-ivy.example"]
    assert domain["type"] == "domain" and [t["name"] for t in domain["Tag"]] == ["tlp:green"]
    (observed,) = event["Object"]
    assert observed["name"] == "domain-ip"
    assert sorted((a["object_relation"], a["value"]) for a in observed["Attribute"]) == [
        ("domain", "example.com"),
        ("ip", "198.51.100.3"),
    ]
    assert 'misp-galaxy:producer="ACME Widget, Inc."' in {t["name"] for t in event["Tag"]}


def test_attack_bundle_imports_as_galaxy_tags_and_skips_unknown_types() -> None:
    (event,) = bundle_events(attack_bundle())
    assert {t["name"] for t in event["Tag"]} == {
        'misp-galaxy:attack-pattern="Spearphishing Attachment"',
        'misp-galaxy:intrusion-set="Example Group"',
    }
    assert event["info"]


def _broken(mutate: Any) -> dict[str, Any]:
    bundle = oasis_bundle()
    mutate(bundle)
    return bundle


def _indicator(bundle: dict[str, Any]) -> dict[str, Any]:
    return next(o for o in bundle["objects"] if o["type"] == "indicator")


@pytest.mark.parametrize(
    ("bundle", "where", "problem"),
    [
        (b'{"type": "bundle", "objects": [', "bundle", "not valid JSON"),
        (b"[1, 2]", "bundle", "JSON object"),
        ({"type": "report", "id": "report--1"}, "bundle", "type must be 'bundle'"),
        (
            _broken(lambda b: b.update(spec_version="2.0")),
            "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
            "only STIX 2.1",
        ),
        (_broken(lambda b: b["objects"][2].pop("id")), "objects[2]", "no id"),
        (
            _broken(lambda b: _indicator(b).update(pattern="[file:hashes.MD5 = ")),
            "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "pattern",
        ),
        (
            _broken(lambda b: b["objects"][4].pop("is_family")),
            "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b",
            "is_family",
        ),
        (
            _broken(lambda b: _indicator(b).update(spec_version="2.0")),
            "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "only STIX 2.1",
        ),
        (
            _broken(lambda b: b["objects"].pop(4)),  # the malware the relationship targets
            "relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad",
            "target_ref points to malware--31b940d4",
        ),
        (
            _broken(lambda b: b["objects"].pop(7)),  # an SCO of the observed-data
            "observed-data--b67d30ff-02ac-498a-92f9-32f845f448cf",
            "not in the bundle",
        ),
    ],
)
def test_bad_bundles_are_refused_naming_the_object(bundle: Any, where: str, problem: str) -> None:
    with pytest.raises(StixError) as caught:
        bundle_events(bundle)
    assert caught.value.field == where
    assert caught.value.detail.startswith(f"{where}: ")
    assert problem in caught.value.detail
    assert isinstance(caught.value, InvalidInput) and caught.value.status == 422


def test_tlp2_marking_definitions_are_kept_apart_from_other_markings() -> None:
    bundle = oasis_bundle()
    assert any(o["id"] == TLP2_GREEN for o in bundle["objects"])
    assert json.dumps(bundle_events(bundle)).count("tlp:green") == 1


def test_indicators_without_their_grouping_import_as_one_event() -> None:
    """A TAXII page of Shieldwall's indicators carries no grouping: its objects still come
    back as the attributes they were, in one event."""
    event = _event([_attribute("ip-dst", "198.18.0.1"), _attribute("domain", "page.example")])
    objects = [o for o in event_objects(event) if o["type"] == "indicator"]
    assert len(objects) == 2
    found = bundle_events({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects})
    assert len(found) == 1
    got = {(a["type"], a["value"]) for a in found[0]["Attribute"]}
    assert got == {("ip-dst", "198.18.0.1"), ("domain", "page.example")}
