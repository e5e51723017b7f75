"""Typed settings: every SHIELDWALL_* variable, checked once at start-up."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_SECRET_FILE = "secret_key"


def default_var_dir() -> Path:
    return Path(os.environ.get("SHIELDWALL_VAR_DIR", "var")).resolve()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHIELDWALL_", extra="ignore")

    var_dir: Path = Field(default_factory=default_var_dir, description="runtime data directory")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty = SQLite in var_dir")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    secret_key: SecretStr | None = None
    base_url: str = ""
    max_body_mb: int = Field(default=50, ge=1, le=4096)
    environment: Literal["development", "production", "test"] = "development"
    # MISP's MISP.unpublishedprivate: unpublished events readable by their owner only.
    unpublished_private: bool = False
    # Who reads a sighting of an attribute they may read, as MISP's Plugin.Sightings_policy:
    # "owner" (0: the event's owner organisation and the sighting's), "reporters" (1: also
    # every organisation that reported a sighting on the event), "event" (2: whoever reads
    # the event), "host" (3: the owner's rule, plus the host organisation's sightings).
    sighting_policy: Literal["owner", "reporters", "event", "host"] = "owner"
    login_max_failures: int = Field(default=10, ge=1)
    login_lockout_seconds: int = Field(default=300, ge=1)
    log_json: bool | None = None
    # First run only: the host organisation and the site admin `shieldwall up`/`init` create.
    org_name: str = Field(default="ORGNAME", min_length=1, max_length=255)
    admin_email: str = Field(default="admin@admin.test", min_length=3, max_length=255)
    # Failed API key or login attempts from one address before it is refused for a while.
    auth_failure_limit: int = Field(default=30, ge=1)
    auth_failure_window_seconds: int = Field(default=300, ge=1)
    # Feeds: fetch scheduled feeds inside the server (off: run `shieldwall feed fetch --due`
    # from cron), and whether feeds may read paths on this machine (as MISP's may).
    feed_scheduler: bool = True
    local_feeds: bool = True
    # SQLite's page cache per connection (MiB): the indexes of a million attributes take a
    # few hundred MiB, and an insert or a probe that misses the cache reads the file again.
    sqlite_cache_mb: int = Field(default=16, ge=2, le=16384)
    # The most page cache a bulk import's connection takes (MiB): about half the database
    # file, held while the import runs. Its inserts land all over the indexes, and each
    # commit writes every page it dirtied.
    sqlite_bulk_cache_mb: int = Field(default=256, ge=2, le=16384)
    # Sensor rules: an attribute's rules take sids from base + 4 x its id (stable across
    # exports); the rules that load Suricata datasets take the few sids just below the base.
    sensor_sid_base: int = Field(default=10_000_000, ge=1_000_000, le=1_000_000_000)
    # Correlation: a value shared by more attributes than the cap is reported as
    # over-correlating instead of linked; ssdeep hashes correlate from this similarity score
    # (0-100); advanced correlations are CIDR containment and ssdeep similarity.
    correlation_cap: int = Field(default=100, ge=1, le=100_000)
    ssdeep_threshold: int = Field(default=40, ge=1, le=100)
    advanced_correlations: bool = True
    # Indicator lifecycle: mark expired indicators inside the server every so many minutes
    # (off: run `shieldwall indicators expire` from cron).
    lifecycle_job: bool = True
    lifecycle_interval_minutes: int = Field(default=60, ge=1, le=10080)
    # Largest file an attachment or malware-sample attribute may carry (MiB, before base64).
    attachment_max_mb: int = Field(default=25, ge=1, le=1024)
    # TAXII: page size when a client gives no limit, the largest it may ask for, and how
    # often (seconds) the server renders changed events into stored STIX objects and
    # completes POSTs left pending (off: run `shieldwall taxii render` from cron).
    taxii_default_limit: int = Field(default=1000, ge=1, le=100_000)
    taxii_max_limit: int = Field(default=10_000, ge=1, le=100_000)
    taxii_job: bool = True
    taxii_interval_seconds: int = Field(default=10, ge=1, le=86_400)
    # Retro-hunts: hunt each sensor's retained telemetry for newly published indicators
    # inside the server every so many minutes (off: run `shieldwall hunt --retro` from cron).
    retro_hunt_job: bool = True
    retro_hunt_interval_minutes: int = Field(default=15, ge=1, le=10080)
    # Incident response: the server's pass that flags SLA breaches, ends deployments on
    # time, routes published intel to constituencies and delivers webhooks and mail, every
    # so many seconds (off: run `shieldwall response run` from cron).
    response_job: bool = True
    response_interval_seconds: int = Field(default=30, ge=1, le=3600)
    # Webhooks: attempts before a delivery is given up, and the wait for an answer.
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # Mail (notifications and digests): no SMTP host, no mail.
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    mail_from: str = Field(default="shieldwall@localhost", min_length=3, max_length=255)
    # The key read from (or generated into) var_dir/secret_key; SHIELDWALL_SECRET_KEY wins.
    _file_secret: str | None = PrivateAttr(default=None)

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.var_dir / 'shieldwall.db'}"

    @property
    def effective_base_url(self) -> str:
        return self.base_url or f"http://{self.host}:{self.port}"

    @property
    def attachment_max_bytes(self) -> int:
        return self.attachment_max_mb * 1024 * 1024

    @property
    def max_body_bytes(self) -> int:
        return self.max_body_mb * 1024 * 1024

    def ensure_secret_key(self) -> str:
        """Return the secret key, generating one into var_dir on first run."""
        if self.secret_key is not None:
            value = self.secret_key.get_secret_value()
            if self.environment == "production" and len(value) < 32:
                raise ValueError("SHIELDWALL_SECRET_KEY must be at least 32 characters")
            return value
        if self._file_secret is None:
            self._file_secret = _read_or_create_secret(self.var_dir / _SECRET_FILE)
        return self._file_secret

    def shown(self) -> dict[str, str]:
        """The effective values, secrets masked, for `shieldwall config show`."""
        url = self.effective_database_url
        masked_url = _mask_url_password(url)
        secret_src = (
            "set (SHIELDWALL_SECRET_KEY)"
            if self.secret_key is not None
            else f"generated in {self.var_dir / _SECRET_FILE}"
        )
        return {
            "SHIELDWALL_DATABASE_URL": masked_url,
            "SHIELDWALL_HOST": self.host,
            "SHIELDWALL_PORT": str(self.port),
            "SHIELDWALL_SECRET_KEY": f"******** ({secret_src})",
            "SHIELDWALL_BASE_URL": self.effective_base_url,
            "SHIELDWALL_MAX_BODY_MB": str(self.max_body_mb),
            "SHIELDWALL_VAR_DIR": str(self.var_dir),
            "SHIELDWALL_ENVIRONMENT": self.environment,
            "SHIELDWALL_UNPUBLISHED_PRIVATE": str(self.unpublished_private).lower(),
            "SHIELDWALL_SIGHTING_POLICY": self.sighting_policy,
            "SHIELDWALL_LOGIN_MAX_FAILURES": str(self.login_max_failures),
            "SHIELDWALL_LOGIN_LOCKOUT_SECONDS": str(self.login_lockout_seconds),
            "SHIELDWALL_ORG_NAME": self.org_name,
            "SHIELDWALL_ADMIN_EMAIL": self.admin_email,
            "SHIELDWALL_AUTH_FAILURE_LIMIT": str(self.auth_failure_limit),
            "SHIELDWALL_AUTH_FAILURE_WINDOW_SECONDS": str(self.auth_failure_window_seconds),
            "SHIELDWALL_FEED_SCHEDULER": str(self.feed_scheduler).lower(),
            "SHIELDWALL_LOCAL_FEEDS": str(self.local_feeds).lower(),
            "SHIELDWALL_SQLITE_CACHE_MB": str(self.sqlite_cache_mb),
            "SHIELDWALL_SQLITE_BULK_CACHE_MB": str(self.sqlite_bulk_cache_mb),
            "SHIELDWALL_SENSOR_SID_BASE": str(self.sensor_sid_base),
            "SHIELDWALL_CORRELATION_CAP": str(self.correlation_cap),
            "SHIELDWALL_SSDEEP_THRESHOLD": str(self.ssdeep_threshold),
            "SHIELDWALL_ADVANCED_CORRELATIONS": str(self.advanced_correlations).lower(),
            "SHIELDWALL_LIFECYCLE_JOB": str(self.lifecycle_job).lower(),
            "SHIELDWALL_LIFECYCLE_INTERVAL_MINUTES": str(self.lifecycle_interval_minutes),
            "SHIELDWALL_ATTACHMENT_MAX_MB": str(self.attachment_max_mb),
            "SHIELDWALL_TAXII_DEFAULT_LIMIT": str(self.taxii_default_limit),
            "SHIELDWALL_TAXII_MAX_LIMIT": str(self.taxii_max_limit),
            "SHIELDWALL_TAXII_JOB": str(self.taxii_job).lower(),
            "SHIELDWALL_TAXII_INTERVAL_SECONDS": str(self.taxii_interval_seconds),
            "SHIELDWALL_RETRO_HUNT_JOB": str(self.retro_hunt_job).lower(),
            "SHIELDWALL_RETRO_HUNT_INTERVAL_MINUTES": str(self.retro_hunt_interval_minutes),
            "SHIELDWALL_RESPONSE_JOB": str(self.response_job).lower(),
            "SHIELDWALL_RESPONSE_INTERVAL_SECONDS": str(self.response_interval_seconds),
            "SHIELDWALL_WEBHOOK_MAX_ATTEMPTS": str(self.webhook_max_attempts),
            "SHIELDWALL_WEBHOOK_TIMEOUT_SECONDS": str(self.webhook_timeout_seconds),
            "SHIELDWALL_SMTP_HOST": self.smtp_host or "(none: no mail is sent)",
            "SHIELDWALL_SMTP_PORT": str(self.smtp_port),
            "SHIELDWALL_SMTP_USERNAME": self.smtp_username,
            "SHIELDWALL_SMTP_PASSWORD": "********" if self.smtp_password else "",
            "SHIELDWALL_SMTP_SECURITY": self.smtp_security,
            "SHIELDWALL_SMTP_TIMEOUT_SECONDS": str(self.smtp_timeout_seconds),
            "SHIELDWALL_MAIL_FROM": self.mail_from,
        }


def _read_secret(path: Path) -> str:
    value = path.read_text().strip()
    if not value:
        raise ValueError(
            f"{path} is empty: delete it to generate a new secret key, or set SHIELDWALL_SECRET_KEY"
        )
    return value


def _read_or_create_secret(path: Path) -> str:
    """The key in `path`, created (0600) when missing. The file appears whole or not at all,
    and when several processes start at once they all end up with the one that was written first."""
    if path.exists():
        return _read_secret(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    tmp = path.with_name(f".{_SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # atomic: fails if another process got there first
        except FileExistsError:
            raise
        except OSError:  # a filesystem without hard links: create in place instead
            out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(out, "w") as fh:
                fh.write(value)
    except FileExistsError:
        return _read_secret(path)
    finally:
        tmp.unlink(missing_ok=True)
    return value


def _mask_url_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as given, it holds no parsed secret
        return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
