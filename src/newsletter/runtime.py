"""What a process holds: settings, the database engine and its session factory."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from newsletter.address_key import AddressKey
from newsletter.config import Settings
from newsletter.db import SessionFactory, create_db_engine, create_session_factory


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: Engine
    sessions: SessionFactory

    def close(self) -> None:
        self.engine.dispose()


def build_runtime(settings: Settings) -> Runtime:
    engine = create_db_engine(settings.database_url)
    sessions = create_session_factory(engine, address_key=AddressKey.from_settings(settings))
    return Runtime(settings=settings, engine=engine, sessions=sessions)
