"""MISP's taxonomy, warninglist and galaxy calls, over shieldwall.knowledge."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.intel.common import find_tags
from shieldwall.intel.errors import InvalidInput
from shieldwall.knowledge import galaxies, taxonomies, warninglists
from shieldwall.knowledge.models import Galaxy, GalaxyCluster, Taxonomy, Warninglist
from shieldwall.misp.common import (
    as_list,
    flag,
    json_body,
    json_value,
    misp_ok,
    misp_router,
    named_params,
    unwrap,
)

router = misp_router()


# ---------------------------------------------------------------- taxonomies


def _taxonomy_shape(row: Taxonomy, data: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "namespace": row.namespace,
        "description": data.description or "",
        "version": str(row.version),
        "enabled": row.enabled,
        "exclusive": bool(data.exclusive),
        "required": row.required,
        "highlighted": False,
    }


@router.get("/taxonomies/index")
@router.get("/taxonomies")
def taxonomy_index(ctx: CurrentCtx, db: ReadDB) -> list[dict[str, Any]]:
    rows = taxonomies.list_taxonomies(db)
    all_entries = {row.namespace: taxonomies.entries(data) for row, data in rows}
    existing = find_tags(db, [e["tag"] for es in all_entries.values() for e in es])
    return [
        {
            "Taxonomy": _taxonomy_shape(row, data),
            "total_count": len(all_entries[row.namespace]),
            "current_count": sum(1 for e in all_entries[row.namespace] if e["tag"] in existing),
        }
        for row, data in rows
    ]


@router.get("/taxonomies/view/{ref}")
def taxonomy_view(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    row, data = taxonomies.get_taxonomy(db, ref)
    entries = taxonomies.entries(data)
    existing = find_tags(db, [e["tag"] for e in entries])
    return {
        "Taxonomy": _taxonomy_shape(row, data),
        "entries": [
            {
                "tag": e["tag"],
                "expanded": e["expanded"],
                "description": e["description"],
                "exclusive_predicate": e["exclusive_predicate"],
                "existing_tag": (
                    {
                        "Tag": {
                            "id": str(existing[e["tag"]].id),
                            "name": e["tag"],
                            "hide_tag": existing[e["tag"]].hide_tag,
                        }
                    }
                    if e["tag"] in existing
                    else False
                ),
            }
            for e in entries
        ],
    }


@router.post("/taxonomies/enable/{ref}")
def taxonomy_enable(request: Request, ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    row = taxonomies.set_enabled(db, ctx, ref, True)
    db.commit()
    return misp_ok("Taxonomy enabled", request.url.path, id=str(row.id))


@router.post("/taxonomies/disable/{ref}")
def taxonomy_disable(request: Request, ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    row = taxonomies.set_enabled(db, ctx, ref, False)
    db.commit()
    return misp_ok("Taxonomy disabled", request.url.path, id=str(row.id))


@router.post("/taxonomies/addTag/{ref}")
def taxonomy_tags_on(request: Request, ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    row, _ = taxonomies.get_taxonomy(db, ref)
    if not row.enabled:
        raise InvalidInput(f"taxonomy {row.namespace} is not enabled", field="taxonomy")
    n = taxonomies.set_tags_shown(db, ctx, ref, True)
    db.commit()
    return misp_ok(f"{n} tags created or shown", request.url.path, id=str(row.id))


@router.post("/taxonomies/disableTag/{ref}")
def taxonomy_tags_off(request: Request, ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    n = taxonomies.set_tags_shown(db, ctx, ref, False)
    row, _ = taxonomies.get_taxonomy(db, ref)
    db.commit()
    return misp_ok(f"{n} tags hidden", request.url.path, id=str(row.id))


@router.post("/taxonomies/toggleRequired/{ref}")
async def taxonomy_required(
    request: Request, ref: str, ctx: CurrentCtx, db: WriteDB
) -> dict[str, Any]:
    body = unwrap(await json_body(request), "Taxonomy")
    required = flag(body.get("required")) if isinstance(body, dict) else None
    if required is None:
        raise InvalidInput("send Taxonomy.required as true or false", field="required")
    row = taxonomies.set_required(db, ctx, ref, required)
    db.commit()
    return misp_ok("Taxonomy updated", request.url.path, id=str(row.id))


@router.post("/taxonomies/update")
def taxonomy_update(request: Request, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    added = taxonomies.update(db, ctx)
    db.commit()
    return misp_ok(f"Taxonomies updated ({added} new)", request.url.path)


# ---------------------------------------------------------------- warninglists


def _warninglist_shape(row: Warninglist, data: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "type": row.type,
        "description": data.description or "",
        "version": str(row.version),
        "enabled": row.enabled,
        "default": True,
        "category": "false_positive",
        "warninglist_entry_count": str(len(data.list)),
        "valid_attributes": ", ".join(data.matching_attributes or []),
    }


@router.get("/warninglists/index")
@router.get("/warninglists")
def warninglist_index(request: Request, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    enabled = flag(request.query_params.get("enabled"))
    rows = warninglists.list_warninglists(db, enabled=enabled)
    return {"Warninglists": [{"Warninglist": _warninglist_shape(r, d)} for r, d in rows]}


@router.get("/warninglists/view/{ref}")
def warninglist_view(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    row, data = warninglists.get_warninglist(db, ref)
    shaped = _warninglist_shape(row, data)
    shaped["WarninglistEntry"] = [
        {"id": str(i + 1), "value": v, "warninglist_id": str(row.id)}
        for i, v in enumerate(data.list)
    ]
    shaped["WarninglistType"] = [
        {"type": t, "warninglist_id": str(row.id)} for t in data.matching_attributes or []
    ]
    return {"Warninglist": shaped}


@router.post("/warninglists/toggleEnable")
async def warninglist_toggle(request: Request, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    body = await json_body(request)
    refs: list[str | int] = [*as_list(body.get("id")), *as_list(body.get("name"))]
    enabled = flag(body.get("enabled")) if "enabled" in body else None
    rows = warninglists.set_enabled(db, ctx, refs, enabled)
    db.commit()
    on = sum(1 for r in rows if r.enabled)
    message = f"{on} warninglist(s) enabled" if on else f"{len(rows)} warninglist(s) disabled"
    return {"saved": True, "success": message, "message": message, "url": request.url.path}


@router.post("/warninglists/checkValue")
async def warninglist_check(ctx: CurrentCtx, db: ReadDB, request: Request) -> Any:
    body = await json_value(request)
    if isinstance(body, str):
        body = [body]
    if isinstance(body, dict):
        body = as_list(body.get("value") or body.get("values"))
    if not isinstance(body, list) or not all(isinstance(v, str) for v in body):
        raise InvalidInput("send a list of values", field="value")
    if len(body) > 10_000:
        raise InvalidInput("at most 10,000 values at once", field="value")
    hits = warninglists.check_values(db, body)
    if not hits:
        return []  # MISP's answer when nothing matches
    return {
        value: [
            {"id": str(h.warninglist.id), "name": h.warninglist.name, "matched": h.match}
            for h in found
        ]
        for value, found in hits.items()
    }


def attach_warnings(db: ReadDB, attrs: list[dict[str, Any]]) -> None:
    """includeWarninglistHits: MISP's `warnings` on each MISP-shaped attribute that is on an
    enabled warninglist applying to its type (the part of the value that hit, the entry it
    matched, the list). Every attribute is checked, whatever its to_ids flag."""
    found = warninglists.hits(db, [(a["type"], a["value"]) for a in attrs])
    for a, hit_list in zip(attrs, found, strict=True):
        if hit_list:
            a["warnings"] = [
                {
                    "value": h.value,
                    "match": h.match,
                    "warninglist_id": str(h.warninglist.id),
                    "warninglist_name": h.warninglist.name,
                    "warninglist_category": h.warninglist.category,
                }
                for h in hit_list
            ]


def event_attributes(shaped: dict[str, Any]) -> list[dict[str, Any]]:
    """The attributes of a MISP-shaped event, its objects' included."""
    return [
        *shaped.get("Attribute", []),
        *(a for o in shaped.get("Object", []) for a in o["Attribute"]),
    ]


