"""MISP's server settings calls over Shieldwall's settings: read, and written at runtime
for the settings that allow it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from shieldwall import server_settings as store
from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.config import Settings
from shieldwall.intel.errors import DomainError, InvalidInput, NotFound, RestartRequired
from shieldwall.misp.common import json_value, misp_ok, misp_router

router = misp_router()


def _same(v: Any) -> Any:
    return v


# MISP's Plugin.Sightings_policy numbers and Shieldwall's names for them.
SIGHTING_POLICIES = {"0": "owner", "1": "reporters", "2": "event", "3": "host"}


def _policy_in(v: Any) -> Any:
    if str(v).strip() not in SIGHTING_POLICIES:
        raise InvalidInput(
            "Plugin.Sightings_policy takes 0 (event owner), 1 (sighting reporters), 2 (everyone "
            "who can read the event) or 3 (event owner and the host organisation's sightings)",
            field="value",
        )
    return SIGHTING_POLICIES[str(v).strip()]


def _policy_out(s: Settings) -> int:
    return int(next(k for k, v in SIGHTING_POLICIES.items() if v == s.sighting_policy))


@dataclass(frozen=True)
class MispSetting:
    field: str
    kind: str  # MISP's "numeric", "boolean" or "string"
    read: Callable[[Settings], Any]
    write: Callable[[Any], Any] = _same


# MISP's names for the Shieldwall settings they mean; every setting also answers as
# `Shieldwall.<name>` (for instance Shieldwall.attachment_max_mb).
MISP_NAMES: dict[str, MispSetting] = {
    "MISP.baseurl": MispSetting("base_url", "string", lambda s: s.effective_base_url),
    "MISP.org": MispSetting("org_name", "string", lambda s: s.org_name),
    "MISP.unpublishedprivate": MispSetting(
        "unpublished_private", "boolean", lambda s: s.unpublished_private
    ),
    "Plugin.Sightings_policy": MispSetting(
        "sighting_policy",
        "numeric",
        _policy_out,
        _policy_in,
    ),
    "MISP.correlation_limit": MispSetting(
        "correlation_cap", "numeric", lambda s: s.correlation_cap
    ),
    "MISP.ssdeep_correlation_threshold": MispSetting(
        "ssdeep_threshold", "numeric", lambda s: s.ssdeep_threshold
    ),
    "MISP.enable_advanced_correlations": MispSetting(
        "advanced_correlations", "boolean", lambda s: s.advanced_correlations
    ),
    "Security.max_body_size": MispSetting("max_body_mb", "numeric", lambda s: s.max_body_mb),
}
_PREFIX = "Shieldwall."


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "numeric" if isinstance(value, (int, float)) else "string"


def resolve(name: str) -> MispSetting:
    """A MISP setting name (or Shieldwall.<name>) as the Shieldwall setting behind it."""
    if name in MISP_NAMES:
        return MISP_NAMES[name]
    field = name.removeprefix(_PREFIX) if name.startswith(_PREFIX) else None
    if field is None or field not in Settings.model_fields:
        raise NotFound(
            f"Setting {name} is invalid: Shieldwall answers "
            f"{', '.join(MISP_NAMES)} and {_PREFIX}<name> for its own settings",
            field="setting",
        )
    return MispSetting(field, "", lambda s: getattr(s, field))


def _shape(
    name: str, target: MispSetting, info: store.SettingInfo, now: Settings
) -> dict[str, Any]:
    masked = info.name in ("secret_key", "database_url")
    value = info.value if masked else target.read(now)
    if info.runtime:
        how = (
            f"Changes at runtime (servers/serverSettingsEdit, PUT /api/v1/settings/{info.name}, "
            f"shieldwall config set {info.name}); {info.env} gives its start-up value."
        )
    else:
        how = f"Set by the environment variable {info.env}; needs a restart ({info.reason})."
    return {
        "setting": name,
        "name": name,
        "value": value,
        "type": target.kind or _kind(value),
        "level": 0,
        "description": how,
        "editable": info.runtime,
        "redacted": masked,
        "source": info.source,
        "environment_variable": info.env,
    }


def _all(db: ReadDB) -> list[dict[str, Any]]:
    infos = {i.name: i for i in store.describe(db)}
    now = store.effective_settings()
    out = [_shape(n, t, infos[t.field], now) for n, t in MISP_NAMES.items()]
    named = {t.field for t in MISP_NAMES.values()}
    for field, info in infos.items():
        if field not in named:
            out.append(_shape(f"{_PREFIX}{field}", resolve(f"{_PREFIX}{field}"), info, now))
    return out


@router.get("/servers/serverSettings")
@router.get("/servers/serverSettings/{named:path}")
def server_settings(ctx: CurrentCtx, db: ReadDB, named: str = "") -> dict[str, Any]:
    require(ctx, Permission.SITE_ADMIN)
    return {"finalSettings": _all(db)}


@router.get("/servers/getSetting/{name}")
def get_setting(name: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    require(ctx, Permission.SITE_ADMIN)
    target = resolve(name)
    return _shape(name, target, store.info(db, target.field), store.effective_settings())


@router.post("/servers/serverSettingsEdit/{name}")
@router.post("/servers/serverSettingsEdit/{name}/{rest:path}")
async def edit_setting(
    name: str, request: Request, ctx: CurrentCtx, db: WriteDB, rest: str = ""
) -> dict[str, Any]:
    """PyMISP's set_server_setting: {"value": ..., "force": ...} (or under "Server")."""
    require(ctx, Permission.SITE_ADMIN)
    target = resolve(name)
    body = await json_value(request)
    if isinstance(body, dict) and isinstance(body.get("Server"), dict):
        body = body["Server"]
    value = body.get("value") if isinstance(body, dict) else None
    if value is None or isinstance(value, (dict, list)):
        raise InvalidInput('Invalid input. Expected: {"value": "new_setting"}', field="value")
    try:
        store.set_value(db, ctx, target.field, target.write(value))
    except RestartRequired as exc:
        # MISP's answer for a setting it will not change over the API.
        raise _NotOverTheApi(exc.detail, field="setting") from None
    except InvalidInput as exc:
        raise InvalidInput(exc.detail, field="value") from None
    db.commit()
    return misp_ok("Field updated", f"/servers/serverSettingsEdit/{name}")


class _NotOverTheApi(DomainError):
    status = 405
    title = "Method not allowed"
