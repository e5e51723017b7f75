"""What the STIX tests share: stix2-validator on a bundle, and third-party bundles in the shape
of the OASIS examples and of MITRE ATT&CK data, written here."""

from __future__ import annotations

import json
from typing import Any

from stix2validator import ValidationOptions, validate_string

IDENTITY = "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff"
TLP_AMBER_V1 = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
TLP_WHITE_V1 = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
TLP2_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"


def assert_valid(bundle: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """The bundle passes stix2-validator with no error; returns it parsed."""
    text = (
        bundle
        if isinstance(bundle, str)
        else (bundle.decode() if isinstance(bundle, bytes) else json.dumps(bundle))
    )
    results = validate_string(text, ValidationOptions(version="2.1"))
    per_object = getattr(results, "object_results", None) or [results]
    errors = [str(e) for r in per_object for e in r.errors]
    assert results.is_valid and not errors, errors[:10]
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def oasis_bundle() -> dict[str, Any]:
    """Indicator -> malware relationship, observed-data with SCOs, TLP 1.0 and 2.0 markings."""
    return {
        "type": "bundle",
        "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "objects": [
            {
                "type": "marking-definition",
                "spec_version": "2.1",
                "id": TLP2_GREEN,
                "created": "2022-10-01T00:00:00.000Z",
                "name": "TLP:GREEN",
                "extensions": {
                    TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": "green"}
                },
            },
            {
                "type": "identity",
                "spec_version": "2.1",
                "id": IDENTITY,
                "created": "2016-04-06T20:03:00.000Z",
                "modified": "2016-04-06T20:03:00.000Z",
                "name": "ACME Widget, Inc.",
                "identity_class": "organization",
            },
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "created_by_ref": IDENTITY,
                "created": "2016-04-06T20:03:48.000Z",
                "modified": "2016-04-06T20:03:48.000Z",
                "indicator_types": ["malicious-activity"],
                "name": "Poison Ivy Malware",
                "description": "This file is part of Poison Ivy",
                "pattern": "[ file:hashes.'SHA-256' = '4bac27393bdd9777ce02453256c5577cd02275510b2227f473d03f533924f877' ]",
                "pattern_type": "stix",
                "valid_from": "2016-01-01T00:00:00Z",
                "object_marking_refs": [TLP_WHITE_V1],
            },
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": "indicator--9e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "created": "2016-04-06T20:03:48.000Z",
                "modified": "2016-04-06T20:03:48.000Z",
                "name": "C2 domain",
                "pattern": "[domain-name:value = 'c2.poison-ivy.example']",
                "pattern_type": "stix",
                "valid_from": "2016-01-01T00:00:00Z",
                "object_marking_refs": [TLP2_GREEN],
            },
            {
                "type": "malware",
                "spec_version": "2.1",
                "id": "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b",
                "created": "2016-04-06T20:07:09.000Z",
                "modified": "2016-04-06T20:07:09.000Z",
                "name": "Poison Ivy",
                "is_family": True,
                "malware_types": ["remote-access-trojan"],
            },
            {
                "type": "relationship",
                "spec_version": "2.1",
                "id": "relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad",
                "created": "2016-04-06T20:06:37.000Z",
                "modified": "2016-04-06T20:06:37.000Z",
                "relationship_type": "indicates",
                "source_ref": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "target_ref": "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b",
            },
            {
                "type": "observed-data",
                "spec_version": "2.1",
                "id": "observed-data--b67d30ff-02ac-498a-92f9-32f845f448cf",
                "created": "2016-04-06T19:58:16.000Z",
                "modified": "2016-04-06T19:58:16.000Z",
                "first_observed": "2015-12-21T19:00:00Z",
                "last_observed": "2015-12-21T19:00:00Z",
                "number_observed": 50,
                "object_refs": [
                    "ipv4-addr--efcd5e80-570d-4131-b213-62cb18eaa6a8",
                    "domain-name--ecb120bf-2694-4902-a737-62b74539a41b",
                ],
                "object_marking_refs": [TLP_AMBER_V1],
            },
            {
                "type": "ipv4-addr",
                "spec_version": "2.1",
                "id": "ipv4-addr--efcd5e80-570d-4131-b213-62cb18eaa6a8",
                "value": "198.51.100.3",
            },
            {
                "type": "domain-name",
                "spec_version": "2.1",
                "id": "domain-name--ecb120bf-2694-4902-a737-62b74539a41b",
                "value": "example.com",
                "resolves_to_refs": ["ipv4-addr--efcd5e80-570d-4131-b213-62cb18eaa6a8"],
            },
        ],
    }


def attack_bundle() -> dict[str, Any]:
    """ATT&CK-style data: an attack pattern with kill chain phases and external references,
    an intrusion set using it, and an object type misp-stix has no mapping for."""
    return {
        "type": "bundle",
        "id": "bundle--0f2d6f8b-5c3e-4c9a-9b53-2c6a1f0f1a11",
        "objects": [
            {
                "type": "attack-pattern",
                "spec_version": "2.1",
                "id": "attack-pattern--7e33a43e-e34b-40ec-89da-36c9bb2cacd5",
                "created": "2017-05-31T21:30:19.735Z",
                "modified": "2020-03-27T21:18:48.149Z",
                "name": "Spearphishing Attachment",
                "description": "Adversaries may send spearphishing e-mails with an attachment.",
                "kill_chain_phases": [
                    {"kill_chain_name": "mitre-attack", "phase_name": "initial-access"}
                ],
                "external_references": [
                    {
                        "source_name": "mitre-attack",
                        "external_id": "T1566.001",
                        "url": "https://attack.mitre.org/techniques/T1566/001",
                    }
                ],
            },
            {
                "type": "intrusion-set",
                "spec_version": "2.1",
                "id": "intrusion-set--c93fccb1-e8e8-42cf-ae33-2ad1d183913a",
                "created": "2017-05-31T21:31:45.629Z",
                "modified": "2021-04-22T16:38:09.285Z",
                "name": "Example Group",
            },
            {
                "type": "relationship",
                "spec_version": "2.1",
                "id": "relationship--b3f8d9a7-3c31-4b05-9f26-0b6c9b8f9d41",
                "created": "2020-03-27T21:18:48.149Z",
                "modified": "2020-03-27T21:18:48.149Z",
                "relationship_type": "uses",
                "source_ref": "intrusion-set--c93fccb1-e8e8-42cf-ae33-2ad1d183913a",
                "target_ref": "attack-pattern--7e33a43e-e34b-40ec-89da-36c9bb2cacd5",
            },
            {
                "type": "x-mitre-tactic",
                "spec_version": "2.1",
                "id": "x-mitre-tactic--ffd5bcee-6e16-4dd2-8eca-7b3beedf33ca",
                "created": "2018-10-17T00:14:20.652Z",
                "modified": "2019-07-19T17:44:53.176Z",
                "name": "Initial Access",
                "x_mitre_shortname": "initial-access",
            },
        ],
    }
