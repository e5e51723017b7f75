"""Settings a site admin changes while Shieldwall runs: stored in the database over the
environment's values, audited, and read through a short cache so every process and worker
sees a change within a few seconds (the writing process at once)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column

from shieldwall.audit.service import record
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.clock import now
from shieldwall.config import Settings, get_settings
from shieldwall.context import Ctx
from shieldwall.db.base import Base, UTCDateTime
from shieldwall.db.engine import get_database
from shieldwall.intel.errors import InvalidInput, NotFound, RestartRequired
from shieldwall.intel.visibility import ReadOptions

# How long a process trusts what it read from the table before reading it again.
CACHE_SECONDS = 5.0

# Settings that take effect on their next use: every reader asks effective_settings().
RUNTIME = (
    "correlation_cap",
    "ssdeep_threshold",
    "advanced_correlations",
    "sighting_policy",
    "unpublished_private",
    "attachment_max_mb",
    "local_feeds",
    "lifecycle_interval_minutes",
    "login_max_failures",
    "login_lockout_seconds",
    "auth_failure_limit",
    "auth_failure_window_seconds",
)

# Why the others are refused: what reads them does so once, at start-up.
RESTART_REASONS = {
    "database_url": "the database connection is opened at start-up",
    "host": "the listening address is bound at start-up",
    "port": "the listening port is bound at start-up",
    "secret_key": "the secret key signs sessions and seals the audit log; it changes only with a restart",
    "var_dir": "the data directory is opened at start-up",
    "base_url": "links and feed manifests are built from it by every process at start-up",
    "max_body_mb": "the request size limit is installed at start-up",
    "environment": "the environment decides the security defaults at start-up",
    "log_json": "logging is configured at start-up",
    "org_name": "the host organisation is created on first run only",
    "admin_email": "the first site admin is created on first run only",
    "feed_scheduler": "the feed scheduler is started or not with the server",
    "lifecycle_job": "the expiry job is started or not with the server",
    "sqlite_cache_mb": "SQLite's cache is sized when a connection opens",
    "response_job": "the response job is started or not with the server",
    "smtp_password": "secrets are set in the environment, never stored in the database",
}


class RuntimeSetting(Base):
    __tablename__ = "runtime_settings"

    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    value: Mapped[str] = mapped_column(sa.Text)  # JSON
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    modified_by: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


def env_name(name: str) -> str:
    return f"SHIELDWALL_{name.upper()}"


@lru_cache(maxsize=64)
def _adapter(name: str) -> TypeAdapter[Any]:
    """The setting's type with its bounds, as Settings declares them."""
    field = Settings.model_fields[name]
    kind: Any = field.annotation
    return TypeAdapter(Annotated[(kind, *field.metadata)] if field.metadata else kind)


def check_value(name: str, value: Any) -> Any:
    """The value as the setting's type, or InvalidInput naming the setting and the reason."""
    known(name)
    if name not in RUNTIME:
        reason = RESTART_REASONS.get(name, "it is read at start-up")
        raise RestartRequired(
            f"{name} cannot change while Shieldwall runs ({reason}): "
            f"set {env_name(name)} and restart",
            field=name,
        )
    if isinstance(value, str) and isinstance(getattr(get_settings(), name), bool):
        value = value.strip().lower()
        value = {"1": True, "0": False, "true": True, "false": False}.get(value, value)
    try:
        return _adapter(name).validate_python(value, strict=False)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        raise InvalidInput(f"{name}: {reason}", field=name) from None


def known(name: str) -> None:
    if name not in Settings.model_fields or name.startswith("_"):
        raise NotFound(f"Shieldwall has no setting {name}", field="setting")


@dataclass
class _Cached:
    expires: float
    values: dict[str, Any]


_cache: dict[str, _Cached] = {}
_lock = threading.Lock()


def _database_key() -> str:
    return str(get_database().engine.url)


def stored(session: Session) -> dict[str, Any]:
    """The valid values in the table; a value the current code no longer accepts is skipped
    (its default or environment value applies)."""
    out: dict[str, Any] = {}
    for name, raw in session.execute(sa.select(RuntimeSetting.name, RuntimeSetting.value)):
        if name not in RUNTIME:
            continue
        try:
            out[name] = _adapter(name).validate_python(json.loads(raw))
        except (ValueError, ValidationError):
            continue
    return out


