"""Links from mail over real HTTP: confirm, unsubscribe (RFC 8058 one-click), preferences."""

from __future__ import annotations

import json
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from newsletter import signing as tokens
from newsletter.models import ConsentEvent, Subscriber, SubscriberStatus, Suppression
from newsletter.signing import Purpose, make_resident_token
from tests.support.keys import TEST_ADDRESS_KEY
from tests.support.public_site import (  # noqa: F401
    Site,
    mail_lane_fixture,
    mail_lanes_fixture,
    site_factory_fixture,
    site_fixture,
)
from tests.test_subscribe_web import EMAIL, confirm_link


def subscribe_and_link(site: Site, email: str = EMAIL) -> str:
    with site.client() as client:
        assert client.post("/subscribe", data={"email": email}).status_code == 200
    mails = site.smtp.wait_for(1)
    return confirm_link(mails[-1])


def only_subscriber(site: Site) -> Subscriber:
    with site.runtime.sessions() as session:
        return session.scalars(select(Subscriber)).one()


def resident_token(site: Site, purpose: Purpose) -> str:
    """The token the only subscriber's mail carries for `purpose` (with its row key)."""
    row = only_subscriber(site)
    key = row.confirm_key if purpose is Purpose.CONFIRM else row.link_key
    assert key is not None
    return make_resident_token(site.settings, purpose, row.id, key)


def event_kinds(site: Site) -> list[str]:
    with site.runtime.sessions() as session:
        return [e.kind.value for e in session.scalars(select(ConsentEvent).order_by("id"))]


def test_get_confirm_changes_nothing_post_confirms(site: Site) -> None:
    """Following the mailed link shows a button; only the POST makes the subscriber active."""
    link = subscribe_and_link(site)
    with site.client() as client:
        page = client.get(link)
        assert page.status_code == 200
        assert "Xác nhận đăng ký" in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        assert only_subscriber(site).status is SubscriberStatus.PENDING
        done = client.post(link)
        again = client.post(link)
    assert done.status_code == 200
    assert "Đăng ký thành công" in done.text
    assert again.status_code == 200
    row = only_subscriber(site)
    assert row.status is SubscriberStatus.ACTIVE
    assert row.confirmed_at is not None
    assert event_kinds(site) == ["subscribe_requested", "confirmed"]


def _expired_confirm_token(site: Site, subscriber_id: int, key: str) -> str:
    class EightDaysAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 8 * 86400

    serializer = URLSafeTimedSerializer(
        site.settings.secret_key, salt=tokens._salt(Purpose.CONFIRM), signer=EightDaysAgo
    )
    return str(serializer.dumps([subscriber_id, key]))


@pytest.mark.parametrize("kind", ["tampered", "expired", "wrong-purpose"])
def test_bad_confirm_tokens_are_refused(site: Site, kind: str) -> None:
    """Tampered, expired and wrong-purpose confirm tokens get a page offering to subscribe."""
    link = subscribe_and_link(site)
    row = only_subscriber(site)
    token = link.removeprefix("/confirm/")
    if kind == "tampered":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif kind == "expired":
        assert row.confirm_key is not None
        token = _expired_confirm_token(site, row.id, row.confirm_key)
    else:
        token = resident_token(site, Purpose.UNSUBSCRIBE)
    with site.client() as client:
        page = client.get(f"/confirm/{token}")
        post = client.post(f"/confirm/{token}")
    for response in (page, post):
        assert response.status_code == 400
        assert "Đăng ký lại" in response.text
    if kind == "expired":
        assert "hết hạn" in page.text
    assert only_subscriber(site).status is SubscriberStatus.PENDING


def _unsubscribe_path(site: Site) -> str:
    return "/unsubscribe/" + resident_token(site, Purpose.UNSUBSCRIBE)


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_unsubscribe_without_cookies(site: Site, encoding: str) -> None:
    """RFC 8058: a bare POST of List-Unsubscribe=One-Click unsubscribes with a 200, no redirect."""
    link = subscribe_and_link(site)
    with site.client() as client:
        client.post(link)
    path = _unsubscribe_path(site)
    with site.client(follow_redirects=False) as client:
        assert client.get(path).status_code == 200
        assert only_subscriber(site).status is SubscriberStatus.ACTIVE  # GET changed nothing
        if encoding == "urlencoded":
            response = client.post(path, data={"List-Unsubscribe": "One-Click"})
        else:
            response = client.post(path, files={"List-Unsubscribe": (None, "One-Click")})
        repeat = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert "cookie" not in response.request.headers
    assert response.status_code == 200
    assert repeat.status_code == 200
    assert "Đã hủy đăng ký" in response.text
    assert only_subscriber(site).status is SubscriberStatus.UNSUBSCRIBED
    assert event_kinds(site) == ["subscribe_requested", "confirmed", "unsubscribed"]
    with site.runtime.sessions() as session:
        event = session.scalars(select(ConsentEvent).order_by(ConsentEvent.id.desc())).first()
        assert event is not None
        assert event.detail is not None
        assert json.loads(event.detail)["via"] == "one-click"


