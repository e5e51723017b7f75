"""MISP's connection calls: version, the calling user, the attribute type table."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from shieldwall.api.deps import CurrentCtx, ReadDB
from shieldwall.auth.models import User
from shieldwall.auth.permissions import Permission
from shieldwall.intel import statistics
from shieldwall.intel.errors import InvalidInput
from shieldwall.intel.types import type_table
from shieldwall.misp.common import MISP_VERSION, flag, misp_router
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


@router.get("/users/statistics")
@router.get("/users/statistics/{context}")
def user_statistics(ctx: CurrentCtx, db: ReadDB, context: str = "data") -> dict[str, Any]:
    if context != "data":
        raise InvalidInput(
            f"statistics context {context!r} is not available; use data", field="context"
        )
    return {"stats": statistics.overview(db, ctx)}


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
