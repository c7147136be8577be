"""Every kind of mail the service sends, built as it leaves: for receiver-side checks.

Confirmation, digest, bulletin and an official's test copy, each with DKIM, a bounce
domain (VERP) and a Reply-To configured, the way a production install is set up. The test
copy goes through `send_test` to a real SMTP server, so it is what reached the wire.
Test modules import `keys_fixture` and `mails_fixture` (pytest finds fixtures by name).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from newsletter.campaigns.build import build_digest, create_bulletin
from newsletter.campaigns.preview import composer_for, send_test
from newsletter.config import Settings
from newsletter.delivery.confirmations import build_confirmation
from newsletter.mail.outgoing import Recipient
from newsletter.models import Subscriber, SubscriberStatus
from newsletter.runtime import build_runtime
from tests.support.composedata import NOW, add_article, add_categories
from tests.support.dkimkeys import DOMAIN, SELECTOR, DkimKeys, make_keys
from tests.support.smtp import SMTPServer

BOUNCE_DOMAIN = "bounces.example.gov.vn"
REPLY_TO = "tra-loi@example.gov.vn"
RESIDENT = "an@example.vn"
KINDS = ("confirmation", "digest", "bulletin", "test-mail")

# An official's bulletin as typed: emphasis, a link, a list, a two-line sign-off.
BULLETIN_MARKDOWN = """\
**Thời gian:** từ 8 giờ đến 17 giờ ngày 30/11/2026.

**Khu vực:** các tổ dân phố sau:

- Tổ 1, tổ 2 phường Hội Thương
- Tổ 5 phường Hòa Bình

Xem bản đồ khu vực trên [trang thông tin](https://example.gov.vn/ban-do) của phường.

Trân trọng,
UBND phường Hội Thương
"""


@pytest.fixture(name="keys", scope="module")
def keys_fixture(tmp_path_factory: pytest.TempPathFactory) -> DkimKeys:
    return make_keys(tmp_path_factory.mktemp("dkim"))


@pytest.fixture(name="mails")
def mails_fixture(
    database_url: str, settings_factory: Any, keys: DkimKeys, smtp_server: SMTPServer
) -> dict[str, SentMail]:
    """Every kind of mail (KINDS), as production settings build it."""
    settings = production_settings(settings_factory, keys, database_url=database_url)
    return every_mail(settings, smtp_server)


@dataclass(frozen=True)
class SentMail:
    kind: str
    envelope_from: str
    data: bytes


def production_settings(settings_factory: Any, keys: DkimKeys, **overrides: object) -> Settings:
    settings: Settings = settings_factory(
        dkim_domain=DOMAIN,
        dkim_selector=SELECTOR,
        dkim_key_file=keys.rsa_file,
        dkim_ed25519_key_file=keys.ed25519_file,
        bounce_domain=BOUNCE_DOMAIN,
        reply_to=REPLY_TO,
        **overrides,
    )
    return settings


def every_mail(settings: Settings, smtp: SMTPServer) -> dict[str, SentMail]:
    """One mail of each kind (KINDS), built from a store at `settings.database_url`."""
    runtime = build_runtime(settings.model_copy(update={"smtp_url": smtp.url}))
    try:
        with runtime.sessions.begin() as session:
            resident_id, campaign_ids = _store(session, settings)
        confirmation = build_confirmation(
            settings, subscriber_id=resident_id, confirm_key="c" * 32, email=RESIDENT
        )
        mails = {
            "confirmation": SentMail("confirmation", confirmation.sender, confirmation.message)
        }
        recipient = Recipient(delivery_id=41, subscriber_id=resident_id, email=RESIDENT,
                              category_ids=frozenset())  # fmt: skip
        with runtime.sessions() as session:
            for kind, campaign_id in campaign_ids.items():
                out = composer_for(session, settings, campaign_id).compose(recipient)
                mails[kind] = SentMail(kind, out.envelope_from, out.data)
        send_test(runtime, campaign_id=campaign_ids["bulletin"], address="quan-tri@example.gov.vn")
    finally:
        runtime.close()
    [received] = smtp.wait_for(1)
    mails["test-mail"] = SentMail("test-mail", received.mail_from, received.data)
    return mails


def _store(session: Session, settings: Settings) -> tuple[int, dict[str, int]]:
    news, notices = add_categories(session)
    for n in range(1, 11):
        add_article(session, n=n, category=news if n % 2 else notices, hours_ago=n * 7)
    resident = Subscriber(email=RESIDENT, status=SubscriberStatus.PENDING)
    session.add(resident)
    session.flush()
    digest = build_digest(session, settings=settings, now=NOW)
    assert digest is not None
    bulletin = create_bulletin(
        session,
        subject="Thông báo cắt nước ngày 30/11/2026",
        body_markdown=BULLETIN_MARKDOWN,
        category_slugs=[],
        created_by="admin",
    )
    bulletin.started_at = NOW - dt.timedelta(hours=1)
    session.flush()
    return resident.id, {"digest": digest.id, "bulletin": bulletin.id}


def write_html(directory: Path, kind: str, html: str) -> Path:
    path = directory / f"{kind}.html"
    path.write_text(html, encoding="utf-8")
    return path
