"""MISP's connection calls: version, the calling user, the attribute type table."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from shieldwall.api.deps import CurrentCtx, ReadDB
from shieldwall.auth.models import User
from shieldwall.auth.permissions import Permission
from shieldwall.intel.types import type_table
from shieldwall.misp.common import MISP_VERSION, misp_router
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
