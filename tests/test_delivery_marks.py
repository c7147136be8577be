"""A chunk's marks (delivery/marks.py) on both databases: the same row as the ledger's own
statement, and a held connection that died mid-chunk is replaced, not fatal."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select, text

from newsletter.campaigns.audience import start_campaign
from newsletter.config import Settings
from newsletter.delivery import claims, ledger
from newsletter.delivery.marks import ChunkMarks
from newsletter.models import Delivery, DeliveryStatus, utcnow
from newsletter.runtime import Runtime, build_runtime
from tests.support.ledger import add_campaign, add_subscribers

COLUMNS = ("status", "message_id", "sent_at", "updated_at", "attempts", "last_error")


@pytest.fixture
def runtime(database_url: str, settings_factory: Callable[..., Settings]) -> Iterator[Runtime]:
    rt = build_runtime(settings_factory(database_url=database_url))
    yield rt
    rt.close()


def claimed(runtime: Runtime, count: int) -> list[int]:
    """`count` rows of a new campaign, claimed (`sending`), with an earlier error on each."""
    with runtime.sessions.begin() as s:
        add_subscribers(s, count, prefix=f"mark{count}")
        campaign_id = add_campaign(s)
    with runtime.sessions.begin() as s:
        work = start_campaign(s, campaign_id=campaign_id)
        rows = claims.claim(
            s, campaign_id=campaign_id, first_id=work.ranges[0][0], last_id=work.ranges[-1][1],
            limit=count,
        )  # fmt: skip
        s.execute(
            text(
                "UPDATE deliveries SET attempts = 2, last_error = 'earlier' WHERE campaign_id = :c"
            ),
            {"c": campaign_id},
        )
    return [r.delivery_id for r in rows]


def columns(runtime: Runtime, delivery_id: int) -> dict[str, object]:
    with runtime.sessions() as s:
        row = s.get(Delivery, delivery_id)
        assert row is not None
        return {c: getattr(row, c) for c in COLUMNS}


def test_a_held_mark_writes_what_the_ledgers_statement_writes(runtime: Runtime) -> None:
    """The chunk's mark (on PostgreSQL a prepared statement of its own) and
    ledger.mark_sent leave the same columns; neither touches a row no longer `sending`."""
    first, second, released = claimed(runtime, 3)
    now = utcnow()
    with runtime.sessions.begin() as s:
        ledger.release(s, delivery_ids=[released])
        ledger.mark_sent(s, delivery_id=first, message_id="<a@example.gov.vn>", now=now)
    marks = ChunkMarks(runtime)
    marks.hold()
    try:
        marks.mark_sent(second, "<a@example.gov.vn>", now)
        marks.mark_sent(released, "<b@example.gov.vn>", now)
    finally:
        marks.drop()
    by_ledger, by_marks = columns(runtime, first), columns(runtime, second)
    assert by_marks == by_ledger
    assert by_marks["status"] is DeliveryStatus.SENT
    assert by_marks["attempts"] == 3
    assert by_marks["last_error"] is None
    assert columns(runtime, released)["status"] is DeliveryStatus.QUEUED


# SQLite holds no connection for the marks.
@pytest.mark.parametrize("db_backend", [pytest.param("postgresql", marks=pytest.mark.services)])
def test_a_mark_after_the_held_connection_died_lands_on_a_new_one(runtime: Runtime) -> None:
    """The database ended the chunk's connection (a restart, an administrator): the
    next mark reconnects and the rest of the chunk is marked."""
    rows = claimed(runtime, 3)
    now = utcnow()
    marks = ChunkMarks(runtime)
    marks.hold()
    try:
        marks.mark_sent(rows[0], "<a@example.gov.vn>", now)
        assert marks.connection is not None
        pid = marks.connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with runtime.engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        marks.mark_sent(rows[1], "<b@example.gov.vn>", now)
        marks.mark_sent(rows[2], "<c@example.gov.vn>", now)
    finally:
        marks.drop()
    with runtime.sessions() as s:
        statuses = s.scalars(select(Delivery.status).where(Delivery.id.in_(rows))).all()
    assert statuses == [DeliveryStatus.SENT] * 3