def _overrides() -> dict[str, Any]:
    key = _database_key()
    hit = _cache.get(key)
    if hit is not None and hit.expires > time.monotonic():
        return hit.values
    try:
        with get_database().read_session() as session:
            values = stored(session)
    except sa.exc.SQLAlchemyError:  # no schema yet (before `db upgrade`): the environment's
        values = {}
    with _lock:
        _cache[key] = _Cached(time.monotonic() + CACHE_SECONDS, values)
    return values


def effective_settings(base: Settings | None = None) -> Settings:
    """The settings in force: the environment's, with the runtime values over them."""
    base = base or get_settings()
    values = _overrides()
    return base.model_copy(update=values) if values else base


def read_options(settings: Settings | None = None) -> ReadOptions:
    """The read options the settings in force give every reader (unpublished events
    private to their organisation, who reads sightings)."""
    s = settings or effective_settings()
    return ReadOptions(unpublished_private=s.unpublished_private, sighting_policy=s.sighting_policy)


_CHANGED = "shieldwall.runtime_settings_changed"


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    # The writing process sees its change at once; others within CACHE_SECONDS.
    if session.info.pop(_CHANGED, False):
        forget()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)


def forget() -> None:
    """Drop this process's cached values (after a write, or in tests)."""
    with _lock:
        _cache.clear()


def sources(session: Session | None, base: Settings | None = None) -> dict[str, tuple[Any, str]]:
    """Every setting's value and where it comes from: default, environment or database
    (no session: before the database exists)."""
    base = base or get_settings()
    db_values = stored(session) if session is not None else {}
    out: dict[str, tuple[Any, str]] = {}
    for name in Settings.model_fields:
        if name in db_values:
            out[name] = (db_values[name], "database")
        elif name in base.model_fields_set:
            out[name] = (getattr(base, name), "environment")
        else:
            out[name] = (getattr(base, name), "default")
    return out


def set_value(session: Session, ctx: Ctx, name: str, value: Any) -> Any:
    """Store a runtime value (site admins only), audited in the same transaction."""
    require(ctx, Permission.SITE_ADMIN)
    checked = check_value(name, value)
    row = session.get(RuntimeSetting, name)
    before = None if row is None else json.loads(row.value)
    encoded = json.dumps(checked)
    if row is None:
        session.add(RuntimeSetting(name=name, value=encoded, modified_by=ctx.principal.user_id))
    else:
        row.value, row.modified_at, row.modified_by = encoded, now(), ctx.principal.user_id
    _changed(session, ctx, "update", name, before, checked)
    return checked


def _changed(session: Session, ctx: Ctx, action: str, name: str, before: Any, after: Any) -> None:
    """Audit a change in its transaction; every process's cache learns of it after commit."""
    session.flush()
    title = f"{name} set to {after}" if action == "update" else f"{name} reset"
    change = {"name": name, "value": [before, after]}
    record(session, ctx.actor, action, "Setting", title=title, change=change)
    session.info[_CHANGED] = True


def reset_value(session: Session, ctx: Ctx, name: str) -> None:
    """Remove a runtime value: the environment's (or the default) applies again."""
    require(ctx, Permission.SITE_ADMIN)
    known(name)
    row = session.get(RuntimeSetting, name)
    if row is None:
        return
    before = json.loads(row.value)
    session.delete(row)
    _changed(session, ctx, "delete", name, before, None)


@dataclass(frozen=True)
class SettingInfo:
    name: str
    env: str
    value: Any  # JSON-safe; secrets masked
    shown: str  # as `shieldwall config show` prints it
    source: str  # "default", "environment" or "database"
    runtime: bool
    reason: str | None  # why a change needs a restart


def _safe(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def describe(session: Session | None, base: Settings | None = None) -> list[SettingInfo]:
    """Every setting: its value in force, where it comes from, whether it changes at
    runtime (and if not, why)."""
    base = base or get_settings()
    found = sources(session, base)
    shown = base.model_copy(update={n: v for n, (v, s) in found.items() if s == "database"})
    printed = shown.shown()
    out = []
    for name, (value, source) in found.items():
        env = env_name(name)
        text = printed.get(env, str(_safe(value)))
        masked = name in ("secret_key", "database_url")
        out.append(
            SettingInfo(
                name=name,
                env=env,
                value=text if masked else _safe(value),
                shown=text,
                source=source,
                runtime=name in RUNTIME,
                reason=None if name in RUNTIME else RESTART_REASONS.get(name, "read at start-up"),
            )
        )
    return out


def info(session: Session, name: str) -> SettingInfo:
    known(name)
    return next(i for i in describe(session) if i.name == name)
