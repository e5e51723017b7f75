"""Schema migrations with Alembic: upgrade, current revision, drift check."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        # SQLite changes a table by copying it and dropping the old one; with foreign keys
        # enforced, dropping a table others reference with ON DELETE CASCADE deletes their
        # rows. Enforcement is off during the migrations (it can only be switched outside a
        # transaction) and the keys are checked before the commit instead.
        if sqlite:
            _sqlite_pragma(conn, "foreign_keys=OFF")
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(
                            f"the migrations left rows whose foreign keys point nowhere: "
                            f"{broken[:5]}"
                        )
        finally:
            if sqlite:
                _sqlite_pragma(conn, "foreign_keys=ON")


def _sqlite_pragma(conn: Connection, pragma: str) -> None:
    """A PRAGMA run by the driver itself, outside any transaction."""
    conn.connection.driver_connection.execute(f"PRAGMA {pragma}")  # type: ignore[union-attr]


# Revisions written side by side may branch from one parent; a later merge revision joins
# them. Upgrades go to every head and "current" means every head is applied.


def head_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return set(script.get_heads())


def head_revision() -> str:
    """The head revision(s), comma-separated, as current_revision prints them."""
    return ",".join(sorted(head_revisions()))


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def current_revision(engine: Engine) -> str | None:
    """The applied revision(s), comma-separated; None for an empty database."""
    return ",".join(sorted(current_revisions(engine))) or None


def is_current(engine: Engine) -> bool:
    return current_revisions(engine) == head_revisions()
