"""Engine and session factory. Callers own transactions: `with factory.begin() as s:`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from newsletter.address_key import AddressKey

SessionFactory = sessionmaker[Session]


def normalize_database_url(url: str) -> str:
    """Accept `postgresql://` as a synonym for the psycopg 3 driver we ship."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(normalize_database_url(url)).get_backend_name() == "sqlite"


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and real transactions."""
    url = normalize_database_url(url)
    if not is_sqlite(url):
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)

    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("connect_args", {}).setdefault("timeout", 30)
    engine = create_engine(url, **kwargs)
    _give_sqlite_real_transactions(engine)
    return engine


def _give_sqlite_real_transactions(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; the
    # SQLAlchemy docs ("Serializable isolation / Savepoints / Transactional DDL")
    # prescribe taking it over like this. BEGIN IMMEDIATE takes the write lock up
    # front, so two writers wait on busy_timeout instead of failing with "locked".
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_session_factory(
    engine: Engine, *, address_key: AddressKey | None = None
) -> SessionFactory:
    """Sessions on `engine`; each carries `address_key` (what suppressions are hashed with).

    Without a key a session still works for everything but hashing an address, which
    raises `address_key.NoAddressKeyError` rather than hash under a wrong key.
    """
    # Imported here: address_key imports the models, which the engine helpers above
    # (used by migrations and the health check) do not need.
    from newsletter.address_key import SESSION_INFO

    info = {SESSION_INFO: address_key} if address_key is not None else {}
    return sessionmaker(bind=engine, expire_on_commit=False, info=info)
