"""Settings: defaults, SHIELDWALL_* variables, and the secret key generated on first start."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from shieldwall.api.deps import session_serializer
from shieldwall.config import Settings, get_settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SHIELDWALL_* variable set, working directory a fresh temporary one."""
    for name in list(os.environ):
        if name.startswith("SHIELDWALL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults(clean_env: Path) -> None:
    s = Settings()
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.effective_base_url == "http://127.0.0.1:8000"
    assert s.var_dir == clean_env / "var"
    assert s.database_url == ""
    assert s.effective_database_url == f"sqlite:///{clean_env / 'var' / 'shieldwall.db'}"
    assert s.environment == "development"
    assert s.secret_key is None
    assert s.max_body_mb == 50 and s.max_body_bytes == 50 * 1024 * 1024
    assert s.unpublished_private is False and s.sighting_policy == "owner"
    assert (s.login_max_failures, s.login_lockout_seconds) == (10, 300)
    # Reading the settings creates nothing on disk.
    assert not (clean_env / "var").exists()


def test_environment_variables_override(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    var = clean_env / "elsewhere"
    monkeypatch.setenv("SHIELDWALL_VAR_DIR", str(var))
    monkeypatch.setenv("SHIELDWALL_HOST", "0.0.0.0")
    monkeypatch.setenv("SHIELDWALL_PORT", "9443")
    monkeypatch.setenv("SHIELDWALL_BASE_URL", "https://intel.example.org/")
    monkeypatch.setenv("SHIELDWALL_UNPUBLISHED_PRIVATE", "true")
    monkeypatch.setenv("SHIELDWALL_LOGIN_MAX_FAILURES", "3")
    s = Settings()
    assert s.var_dir == var
    assert s.effective_database_url == f"sqlite:///{var / 'shieldwall.db'}"
    assert (s.host, s.port) == ("0.0.0.0", 9443)
    assert s.effective_base_url == "https://intel.example.org"
    assert s.unpublished_private is True and s.login_max_failures == 3
    monkeypatch.setenv("SHIELDWALL_DATABASE_URL", "postgresql+psycopg://u:p@db/shieldwall")
    assert Settings().effective_database_url == "postgresql+psycopg://u:p@db/shieldwall"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SHIELDWALL_PORT", "0"),
        ("SHIELDWALL_PORT", "65536"),
        ("SHIELDWALL_PORT", "http"),
        ("SHIELDWALL_ENVIRONMENT", "staging"),
        ("SHIELDWALL_SIGHTING_POLICY", "everyone"),
        ("SHIELDWALL_LOGIN_MAX_FAILURES", "0"),
        ("SHIELDWALL_MAX_BODY_MB", "0"),
    ],
)
def test_bad_values_refused_at_start(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert name.removeprefix("SHIELDWALL_").lower() in str(info.value)


def test_secret_key_generated_with_0600_and_reused(clean_env: Path) -> None:
    first = Settings()
    key = first.ensure_secret_key()
    path = clean_env / "var" / "secret_key"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) >= 32 and path.read_text().strip() == key
    assert first.ensure_secret_key() == key
    mtime = path.stat().st_mtime_ns

    # The next start reads the same key and leaves the file alone.
    second = Settings()
    assert second.ensure_secret_key() == key
    assert path.stat().st_mtime_ns == mtime and stat.S_IMODE(path.stat().st_mode) == 0o600
    # So a session signed before the restart is still good after it.
    token = session_serializer(first).dumps({"uid": 1, "csrf": "c"})
    assert session_serializer(second).loads(token) == {"uid": 1, "csrf": "c"}
    # Another instance's var dir gets a key of its own.
    other = Settings(var_dir=clean_env / "other")
    assert other.ensure_secret_key() != key


def test_generated_key_is_0600_whatever_the_umask(clean_env: Path) -> None:
    old = os.umask(0)
    try:
        Settings().ensure_secret_key()
    finally:
        os.umask(old)
    assert stat.S_IMODE((clean_env / "var" / "secret_key").stat().st_mode) == 0o600


def test_config_show_tells_where_the_secret_comes_from(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Settings()
    key = s.ensure_secret_key()
    shown = s.shown()["SHIELDWALL_SECRET_KEY"]
    assert key not in shown and shown.startswith("********")
    assert f"generated in {clean_env / 'var' / 'secret_key'}" in shown
    monkeypatch.setenv("SHIELDWALL_SECRET_KEY", "k" * 40)
    shown = Settings().shown()["SHIELDWALL_SECRET_KEY"]
    assert "k" * 40 not in shown and "set (SHIELDWALL_SECRET_KEY)" in shown


def test_secret_key_from_environment_writes_no_file(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIELDWALL_SECRET_KEY", "an-operator-chosen-secret-key-of-40-chars")
    s = Settings()
    assert s.ensure_secret_key() == "an-operator-chosen-secret-key-of-40-chars"
    assert not (clean_env / "var" / "secret_key").exists()


def test_production_refuses_a_short_secret(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIELDWALL_ENVIRONMENT", "production")
    monkeypatch.setenv("SHIELDWALL_SECRET_KEY", "short")
    with pytest.raises(ValueError, match="at least 32"):
        Settings().ensure_secret_key()


def test_empty_secret_file_is_refused(clean_env: Path) -> None:
    (clean_env / "var").mkdir()
    (clean_env / "var" / "secret_key").write_text("\n")
    with pytest.raises(ValueError, match="secret_key"):
        Settings().ensure_secret_key()


def test_two_starts_racing_agree_on_one_key(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process writes the key between our look and our write: we use its key."""
    winner = Settings()
    key = winner.ensure_secret_key()
    path = clean_env / "var" / "secret_key"
    real_exists = Path.exists

    def exists_late(self: Path) -> bool:  # the file appeared just after this check
        return False if self == path else real_exists(self)

    monkeypatch.setattr(Path, "exists", exists_late)
    assert Settings().ensure_secret_key() == key
    monkeypatch.undo()
    assert path.read_text().strip() == key


def test_get_settings_is_cached_until_cleared(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    get_settings.cache_clear()
    try:
        a = get_settings()
        assert get_settings() is a
        monkeypatch.setenv("SHIELDWALL_PORT", "8080")
        assert get_settings().port == 8000
        get_settings.cache_clear()
        assert get_settings().port == 8080
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
