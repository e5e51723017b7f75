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

import hashlib
import ipaddress
import json
import re
import uuid as uuidlib
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from misp_stix_converter import MISPtoSTIX21Mapping, MISPtoSTIX21Parser
from stix2.utils import STIXdatetime, format_datetime

# MISP type -> how its observable and pattern are written.
_DOMAIN = ("domain", "hostname")
_ADDRESS = ("ip-src", "ip-dst")
_HASHES = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256"}
_URL = ("url", "link", "uri")
_ADDRESS_PORT = ("ip-src|port", "ip-dst|port")
_OTHERS = ("email-src", "filename", "hostname|port", "domain|ip")
FAST_TYPES = frozenset((*_DOMAIN, *_ADDRESS, *_HASHES, *_URL, *_ADDRESS_PORT, *_OTHERS))
# Host names misp-stix takes as they are; anything else (it refuses some) goes through it.
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z0-9-]{2,63}$")


_IPV4 = re.compile(
    r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}(/\d{1,2})?$"
)


def _is_ip(text: str) -> bool:
    if _IPV4.match(text):
        return True
    if ":" not in text:
        return False
    try:  # IPv6 is rarer: the standard library's parser checks it
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _plain_value(kind: str, value: str) -> bool:
    """Values misp-stix writes as they are (it refuses or reshapes some others)."""
    if kind in _DOMAIN:
        return bool(_HOST.match(value))
    if kind in _ADDRESS:
        return _is_ip(value)
    if kind in _ADDRESS_PORT or kind == "hostname|port" or kind == "domain|ip":
        left, sep, right = value.partition("|")
        if not sep or "|" in right:
            return False
        if kind == "domain|ip":
            return bool(_HOST.match(left)) and _is_ip(right) and "/" not in right
        first_ok = (
            _is_ip(left) and "/" not in left if kind != "hostname|port" else bool(_HOST.match(left))
        )
        return first_ok and right.isascii() and right.isdigit() and int(right) < 65536
    if kind == "email-src":
        return value.count("@") == 1 and "|" not in value
    return True


def eligible(attribute: Mapping[str, Any]) -> bool:
    """Whether the attribute's objects are built here rather than by misp-stix."""
    kind = attribute.get("type")
    if kind not in FAST_TYPES:
        return False
    if (
        attribute.get("Galaxy")
        or attribute.get("Sighting")
        or attribute.get("Note")
        or attribute.get("Opinion")
    ):
        return False
    value = attribute.get("value")
    if not value or not attribute.get("category") or attribute.get("timestamp") in (None, ""):
        return False
    tags = attribute.get("Tag")
    if tags and not all(isinstance(t.get("name"), str) for t in tags):
        return False
    return _plain_value(kind, str(value))


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
    if "\\" not in value and "'" not in value:
        return value
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _family(address: str) -> str:
    return "ipv6-addr" if ":" in address else "ipv4-addr"


def _sco(kind: str, object_id: str, **properties: Any) -> dict[str, Any]:
    return {"type": kind, "spec_version": "2.1", "id": object_id, **properties}


def _address_port(kind: str, uuid: str, value: str) -> tuple[list[dict[str, Any]], str]:
    address, _, port = value.partition("|")
    side = "src" if kind == "ip-src|port" else "dst"
    family = _family(address)
    address_id = f"{family}--{uuid}"
    traffic = {f"{side}_ref": address_id, f"{side}_port": int(port), "protocols": ["tcp"]}
    return (
        [
            _sco("network-traffic", f"network-traffic--{uuid}", **traffic),
            _sco(family, address_id, value=address),
        ],
        f"network-traffic:{side}_ref.type = '{family}' AND "
        f"network-traffic:{side}_ref.value = '{_escape(address)}' AND "
        f"network-traffic:{side}_port = '{port}'",
    )


