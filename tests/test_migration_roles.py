"""Migration 0015: existing officials become admins, existing tokens keep every scope, and
the downgrade removes the new columns (SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from newsletter import migrate
from newsletter.db import create_db_engine
from tests.conftest import DatabaseFactory


def test_existing_officials_become_admins_and_tokens_keep_every_scope(
    database_factory: DatabaseFactory,
) -> None:
    """Rows made before roles and scopes: admin, and all four scopes; downgrade undoes it."""
    url = database_factory.empty_url()
    config = migrate.alembic_config(url)
    command.upgrade(config, "0014_areas")
    engine = create_db_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO admin_users (username, password_hash, created_at, failed_logins,"
                    " session_version) VALUES ('canbo', 'x', CURRENT_TIMESTAMP, 0, 0)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO api_tokens (name, token_hash, created_at)"
                    " VALUES ('cms', 'h', CURRENT_TIMESTAMP)"
                )
            )
        command.upgrade(config, "0015_roles_approval")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT role FROM admin_users")).scalar_one() == "admin"
            assert (
                conn.execute(text("SELECT scopes FROM api_tokens")).scalar_one()
                == "read articles:write bulletins:draft bulletins:send"
            )
        command.downgrade(config, "0014_areas")
        inspector = inspect(engine)
        assert "role" not in {c["name"] for c in inspector.get_columns("admin_users")}
        assert "scopes" not in {c["name"] for c in inspector.get_columns("api_tokens")}
        campaign_columns = {c["name"] for c in inspector.get_columns("campaigns")}
        assert not campaign_columns & {"approved_by", "send_at", "emergency_reason"}
        command.upgrade(config, "0015_roles_approval")  # and up again
    finally:
        engine.dispose()
