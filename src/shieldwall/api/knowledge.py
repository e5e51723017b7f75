"""Taxonomies, warninglists and galaxies (the MISP community's data) in the native API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.knowledge import galaxies, taxonomies, warninglists
from shieldwall.text import Text

router = APIRouter(tags=["knowledge"])


def _taxonomy(row: Any, data: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "namespace": row.namespace,
        "description": data.description or "",
        "version": row.version,
        "enabled": row.enabled,
        "required": row.required,
        "exclusive": bool(data.exclusive),
    }


@router.get("/taxonomies")
def list_taxonomies(ctx: CurrentCtx, db: ReadDB) -> list[dict[str, Any]]:
    return [_taxonomy(r, d) for r, d in taxonomies.list_taxonomies(db)]


@router.get("/taxonomies/{ref}")
def get_taxonomy(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    row, data = taxonomies.get_taxonomy(db, ref)
    return {**_taxonomy(row, data), "entries": taxonomies.entries(data)}


class Switch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool


@router.patch("/taxonomies/{ref}")
def switch_taxonomy(ref: str, body: Switch, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    taxonomies.set_enabled(db, ctx, ref, body.enabled)
    out = _taxonomy(*taxonomies.get_taxonomy(db, ref))
    db.commit()
    return out


def _warninglist(row: Any, data: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "type": row.type,
        "description": data.description or "",
        "version": row.version,
        "enabled": row.enabled,
        "entries": len(data.list),
        "attribute_types": list(data.matching_attributes or []),
    }


@router.get("/warninglists")
def list_warninglists(
    ctx: CurrentCtx, db: ReadDB, enabled: bool | None = None
) -> list[dict[str, Any]]:
    return [_warninglist(r, d) for r, d in warninglists.list_warninglists(db, enabled=enabled)]


@router.get("/warninglists/{ref}")
def get_warninglist(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    row, data = warninglists.get_warninglist(db, ref)
    return {**_warninglist(row, data), "values": sorted(data.list)}


@router.patch("/warninglists/{ref}")
def switch_warninglist(ref: str, body: Switch, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    warninglists.set_enabled(db, ctx, [ref], body.enabled)
    out = _warninglist(*warninglists.get_warninglist(db, ref))
    db.commit()
    return out


class CheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    values: list[Text] = Field(min_length=1, max_length=10_000)


@router.post("/warninglists/check")
def check_values(body: CheckIn, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    """The enabled warninglists each value hits, whatever the lists' attribute types, with
    the entry it matched (values with no hit are left out)."""
    hits = warninglists.check_values(db, list(body.values))
    return {
        "hits": {
            value: [
                {
                    "id": h.warninglist.id,
                    "name": h.warninglist.name,
                    "type": h.warninglist.type,
                    "match": h.match,
                }
                for h in found
            ]
            for value, found in hits.items()
        }
    }


@router.get("/galaxies")
def list_galaxies(
    ctx: CurrentCtx, db: ReadDB, q: Annotated[Text | None, Query(max_length=255)] = None
) -> list[dict[str, Any]]:
    return [galaxies.galaxy_out(g) for g in galaxies.list_galaxies(db, q)]


@router.get("/galaxies/{ref}/clusters")
def list_clusters(
    ref: str,
    ctx: CurrentCtx,
    db: WriteDB,
    q: Annotated[Text | None, Query(max_length=255)] = None,
) -> list[dict[str, Any]]:
    g = galaxies.get_galaxy(db, ref)
    out = [galaxies.cluster_out(c, g) for c in galaxies.clusters(db, g, q)]
    db.commit()  # clusters are stored the first time their galaxy is opened
    return out


@router.get("/galaxy-clusters/{ref}")
def get_cluster(ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    c, g = galaxies.get_cluster(db, ref)
    out = {**galaxies.cluster_out(c, g), "galaxy": galaxies.galaxy_out(g)}
    db.commit()
    return out


class AttachIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cluster: str = Field(description="cluster id or uuid", min_length=1, max_length=64)
    local: bool = False


@router.post("/events/{ref}/galaxy-clusters", tags=["events"])
def attach_to_event(ref: str, body: AttachIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    cluster, added = galaxies.attach_cluster(db, ctx, "event", ref, body.cluster, local=body.local)
    db.commit()
    return {"tag": cluster.tag_name, "added": bool(added)}


@router.post("/attributes/{ref}/galaxy-clusters", tags=["attributes"])
def attach_to_attribute(ref: str, body: AttachIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    cluster, added = galaxies.attach_cluster(
        db, ctx, "attribute", ref, body.cluster, local=body.local
    )
    db.commit()
    return {"tag": cluster.tag_name, "added": bool(added)}
