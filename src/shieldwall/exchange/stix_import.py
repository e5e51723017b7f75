"""STIX 2.1 bundles in: every event of a bundle written in the caller's transaction, or none.

The bundle is checked whole and converted (exchange.stix.bundle_events) before the first
write; each event then goes through the same path as MISP's events/add (validation,
normalisation, the TLP guard, the audit log). A problem anywhere raises StixError naming the
object, and the caller rolls the transaction back, so nothing is half-imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from shieldwall.context import Ctx
from shieldwall.exchange.stix import StixError, bundle_events
from shieldwall.intel.errors import Conflict, DomainError
from shieldwall.intel.events import create_event
from shieldwall.intel.models import Event
from shieldwall.intel.schemas import EventIn


def _attribute_uuid(raw: Mapping[str, Any], field: str | None) -> str | None:
    """The uuid of the attribute or object a field path such as attributes[3].value names."""
    if not field:
        return None
    head = field.split(".", 1)[0]
    for key, block in (("attributes[", "Attribute"), ("objects[", "Object")):
        if head.startswith(key) and head.endswith("]") and head[len(key) : -1].isdigit():
            items = raw.get(block) or []
            index = int(head[len(key) : -1])
            if index < len(items):
                return str(items[index].get("uuid") or "")
    return None


def import_bundle(
    session: Session,
    ctx: Ctx,
    bundle: Mapping[str, Any] | bytes,
    *,
    distribution: int = 0,
    sharing_group_id: int | None = None,
) -> list[Event]:
    """Write the events of a STIX 2.1 bundle with the given distribution (0 by default: the
    importing organisation only). Raises StixError before any write for a bad bundle, and
    for an event the store refuses (the caller rolls back what was written)."""
    if distribution == 4 and sharing_group_id is None:
        raise StixError("distribution 4 needs a sharing group", object_id="distribution")
    # The converter wants a sharing group of its own for 4; the events get ours below.
    raws = bundle_events(bundle, distribution=0 if distribution == 4 else distribution)
    validated: list[tuple[dict[str, Any], EventIn]] = []
    for raw in raws:
        raw["distribution"] = distribution
        raw["sharing_group_id"] = sharing_group_id if distribution == 4 else None
        label = f"event {raw.get('uuid', '')}"
        try:
            validated.append((raw, EventIn.model_validate(raw)))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise StixError(f"{loc}: {first['msg']}", object_id=label) from None
    created = []
    for raw, data in validated:
        try:
            created.append(create_event(session, ctx, data))
        except Conflict:
            raise  # 409: the event (or an attribute uuid) is already stored here
        except DomainError as exc:
            where = _attribute_uuid(raw, exc.field)
            detail = f"{exc.field}: {exc.detail}" if exc.field else exc.detail
            raise StixError(
                detail, object_id=f"attribute {where}" if where else f"event {data.uuid}"
            ) from None
    return created
