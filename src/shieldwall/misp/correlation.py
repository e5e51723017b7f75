"""Correlations in MISP's shapes: RelatedEvent and RelatedAttribute in event views,
RelatedAttribute on restSearch attributes, and the correlation_exclusions paths."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.correlation import engine, service
from shieldwall.misp.common import json_body, misp_ok, misp_router, unwrap
from shieldwall.misp.shapes import epoch

router = misp_router()


def _org(ident: int, name: str, uuid: str) -> dict[str, Any]:
    return {"id": str(ident), "name": name, "uuid": uuid}


def related_event_shape(e: dict[str, Any]) -> dict[str, Any]:
    return {
        "Event": {
            "id": str(e["id"]),
            "date": e["date"].isoformat() if e["date"] else None,
            "threat_level_id": str(e["threat_level_id"]),
            "info": e["info"],
            "published": e["published"],
            "uuid": e["uuid"],
            "analysis": str(e["analysis"]),
            "timestamp": epoch(e["timestamp"]),
            "distribution": str(e["distribution"]),
            "org_id": str(e["org_id"]),
            "orgc_id": str(e["orgc_id"]),
            "Org": _org(e["org_id"], e["org_name"], e["org_uuid"]),
            "Orgc": _org(e["orgc_id"], e["orgc_name"], e["orgc_uuid"]),
        }
    }


def add_related(db: ReadDB, ctx: CurrentCtx, shaped: dict[str, Any], *, granular: bool) -> None:
    """RelatedEvent (the events sharing a value with this one, most shared first) and, when
    asked, RelatedAttribute: source attribute id -> the correlating attributes elsewhere."""
    found = engine.for_event(db, ctx.principal, ctx.opts, int(shaped["id"]))
    events = service.event_rows(db, set(found.event_ids()))
    shared: dict[int, set[str]] = {}
    for m in found.matches:
        shared.setdefault(m.event_id, set()).add(m.value)
    order = sorted(events, key=lambda i: (-len(shared[i]), -i))
    shaped["RelatedEvent"] = [related_event_shape(events[i]) for i in order]
    if granular:
        related: dict[str, list[dict[str, Any]]] = {}
        for m in found.matches:
            e = events[m.event_id]
            related.setdefault(str(m.source_id), []).append(
                {
                    "id": str(m.event_id),
                    "attribute_id": str(m.attribute_id),
                    "value": m.value,
                    "org_id": str(e["orgc_id"]),
                    "info": e["info"],
                    "date": e["date"].isoformat() if e["date"] else None,
                }
            )
        shaped["RelatedAttribute"] = related


def attach_related_attributes(db: ReadDB, ctx: CurrentCtx, attrs: list[dict[str, Any]]) -> None:
    """restSearch includeCorrelations: each attribute's correlating attributes, with their
    event."""
    related, events = service.related_attributes(db, ctx, [int(a["id"]) for a in attrs])
    for a in attrs:
        out = []
        for r in related.get(int(a["id"]), []):
            e = events[r["event_id"]]
            out.append(
                {
                    "id": str(r["id"]),
                    "event_id": str(r["event_id"]),
                    "object_id": str(r["object_id"] or 0),
                    "object_relation": r["object_relation"],
                    "category": r["category"],
                    "type": r["type"],
                    "value": r["value"],
                    "uuid": r["uuid"],
                    "timestamp": epoch(r["timestamp"]),
                    "distribution": str(r["distribution"]),
                    "sharing_group_id": str(r["sharing_group_id"] or 0),
                    "to_ids": r["to_ids"],
                    "comment": r["comment"],
                    "Event": {
                        "id": str(e["id"]),
                        "uuid": e["uuid"],
                        "info": e["info"],
                        "date": e["date"].isoformat() if e["date"] else None,
                        "org_id": str(e["org_id"]),
                        "orgc_id": str(e["orgc_id"]),
                        "published": e["published"],
                        "distribution": str(e["distribution"]),
                    },
                }
            )
        a["RelatedAttribute"] = out


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