def test_unsubscribe_page_button_and_bad_token(site: Site) -> None:
    """The page's button unsubscribes; a forged unsubscribe token is refused with 400."""
    subscribe_and_link(site)
    path = _unsubscribe_path(site)
    with site.client() as client:
        done = client.post(path)
        forged = client.post(path[:-3] + "xyz", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert forged.status_code == 400
    assert only_subscriber(site).status is SubscriberStatus.UNSUBSCRIBED


def _preferences_path(site: Site) -> str:
    return "/preferences/" + resident_token(site, Purpose.PREFERENCES)


def test_preferences_change_categories(site: Site) -> None:
    """The preferences page saves the chosen categories; no box ticked, like every box
    ticked, means every category."""
    subscribe_and_link(site)
    path = _preferences_path(site)
    with site.client() as client:
        page = client.get(path)
        assert page.status_code == 200
        assert "an.nguyen@example.gov.vn" in page.text
        saved = client.post(path, data={"action": "save", "name": "An", "categories": "tin-tuc"})
        assert saved.status_code == 200
        assert "Đã lưu" in saved.text
        with site.runtime.sessions() as session:
            row = session.scalars(select(Subscriber)).one()
            assert [c.slug for c in row.categories] == ["tin-tuc"]
            assert row.name == "An"
        # No box ticked is the subscribe box's rule too: every category.
        none = client.post(path, data={"action": "save", "name": "An"})
        assert none.status_code == 200
        assert "bạn sẽ nhận tin của tất cả các chuyên mục" in none.text
        with site.runtime.sessions() as session:
            assert session.scalars(select(Subscriber)).one().categories == []
        every = client.post(
            path, data={"action": "save", "name": "", "categories": ["tin-tuc", "thong-bao"]}
        )
        assert every.status_code == 200
    with site.runtime.sessions() as session:
        row = session.scalars(select(Subscriber)).one()
        assert row.categories == []
    assert event_kinds(site)[-2:] == ["preferences_changed", "preferences_changed"]


def test_export_then_erase(site: Site) -> None:
    """Export returns everything stored, consent events included; erase leaves only the hash."""
    link = subscribe_and_link(site)
    with site.client() as client:
        client.post(link)
        path = _preferences_path(site)
        export = client.post(path, data={"action": "export"})
        refused = client.post(path, data={"action": "erase"})
        erased = client.post(path, data={"action": "erase", "confirm_erase": "yes"})
        after = client.get(path)
        confirm_after = client.post(link)
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("application/json")
    assert "attachment" in export.headers["content-disposition"]
    data = export.json()
    assert data["email"] == EMAIL
    assert data["status"] == "active"
    assert [e["kind"] for e in data["consent_events"]] == ["subscribe_requested", "confirmed"]
    assert data["consent_events"][0]["ip"] == "127.0.0.1"
    assert refused.status_code == 422
    assert erased.status_code == 200
    assert "Đã xóa dữ liệu" in erased.text
    assert after.status_code == 404
    assert confirm_after.status_code == 400
    with site.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
        assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 0
        [row] = session.scalars(select(Suppression)).all()
        assert row.email_hash == TEST_ADDRESS_KEY.digest(EMAIL)
        assert row.reason == "erased"


def test_unsubscribed_resident_resubscribes_from_preferences(site: Site) -> None:
    """An unsubscribed resident's preferences link offers to subscribe again and reactivates."""
    subscribe_and_link(site)
    path = _preferences_path(site)
    with site.client() as client:
        client.post(_unsubscribe_path(site))
        page = client.get(path)
        assert "Đăng ký lại" in page.text
        done = client.post(path, data={"action": "resubscribe"})
    assert done.status_code == 200
    assert "Bạn đã đăng ký lại" in done.text
    assert only_subscriber(site).status is SubscriberStatus.ACTIVE
    assert event_kinds(site)[-2:] == ["unsubscribed", "confirmed"]


@pytest.mark.parametrize(
    ("route", "purpose"),
    [("unsubscribe", Purpose.PREFERENCES), ("preferences", Purpose.UNSUBSCRIBE)],
)
def test_links_refuse_tokens_made_for_another_purpose(
    site: Site, route: str, purpose: Purpose
) -> None:
    """An unsubscribe link cannot open preferences and vice versa; nothing changes."""
    subscribe_and_link(site)
    token = resident_token(site, purpose)
    with site.client() as client:
        shown = client.get(f"/{route}/{token}")
        posted = client.post(f"/{route}/{token}", data={"action": "erase", "confirm_erase": "yes"})
    assert shown.status_code == 400
    assert posted.status_code == 400
    assert "Liên kết không hợp lệ" in posted.text
    assert only_subscriber(site).status is SubscriberStatus.PENDING
