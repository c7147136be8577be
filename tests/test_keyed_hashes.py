"""Suppression and erase-audit hashes are keyed by the secret, on both databases.

A copy of the database must not confirm a guessed address: the stored hash is an HMAC
under a key derived from the secret. Rows written before keying still block until they
are re-keyed, and a changed key is refused instead of silently un-suppressing everyone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from pathlib import Path

import pytest
from alembic import command
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from newsletter import migrate
from newsletter.address_key import (
    KEY_CHANGED,
    SESSION_INFO,
    AddressKey,
    NoAddressKeyError,
    key_problem,
)
from newsletter.cli import app as cli_app
from newsletter.cli import processes
from newsletter.config import Settings
from newsletter.db import create_db_engine, create_session_factory
from newsletter.models import Subscriber, SubscriberStatus, Suppression
from newsletter.subscribers.addresses import (
    _PLAIN_KEY,
    legacy_hash,
    stored_suppression_text,
    suppression_text,
)
from newsletter.subscribers.lifecycle import Consent, confirm_subscription, request_subscription
from newsletter.subscribers.suppression import (
    SUPPRESSION_ERASED,
    is_suppressed,
    rekey_suppressions,
    suppress,
)
from tests.conftest import TEST_SECRET, DatabaseFactory
from tests.support.keys import TEST_ADDRESS_KEY, keyed_sessions
from tests.test_cli import newsletter
from tests.test_properties import MANY, TYPED_ADDRESSES

EMAIL = "nguoi.dan@example.gov.vn"
OTHER_SECRET = "another-secret-key-0123456789-abcdefghijklmnopqrstuv"


def _unkeyed(session: Session, email: str, reason: str) -> None:
    """A suppression as written before the hashes were keyed."""
    session.add(Suppression(email_hash=legacy_hash(email), keyed=False, reason=reason))
    session.flush()


def _subscribe(session: Session, email: str = EMAIL) -> bool:
    outcome = request_subscription(
        session,
        email=email,
        name=None,
        category_slugs=[],
        consent=Consent(),
        resend_after=dt.timedelta(hours=6),
    )
    return outcome.send_confirmation


def test_stored_hash_cannot_be_recomputed_without_the_secret(session: Session) -> None:
    """The stored hash is not SHA-256 of the address, nor an HMAC under any key but the one
    derived from the secret with its purpose label (never the secret itself)."""
    suppress(session, email=" Nguoi.Dan@Example.gov.vn ", reason="complaint")
    row = session.scalars(select(Suppression)).one()
    derived = hmac.new(TEST_SECRET.encode(), b"newsletter.suppression-v1", hashlib.sha256).digest()
    assert row.keyed is True
    assert row.email_hash == hmac.new(derived, EMAIL.encode(), hashlib.sha256).hexdigest()
    assert row.email_hash != hashlib.sha256(EMAIL.encode()).hexdigest()
    assert row.email_hash != hmac.new(TEST_SECRET.encode(), EMAIL.encode(), "sha256").hexdigest()
    assert row.email_hash != AddressKey.from_secret(OTHER_SECRET).digest(EMAIL)
    assert is_suppressed(session, EMAIL)


def test_another_key_finds_no_suppression(session: Session) -> None:
    """Under another secret the same address is not found: the hash alone confirms nothing."""
    suppress(session, email=EMAIL, reason="complaint")
    session.info[SESSION_INFO] = AddressKey.from_secret(OTHER_SECRET)
    assert not is_suppressed(session, EMAIL)


@MANY
@given(email=st.from_regex(_PLAIN_KEY, fullmatch=True) | TYPED_ADDRESSES)
def test_the_claims_shortcut_hashes_the_text_a_look_up_hashes(email: str) -> None:
    """The claim skips validating a plain stored key: only where that changes nothing."""
    assert stored_suppression_text(email) == suppression_text(email)


@pytest.mark.parametrize("stored", ["An@example.vn", "an@xn--v-d-rma6749a.vn", " an@x.vn"])
def test_the_claims_shortcut_normalizes_anything_unusual(stored: str) -> None:
    """Upper-case, A-label or padded stored addresses take the full normalization."""
    assert stored_suppression_text(stored) == suppression_text(stored) != stored


def test_a_session_without_a_key_refuses_to_hash(engine: Engine) -> None:
    """A session built without the key fails loudly rather than hash under no key."""
    with create_session_factory(engine)() as session, pytest.raises(NoAddressKeyError):
        is_suppressed(session, EMAIL)


def test_unkeyed_suppression_still_blocks_subscribing(session: Session) -> None:
    """A bounced address suppressed before keying is still neither stored nor mailed
    (on PostgreSQL through the one-statement subscribe)."""
    _unkeyed(session, EMAIL, "bounced")
    assert is_suppressed(session, "NGUOI.DAN@example.gov.vn")
    assert _subscribe(session) is False
    assert session.scalars(select(Subscriber)).all() == []
    assert suppress(session, email=EMAIL, reason="complaint") is False  # no second row


def test_unkeyed_erased_suppression_is_lifted_by_confirming(session: Session) -> None:
    """An address erased before keying may subscribe again; confirming deletes the old row."""
    _unkeyed(session, EMAIL, SUPPRESSION_ERASED)
    assert _subscribe(session) is True
    row = session.scalars(select(Subscriber)).one()
    assert row.confirm_key is not None
    confirmed = confirm_subscription(
        session, subscriber_id=row.id, confirm_key=row.confirm_key, consent=Consent()
    )
    assert confirmed is not None
    assert confirmed.status is SubscriberStatus.ACTIVE
    assert session.scalars(select(Suppression)).all() == []


def test_rekey_converts_the_rows_whose_address_is_known(session: Session) -> None:
    """Re-keying turns the unkeyed rows of addresses still in `subscribers` into keyed ones
    (merging with a keyed twin), and leaves an erased address's row, still blocking."""
    session.add_all(
        [
            Subscriber(email="bi.tra.ve@example.vn", status=SubscriberStatus.BOUNCED),
            Subscriber(email="khieu.nai@ví-dụ.vn", status=SubscriberStatus.COMPLAINED),
            Subscriber(email="hai.lan@example.vn", status=SubscriberStatus.BOUNCED),
        ]
    )
    _unkeyed(session, "bi.tra.ve@example.vn", "bounced")
    _unkeyed(session, "khieu.nai@ví-dụ.vn", "complaint")
    _unkeyed(session, "hai.lan@example.vn", "bounced")
    session.add(Suppression(email_hash=TEST_ADDRESS_KEY.digest("hai.lan@example.vn"), reason="x"))
    _unkeyed(session, "da.xoa@example.vn", SUPPRESSION_ERASED)

    done = rekey_suppressions(session, chunk=2)

    assert (done.rekeyed, done.left) == (3, 1)
    rows = {r.email_hash: r for r in session.scalars(select(Suppression))}
    assert set(rows) == {
        TEST_ADDRESS_KEY.digest("bi.tra.ve@example.vn"),
        TEST_ADDRESS_KEY.digest("khieu.nai@ví-dụ.vn"),
        TEST_ADDRESS_KEY.digest("hai.lan@example.vn"),
        legacy_hash("da.xoa@example.vn"),
    }
    assert [r.keyed for r in rows.values()].count(False) == 1
    assert rows[TEST_ADDRESS_KEY.digest("khieu.nai@ví-dụ.vn")].reason == "complaint"
    for email in ("bi.tra.ve@example.vn", "KHIEU.NAI@xn--v-d-rma6749a.vn", "da.xoa@example.vn"):
        assert is_suppressed(session, email)
    assert rekey_suppressions(session).rekeyed == 0  # nothing left it can convert


