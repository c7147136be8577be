"""The manage-link and new-address mails as built, and the campaign footer's /manage link."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy.orm import Session

from newsletter.campaigns.build import create_bulletin
from newsletter.campaigns.preview import composer_for
from newsletter.delivery.resident_mail import build_address_confirmation, build_manage_mail
from newsletter.mail.outgoing import Recipient
from newsletter.signing import Purpose, read_resident_token, read_token
from tests.support.composedata import parse, parts
from tests.support.dkimkeys import DOMAIN, SELECTOR, DkimKeys, make_keys

LINK_KEY = "0123456789abcdef0123456789abcdef"
BASE = "https://bantin.example.gov.vn"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> DkimKeys:
    return make_keys(tmp_path_factory.mktemp("dkim"))


def signed_settings(settings_factory: Any, keys: DkimKeys) -> Any:
    return settings_factory(
        dkim_domain=DOMAIN,
        dkim_selector=SELECTOR,
        dkim_key_file=keys.rsa_file,
        bounce_domain="bounces.example.gov.vn",
    )


def verp_id(settings: Any, envelope_from: str) -> int:
    found = re.fullmatch(r"bounces\+(\S+)@bounces\.example\.gov\.vn", envelope_from)
    assert found, envelope_from
    return read_token(settings, Purpose.VERP, found.group(1))


def test_manage_mail_is_signed_and_carries_the_preferences_link(
    settings_factory: Any, keys: DkimKeys
) -> None:
    """DKIM verifies; both parts carry the subscriber's preferences link and say why the
    mail came; a bounce of it names the subscriber, as a confirmation's does."""
    settings = signed_settings(settings_factory, keys)
    mail = build_manage_mail(settings, subscriber_id=42, link_key=LINK_KEY, email="an@bưuđiện.vn")
    assert keys.verify_all(mail.message) == [True]
    assert mail.recipient == "an@xn--buin-1ua66gr30m.vn"
    assert verp_id(settings, mail.sender) == -42
    message = parse(mail.message)
    assert message["Subject"] == "Liên kết quản lý đăng ký nhận bản tin – Thành phố Hoa Sen"
    for body in parts(mail.message):
        token = re.search(rf"{BASE}/preferences/([\w.-]+)", body)
        assert token, body
        assert read_resident_token(settings, Purpose.PREFERENCES, token.group(1)) == (42, LINK_KEY)
        assert "trên trang Quản lý đăng ký" in body
        assert "/unsubscribe/" not in body


def test_new_address_mail_names_no_one_to_the_bounce_rules(
    settings_factory: Any, keys: DkimKeys
) -> None:
    """The confirmation of a new address is signed, its link is a change-address token of
    the pending key, and its VERP id (0) names no delivery and no subscriber."""
    settings = signed_settings(settings_factory, keys)
    mail = build_address_confirmation(
        settings, subscriber_id=42, key=LINK_KEY, email="moi@example.gov.vn"
    )
    assert keys.verify_all(mail.message) == [True]
    assert verp_id(settings, mail.sender) == 0
    text, html = parts(mail.message)
    token = re.search(rf"{BASE}/change-address/([\w.-]+)", text)
    assert token, text
    assert read_resident_token(settings, Purpose.CHANGE_ADDRESS, token.group(1)) == (42, LINK_KEY)
    assert token.group(0) in html
    assert "bản tin vẫn được gửi đến địa chỉ cũ" in text


def test_campaign_footer_links_manage_next_to_unsubscribe(
    session: Session, settings_factory: Any
) -> None:
    """Every campaign mail's footer offers "Quản lý đăng ký" (/manage) beside unsubscribe."""
    settings = settings_factory()
    campaign = create_bulletin(
        session, subject="Thông báo cắt nước", body_markdown="Nội dung.", category_slugs=[],
        created_by="test",
    )  # fmt: skip
    composer = composer_for(session, settings, campaign.id)
    out = composer.compose(Recipient(1, 7, "an@example.vn", frozenset(), LINK_KEY))
    text, html = parts(out.data)
    assert f"Quản lý đăng ký (nhận lại liên kết qua e-mail):\n{BASE}/manage" in text
    assert f'<a href="{BASE}/manage"' in html
    assert html.index("Hủy đăng ký nhận tin") < html.index("Quản lý đăng ký</a>")
