"""Test harness: every store test runs on SQLite and on PostgreSQL, each rolled back.

PostgreSQL and Redis are real servers on this machine (see README "Tests"). When one
cannot be reached the run stops and names it; only NEWSLETTER_TEST_SERVICES=none skips
the tests that need them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from newsletter import migrate
from newsletter.config import Settings
from newsletter.db import create_db_engine
from tests.support.smtp import SMTPServer

PG_URL = os.environ.get(
    "NEWSLETTER_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("NEWSLETTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SERVICES_OFF = os.environ.get("NEWSLETTER_TEST_SERVICES", "").lower() == "none"
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"

START_HINTS = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": (
        'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" '
        "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log"
    ),
}

# CI explores the same cases every run, so a green main stays green; a developer's run
# explores new ones each time (and finds what CI would not).
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.services),
]


def _unreachable_services() -> list[str]:
    problems = []
    pg = make_url(PG_URL)
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 5})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any driver error means "not reachable"
        problems.append(
            f"PostgreSQL at {pg.host}:{pg.port} ({type(exc).__name__}); start it with: "
            f"{START_HINTS['PostgreSQL']}"
        )
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        problems.append(
            f"Redis at {REDIS_URL} ({type(exc).__name__}); start it with: {START_HINTS['Redis']}"
        )
    return problems


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "redis_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.services)
    needs_services = [item for item in items if item.get_closest_marker("services")]
    if not needs_services:
        return
    if SERVICES_OFF:
        skip = pytest.mark.skip(reason="NEWSLETTER_TEST_SERVICES=none: PostgreSQL/Redis tests off")
        for item in needs_services:
            item.add_marker(skip)
        return
    problems = _unreachable_services()
    if problems:
        pytest.exit(
            "cannot reach the services the tests need:\n  - "
            + "\n  - ".join(problems)
            + "\n(set NEWSLETTER_TEST_SERVICES=none to skip those tests on a laptop without them)",
            returncode=3,
        )


# --- databases -------------------------------------------------------------------------


def _pg_admin_engine() -> Engine:
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT")


def _pg_url_for(database: str) -> str:
    return make_url(PG_URL).set(database=database).render_as_string(hide_password=False)


def _drop_pg_database(admin: Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class DatabaseFactory:
    """Makes fresh, migrated databases quickly by copying one migrated template."""

    def __init__(self, backend: str, workdir: Path) -> None:
        self.backend = backend
        self.workdir = workdir
        self.prefix = f"nlt_{uuid.uuid4().hex[:10]}"
        self.created: list[str] = []
        self._counter = 0
        if backend == "sqlite":
            self.template = str(workdir / "template.db")
            migrate.upgrade(f"sqlite:///{self.template}")
        else:
            self.template = f"{self.prefix}_tmpl"
            admin = _pg_admin_engine()
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.template}"'))
            admin.dispose()
            self.created.append(self.template)
            migrate.upgrade(_pg_url_for(self.template))

    def _next_name(self, tag: str) -> str:
        self._counter += 1
        return f"{self.prefix}_{tag}{self._counter}"

    def new_url(self) -> str:
        name = self._next_name("d")
        if self.backend == "sqlite":
            path = self.workdir / f"{name}.db"
            shutil.copyfile(self.template, path)
            self.created.append(name)  # else every SQLite URL names the same file
            return f"sqlite:///{path}"
        admin = _pg_admin_engine()
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        admin.dispose()
        self.created.append(name)
        return _pg_url_for(name)

    def empty_url(self) -> str:
        """A database with no schema at all (for migration tests)."""
        name = self._next_name("e")
        if self.backend == "sqlite":
            return f"sqlite:///{self.workdir / name}.db"
        admin = _pg_admin_engine()
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        self.created.append(name)
        return _pg_url_for(name)

    def drop_all(self) -> None:
        if self.backend != "postgresql":
            return
        admin = _pg_admin_engine()
        for name in reversed(self.created):
            _drop_pg_database(admin, name)
        admin.dispose()


@pytest.fixture(scope="session")
def _database_factories(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, DatabaseFactory]]:
    factories: dict[str, DatabaseFactory] = {}
    yield factories
    for factory in factories.values():
        factory.drop_all()


@pytest.fixture(params=BACKENDS)
def db_backend(request: pytest.FixtureRequest) -> str:
    """The database backend under test; every store test runs on both."""
    backend: str = request.param
    return backend


@pytest.fixture
def database_factory(
    db_backend: str,
    _database_factories: dict[str, DatabaseFactory],
    tmp_path_factory: pytest.TempPathFactory,
) -> DatabaseFactory:
    if db_backend not in _database_factories:
        _database_factories[db_backend] = DatabaseFactory(
            db_backend, tmp_path_factory.mktemp(f"db-{db_backend}")
        )
    return _database_factories[db_backend]


@pytest.fixture
def database_url(database_factory: DatabaseFactory) -> str:
    """A fresh, migrated database of its own: for tests where other processes read it."""
    return database_factory.new_url()


@pytest.fixture(scope="session")
def _shared_engines(
    _database_factories: dict[str, DatabaseFactory],
) -> Iterator[dict[str, Engine]]:
    engines: dict[str, Engine] = {}
    yield engines
    for engine in engines.values():
        engine.dispose()


@pytest.fixture
def engine(
    database_factory: DatabaseFactory, db_backend: str, _shared_engines: dict[str, Engine]
) -> Engine:
    """One migrated database per backend for the whole run; tests roll back their work."""
    if db_backend not in _shared_engines:
        _shared_engines[db_backend] = create_db_engine(database_factory.new_url())
    return _shared_engines[db_backend]


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back when the test ends."""
    connection = engine.connect()
    outer = connection.begin()
    # Imported here: tests.support.keys imports this module for TEST_SECRET.
    from tests.support.keys import SESSION_KEY_INFO

    with Session(
        bind=connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        info=dict(SESSION_KEY_INFO),
    ) as s:
        yield s
    outer.rollback()
    connection.close()


# --- settings, mail, redis ---------------------------------------------------------------


@pytest.fixture
def settings_factory(tmp_path: Path) -> object:
    """Build Settings for a test: test environment, files under tmp_path."""

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "env": "test",
            "var_dir": tmp_path / "var",
            "secret_key": TEST_SECRET,
            "public_url": "https://bantin.example.gov.vn",
            "mail_from": "Bản tin Thành phố Hoa Sen <bantin@example.gov.vn>",
            "smtp_url": f"maildir:{tmp_path / 'outbox'}",
            "broker_url": f"sqla+sqlite:///{tmp_path / 'broker.db'}",
            "redis_url": "",
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A real SMTP server (aiosmtpd) on a loopback port, recording what it accepts."""
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The test Redis; keys written under `redis_prefix` are removed afterwards."""
    if SERVICES_OFF:
        pytest.skip("NEWSLETTER_TEST_SERVICES=none")
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"nltest:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
