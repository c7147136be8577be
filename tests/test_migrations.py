"""Models and migrations agree, and `db upgrade` builds the whole schema on both backends."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from newsletter import migrate
from newsletter.db import create_db_engine
from newsletter.models import Base
from tests.conftest import DatabaseFactory

EXPECTED_TABLES = {
    "subscribers",
    "categories",
    "subscriber_categories",
    "consent_events",
    "feeds",
    "articles",
    "article_batches",
    "campaigns",
    "campaign_categories",
    "deliveries",
    "suppressions",
    "admin_users",
    "api_tokens",
    "audit_events",
    "areas",
    "subscriber_areas",
    "campaign_areas",
    "key_fingerprints",
}


def test_upgrade_on_empty_database_creates_every_table(database_factory: DatabaseFactory) -> None:
    """An empty database gets every table of the data model and the head revision."""
    url = database_factory.empty_url()
    migrate.upgrade(url)
    engine = create_db_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert tables - {"alembic_version"} == EXPECTED_TABLES
        assert migrate.current_revision(engine) == migrate.head_revision(url)
    finally:
        engine.dispose()


def test_models_and_migrations_agree(database_factory: DatabaseFactory) -> None:
    """Autogenerate finds no difference between the migrated schema and the models."""
    url = database_factory.empty_url()
    migrate.upgrade(url)
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_send_path_indexes_exist(database_factory: DatabaseFactory) -> None:
    """Deliveries are indexed by (campaign, status, id) for claims, subscribers by status."""
    url = database_factory.empty_url()
    migrate.upgrade(url)
    engine = create_db_engine(url)
    try:
        inspector = inspect(engine)
        delivery_indexes = {tuple(ix["column_names"]) for ix in inspector.get_indexes("deliveries")}
        subscriber_indexes = {
            tuple(ix["column_names"]) for ix in inspector.get_indexes("subscribers")
        }
        assert ("campaign_id", "status", "id") in delivery_indexes
        assert ("subscriber_id",) in delivery_indexes
        assert ("status",) in subscriber_indexes
        # A campaign's start checks no key per inserted row (0004, 0006).
        assert inspector.get_foreign_keys("deliveries") == []
    finally:
        engine.dispose()


def test_upgrade_is_repeatable(database_factory: DatabaseFactory) -> None:
    """Running `db upgrade` twice changes nothing the second time."""
    url = database_factory.empty_url()
    migrate.upgrade(url)
    migrate.upgrade(url)
    engine = create_db_engine(url)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision(url)
    finally:
        engine.dispose()


def test_stored_addresses_get_lower_case_keys_without_merging_anyone(
    database_factory: DatabaseFactory,
) -> None:
    """0005 lower-cases each key unless another row is the same mailbox: those stay as are."""
    url = database_factory.empty_url()
    migrate.upgrade(url, "0004_fast_start")
    stored = ["An@x.vn", "Binh@x.vn", "binh@x.vn", "Chi@x.vn", "CHI@x.vn", "dung@x.vn"]
    engine = create_db_engine(url)
    try:
        with engine.begin() as conn:
            for email in stored:
                conn.execute(
                    text(
                        "INSERT INTO subscribers (email, status, locale, bounce_score,"
                        " created_at, updated_at) VALUES (:e, 'active', 'vi', 0,"
                        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                    ),
                    {"e": email},
                )
        migrate.upgrade(url)
        with engine.connect() as conn:
            emails = sorted(conn.scalars(text("SELECT email FROM subscribers")))
    finally:
        engine.dispose()
    assert emails == sorted(
        ["an@x.vn", "Binh@x.vn", "binh@x.vn", "Chi@x.vn", "CHI@x.vn", "dung@x.vn"]
    )


def test_existing_subscribers_get_their_reads_every_category_flag(
    database_factory: DatabaseFactory,
) -> None:
    """0007 on a list in use: a subscriber with category rows reads only those, one without
    reads every category; downgrading drops the flag and its triggers cleanly."""
    url = database_factory.empty_url()
    migrate.upgrade(url, "0006_no_subscriber_fk")
    engine = create_db_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO categories (id, slug, name, position, created_at)"
                    " VALUES (1, 'tin-tuc', 'Tin tức', 0, CURRENT_TIMESTAMP)"
                )
            )
            for subscriber_id, email in ((1, "chon@x.vn"), (2, "tatca@x.vn")):
                conn.execute(
                    text(
                        "INSERT INTO subscribers (id, email, status, locale, bounce_score,"
                        " created_at, updated_at) VALUES (:i, :e, 'active', 'vi', 0,"
                        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                    ),
                    {"i": subscriber_id, "e": email},
                )
            conn.execute(
                text("INSERT INTO subscriber_categories (subscriber_id, category_id) VALUES (1, 1)")
            )
        migrate.upgrade(url)
        with engine.connect() as conn:
            flags = {
                email: bool(flag)
                for email, flag in conn.execute(
                    text("SELECT email, reads_every_category FROM subscribers")
                )
            }
        assert flags == {"chon@x.vn": False, "tatca@x.vn": True}

        command.downgrade(migrate.alembic_config(url), "0006_no_subscriber_fk")
        columns = {c["name"] for c in inspect(engine).get_columns("subscribers")}
        assert "reads_every_category" not in columns
        with engine.begin() as conn:  # no trigger left to name the dropped column
            conn.execute(
                text("INSERT INTO subscriber_categories (subscriber_id, category_id) VALUES (2, 1)")
            )
            conn.execute(text("DELETE FROM subscriber_categories"))
    finally:
        engine.dispose()
