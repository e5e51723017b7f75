"""Test fixtures: a real database (SQLite, or PostgreSQL when SHIELDWALL_TEST_DATABASE_URL
points at one), migrated with Alembic, emptied between tests; API clients per principal."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from shieldwall import server_settings
from shieldwall.auth import service as auth
from shieldwall.config import Settings, get_settings
from shieldwall.context import system_ctx
from shieldwall.db.engine import Database, set_database
from shieldwall.db.migrate import upgrade
from shieldwall.db.models import metadata

PG_URL = os.environ.get("SHIELDWALL_TEST_DATABASE_URL", "")


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _pg_database(base_url: str) -> str:
    """A fresh database per test worker on the PostgreSQL server."""
    # The pid keeps concurrent pytest runs against one server apart.
    name = f"shieldwall_test_{_worker()}_{os.getpid()}"
    admin = sa.create_engine(base_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    if PG_URL:
        return _pg_database(PG_URL)
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'shieldwall.db'}"


_TIMED_JOBS = (
    "SHIELDWALL_FEED_SCHEDULER",
    "SHIELDWALL_LIFECYCLE_JOB",
    "SHIELDWALL_TAXII_JOB",
    "SHIELDWALL_RETRO_HUNT_JOB",
    "SHIELDWALL_RESPONSE_JOB",
)


@pytest.fixture(scope="session")
def database(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    var = tmp_path_factory.mktemp("var")
    os.environ["SHIELDWALL_VAR_DIR"] = str(var)
    os.environ["SHIELDWALL_DATABASE_URL"] = database_url
    os.environ.setdefault("SHIELDWALL_SECRET_KEY", "test-secret-key-" + "x" * 32)
    # The server's timed jobs stay off: one firing mid-test writes beside the test (a TAXII
    # render holding event rows deadlocked a test's DELETE on PostgreSQL). The tests of the
    # jobs run their loops themselves.
    for job in _TIMED_JOBS:
        os.environ.setdefault(job, "false")
    get_settings.cache_clear()
    db = Database(database_url)
    upgrade(db.engine)
    set_database(db)
    yield db
    set_database(None)
    db.dispose()
    if PG_URL:
        _drop_pg_database(database_url)


def _drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# Reference data from the MISP packages stays between tests; only its switches are reset.
_REFERENCE = ("taxonomies", "warninglists", "galaxies", "galaxy_clusters")


def _empty(db: Database) -> None:
    tables = [t.name for t in reversed(metadata.sorted_tables) if t.name not in _REFERENCE]
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE taxonomies SET enabled = false, required = false"))
        conn.execute(sa.text("UPDATE warninglists SET enabled = false"))
        if db.is_sqlite:
            for name in tables:
                conn.execute(sa.text(f'DELETE FROM "{name}"'))
        else:
            conn.execute(
                sa.text(
                    "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
                )
            )
    server_settings.forget()  # runtime values cached from the previous test's rows


@dataclass
class Instance:
    """The seeded instance: host organisation and site admin."""

    db: Database
    host_org_id: int
    admin_id: int
    admin_key: str
    admin_password: str


@pytest.fixture
def instance(database: Database) -> Iterator[Instance]:
    _empty(database)
    with database.writing() as session:
        boot = auth.bootstrap(session, org_name="HOST-CERT", email="admin@host.test")
        assert boot is not None
        inst = Instance(database, boot.org.id, boot.user.id, boot.api_key, boot.password)
    yield inst


@pytest.fixture
def app(instance: Instance) -> Any:
    from shieldwall.app import create_app

    return create_app(get_settings())


class Api:
    """A TestClient bound to one API key."""

    def __init__(self, client: TestClient, key: str) -> None:
        self.client = client
        self.key = key
        self.headers = {"Authorization": key}

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers=self.headers, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.client.post(url, headers=self.headers, **kw)

    def patch(self, url: str, **kw: Any) -> Any:
        return self.client.patch(url, headers=self.headers, **kw)

    def put(self, url: str, **kw: Any) -> Any:
        return self.client.put(url, headers=self.headers, **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        return self.client.delete(url, headers=self.headers, **kw)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def admin(client: TestClient, instance: Instance) -> Api:
    return Api(client, instance.admin_key)


@dataclass
class Member:
    org_id: int
    user_id: int
    api: Api
    email: str


@pytest.fixture
def make_user(instance: Instance, client: TestClient):  # type: ignore[no-untyped-def]
    """make_user(org_name, role="user") -> Member; creates the organisation when missing."""

    def make(org_name: str, role: str = "user", email: str | None = None) -> Member:
        ctx = system_ctx(instance.host_org_id)
        with instance.db.writing() as session:
            try:
                org = auth.get_org(session, org_name)
            except Exception:
                org = auth.create_org(session, ctx, {"name": org_name})
            user = auth.create_user(
                session,
                ctx,
                email=email or f"{uuid.uuid4().hex[:8]}@{org_name.lower()}.test",
                org_ref=org.id,
                role_ref=role,
                password="a-long-test-password",
            )
            _, key = auth.create_key(session, ctx, user)
            return Member(org.id, user.id, Api(client, key), user.email)

    return make


@pytest.fixture
def settings() -> Settings:
    return get_settings()


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    return tmp_path
