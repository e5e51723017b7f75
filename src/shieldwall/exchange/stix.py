"""STIX 2.1 in and out through misp-stix, the converter MISP itself uses.

Out: `event_objects` turns one MISP-shaped event (what events/view gives a reader, so
already cut to what that reader may see) into STIX 2.1 objects; `bundle_stream` writes a
bundle over many events one event at a time. In: `bundle_events` turns a STIX 2.1 bundle into
MISP-shaped events after checking it whole, so a bad object is refused by id before
anything is written.

This module's names are a stable interface: the TAXII server calls them.
"""

from __future__ import annotations

import json
import logging
import re
import uuid as uuidlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson
from misp_stix_converter import MISP_org_uuid, MISPtoSTIX21Parser
from misp_stix_converter.tools import get_stix2_parser, is_stix2_from_misp, load_stix2_content
from stix2.parsing import dict_to_stix2

from shieldwall.exchange import stix_fast
from shieldwall.intel.errors import InvalidInput

log = logging.getLogger("shieldwall.exchange.stix")

MEDIA_TYPE = "application/stix+json;version=2.1"


class StixError(InvalidInput):
    """A STIX bundle Shieldwall cannot take; the message names the object and the problem,
    `field` holds the object's id (or "bundle")."""

    def __init__(self, detail: str, *, object_id: str | None = None) -> None:
        where = object_id or "bundle"
        super().__init__(f"{where}: {detail}", field=where)
        self.object_id = where


# ---------------------------------------------------------------- out


def _shared_tags(tags: Any) -> list[dict[str, Any]]:
    """Tags that may leave the instance: local tags and non-exportable ones stay."""
    return [
        t
        for t in tags or []
        if t.get("exportable", True) not in (False, 0, "0") and not _is_local(t.get("local"))
    ]


def _is_local(value: Any) -> bool:
    return value not in (None, False, 0, "0", "")


_LOCAL_BLOCKS = ("Org", "SharingGroup", "RelatedEvent")


def _exportable_attribute(a: Mapping[str, Any]) -> Mapping[str, Any]:
    """The attribute itself when all its tags may leave; a copy without the others if not."""
    tags = a.get("Tag")
    if not tags or len(shared := _shared_tags(tags)) == len(tags):
        return a
    copy = dict(a)
    copy["Tag"] = shared
    return copy