def test_migration_marks_existing_rows_unkeyed_and_downgrades(
    database_factory: DatabaseFactory,
) -> None:
    """0010 keeps the hashes already stored, marked unkeyed; downgrading drops the keyed rows
    (the older code could never match them) and the new column and table."""
    url = database_factory.empty_url()
    migrate.upgrade(url, "0009_frequencies")
    engine = create_db_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO suppressions (email_hash, reason, created_at)"
                    " VALUES (:h, 'bounced', CURRENT_TIMESTAMP)"
                ),
                {"h": legacy_hash(EMAIL)},
            )
        migrate.upgrade(url)
        with keyed_sessions(engine).begin() as session:
            row = session.scalars(select(Suppression)).one()
            assert row.keyed is False
            assert is_suppressed(session, EMAIL)
            suppress(session, email="moi@example.vn", reason="complaint")
        command.downgrade(migrate.alembic_config(url), "0009_frequencies")
        inspector = inspect(engine)
        assert "keyed" not in {c["name"] for c in inspector.get_columns("suppressions")}
        assert "key_fingerprints" not in inspector.get_table_names()
        with engine.connect() as conn:
            assert list(conn.scalars(text("SELECT email_hash FROM suppressions"))) == [
                legacy_hash(EMAIL)
            ]
    finally:
        engine.dispose()


def test_key_problem_records_the_first_key_and_refuses_another(session: Session) -> None:
    """The first key is recorded; the same key passes; another key is refused with the fix."""
    assert key_problem(session, TEST_ADDRESS_KEY) is None
    assert key_problem(session, AddressKey.from_secret(TEST_SECRET)) is None
    problem = key_problem(session, AddressKey.from_secret(OTHER_SECRET))
    assert problem == KEY_CHANGED
    assert "NEWSLETTER_SUPPRESSION_SECRET" in problem
    assert TEST_SECRET not in problem