@router.post("/warninglists/update")
def warninglist_update(request: Request, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    added = warninglists.update(db, ctx)
    db.commit()
    return misp_ok(f"Warninglists updated ({added} new)", request.url.path)


# ---------------------------------------------------------------- galaxies


def _galaxy_shape(g: Galaxy) -> dict[str, Any]:
    return {k: str(v) if k in ("id", "version") else v for k, v in galaxies.galaxy_out(g).items()}


def cluster_shape(c: GalaxyCluster, g: Galaxy) -> dict[str, Any]:
    out = galaxies.cluster_out(c, g)
    out["id"], out["galaxy_id"], out["version"] = str(c.id), str(g.id), str(g.version)
    out["default"] = True
    out["distribution"] = "3"
    out["published"] = True
    return out


def galaxy_block(db: ReadDB, tags: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """MISP's "Galaxy" list of an event or attribute: the clusters behind its galaxy tags,
    grouped by galaxy."""
    found = galaxies.clusters_for_tags(db, [t["name"] for t in tags])
    local = {t["name"]: bool(t.get("local")) for t in tags}
    grouped: dict[int, dict[str, Any]] = {}
    for c, g in found:
        block = grouped.setdefault(
            g["id"], {k: str(v) if k in ("id", "version") else v for k, v in g.items()}
        )
        block.setdefault("GalaxyCluster", []).append(
            {
                **c,
                "id": str(c["id"]),
                "galaxy_id": str(g["id"]),
                "version": str(c["version"]),
                "local": local.get(c["tag_name"], False),
            }
        )
    return list(grouped.values())


@router.get("/galaxies/index")
@router.get("/galaxies")
@router.post("/galaxies")
async def galaxy_index(request: Request, ctx: CurrentCtx, db: ReadDB) -> list[dict[str, Any]]:
    body = await json_body(request) if request.method == "POST" else {}
    search = body.get("value")
    if search is not None and not isinstance(search, str):
        raise InvalidInput("value is text", field="value")
    return [{"Galaxy": _galaxy_shape(g)} for g in galaxies.list_galaxies(db, search)]


@router.get("/galaxies/view/{ref}")
def galaxy_view(ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    g = galaxies.get_galaxy(db, ref)
    found = galaxies.clusters(db, g)
    out = {
        "Galaxy": _galaxy_shape(g),
        "GalaxyCluster": [cluster_shape(c, g) for c in found],
    }
    db.commit()  # the galaxy's clusters are stored the first time it is opened
    return out


@router.post("/galaxy_clusters/index/{ref}")
@router.get("/galaxy_clusters/index/{ref}")
@router.post("/galaxy_clusters/index/{ref}/{named:path}")
async def cluster_index(
    request: Request, ref: str, ctx: CurrentCtx, db: WriteDB, named: str = ""
) -> list[dict[str, Any]]:
    body = await json_body(request) if request.method == "POST" else {}
    params = {**named_params(named), **body}
    context = str(params.get("context") or "all")
    if context not in ("all", "default", "custom", "org", "orgc", "deleted"):
        raise InvalidInput(f"unknown context {context!r}", field="context")
    g = galaxies.get_galaxy(db, ref)
    search = params.get("searchall")
    if search is not None and not isinstance(search, str):
        raise InvalidInput("searchall is text", field="searchall")
    # Every cluster here comes from the community data: "custom", "org", "orgc" and
    # "deleted" have none.
    found = galaxies.clusters(db, g, search) if context in ("all", "default") else []
    out = [{"GalaxyCluster": cluster_shape(c, g)} for c in found]
    db.commit()
    return out


@router.get("/galaxy_clusters/view/{ref}")
def cluster_view(ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    c, g = galaxies.get_cluster(db, ref)
    out = {"GalaxyCluster": {**cluster_shape(c, g), "Galaxy": _galaxy_shape(g)}}
    db.commit()
    return out


@router.post("/galaxies/attachCluster/{target_id}/{target_type}")
@router.post("/galaxies/attachCluster/{target_id}/{target_type}/{named:path}")
async def attach_cluster(
    request: Request,
    target_id: str,
    target_type: str,
    ctx: CurrentCtx,
    db: WriteDB,
    named: str = "",
) -> dict[str, Any]:
    params = named_params(named)
    body = unwrap(await json_body(request), "Galaxy")
    cluster_ref = body.get("target_id") if isinstance(body, dict) else None
    if cluster_ref in (None, ""):
        raise InvalidInput("name the cluster in Galaxy.target_id", field="target_id")
    cluster, _ = galaxies.attach_cluster(
        db,
        ctx,
        target_type,
        target_id,
        str(cluster_ref),
        local=bool(flag(params.get("local"))),
    )
    db.commit()
    return {
        "saved": True,
        "success": "Cluster attached.",
        "check_publish": True,
        "message": f"{cluster.tag_name} attached",
        "url": request.url.path,
    }


@router.post("/galaxies/update")
def galaxy_update(request: Request, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    added = galaxies.update(db, ctx)
    db.commit()
    return misp_ok(f"Galaxies updated ({added} new)", request.url.path)


def add_galaxies(db: ReadDB, detail: dict[str, Any], shaped: dict[str, Any]) -> dict[str, Any]:
    """Fill MISP's Galaxy lists of a shaped event (and of its attributes that carry galaxy
    tags) from the native detail."""
    shaped["Galaxy"] = galaxy_block(db, detail.get("tags", []))
    natives = {a["uuid"]: a for a in detail.get("attributes", [])}
    natives.update({a["uuid"]: a for o in detail.get("objects", []) for a in o["attributes"]})
    for a in shaped.get("Attribute", []) + [
        a for o in shaped.get("Object", []) for a in o["Attribute"]
    ]:
        tags = natives.get(a["uuid"], {}).get("tags", [])
        if any(t["name"].startswith("misp-galaxy:") for t in tags):
            a["Galaxy"] = galaxy_block(db, tags)
    return shaped
