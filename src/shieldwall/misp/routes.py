"""MISP's connection calls: version, the calling user, the attribute type table."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from shieldwall.api.deps import CurrentCtx, ReadDB, SettingsDep
from shieldwall.auth.models import User
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.config import Settings
from shieldwall.intel import statistics
from shieldwall.intel.errors import InvalidInput, NotFound
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


# ---------------------------------------------------------------- settings and statistics

# MISP setting names and the Shieldwall setting (environment variable) behind each.
_SETTINGS: dict[str, tuple[str, str, Callable[[Settings], Any]]] = {
    "MISP.baseurl": ("SHIELDWALL_BASE_URL", "string", lambda s: s.effective_base_url),
    "MISP.unpublishedprivate": (
        "SHIELDWALL_UNPUBLISHED_PRIVATE",
        "boolean",
        lambda s: s.unpublished_private,
    ),
    "Plugin.Sightings_policy": (
        "SHIELDWALL_SIGHTING_POLICY",
        "numeric",
        lambda s: 0 if s.sighting_policy == "owner" else 2,
    ),
    "MISP.org": ("SHIELDWALL_ORG_NAME", "string", lambda s: s.org_name),
    "Security.max_body_size": ("SHIELDWALL_MAX_BODY_MB", "numeric", lambda s: s.max_body_mb),
}


def _setting(name: str, settings: Settings) -> dict[str, Any]:
    env, kind, read = _SETTINGS[name]
    return {
        "setting": name,
        "value": read(settings),
        "type": kind,
        "level": 0,
        "description": f"Set by the environment variable {env} (read at start-up).",
        "editable": False,
    }


@router.get("/servers/serverSettings")
@router.get("/servers/serverSettings/{named:path}")
def server_settings(ctx: CurrentCtx, settings: SettingsDep, named: str = "") -> dict[str, Any]:
    require(ctx, Permission.SITE_ADMIN)
    return {"finalSettings": [_setting(name, settings) for name in _SETTINGS]}


@router.get("/servers/getSetting/{name}")
def get_setting(name: str, ctx: CurrentCtx, settings: SettingsDep) -> dict[str, Any]:
    require(ctx, Permission.SITE_ADMIN)
    if name not in _SETTINGS:
        raise NotFound(f"Shieldwall has no setting {name}", field="setting")
    return _setting(name, settings)


@router.post("/servers/serverSettingsEdit/{name}")
def edit_setting(name: str, ctx: CurrentCtx) -> dict[str, Any]:
    require(ctx, Permission.SITE_ADMIN)
    if name not in _SETTINGS:
        raise NotFound(f"Shieldwall has no setting {name}", field="setting")
    env = _SETTINGS[name][0]
    raise InvalidInput(
        f"{name} is the environment variable {env}: set it there and restart Shieldwall",
        field="setting",
    )


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
