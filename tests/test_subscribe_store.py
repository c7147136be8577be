"""The subscription data functions on both databases: statuses, consent, resend window, erase."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from newsletter.config import Settings
from newsletter.content.categories import CategoryError, add_category
from newsletter.db import create_db_engine
from newsletter.models import (
    Campaign,
    CampaignKind,
    ConsentEvent,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from newsletter.runtime import build_runtime
from newsletter.subscribers.lifecycle import Consent, confirm_subscription, request_subscription
from newsletter.subscribers.preferences import erase_address, export_subscriber, unsubscribe
from newsletter.subscribers.suppression import suppress
from newsletter.web.public import SubscribeForm, _store_request
from newsletter.web.public_support import STORE_CONCURRENCY
from tests.support.keys import TEST_ADDRESS_KEY, keyed_sessions

EMAIL = "binh@example.gov.vn"
CONSENT = Consent(ip="203.0.113.7", user_agent="UA", form_text_version="v1", via="form")
WINDOW = dt.timedelta(hours=6)
T0 = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)


def request(session: Session, *, at: dt.datetime = T0, slugs: list[str] | None = None) -> bool:
    outcome = request_subscription(
        session,
        email=EMAIL,
        name="Bình",
        category_slugs=slugs or [],
        consent=CONSENT,
        resend_after=WINDOW,
        now=at,
    )
    return outcome.send_confirmation


def the_subscriber(session: Session) -> Subscriber:
    return session.scalars(select(Subscriber).where(Subscriber.email == EMAIL)).one()


def confirm(session: Session, row: Subscriber, key: str | None = None) -> Subscriber | None:
    """Follow the newest confirmation link mailed to `row` (or one carrying `key`)."""
    confirm_key = key or row.confirm_key
    assert confirm_key is not None
    return confirm_subscription(
        session, subscriber_id=row.id, confirm_key=confirm_key, consent=CONSENT
    )


def test_resend_window_per_address(session: Session) -> None:
    """A pending address is due a confirmation again only once the resend window has passed;
    a request within it changes nothing, not even the consent log."""
    assert request(session) is True
    assert request(session, at=T0 + dt.timedelta(hours=5)) is False
    assert request(session, at=T0 + dt.timedelta(hours=6)) is True
    kinds = session.scalars(select(ConsentEvent.kind)).all()
    assert [k.value for k in kinds] == ["subscribe_requested"] * 2


def test_active_subscriber_is_left_untouched(session: Session) -> None:
    """A request for an active address changes neither its name, categories nor consent log."""
    add_category(session, slug="tin-tuc", name="Tin tức")
    request(session)
    row = the_subscriber(session)
    confirm(session, row)
    later = T0 + dt.timedelta(days=2)
    outcome = request_subscription(
        session, email=EMAIL, name="Kẻ lạ", category_slugs=["tin-tuc"], consent=CONSENT,
        resend_after=WINDOW, now=later,
    )  # fmt: skip
    assert outcome.send_confirmation is False
    assert row.name == "Bình"
    assert row.categories == []
    assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 2


def test_unknown_category_refused(session: Session) -> None:
    """An unknown category slug raises CategoryError and stores nothing."""
    with pytest.raises(CategoryError):
        request(session, slugs=["khong-co"])
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_unsubscribe_then_request_again(session: Session) -> None:
    """Unsubscribing is recorded once; a later request waits, unsubscribed, for its own link."""
    request(session)
    row = the_subscriber(session)
    first_key = row.confirm_key
    confirm(session, row)
    assert unsubscribe(session, subscriber_id=row.id, consent=CONSENT) is True
    assert unsubscribe(session, subscriber_id=row.id, consent=CONSENT) is True
    assert row.status is SubscriberStatus.UNSUBSCRIBED
    # An old confirmation link must not undo the unsubscribe.
    assert confirm(session, row, first_key) is None
    assert request(session, at=T0 + dt.timedelta(days=1)) is True
    assert row.status is SubscriberStatus.UNSUBSCRIBED
    assert confirm(session, row, first_key) is None
    assert confirm(session, row) is row
    assert row.status is SubscriberStatus.ACTIVE
    kinds = [k.value for k in session.scalars(select(ConsentEvent.kind).order_by("id"))]
    assert kinds == [
        "subscribe_requested", "confirmed", "unsubscribed", "subscribe_requested", "confirmed",
    ]  # fmt: skip


def test_bounced_or_suppressed_address_gets_nothing(session: Session) -> None:
    """A suppressed (bounced/complained) address is neither stored nor mailed."""
    suppress(session, email=EMAIL, reason="bounced")
    assert request(session) is False
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_erase_leaves_only_the_hash_and_skips_queued_mail(session: Session) -> None:
    """Erase deletes the person and their consent log, skips queued deliveries, keeps the hash."""
    request(session)
    row = the_subscriber(session)
    confirm(session, row)
    campaign = Campaign(kind=CampaignKind.BULLETIN, subject="Bão số 5")
    session.add(campaign)
    session.flush()
    session.add(Delivery(campaign_id=campaign.id, subscriber_id=row.id))
    session.flush()
    data = export_subscriber(session, subscriber_id=row.id)
    assert data is not None
    assert data["deliveries"][0]["campaign_subject"] == "Bão số 5"
    assert erase_address(session, email=" " + EMAIL + " ") is True
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
    assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 0
    delivery = session.scalars(select(Delivery)).one()
    assert delivery.subscriber_id is None
    assert delivery.status is DeliveryStatus.SKIPPED
    [suppression] = session.scalars(select(Suppression)).all()
    assert suppression.email_hash == TEST_ADDRESS_KEY.digest(EMAIL)
    assert suppression.reason == "erased"


def test_erased_address_may_subscribe_again_and_confirm(session: Session) -> None:
    """After erase a new request is mailed; confirming lifts the erase suppression."""
    request(session)
    erase_address(session, email=EMAIL)
    assert request(session, at=T0 + dt.timedelta(minutes=1)) is True
    row = the_subscriber(session)
    confirm(session, row)
    assert session.scalar(select(func.count()).select_from(Suppression)) == 0


def test_new_address_is_stored_whole(session: Session) -> None:
    """A first request stores the pending row, its categories and its consent event."""
    add_category(session, slug="tin-tuc", name="Tin tức")
    add_category(session, slug="khan-cap", name="Khẩn cấp")
    consent = Consent(
        ip="203.0.113.7", user_agent="UA", form_text_version="v1", consent_text="Tôi đồng ý",
        source_url="https://example.gov.vn/x", via="json",
    )  # fmt: skip
    outcome = request_subscription(
        session, email=EMAIL, name="Bình", category_slugs=["khan-cap", "tin-tuc"],
        consent=consent, resend_after=WINDOW, now=T0,
    )  # fmt: skip
    assert outcome.send_confirmation is True
    row = the_subscriber(session)
    assert outcome.subscriber_id == row.id
    assert (row.status, row.name, row.locale, row.bounce_score) == (
        SubscriberStatus.PENDING, "Bình", "vi", 0.0,
    )  # fmt: skip
    assert row.source == "https://example.gov.vn/x"
    for moment in (row.created_at, row.updated_at, row.confirmation_sent_at):
        assert moment is not None
        assert (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)) == T0
    assert sorted(c.slug for c in row.categories) == ["khan-cap", "tin-tuc"]
    consent_event = session.scalars(select(ConsentEvent)).one()
    assert consent_event.subscriber_id == row.id
    assert consent_event.kind.value == "subscribe_requested"
    assert (consent_event.ip, consent_event.user_agent, consent_event.form_text_version) == (
        "203.0.113.7", "UA", "v1",
    )  # fmt: skip
    assert consent_event.detail is not None
    assert json.loads(consent_event.detail) == {
        "via": "json", "consent_text": "Tôi đồng ý", "categories": ["tin-tuc", "khan-cap"],
        "frequency": "hang-tuan",
    }  # fmt: skip


def test_new_address_costs_one_statement_on_postgresql(session: Session) -> None:
    """A new address is one statement on PostgreSQL, three elsewhere.

    PostgreSQL: the suppression look-up, INSERT ... ON CONFLICT and the consent event in
    one WITH; SQLite: the same three as statements of their own. The subscribe endpoint's
    throughput rests on this (docs/benchmarks.md): a return to SELECT FOR UPDATE,
    SAVEPOINT, INSERT and UPDATEs shows here first.
    """
    session.execute(select(1))  # the test's own SAVEPOINT, before counting
    statements: list[str] = []
    connection = session.connection()

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(connection, "before_cursor_execute", count)
    try:
        assert request(session) is True
    finally:
        event.remove(connection, "before_cursor_execute", count)
    expected = 1 if session.get_bind().dialect.name == "postgresql" else 3
    assert len(statements) == expected, statements
    # The second request for the address takes the known-address path and is not due.
    assert request(session, at=T0 + dt.timedelta(minutes=1)) is False


def test_simultaneous_first_requests_make_one_row(database_url: str) -> None:
    """Two first requests for one address at once: one row, one confirmation, one event."""
    engine = create_db_engine(database_url)
    factory = keyed_sessions(engine)
    barrier = threading.Barrier(2)
    outcomes: list[bool] = []
    failures: list[BaseException] = []

    def one() -> None:
        try:
            barrier.wait(timeout=10)
            with factory.begin() as s:
                outcomes.append(request(s))
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert failures == []
        assert sorted(outcomes) == [False, True]
        with factory() as s:
            assert s.scalar(select(func.count()).select_from(Subscriber)) == 1
            assert s.scalar(select(func.count()).select_from(ConsentEvent)) == 1
    finally:
        engine.dispose()


def test_subscribe_requests_write_through_the_pool_only(
    database_url: str, settings_factory: Callable[..., Settings]
) -> None:
    """Twenty requests at once never open a connection beyond the pool's five.

    Past the pool, SQLAlchemy opens and closes a connection per request (on PostgreSQL a
    backend forked each time), which under load cost more than the request itself.
    """
    runtime = build_runtime(settings_factory(database_url=database_url))
    opened: list[int] = []
    event.listen(runtime.engine, "connect", lambda *_: opened.append(1))
    slots = threading.BoundedSemaphore(STORE_CONCURRENCY)
    barrier = threading.Barrier(20)
    failures: list[BaseException] = []

    def one(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            form = SubscribeForm(email=f"nguoi.{i}@example.vn", name=None, categories=[],
                                 source=None)  # fmt: skip
            _store_request(runtime, form, CONSENT, slots)
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert failures == []
        assert len(opened) <= STORE_CONCURRENCY
        with runtime.sessions() as s:
            assert s.scalar(select(func.count()).select_from(Subscriber)) == 20
    finally:
        runtime.close()


def test_waiting_request_is_part_of_the_export(session: Session) -> None:
    """A known address's request waiting for confirmation is exported with the rest."""
    add_category(session, slug="tin-tuc", name="Tin tức")
    request(session)
    row = the_subscriber(session)
    confirm(session, row)
    unsubscribe(session, subscriber_id=row.id, consent=CONSENT)
    assert request(session, at=T0 + dt.timedelta(days=1), slugs=["tin-tuc"]) is True
    data = export_subscriber(session, subscriber_id=row.id)
    assert data is not None
    assert data["pending_request"] == {"name": "Bình", "categories": ["tin-tuc"], "areas": []}
    assert data["categories"] == []
