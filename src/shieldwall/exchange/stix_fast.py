"""The STIX 2.1 objects of plain attributes, built as dicts without misp-stix's object model.

misp-stix builds every object through the stix2 library, which checks each property and
parses each pattern: about 0.7 ms an object, over a minute for 100,000 attributes. For the
attribute types exported most (addresses, host names, URLs, file hashes) with nothing but a
value, a category, a comment and times, this module writes the same objects misp-stix writes
(an observed-data with its observable, and for detection attributes an indicator and the
`based-on` relationship between them) directly. tests/exchange/test_stix_fast.py holds the
two outputs equal, object for object; an attribute with tags, galaxies, sightings or any
other type goes through misp-stix.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from misp_stix_converter import MISPtoSTIX21Parser
from stix2.utils import STIXdatetime, format_datetime

# MISP type -> how its observable and pattern are written.
_DOMAIN = ("domain", "hostname")
_ADDRESS = ("ip-src", "ip-dst")
_HASHES = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256"}
_URL = ("url", "link", "uri")
FAST_TYPES = frozenset((*_DOMAIN, *_ADDRESS, *_HASHES, *_URL))
# Host names misp-stix takes as they are; anything else (it refuses some) goes through it.
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z0-9-]{2,63}$")


def eligible(attribute: Mapping[str, Any]) -> bool:
    """Whether the attribute's objects are built here rather than by misp-stix."""
    return (
        attribute.get("type") in FAST_TYPES
        and not attribute.get("Tag")
        and not attribute.get("Galaxy")
        and not attribute.get("Sighting")
        and not attribute.get("Note")
        and not attribute.get("Opinion")
        and bool(attribute.get("value"))
        and bool(attribute.get("category"))
        and attribute.get("timestamp") not in (None, "")
        and (attribute["type"] not in _DOMAIN or bool(_HOST.match(str(attribute["value"]))))
    )


@lru_cache(maxsize=4096)
def _stamps(epoch: str) -> tuple[str, str]:
    """(created/modified at millisecond precision, valid_from) for an epoch string, as
    stix2 writes them."""
    moment = datetime.fromtimestamp(int(epoch), UTC)
    exact = STIXdatetime(moment, precision="millisecond", precision_constraint="min")
    return format_datetime(exact), format_datetime(moment)


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@lru_cache(maxsize=4096)
def _observed(first_seen: str | None, last_seen: str | None, epoch: str) -> tuple[str, str]:
    """first_observed and last_observed: the attribute's first and last seen, its
    timestamp for either one missing, never in the wrong order (misp-stix's rules)."""
    moment = datetime.fromtimestamp(int(epoch), UTC)
    first = _moment(first_seen) or moment
    last = _moment(last_seen) or moment
    if first > last:
        if last_seen:
            first = last
        else:
            last = first
    return format_datetime(first), format_datetime(last)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _observables(kind: str, uuid: str, value: str) -> tuple[list[dict[str, Any]], str]:
    """The observable objects of one attribute and its pattern's comparison."""
    if kind in _DOMAIN:
        return (
            [
                {
                    "type": "domain-name",
                    "spec_version": "2.1",
                    "id": f"domain-name--{uuid}",
                    "value": value,
                }
            ],
            f"domain-name:value = '{_escape(value)}'",
        )
    if kind in _URL:
        return (
            [{"type": "url", "spec_version": "2.1", "id": f"url--{uuid}", "value": value}],
            f"url:value = '{_escape(value)}'",
        )
    if kind in _HASHES:
        name = _HASHES[kind]
        key = name if "-" not in name else f"'{name}'"
        return (
            [
                {
                    "type": "file",
                    "spec_version": "2.1",
                    "id": f"file--{uuid}",
                    "hashes": {name: value},
                }
            ],
            f"file:hashes.{key} = '{_escape(value)}'",
        )
    side = "src_ref" if kind == "ip-src" else "dst_ref"
    address = value.split("/", 1)[0]
    family = "ipv6-addr" if ipaddress.ip_address(address).version == 6 else "ipv4-addr"
    address_id = f"{family}--{uuid}"
    return (
        [
            {
                "type": "network-traffic",
                "spec_version": "2.1",
                "id": f"network-traffic--{uuid}",
                side: address_id,
                "protocols": ["tcp"],
            },
            {"type": family, "spec_version": "2.1", "id": address_id, "value": value},
        ],
        f"network-traffic:{side}.type = '{family}' AND network-traffic:{side}.value = '{_escape(value)}'",
    )


def attribute_objects(
    attribute: Mapping[str, Any], created_by_ref: str | None
) -> list[dict[str, Any]]:
    """The objects misp-stix writes for one eligible attribute, in its order."""
    uuid = attribute["uuid"]
    kind = attribute["type"]
    epoch = str(attribute["timestamp"])
    stamp, valid_from = _stamps(epoch)
    first, last = _observed(attribute.get("first_seen"), attribute.get("last_seen"), epoch)
    labels = [f'misp:type="{kind}"', f'misp:category="{attribute["category"]}"']
    shared = {"created_by_ref": created_by_ref} if created_by_ref else {}
    observables, comparison = _observables(kind, uuid, str(attribute["value"]))
    observed = {
        "type": "observed-data",
        "spec_version": "2.1",
        "id": f"observed-data--{uuid}",
        **shared,
        "created": stamp,
        "modified": stamp,
        "first_observed": first,
        "last_observed": last,
        "number_observed": 1,
        "object_refs": [o["id"] for o in observables],
        "labels": labels,
    }
    out = [observed, *observables]
    if not attribute.get("to_ids"):
        return out
    indicator: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid}",
        **shared,
        "created": stamp,
        "modified": stamp,
    }
    if attribute.get("comment"):
        indicator["description"] = attribute["comment"]
    indicator.update(
        {
            "pattern": f"[{comparison}]",
            "pattern_type": "stix",
            "pattern_version": "2.1",
            "valid_from": valid_from,
            "kill_chain_phases": [
                {"kill_chain_name": "misp-category", "phase_name": attribute["category"]}
            ],
            "labels": list(labels),
        }
    )
    out.append(indicator)
    return out


def based_on(indicator: Mapping[str, Any], observed: Mapping[str, Any]) -> dict[str, Any]:
    """The relationship misp-stix writes from an attribute's indicator to its observation."""
    key = f"{indicator['id']} - based-on - {observed['id']}"
    return {
        "type": "relationship",
        "spec_version": "2.1",
        "id": f"relationship--{MISPtoSTIX21Parser._create_v5_uuid(key)}",
        "created": indicator["created"],
        "modified": indicator["modified"],
        "relationship_type": "based-on",
        "source_ref": indicator["id"],
        "target_ref": observed["id"],
    }
