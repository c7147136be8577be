"""A chunk's marks: one held connection for its per-row UPDATEs, lease renewal, and what an
SMTP refusal at send time does to the row and to the address.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from newsletter.bounces.classify import BounceKind, classify_smtp_rejection
from newsletter.bounces.rules import record_smtp_rejection
from newsletter.config import Settings
from newsletter.delivery.claims import ClaimedRow
from newsletter.delivery.lease import renew
from newsletter.delivery.ledger import (
    MARK_SENT_PG,
    add_bounce_score,
    mark_failed,
    mark_sent,
    requeue_unattempted,
)
from newsletter.delivery.transport import DeliveryError
from newsletter.models import Delivery, DeliveryStatus, utcnow
from newsletter.runtime import Runtime


class ChunkMarks:
    """Marks rows of one chunk as the server accepts them (see `hold`)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.connection: Connection | None = None
        self.cursor: psycopg.Cursor[Any] | None = None  # of `connection`, for the marks

    def hold(self) -> None:
        """On PostgreSQL, one connection for the chunk's marks (docs/benchmarks.md).

        Each mark through the pool cost four round trips (the pool's ping, BEGIN, UPDATE,
        COMMIT). Held in autocommit, a mark is one UPDATE — one statement, so it is as
        atomic as before, and its commit stays synchronous: once the row says `sent`, no
        crash of the worker or of the database server can make it `sending` again, so a
        crash duplicates at most the message in flight (docs/delivery.md). Asynchronous
        commit was measured faster and refused for that reason (docs/benchmarks.md).
        The mark itself goes through the driver's cursor as a prepared statement: the
        Core statement's Python was half of a mark's client CPU.
        """
        if self.runtime.engine.dialect.name != "postgresql":
            return  # SQLite: pooled sessions as everywhere (BEGIN IMMEDIATE, no ping)
        connection = self.runtime.engine.connect()
        try:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            self.cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        except SQLAlchemyError:
            connection.close()
            raise
        self.connection = connection

    def drop(self, *, broken: bool = False) -> None:
        connection, self.connection = self.connection, None
        cursor, self.cursor = self.cursor, None
        if connection is None:
            return
        if broken:
            connection.invalidate()  # the pool opens a new one instead
        elif cursor is not None:
            cursor.close()
        connection.close()  # the pool restores the isolation level

    def mark_sent(self, delivery_id: int, message_id: str, now: dt.datetime) -> None:
        """Mark one row sent on the held connection (autocommit), else in a transaction.

        A held connection that died (database restart) is dropped and the mark runs
        once more on a fresh pooled one, as the pool's ping used to arrange; the mark
        only changes a row still `sending`, so running it twice changes nothing.
        """
        if self.cursor is not None:
            try:
                self.cursor.execute(MARK_SENT_PG, (message_id, now, now, delivery_id), prepare=True)
                return
            except psycopg.Error:
                if not self.cursor.connection.broken:
                    raise
                self.drop(broken=True)
        with self.runtime.sessions.begin() as session:
            mark_sent(session, delivery_id=delivery_id, message_id=message_id, now=now)

    def renew(
        self, delivery_ids: list[int], *, held_since: dt.datetime, now: dt.datetime
    ) -> set[int]:
        """Renew the lease of rows this chunk holds; the ids it still holds."""
        if self.connection is not None:
            return renew(self.connection, delivery_ids=delivery_ids, held_since=held_since, now=now)
        with self.runtime.sessions.begin() as session:
            return renew(session, delivery_ids=delivery_ids, held_since=held_since, now=now)


def record_refusal(
    session: Session, *, row: ClaimedRow, exc: DeliveryError, settings: Settings
) -> DeliveryStatus:
    """A message the transport did not get accepted: the row's new status.

    Nothing taken (the relay unreachable, the outbox unwritable): back to `queued` without
    using an attempt. Refused: an attempt (failed for good when permanent or the last),
    and a permanent refusal of the recipient counts against the address.
    """
    now = utcnow()
    if exc.unavailable:
        requeue_unattempted(session, delivery_id=row.delivery_id, error=str(exc), now=now)
        status = DeliveryStatus.QUEUED
    else:
        status = mark_failed(
            session, delivery_id=row.delivery_id, error=str(exc), permanent=exc.permanent,
            now=now,
        )  # fmt: skip
    if exc.permanent:
        apply_rejection(session, row=row, exc=exc, settings=settings, now=now)
    return status


def apply_rejection(
    session: Session, *, row: ClaimedRow, exc: DeliveryError, settings: Settings, now: dt.datetime
) -> None:
    """A 5xx refusal of the recipient counts against the address as its text says
    (bounces/classify.py): a missing mailbox suppresses it, a full one adds to its
    score. A policy refusal (relaying denied, a blocklisted IP) and any refusal of
    the sender or the data say nothing about the address and touch no subscriber."""
    if not exc.recipient_refused or exc.code is None or row.subscriber_id is None:
        return
    kind = classify_smtp_rejection(exc.code, str(exc))
    if kind is BounceKind.POLICY:
        return
    add_bounce_score(
        session,
        subscriber_id=row.subscriber_id,
        half_life_days=settings.bounce_half_life_days,
        now=now,
    )
    if kind is not BounceKind.HARD:
        return
    delivery = session.get(Delivery, row.delivery_id)
    if delivery is not None:
        record_smtp_rejection(
            session, delivery=delivery, kind=BounceKind.HARD, reply=str(exc),
            settings=settings, now=now,
        )  # fmt: skip
