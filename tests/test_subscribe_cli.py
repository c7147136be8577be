"""`newsletter subscribers erase ADDR` as an operator runs it: a real process on both databases."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sqlalchemy import select

from newsletter.db import create_db_engine
from newsletter.models import AuditEvent, Subscriber, Suppression
from newsletter.subscribers.addresses import legacy_hash
from newsletter.subscribers.lifecycle import Consent, request_subscription
from tests.support.keys import TEST_ADDRESS_KEY, keyed_sessions
from tests.test_cli import newsletter


def test_erase_removes_the_subscriber_and_keeps_the_hash(
    db_backend: str, database_url: str, tmp_path: Path
) -> None:
    """Erase deletes the row, keeps only the hashed suppression, and audits the hash only:
    the keyed one, which no one holding the database alone can recompute."""
    engine = create_db_engine(database_url)
    sessions = keyed_sessions(engine)
    try:
        with sessions.begin() as session:
            request_subscription(
                session, email="chi@example.gov.vn", name="Chi", category_slugs=[],
                consent=Consent(), resend_after=dt.timedelta(hours=6),
            )  # fmt: skip
        env = {"NEWSLETTER_DATABASE_URL": database_url}
        result = newsletter("subscribers", "erase", "chi@example.gov.vn", "--json", env=env,
                            cwd=tmp_path)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"erased": True, "suppressed": True}
        again = newsletter("subscribers", "erase", "chi@example.gov.vn", env=env, cwd=tmp_path)
        assert again.returncode == 0
        assert "no subscriber" in again.stdout
        with sessions() as session:
            assert session.scalars(select(Subscriber)).all() == []
            [row] = session.scalars(select(Suppression)).all()
            assert row.email_hash == TEST_ADDRESS_KEY.digest("chi@example.gov.vn")
            audits = session.scalars(select(AuditEvent)).all()
            assert [a.target for a in audits] == [row.email_hash, row.email_hash]
            assert row.email_hash != legacy_hash("chi@example.gov.vn")  # keyed, never bare
            assert all("chi@" not in (a.detail or "") for a in audits)
    finally:
        engine.dispose()
