"""`shieldwall backup` and `shieldwall restore` round-trip the database on both engines."""

from __future__ import annotations

import stat

import sqlalchemy as sa
from typer.testing import CliRunner

from shieldwall.cli.main import app as cli
from shieldwall.intel.models import Event


def _events(instance) -> list[str]:  # type: ignore[no-untyped-def]
    with instance.db.reading() as s:
        return sorted(s.execute(sa.select(Event.info)).scalars())


def test_backup_then_restore_brings_back_the_data(admin, instance, tmp_path) -> None:
    assert admin.post("/api/v1/events", json={"info": "kept"}).status_code == 201
    target = tmp_path / "backup.bin"
    result = CliRunner().invoke(cli, ["backup", str(target)])
    assert result.exit_code == 0, result.output
    assert target.stat().st_size > 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    later = admin.post("/api/v1/events", json={"info": "after the backup"}).json()
    assert _events(instance) == ["after the backup", "kept"]

    refused = CliRunner().invoke(cli, ["restore", str(target)], input="n\n")
    assert refused.exit_code == 1
    assert _events(instance) == ["after the backup", "kept"]

    result = CliRunner().invoke(cli, ["restore", "--yes", str(target)])
    assert result.exit_code == 0, result.output
    assert _events(instance) == ["kept"]
    assert admin.get(f"/api/v1/events/{later['uuid']}").status_code == 404
    verify = CliRunner().invoke(cli, ["audit", "verify"])
    assert verify.exit_code == 0, verify.output


def test_restore_of_a_missing_file_fails_cleanly(instance, tmp_path) -> None:
    result = CliRunner().invoke(cli, ["restore", "--yes", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "no such backup" in result.output