def test_fingerprint_reveals_nothing_usable_about_the_key() -> None:
    """The stored fingerprint is 64 bits of an HMAC under the derived key: it tells keys
    apart, and neither it nor the label leads back to the secret."""
    fingerprint = TEST_ADDRESS_KEY.fingerprint
    assert len(fingerprint) == 16
    assert fingerprint != AddressKey.from_secret(OTHER_SECRET).fingerprint
    assert fingerprint != hashlib.sha256(TEST_SECRET.encode()).hexdigest()[:16]


def test_changed_secret_is_refused_and_a_kept_suppression_secret_rotates_it(
    database_factory: DatabaseFactory, tmp_path: Path
) -> None:
    """After a secret change every command refuses with the fix, nothing is touched; keeping
    the old secret as NEWSLETTER_SUPPRESSION_SECRET rotates the signing key safely, and
    `db rekey --accept-new-key` is the explicit way to give the old suppressions up."""
    url = database_factory.empty_url()
    env = {"NEWSLETTER_DATABASE_URL": url, "NEWSLETTER_ENV": "test"}
    upgraded = newsletter("db", "upgrade", env=env, cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    erased = newsletter("subscribers", "erase", EMAIL, env=env, cwd=tmp_path)
    assert erased.returncode == 0, erased.stderr

    rotated = {**env, "NEWSLETTER_SECRET_KEY": OTHER_SECRET}
    for args in (("subscribers", "erase", "khac@example.vn"), ("db", "upgrade")):
        refused = newsletter(*args, env=rotated, cwd=tmp_path)
        assert refused.returncode == 2, refused.stdout
        assert "cannot start: the suppression list was written with another key" in (refused.stderr)
        assert "NEWSLETTER_SUPPRESSION_SECRET" in refused.stderr

    kept = {**rotated, "NEWSLETTER_SUPPRESSION_SECRET": TEST_SECRET}
    kept_erase = newsletter("subscribers", "erase", "khac@example.vn", env=kept, cwd=tmp_path)
    assert kept_erase.returncode == 0, kept_erase.stderr
    engine = create_db_engine(url)
    try:
        with keyed_sessions(engine)() as session:
            assert is_suppressed(session, EMAIL)
            assert is_suppressed(session, "khac@example.vn")
        accepted = newsletter("db", "rekey", "--accept-new-key", env=rotated, cwd=tmp_path)
        assert accepted.returncode == 0, accepted.stderr
        assert "no longer match" in accepted.stdout
        again = newsletter("subscribers", "erase", "ba@example.vn", env=rotated, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        with create_session_factory(
            engine, address_key=AddressKey.from_secret(OTHER_SECRET)
        )() as session:
            assert is_suppressed(session, "ba@example.vn")
            assert not is_suppressed(session, EMAIL)  # given up, as the command said
    finally:
        engine.dispose()


@pytest.mark.parametrize("command_name", ["web", "worker"])
def test_processes_refuse_to_start_with_a_changed_key(
    command_name: str,
    database_factory: DatabaseFactory,
    settings_factory: object,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """`newsletter web|worker` stop at once, before serving or sending, on a changed key."""
    url = database_factory.new_url()
    engine = create_db_engine(url)
    try:
        with keyed_sessions(engine).begin() as session:
            assert key_problem(session, TEST_ADDRESS_KEY) is None
    finally:
        engine.dispose()

    def started(*_args: object, **_kwargs: object) -> None:
        raise AssertionError(f"`newsletter {command_name}` started with a changed key")

    monkeypatch.setattr(processes.uvicorn, "run", started)
    monkeypatch.setattr(processes.subprocess, "Popen", started)
    monkeypatch.setattr("celery.Celery.worker_main", started)
    env = {
        "NEWSLETTER_ENV": "test",
        "NEWSLETTER_SECRET_KEY": OTHER_SECRET,
        "NEWSLETTER_VAR_DIR": str(tmp_path / "var"),
        "NEWSLETTER_DATABASE_URL": url,
        "NEWSLETTER_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.db'}",
    }
    args = ["web"] if command_name == "web" else ["worker", "--queues", "urgent"]
    result = CliRunner().invoke(cli_app, args, env=env)
    assert result.exit_code == 2, result.output
    assert "cannot start: the suppression list was written with another key" in result.output


def test_production_refuses_a_weak_suppression_secret(settings_factory: object) -> None:
    """A set NEWSLETTER_SUPPRESSION_SECRET is held to the rules of the secret key."""
    make = settings_factory
    assert callable(make)
    with pytest.raises(ValidationError, match="NEWSLETTER_SUPPRESSION_SECRET"):
        make(env="production", suppression_secret="short")
    settings: Settings = make(env="production", suppression_secret=OTHER_SECRET)
    assert AddressKey.from_settings(settings).fingerprint == (
        AddressKey.from_secret(OTHER_SECRET).fingerprint
    )
