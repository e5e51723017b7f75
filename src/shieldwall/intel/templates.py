"""MISP object templates shipped with pymisp, and validation of objects against them."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from shieldwall.intel.errors import InvalidInput


@dataclass(frozen=True)
class ObjectTemplate:
    name: str
    uuid: str
    version: int
    description: str
    meta_category: str
    attributes: dict[str, dict[str, Any]]
    required: tuple[str, ...]
    required_one_of: tuple[str, ...]
    definition: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def raw(self) -> dict[str, Any]:
        """The template as pymisp ships it (its definition.json)."""
        return self.definition

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "uuid": self.uuid,
            "version": self.version,
            "description": self.description,
            "meta_category": self.meta_category,
            "required": list(self.required),
            "required_one_of": list(self.required_one_of),
            "attributes": {
                rel: {
                    "type": spec.get("misp-attribute"),
                    "multiple": bool(spec.get("multiple", False)),
                    "categories": spec.get("categories", []),
                    "description": spec.get("description", ""),
                    "disable_correlation": bool(spec.get("disable_correlation", False)),
                    "to_ids": spec.get("to_ids"),
                    "values_list": spec.get("values_list", spec.get("sane_default")),
                }
                for rel, spec in self.attributes.items()
            },
        }


@lru_cache(maxsize=1)
def templates() -> dict[str, ObjectTemplate]:
    root = resources.files("pymisp").joinpath("data/misp-objects/objects")
    found: dict[str, ObjectTemplate] = {}
    for entry in root.iterdir():
        definition = entry.joinpath("definition.json")
        if not definition.is_file():
            continue
        data = json.loads(definition.read_text("utf-8"))
        tpl = ObjectTemplate(
            name=data["name"],
            uuid=data["uuid"],
            version=int(data.get("version", 1)),
            description=data.get("description", ""),
            meta_category=data.get("meta-category", ""),
            attributes=data.get("attributes", {}),
            required=tuple(data.get("required", [])),
            required_one_of=tuple(data.get("requiredOneOf", [])),
            definition=data,
        )
        found[tpl.name] = tpl
    return found


def by_name_or_uuid(ref: str) -> ObjectTemplate | None:
    table = templates()
    if ref in table:
        return table[ref]
    for tpl in table.values():
        if tpl.uuid == ref:
            return tpl
    return None


def validate_object(
    name: str, template_uuid: str | None, attributes: list[tuple[str | None, str]]
) -> ObjectTemplate | None:
    """Check (object_relation, type) pairs against the template; None for unknown templates
    that carry no template uuid (free-form objects, as MISP accepts from sync)."""
    tpl = by_name_or_uuid(template_uuid) if template_uuid else None
    if tpl is None:
        tpl = templates().get(name)
    if tpl is None:
        if template_uuid:
            raise InvalidInput(f"unknown object template {template_uuid!r}", field="template_uuid")
        return None
    counts: Counter[str] = Counter()
    for i, (relation, attr_type) in enumerate(attributes):
        field = f"Attribute[{i}].object_relation"
        if not relation:
            raise InvalidInput("an object attribute needs an object_relation", field=field)
        spec = tpl.attributes.get(relation)
        if spec is None:
            raise InvalidInput(
                f"object template {tpl.name!r} has no relation {relation!r}", field=field
            )
        expected = spec.get("misp-attribute")
        if expected and attr_type != expected:
            raise InvalidInput(
                f"relation {relation!r} of {tpl.name!r} takes type {expected!r}, not {attr_type!r}",
                field=f"Attribute[{i}].type",
            )
        counts[relation] += 1
        if counts[relation] > 1 and not spec.get("multiple", False):
            raise InvalidInput(
                f"relation {relation!r} of {tpl.name!r} may appear only once", field=field
            )
    missing = [r for r in tpl.required if r not in counts]
    if missing:
        raise InvalidInput(f"object {tpl.name!r} requires {', '.join(missing)}", field="Attribute")
    if tpl.required_one_of and not any(r in counts for r in tpl.required_one_of):
        raise InvalidInput(
            f"object {tpl.name!r} requires one of {', '.join(tpl.required_one_of)}",
            field="Attribute",
        )
    return tpl
