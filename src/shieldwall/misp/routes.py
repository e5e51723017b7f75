"""MISP's connection calls: version, the calling user, the attribute type table."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from shieldwall.api.deps import CurrentCtx, ReadDB
from shieldwall.api.search import parse_time
from shieldwall.auth.models import User
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import host_org
from shieldwall.intel import statistics
from shieldwall.intel.errors import NotFound
from shieldwall.intel.types import type_table
from shieldwall.knowledge import galaxies, taxonomies
from shieldwall.misp.common import MISP_VERSION, flag, misp_router, named_params
from shieldwall.misp.knowledge import cluster_shape
from shieldwall.misp.shapes import user_shape

router = misp_router()


@router.get("/servers/getVersion")
@router.get("/servers/getVersion.json")
def get_version(ctx: CurrentCtx) -> dict[str, Any]:
    p = ctx.principal
    return {
        "version": MISP_VERSION,
        "pymisp_recommended_version": version("pymisp"),
        "perm_sync": p.can(Permission.SYNC),
        "perm_sighting": True,
        "perm_galaxy_editor": False,
        "request_encoding": ["gzip"],
        "filter_sightings": True,
        "product": "Shieldwall",
    }


@router.get("/users/view/me")
@router.get("/users/view/me.json")
def view_me(ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    user = db.get(User, ctx.principal.user_id)
    assert user is not None
    return user_shape(user)


@router.get("/attributes/describeTypes.json")
@router.get("/attributes/describeTypes")
def describe_types(ctx: CurrentCtx) -> dict[str, Any]:
    return {"result": type_table().raw}


# ---------------------------------------------------------------- statistics


_CONTEXTS = ("data", "orgs", "users", "tags", "attributehistogram", "sightings", "galaxyMatrix")


@router.get("/users/statistics")
@router.get("/users/statistics/{context}")
@router.get("/users/statistics/{context}/{named:path}")
def user_statistics(ctx: CurrentCtx, db: ReadDB, context: str = "data", named: str = "") -> Any:
    """MISP's statistics pages as JSON, each over what the caller may read."""
    params = named_params(named)
    if context == "data":
        return {"stats": statistics.overview(db, ctx)}
    if context == "orgs":
        return statistics.organisations(db, ctx, params.get("scope", "local"))
    if context == "users":
        return statistics.users_and_orgs(db, ctx)
    if context == "tags":
        return _tag_graph(db, statistics.tag_counts(db, ctx))
    if context == "attributehistogram":
        return statistics.attribute_histogram(db, ctx)
    if context == "sightings":
        since = params.get("timestamp")
        return statistics.own_sightings(db, ctx, parse_time(since, "timestamp") if since else None)
    if context == "galaxyMatrix":
        return _galaxy_matrix(db, ctx, params.get("galaxy_id"))
    raise NotFound(
        f"Invalid page {context!r}: the statistics are {', '.join(_CONTEXTS)}", field="context"
    )


def _tag_graph(db: ReadDB, counts: dict[str, int]) -> dict[str, Any]:
    """MISP's tag statistics graph: tags grouped by enabled taxonomy ("custom" otherwise)."""
    enabled = {t.namespace for t, _ in taxonomies.list_taxonomies(db) if t.enabled}
    flat: dict[str, dict[str, dict[str, Any]]] = {}
    for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        head = name.split(":", 1)[0] if ":" in name else ""
        group = head if head in enabled else "custom"
        flat.setdefault(group, {})[name] = {"name": name, "size": n}
    treemap = {
        "name": "tags",
        "children": [
            {"name": group, "children": list(tags.values())} for group, tags in flat.items()
        ],
    }
    return {"flatData": flat, "treemap": treemap}


def _galaxy_matrix(db: ReadDB, ctx: CurrentCtx, ref: str | None) -> dict[str, Any]:
    """MISP's galaxyMatrix: the galaxy's clusters by kill chain and phase, and how often
    each placed cluster's tag is on an event or attribute the caller may read."""
    galaxy, tabs, tags = galaxies.matrix_of(db, ref)
    scores = statistics.tag_scores(db, ctx, tags)
    matrix = {
        chain: {
            phase: [
                {**cluster_shape(c, galaxy), "external_id": (c.meta or {}).get("external_id")}
                for c in sorted(found, key=lambda c: (-scores.get(c.tag_name, 0), c.value))
            ]
            for phase, found in phases.items()
        }
        for chain, phases in tabs.items()
    }
    host = host_org(db)
    return {"matrix": matrix, "scores": scores, "instance-uuid": host.uuid if host else None}


@router.get("/attributes/attributeStatistics/{context}")
@router.get("/attributes/attributeStatistics/{context}/{percentage}")
def attribute_statistics(
    context: str, ctx: CurrentCtx, db: ReadDB, percentage: str | None = None
) -> dict[str, Any]:
    counts = statistics.attribute_counts_by(db, ctx, context)
    if flag(percentage):
        total = sum(counts.values()) or 1
        return {k: f"{round(100 * v / total, 3)}%" for k, v in counts.items()}
    return {k: str(v) for k, v in counts.items()}


@router.get("/tags/tagStatistics")
@router.get("/tags/tagStatistics/{percentage}")
@router.get("/tags/tagStatistics/{percentage}/{name_sort}")
def tag_statistics(
    ctx: CurrentCtx, db: ReadDB, percentage: str | None = None, name_sort: str | None = None
) -> dict[str, Any]:
    counts = statistics.tag_counts(db, ctx)
    order = (
        sorted(counts.items())
        if flag(name_sort)
        else sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    if flag(percentage):
        total = sum(counts.values()) or 1
        return {k: f"{round(100 * v / total, 3)}%" for k, v in order}
    return {k: v for k, v in order}