def _observables(kind: str, uuid: str, value: str) -> tuple[list[dict[str, Any]], str]:
    """The observable objects of one attribute and its pattern's comparison."""
    if kind in _DOMAIN:
        return (
            [_sco("domain-name", f"domain-name--{uuid}", value=value)],
            f"domain-name:value = '{_escape(value)}'",
        )
    if kind in _URL:
        return [_sco("url", f"url--{uuid}", value=value)], f"url:value = '{_escape(value)}'"
    if kind in _HASHES:
        name = _HASHES[kind]
        key = name if "-" not in name else f"'{name}'"
        return (
            [_sco("file", f"file--{uuid}", hashes={name: value})],
            f"file:hashes.{key} = '{_escape(value)}'",
        )
    if kind == "filename":
        return [_sco("file", f"file--{uuid}", name=value)], f"file:name = '{_escape(value)}'"
    if kind == "email-src":
        address_id = f"email-addr--{uuid}"
        return (
            [
                _sco(
                    "email-message",
                    f"email-message--{uuid}",
                    is_multipart=False,
                    from_ref=address_id,
                ),
                _sco("email-addr", address_id, value=value),
            ],
            f"email-message:from_ref.value = '{_escape(value)}'",
        )
    if kind in _ADDRESS_PORT:
        return _address_port(kind, uuid, value)
    left, _, right = value.partition("|")
    if kind == "hostname|port":
        domain_id = f"domain-name--{uuid}"
        traffic = {"dst_ref": domain_id, "dst_port": int(right), "protocols": ["tcp"]}
        return (
            [
                _sco("domain-name", domain_id, value=left),
                _sco("network-traffic", f"network-traffic--{uuid}", **traffic),
            ],
            f"domain-name:value = '{_escape(left)}' AND network-traffic:dst_port = '{right}'",
        )
    if kind == "domain|ip":
        family = _family(right)
        address_id = f"{family}--{uuid}"
        return (
            [
                _sco(
                    "domain-name", f"domain-name--{uuid}", value=left, resolves_to_refs=[address_id]
                ),
                _sco(family, address_id, value=right),
            ],
            f"domain-name:value = '{_escape(left)}' AND "
            f"domain-name:resolves_to_refs[*].value = '{_escape(right)}'",
        )
    side = "src_ref" if kind == "ip-src" else "dst_ref"
    family = _family(value)
    address_id = f"{family}--{uuid}"
    traffic = {side: address_id, "protocols": ["tcp"]}
    return (
        [
            _sco("network-traffic", f"network-traffic--{uuid}", **traffic),
            _sco(family, address_id, value=value),
        ],
        f"network-traffic:{side}.type = '{family}' AND network-traffic:{side}.value = '{_escape(value)}'",
    )


def _markings(tags: list[str]) -> tuple[list[str], list[dict[str, Any]], list[str], int | None]:
    """Tags as misp-stix writes them: TLP (1.0 and 2.0) tags as marking references (with
    their definitions), other tags as labels, confidence tags also as the lowest score."""
    refs: list[str] = []
    definitions: list[dict[str, Any]] = []
    labels: list[str] = []
    scores: list[int] = []
    for name in tags:
        marking = _marking(name)
        if marking is not None:
            refs.append(marking["id"])
            definitions.append(marking)
            continue
        score = MISPtoSTIX21Mapping.confidence_tags(name)
        if score is not None:
            scores.append(score)
        labels.append(name)
    return refs, definitions, labels, min(scores) if scores else None


@lru_cache(maxsize=256)
def _marking_cached(name: str) -> str | None:
    definition = MISPtoSTIX21Mapping.tlp_markings(name)
    if definition is None:
        definition = MISPtoSTIX21Mapping.tlp2_markings(name)
    return None if definition is None else str(definition.serialize())


def _marking(name: str) -> dict[str, Any] | None:
    serialised = _marking_cached(name)
    if serialised is None:
        return None
    loaded: dict[str, Any] = json.loads(serialised)
    return loaded


