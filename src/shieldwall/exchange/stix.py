"""STIX 2.1 in and out for MISP-shaped events, through misp-stix (the converters MISP uses)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import stix2
from misp_stix_converter import (
    ExternalSTIX2toMISPParser,
    InternalSTIX2toMISPParser,
    MISPtoSTIX21Parser,
)


class StixError(ValueError):
    """A bundle that cannot be read or converted; the message names the object and why."""


def event_objects(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The STIX 2.1 objects for one MISP-shaped event (the inner dict of {"Event": ...})."""
    parser = MISPtoSTIX21Parser()
    parser.parse_misp_event({"Event": dict(event)})
    objects: list[dict[str, Any]] = orjson.loads(parser.bundle.serialize())["objects"]
    return objects


def _made_by_misp(objects: list[Any]) -> bool:
    return any(
        str(o.get("type", "")).startswith("x-misp-")
        or any(str(label).startswith("misp:") for label in o.get("labels", ()) or ())
        for o in objects
        if isinstance(o, Mapping)
    )


def bundle_events(bundle: Mapping[str, Any] | bytes) -> list[dict[str, Any]]:
    """MISP-shaped event dicts from a STIX 2.1 bundle."""
    try:
        raw = orjson.loads(bundle) if isinstance(bundle, bytes | bytearray) else dict(bundle)
    except orjson.JSONDecodeError as exc:
        raise StixError(f"the bundle is not JSON: {exc}") from None
    objects = raw.get("objects") if isinstance(raw, dict) else None
    if not isinstance(objects, list) or not objects:
        raise StixError("the bundle has no objects")
    parsed = []
    for obj in objects:
        ident = obj.get("id", "?") if isinstance(obj, Mapping) else "?"
        try:
            parsed.append(stix2.parse(obj, allow_custom=True, version="2.1"))
        except Exception as exc:  # stix2 raises many types; each names what is wrong
            raise StixError(f"{ident}: {exc}") from None
    parser: Any = (
        InternalSTIX2toMISPParser() if _made_by_misp(objects) else ExternalSTIX2toMISPParser()
    )
    try:
        parser.load_stix_bundle(stix2.v21.Bundle(objects=parsed, allow_custom=True))
        parser.parse_stix_bundle(single_event=True)
    except Exception as exc:  # misp-stix raises bare exceptions naming the object
        raise StixError(f"the bundle cannot be converted: {exc}") from None
    events = parser.misp_events if isinstance(parser.misp_events, list) else [parser.misp_event]
    out: list[dict[str, Any]] = []
    for event in events:
        data = orjson.loads(event.to_json())
        out.append(data.get("Event", data))
    return out