def _exportable(event: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the event (attributes are copied only when some of their tags must stay)
    with only its exportable tags, and no block that describes this instance rather than the
    intelligence (sharing groups, the owner organisation, related events)."""
    out = {k: v for k, v in event.items() if k not in _LOCAL_BLOCKS}
    out["Tag"] = _shared_tags(event.get("Tag"))
    out["Attribute"] = [_exportable_attribute(a) for a in event.get("Attribute") or []]
    out["Object"] = [
        {
            **{k: v for k, v in o.items() if k != "SharingGroup"},
            "Attribute": [dict(_exportable_attribute(a)) for a in o.get("Attribute") or []],
        }
        for o in event.get("Object") or []
    ]
    return out


def _as_dict(stix_object: Any) -> dict[str, Any]:
    if isinstance(stix_object, dict):
        return stix_object
    loaded: dict[str, Any] = orjson.loads(stix_object.serialize())
    return loaded


def _misp_stix(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    parser = MISPtoSTIX21Parser()
    parser.parse_misp_event(dict(event))
    errors = {k: v for k, v in dict(parser.errors).items() if v}
    if errors:
        log.warning("misp-stix reported problems exporting event %s: %s", event.get("uuid"), errors)
    return [_as_dict(o) for o in parser.stix_objects]


def event_objects(event: Mapping[str, Any], *, fast: bool = True) -> list[dict[str, Any]]:
    """The STIX 2.1 objects (no bundle) for one MISP-shaped event (the inner dict of
    events/view, already cut to what the reader may see).

    Local and non-exportable tags are left out. Plain attributes are written by
    `stix_fast` (the same objects misp-stix writes, far quicker) unless `fast` is False."""
    converted, direct, markings = _event_parts(event, fast)
    return converted + direct + markings


def _event_parts(
    event: Mapping[str, Any], fast: bool = True
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """event_objects in three parts, in their order: misp-stix's objects, the direct path's
    (which never include identities or marking definitions) and the marking definitions
    only the direct path's objects refer to."""
    prepared = _exportable(event)
    attributes = prepared["Attribute"]
    # Attributes an object refers to stay with misp-stix, which resolves the references.
    referenced = {
        r.get("referenced_uuid") for o in prepared["Object"] for r in o.get("ObjectReference") or []
    }
    quick = (
        [a for a in attributes if a.get("uuid") not in referenced and stix_fast.eligible(a)]
        if fast
        else []
    )
    quick_ids = {id(a) for a in quick}
    # misp-stix may change what it is given: it gets copies.
    prepared["Attribute"] = [dict(a) for a in attributes if id(a) not in quick_ids]
    objects = _spec_compliant(_misp_stix(prepared))
    if not quick:
        return objects, [], []
    grouping = next((o for o in objects if o["type"] in ("grouping", "report")), None)
    # With every attribute on the direct path misp-stix sees an empty event and says so
    # in a note; the event is not empty.
    empty = f"note--{prepared.get('uuid')}"
    objects = [o for o in objects if o["id"] != empty]
    orgc = prepared.get("Orgc") or {}
    creator = f"identity--{orgc['uuid']}" if orgc.get("uuid") and orgc.get("name") else None
    extra: list[dict[str, Any]] = []
    markings: dict[str, dict[str, Any]] = {}
    for a in quick:
        built, definitions = stix_fast.attribute_objects(a, creator)
        extra.extend(built)
        if built[-1]["type"] == "indicator":
            extra.append(stix_fast.based_on(built[-1], built[0]))
        for d in definitions:
            markings.setdefault(d["id"], d)
    if grouping is not None:
        grouping["object_refs"] = [r for r in grouping["object_refs"] if r != empty] + [
            o["id"] for o in extra
        ]
    known = {o["id"] for o in objects if o["type"] == "marking-definition"}
    return objects, extra, [d for i, d in markings.items() if i not in known]


# STIX 2.1 names registry hives in full (stix2-validator refuses the abbreviations MISP uses).
_HIVES = {
    "HKLM": "HKEY_LOCAL_MACHINE",
    "HKCC": "HKEY_CURRENT_CONFIG",
    "HKCR": "HKEY_CLASSES_ROOT",
    "HKCU": "HKEY_CURRENT_USER",
    "HKU": "HKEY_USERS",
}
_HIVE = re.compile(r"^(HKLM|HKCC|HKCR|HKCU|HKU)(?=\\|$)", re.IGNORECASE)


def _full_hive(key: str) -> str:
    return _HIVE.sub(lambda m: _HIVES[m.group(1).upper()], key)


_PATTERN_HIVE = re.compile(
    r"(windows-registry-key:key\s*=\s*')(HKLM|HKCC|HKCR|HKCU|HKU)(?=\\|')", re.IGNORECASE
)


def _spec_compliant(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Registry keys with their hive in full, in observables and in patterns alike (so an
    import pairs the indicator with its observation again)."""
    for o in objects:
        if o["type"] == "windows-registry-key" and isinstance(o.get("key"), str):
            o["key"] = _full_hive(o["key"])
        elif o["type"] == "indicator" and "windows-registry-key" in o.get("pattern", ""):
            o["pattern"] = _PATTERN_HIVE.sub(
                lambda m: m.group(1) + _HIVES[m.group(2).upper()], o["pattern"]
            )
    return objects


# Objects several events of one bundle share: written once.
_SHARED_TYPES = frozenset(("identity", "marking-definition", "extension-definition"))

# One event's objects serialised for a bundle: each shared object alone, with its id, and the
# others in runs (None), each run the items of one JSON list without its brackets.
Pieces = list[tuple[str | None, bytes]]


def event_pieces(event: Mapping[str, Any]) -> Pieces:
    """event_objects serialised as a bundle writes them, so that the bundle can leave out
    the shared objects (identities, marking definitions) an earlier event gave already."""
    converted, direct, markings = _event_parts(event)
    out: Pieces = []
    run: list[dict[str, Any]] = []
    for o in converted:
        if o["type"] in _SHARED_TYPES:
            if run:
                out.append((None, orjson.dumps(run)[1:-1]))
                run = []
            out.append((o["id"], orjson.dumps(o)))
        else:
            run.append(o)
    # The direct path's objects (most of a large event) are one run: none is shared.
    run.extend(direct)
    if run:
        out.append((None, orjson.dumps(run)[1:-1]))
    out.extend((d["id"], orjson.dumps(d)) for d in markings)
    return out


def bundle_stream(events: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    """One STIX 2.1 bundle over the events, written an event at a time; an organisation's
    identity and each marking definition appear once. A bundle with nothing in it has no
    objects property (STIX 2.1 allows no empty list there)."""
    yield b'{"type":"bundle","id":"bundle--' + str(uuidlib.uuid4()).encode() + b'"'
    first = True
    seen: set[str] = set()
    for pieces in map(event_pieces, events):
        kept = []
        for shared_id, body in pieces:
            if shared_id is not None:
                if shared_id in seen:
                    continue
                seen.add(shared_id)
            kept.append(body)
        if not kept:
            continue
        yield (b',"objects":[' if first else b",") + b",".join(kept)
        first = False
    yield b"}" if first else b"]}"


# ---------------------------------------------------------------- in

_ID = re.compile(
    r"^[a-z0-9][a-z0-9-]*[a-z0-9]--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
# Types that are not STIX Cyber-observable Objects must say which STIX version they follow.
_SCO_TYPES = frozenset(
    (
        "artifact",
        "autonomous-system",
        "directory",
        "domain-name",
        "email-addr",
        "email-message",
        "file",
        "ipv4-addr",
        "ipv6-addr",
        "mac-addr",
        "mutex",
        "network-traffic",
        "process",
        "software",
        "url",
        "user-account",
        "windows-registry-key",
        "x509-certificate",
    )
)
# Labels misp-stix writes on the groupings of MISP events, not tags of the event.
_CONVERTER_LABELS = frozenset(('misp:tool="MISP-STIX-Converter"', "Threat-Report"))
# misp-stix's problems that are not the bundle's fault: types it has no mapping for are
# skipped, as MISP skips them.
_SKIPPED = ("Unable to load STIX object type", "Unknown STIX object type")


def _load(bundle: Mapping[str, Any] | bytes | str) -> dict[str, Any]:
    if isinstance(bundle, (bytes, bytearray, memoryview, str)):
        try:
            loaded = orjson.loads(bytes(bundle) if not isinstance(bundle, str) else bundle)
        except orjson.JSONDecodeError as exc:
            raise StixError(f"not valid JSON: {exc}") from None
    else:
        loaded = dict(bundle)
    if isinstance(loaded, str):
        # PyMISP's upload_stix(data=<str>) sends the bundle as a JSON string.
        return _load(loaded.encode())
    if not isinstance(loaded, dict):
        raise StixError("a STIX bundle is a JSON object")
    return loaded


def _refs(o: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(property, id) for the references that must resolve inside the bundle."""
    if o["type"] in ("relationship",):
        for prop in ("source_ref", "target_ref"):
            if isinstance(o.get(prop), str):
                yield prop, o[prop]
    if o["type"] == "sighting" and isinstance(o.get("sighting_of_ref"), str):
        yield "sighting_of_ref", o["sighting_of_ref"]
    if o["type"] == "observed-data":
        for ref in o.get("object_refs") or []:
            yield "object_refs", ref


def check_bundle(bundle: Mapping[str, Any] | bytes | str) -> dict[str, Any]:
    """The bundle as a dict after checking it whole: a bundle of STIX 2.1 objects, each
    with a valid id and the properties its type requires (stix2's checks, patterns
    included), and relationships and observations whose references resolve. The first
    problem raises StixError naming the object."""
    doc = _load(bundle)
    if doc.get("type") != "bundle":
        raise StixError(f"type must be 'bundle', not {doc.get('type')!r}")
    bundle_id = doc.get("id")
    if (
        not isinstance(bundle_id, str)
        or not _ID.match(bundle_id)
        or not bundle_id.startswith("bundle--")
    ):
        raise StixError("id must be 'bundle--' followed by a UUID")
    if doc.get("spec_version") not in (None, "2.1"):
        raise StixError(
            f"spec_version {doc.get('spec_version')!r}: only STIX 2.1 is accepted",
            object_id=bundle_id,
        )
    objects = doc.get("objects")
    if not isinstance(objects, list) or not objects:
        raise StixError("objects must be a non-empty list", object_id=bundle_id)
    ids: set[str] = set()
    for index, o in enumerate(objects):
        where = f"objects[{index}]"
        if not isinstance(o, dict):
            raise StixError("a STIX object is a JSON object", object_id=where)
        object_id = o.get("id")
        if not isinstance(object_id, str) or not object_id:
            raise StixError("the object has no id", object_id=where)
        if not _ID.match(object_id):
            raise StixError("id must be '<type>--<UUID>'", object_id=object_id)
        kind = o.get("type")
        if not isinstance(kind, str) or not object_id.startswith(f"{kind}--"):
            raise StixError(f"type {kind!r} does not match the id", object_id=object_id)
        version = o.get("spec_version")
        if version is None and kind not in _SCO_TYPES:
            raise StixError("spec_version is required (STIX 2.1)", object_id=object_id)
        if version not in (None, "2.1"):
            raise StixError(
                f"spec_version {version!r}: only STIX 2.1 is accepted", object_id=object_id
            )
        try:
            dict_to_stix2(o, allow_custom=True, version="2.1")
        except Exception as exc:  # stix2 raises a dozen types; each names the problem
            raise StixError(_reason(exc), object_id=object_id) from None
        ids.add(object_id)
    for o in objects:
        for prop, ref in _refs(o):
            if ref not in ids:
                raise StixError(
                    f"{prop} points to {ref}, which is not in the bundle", object_id=o["id"]
                )
    return doc


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


def _event_dict(event: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(event.to_json())
    return loaded


_MITRE_SOURCES = frozenset(("mitre-attack", "mitre-mobile-attack", "mitre-ics-attack"))
_MITRE_TAG = re.compile(r'^misp-galaxy:(mitre-[a-z-]+)="(.*)"$')


def _mitre_ids(objects: list[dict[str, Any]]) -> dict[str, str]:
    """name -> ATT&CK id of the objects that carry one."""
    out = {}
    for o in objects:
        for ref in o.get("external_references") or []:
            if (
                ref.get("source_name") in _MITRE_SOURCES
                and ref.get("external_id")
                and o.get("name")
            ):
                out[str(o["name"])] = str(ref["external_id"])
    return out


def _mitre_names(tags: list[dict[str, Any]], ids: Mapping[str, str]) -> None:
    """MISP's MITRE clusters are named "<name> - <ATT&CK id>"; misp-stix gives the name
    alone, so the id is put back and the tag matches the cluster again."""
    for t in tags:
        m = _MITRE_TAG.match(t.get("name", ""))
        if m and m.group(2) in ids:
            t["name"] = f'misp-galaxy:{m.group(1)}="{m.group(2)} - {ids[m.group(2)]}"'


def _clean(
    event: dict[str, Any],
    identities: Mapping[str, Mapping[str, Any]],
    internal: bool,
    mitre: Mapping[str, str],
) -> None:
    """What misp-stix adds that is not the event's: its own labels on MISP groupings, and
    for MISP-made bundles the producer tag of the creating organisation, kept as Orgc."""
    tags = event.get("Tag") or []
    producer = None
    if internal and len(identities) == 1:
        producer = next(iter(identities.values()))
        event["Orgc"] = {"name": producer["name"], "uuid": producer["id"].split("--", 1)[1]}
    drop = set(_CONVERTER_LABELS) if internal else set()
    if producer is not None:
        drop.add(f'misp-galaxy:producer="{producer["name"]}"')
    event["Tag"] = [t for t in tags if t.get("name") not in drop]
    event.pop("Galaxy", None)
    _mitre_names(event["Tag"], mitre)
    for a in event.get("Attribute") or []:
        _mitre_names(a.get("Tag") or [], mitre)


def bundle_events(
    bundle: Mapping[str, Any] | bytes, *, distribution: int = 0
) -> list[dict[str, Any]]:
    """MISP-shaped events (inner dicts, for the MISP events/add path) from a STIX 2.1 bundle.

    Bundles made by MISP or Shieldwall come back as the events they were; others become one
    event per report or grouping (or one for the whole bundle), with indicators, observables
    and relationships as attributes and objects, attack patterns, malware, threat actors and
    intrusion sets as galaxy tags, and TLP markings (1.0 and 2.0) as tlp: tags. Raises
    StixError, naming the object, for a bundle that is not valid STIX 2.1."""
    doc = check_bundle(bundle)
    identities = {o["id"]: o for o in doc["objects"] if o["type"] == "identity" and o.get("name")}
    try:
        loaded = load_stix2_content(doc)
    except Exception as exc:
        raise StixError(_reason(exc)) from None
    internal = bool(is_stix2_from_misp(doc["objects"])) or _misp_labelled(doc["objects"])
    # Objects with no report or grouping to gather them (a TAXII page, a bare list of
    # indicators) make one event.
    single = not any(o["type"] in ("report", "grouping") for o in doc["objects"])
    parser_class, args = get_stix2_parser(
        internal,
        distribution,
        None,
        None,
        None,
        False,
        True,  # galaxies as tags: Shieldwall keeps galaxies as misp-galaxy tags
        single,
        MISP_org_uuid,
        distribution,
        None,
    )
    parser = parser_class()
    try:
        parser.load_stix_bundle(loaded)
        parser.parse_stix_bundle(**args)
    except Exception as exc:
        raise StixError(f"cannot be converted: {_reason(exc)}") from None
    for where, messages in dict(parser.errors).items():
        for message in messages:
            if any(message.startswith(s) for s in _SKIPPED):
                log.info("STIX import skipped: %s", message)
                continue
            raise StixError(message, object_id=_object_in(message) or str(where))
    found = parser.misp_events
    events = found if isinstance(found, list) else [found]
    mitre = _mitre_ids(doc["objects"])
    described = {
        o["id"].split("--", 1)[1]: o["description"]
        for o in doc["objects"]
        if o["type"] == "indicator" and o.get("description")
    }
    out = []
    for e in events:
        shaped = _event_dict(e)
        _clean(shaped, identities, internal, mitre)
        if internal:
            # An attribute exported as an observation and an indicator comes back from the
            # observation; its comment travelled as the indicator's description.
            for a in shaped.get("Attribute") or []:
                if not a.get("comment") and a.get("uuid") in described:
                    a["comment"] = described[a["uuid"]]
        out.append(shaped)
    return out


def _misp_labelled(objects: list[dict[str, Any]]) -> bool:
    """Objects MISP or Shieldwall wrote without the grouping that marks a whole export (a
    TAXII page of indicators): MISP's own object types or `misp:` labels."""
    return any(
        str(o.get("type", "")).startswith("x-misp-")
        or any(str(label).startswith("misp:") for label in o.get("labels") or ())
        for o in objects
    )


_ANY_ID = re.compile(r"[a-z0-9-]+--[0-9a-fA-F-]{36}")


def _object_in(message: str) -> str | None:
    m = _ANY_ID.search(message)
    return m.group(0) if m else None