def attribute_objects(
    attribute: Mapping[str, Any], created_by_ref: str | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The objects misp-stix writes for one eligible attribute, in its order, and the
    marking definitions its tags refer to."""
    uuid = attribute["uuid"]
    kind = attribute["type"]
    category = attribute["category"]
    epoch = str(attribute["timestamp"])
    stamp, valid_from = _stamps(epoch)
    first, last = _observed(attribute.get("first_seen"), attribute.get("last_seen"), epoch)
    tags = attribute.get("Tag")
    # Most attributes carry no tag of their own: their objects need no marking work.
    if tags:
        refs, definitions, tag_labels, confidence = _markings([t["name"] for t in tags])
        labels = [f'misp:type="{kind}"', f'misp:category="{category}"', *tag_labels]
    else:
        refs, definitions, confidence = [], [], None
        labels = [f'misp:type="{kind}"', f'misp:category="{category}"']
    observables, comparison = _observables(kind, uuid, str(attribute["value"]))
    # Dicts are written key by key in misp-stix's order (the bundle's bytes depend on it).
    observed: dict[str, Any] = {
        "type": "observed-data",
        "spec_version": "2.1",
        "id": f"observed-data--{uuid}",
    }
    if created_by_ref:
        observed["created_by_ref"] = created_by_ref
    observed["created"] = stamp
    observed["modified"] = stamp
    observed["first_observed"] = first
    observed["last_observed"] = last
    observed["number_observed"] = 1
    observed["object_refs"] = [o["id"] for o in observables]
    observed["labels"] = labels
    if confidence is not None:
        observed["confidence"] = confidence
    if refs:
        observed["object_marking_refs"] = refs
    observables.insert(0, observed)
    if not attribute.get("to_ids"):
        return observables, definitions
    indicator: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid}",
    }
    if created_by_ref:
        indicator["created_by_ref"] = created_by_ref
    indicator["created"] = stamp
    indicator["modified"] = stamp
    if attribute.get("comment"):
        indicator["description"] = attribute["comment"]
    indicator["pattern"] = f"[{comparison}]"
    indicator["pattern_type"] = "stix"
    indicator["pattern_version"] = "2.1"
    indicator["valid_from"] = valid_from
    indicator["kill_chain_phases"] = [{"kill_chain_name": "misp-category", "phase_name": category}]
    indicator["labels"] = labels[:]
    if confidence is not None:
        indicator["confidence"] = confidence
    if refs:
        indicator["object_marking_refs"] = refs
    observables.append(indicator)
    return observables, definitions


def _v5_namespace() -> uuidlib.UUID | None:
    from misp_stix_converter import abstract

    namespace = getattr(abstract, "_UUIDv4", None)
    return namespace if isinstance(namespace, uuidlib.UUID) else None


_NAMESPACE = _v5_namespace()
_NAMESPACE_BYTES = _NAMESPACE.bytes if _NAMESPACE is not None else b""
# The variant bits (10xx) of a version-5 uuid, set on the first digit of its fourth group.
_VARIANT = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}


def _v5(name: str) -> str:
    """misp-stix's version-5 uuid of a name (uuid.uuid5 over its namespace), written from
    the SHA-1 digest's hex without building UUID objects: a hundred thousand relationships
    name one each."""
    if _NAMESPACE is None:
        return str(MISPtoSTIX21Parser._create_v5_uuid(name))
    h = hashlib.sha1(_NAMESPACE_BYTES + name.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def based_on(indicator: Mapping[str, Any], observed: Mapping[str, Any]) -> dict[str, Any]:
    """The relationship misp-stix writes from an attribute's indicator to its observation."""
    key = f"{indicator['id']} - based-on - {observed['id']}"
    return {
        "type": "relationship",
        "spec_version": "2.1",
        "id": f"relationship--{_v5(key)}",
        "created": indicator["created"],
        "modified": indicator["modified"],
        "relationship_type": "based-on",
        "source_ref": indicator["id"],
        "target_ref": observed["id"],
    }
