"""Correlations in MISP's shapes: RelatedEvent and RelatedAttribute in event views,
RelatedAttribute on restSearch attributes, and the correlation_exclusions paths."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.correlation import engine, service
from shieldwall.misp.common import json_body, misp_ok, misp_router, unwrap
from shieldwall.misp.shapes import attribute_shape, event_shape

router = misp_router()


def related_event_shape(e: dict[str, Any]) -> dict[str, Any]:
    """A related event as MISP lists it, from the native event summary."""
    return {"Event": event_shape(e, metadata=True)}


def add_related(
    db: ReadDB,
    ctx: CurrentCtx,
    shaped: dict[str, Any],
    *,
    granular: bool,
    sources: list[engine.Source] | None = None,
) -> None:
    """RelatedEvent (the events sharing a value with this one, most shared first) and, when
    asked, RelatedAttribute: source attribute id -> the correlating attributes elsewhere.
    `sources`: the event's correlating attributes when the caller has them."""
    found = engine.for_event(db, ctx.principal, ctx.opts, int(shaped["id"]), sources=sources)
    events = service.related_events(db, ctx, found)
    # MISP lists events sharing as many values newest first.
    ranked = sorted(events, key=lambda e: (-e["correlating_values"], -e["id"]))
    shaped["RelatedEvent"] = [related_event_shape(e) for e in ranked]
    if granular:
        by_id = {e["id"]: e for e in events}
        related: dict[str, list[dict[str, Any]]] = {}
        for m in found.matches:
            e = by_id[m.event_id]
            related.setdefault(str(m.source_id), []).append(
                {
                    "id": str(m.event_id),
                    "attribute_id": str(m.attribute_id),
                    "value": m.value,
                    "org_id": str(e["orgc"]["id"]),
                    "info": e["info"],
                    "date": e["date"],
                }
            )
        shaped["RelatedAttribute"] = related


def attach_related_attributes(db: ReadDB, ctx: CurrentCtx, attrs: list[dict[str, Any]]) -> None:
    """restSearch includeCorrelations: each attribute's correlating attributes, with their
    event."""
    related, events = service.related_attributes(db, ctx, [int(a["id"]) for a in attrs])
    for a in attrs:
        a["RelatedAttribute"] = [
            {**attribute_shape(r), "Event": event_shape(events[r["event_id"]], metadata=True)}
            for r in related.get(int(a["id"]), [])
        ]


def _exclusion_shape(x: dict[str, Any]) -> dict[str, Any]:
    return {
        "CorrelationExclusion": {
            "id": str(x["id"]),
            "value": x["value"],
            "comment": x["comment"],
            "from_json": False,
        }
    }


@router.get("/correlation_exclusions")
@router.get("/correlation_exclusions/index")
def exclusion_index(ctx: CurrentCtx, db: ReadDB) -> list[dict[str, Any]]:
    return [_exclusion_shape(x) for x in service.list_exclusions(db, ctx)]


@router.get("/correlation_exclusions/view/{ref}")
def exclusion_view(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return _exclusion_shape(service.get_exclusion(db, ctx, ref))


@router.post("/correlation_exclusions/add")
async def exclusion_add(request: Request, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    body = unwrap(await json_body(request), "CorrelationExclusion")
    value = body.get("value") if isinstance(body, dict) else None
    comment = body.get("comment") if isinstance(body, dict) else None
    out = service.add_exclusion(db, ctx, str(value or ""), str(comment or ""))
    db.commit()
    return _exclusion_shape(out)


@router.post("/correlation_exclusions/delete/{ref}")
@router.delete("/correlation_exclusions/delete/{ref}")
def exclusion_delete(request: Request, ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    service.delete_exclusion(db, ctx, ref)
    db.commit()
    return misp_ok("Correlation exclusion deleted.", str(request.url.path), id=ref)


@router.post("/correlation_exclusions/clean")
def exclusion_clean(request: Request, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    # Correlations are computed when read, so excluded values have nothing stored to clean.
    service.list_exclusions(db, ctx)  # site admins only, as every exclusion path
    return misp_ok("Nothing to clean: exclusions apply on every read.", str(request.url.path))
