"""`newsletter digest preview` writes the exact message a subscriber would get now."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.db import create_db_engine
from newsletter.models import Campaign, Subscriber, SubscriberStatus
from newsletter.signing import Purpose, read_resident_token
from tests.conftest import TEST_SECRET
from tests.support.composedata import NOW, add_article, add_categories, parse, parts
from tests.test_cli import newsletter

SETTINGS = {"NEWSLETTER_PUBLIC_URL": "https://bantin.example.gov.vn"}


def populate(database_url: str) -> None:
    engine = create_db_engine(database_url)
    with Session(engine) as session, session.begin():
        news, notices = add_categories(session)
        # The command digests the real "now": place the articles 2 and 3 hours before it.
        # add_article counts back from NOW (a fixed date), so subtract how far now is
        # past NOW. (Adding it put them twice as far back each day: on the fourth day
        # after NOW they fell out of the seven-day window and this test failed.)
        past_now = (dt.datetime.now(dt.UTC) - NOW).total_seconds() / 3600
        add_article(session, n=1, category=news, hours_ago=2 - past_now)
        add_article(session, n=2, category=notices, hours_ago=3 - past_now)
        session.add(
            Subscriber(
                email="an@example.vn",
                name="An\r\nBcc: victim@example.com",
                status=SubscriberStatus.ACTIVE,
                categories=[notices],
            )
        )
    engine.dispose()


def count_campaigns(database_url: str) -> int:
    engine = create_db_engine(database_url)
    with Session(engine) as session:
        count = session.scalar(select(func.count()).select_from(Campaign))
    engine.dispose()
    return int(count or 0)


def test_preview_writes_the_subscribers_message(
    db_backend: str, database_url: str, tmp_path: Path
) -> None:
    """The .eml holds that subscriber's categories and links; no campaign is stored."""
    populate(database_url)
    env = {"NEWSLETTER_DATABASE_URL": database_url, **SETTINGS}
    out = tmp_path / "preview.eml"
    result = newsletter(
        "digest", "preview", "--email", "AN@example.vn", "--out", str(out), env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "not stored" in result.stdout
    raw = out.read_bytes()
    msg = parse(raw)
    assert msg["Return-Path"] == "<bantin@example.gov.vn>"
    assert msg["To"] == "an@example.vn"
    assert msg["Bcc"] is None, "the subscriber's name never reaches a header"
    assert b"victim" not in raw
    assert msg["Subject"].startswith("Bài số 2:"), "the subject leads with the top headline"
    assert msg["Subject"].endswith("— Bản tin tuần")
    text, html = parts(raw)
    assert "Bài số 2:" in text
    assert "Bài số 1:" not in text, "only the subscriber's categories"
    token = msg["List-Unsubscribe"].split("/unsubscribe/")[1].split(">")[0]
    subscriber_id, _key = read_token_with_test_secret(token)
    assert f"/unsubscribe/{token}" in html
    assert subscriber_id > 0
    assert count_campaigns(database_url) == 0


def read_token_with_test_secret(token: str) -> tuple[int, str]:
    from newsletter.config import Settings

    settings = Settings(env="test", secret_key=TEST_SECRET)
    return read_resident_token(settings, Purpose.UNSUBSCRIBE, token)


def test_preview_of_unknown_address_fails_clearly(
    db_backend: str, database_url: str, tmp_path: Path
) -> None:
    """An address with no subscriber ends the command with one clear line and code 1."""
    populate(database_url)
    env = {"NEWSLETTER_DATABASE_URL": database_url, **SETTINGS}
    result = newsletter("digest", "preview", "--email", "ai@example.vn", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "no subscriber with the address" in result.stderr


def test_digest_send_asks_for_now(tmp_path: Path) -> None:
    """`digest send` without --now does nothing and says how to send (delivery engine tests
    cover sending: tests/test_delivery_embedded.py)."""
    result = newsletter("digest", "send", cwd=tmp_path)
    assert result.returncode == 1
    assert "--now" in result.stderr
