"""The resident chooses how often (`frequency`): in the footer box (with and without
JavaScript), in JSON, on the preferences page; a stranger's request changes nothing."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from newsletter.models import ConsentEvent, ConsentKind, Frequency, Subscriber, SubscriberStatus
from newsletter.signing import Purpose, make_resident_token
from newsletter.subscribers.frequency import INVALID_FREQUENCY_VI
from tests.support.public_site import (  # noqa: F401
    Site,
    SiteFactory,
    mail_lane_fixture,
    mail_lanes_fixture,
    site_factory_fixture,
    site_fixture,
)
from tests.test_subscribe_web import confirm_link

EMAIL = "hoa.le@example.vn"


def row(site: Site, email: str = EMAIL) -> Subscriber | None:
    with site.runtime.sessions() as session:
        return session.scalar(select(Subscriber).where(Subscriber.email == email))


def frequency_of(site: Site, email: str = EMAIL) -> Frequency:
    found = row(site, email)
    assert found is not None
    return found.frequency


def checked_frequency(html: str) -> list[str]:
    """The values of the checked frequency radio buttons of a page."""
    return re.findall(r'name="frequency" value="([a-z-]+)"\s[^>]*checked', html)


def preferences_path(site: Site, email: str = EMAIL) -> str:
    found = row(site, email)
    assert found is not None
    token = make_resident_token(site.settings, Purpose.PREFERENCES, found.id, found.link_key)
    return f"/preferences/{token}"


def test_box_offers_three_frequencies_weekly_by_default(site_factory: SiteFactory) -> None:
    """The footer box, the subscribe page and the widget show the three choices with their
    Vietnamese labels; the daily one says the time of NEWSLETTER_DAILY_SCHEDULE."""
    site = site_factory(daily_schedule="30 6 * * *", digest_schedule="0 7 * * mon")
    with site.client() as client:
        for path in ("/", "/widget"):
            page = client.get(path).text
            assert "Nhận tin bao lâu một lần?" in page
            assert "Ngay khi có tin mới" in page
            assert "Hằng ngày (06:30)" in page
            assert "Hằng tuần (thứ Hai, 07:00)" in page
            assert checked_frequency(page) == ["hang-tuan"]
            assert page.count('type="radio" name="frequency"') == 3


def test_form_post_stores_the_frequency_and_confirming_keeps_it(site: Site) -> None:
    """A plain form post (no JavaScript) with `hang-ngay` stores it on the new, pending row,
    records it in the consent event, and the confirmation keeps it."""
    with site.client() as client:
        answer = client.post("/subscribe", data={"email": EMAIL, "frequency": "hang-ngay"})
        assert answer.status_code == 200
        assert "Cảm ơn bạn!" in answer.text
        assert frequency_of(site) is Frequency.DAILY
        confirmed = client.post(confirm_link(site.smtp.wait_for(1)[-1]))
        assert confirmed.status_code == 200
        assert "qua e-mail (hằng ngày (17:00); thông báo khẩn luôn gửi ngay)" in confirmed.text
    found = row(site)
    assert found is not None
    assert (found.status, found.frequency) == (SubscriberStatus.ACTIVE, Frequency.DAILY)
    with site.runtime.sessions() as session:
        event = session.scalars(
            select(ConsentEvent).where(ConsentEvent.kind == ConsentKind.SUBSCRIBE_REQUESTED)
        ).one()
        assert event.detail is not None
        assert json.loads(event.detail)["frequency"] == "hang-ngay"


def test_json_subscribe_takes_the_frequency_and_refuses_an_unknown_one(site: Site) -> None:
    """JSON `frequency` is stored; omitted means weekly; an unknown value is a 422 naming
    the field, in Vietnamese, and stores nothing."""
    with site.client() as client:
        ok = client.post("/subscribe", json={"email": EMAIL, "frequency": "ngay-khi-co"})
        plain = client.post("/subscribe", json={"email": "binh@example.vn"})
        bad = client.post("/subscribe", json={"email": "chi@example.vn", "frequency": "monthly"})
        two = client.post(
            "/subscribe", json={"email": "dao@example.vn", "frequency": ["hang-ngay", "hang-tuan"]}
        )
    assert ok.status_code == 202
    assert plain.status_code == 202
    assert frequency_of(site) is Frequency.IMMEDIATELY
    assert frequency_of(site, "binh@example.vn") is Frequency.WEEKLY
    for refused in (bad, two):
        assert refused.status_code == 422
        assert refused.json() == {
            "status": "error",
            "message": INVALID_FREQUENCY_VI,
            "field": "frequency",
        }
    assert row(site, "chi@example.vn") is None
    assert row(site, "dao@example.vn") is None


def test_form_with_an_unknown_frequency_shows_the_box_again(site: Site) -> None:
    """A forged form value gets the box back with a Vietnamese error (422, never 500), the
    typed address kept and weekly checked; nothing is stored."""
    with site.client() as client:
        answer = client.post("/subscribe", data={"email": EMAIL, "frequency": "x" * 5000})
    assert answer.status_code == 422
    assert INVALID_FREQUENCY_VI in answer.text
    assert f'value="{EMAIL}"' in answer.text
    assert checked_frequency(answer.text) == ["hang-tuan"]
    assert row(site) is None


def test_known_address_frequency_waits_for_its_own_confirmation(
    site_factory: SiteFactory,
) -> None:
    """A request for a known address (a stranger may type it) changes the stored frequency
    only when that request's own link is confirmed; a request that states none keeps it."""
    site = site_factory(confirm_resend_hours=0)
    with site.client() as client:
        client.post("/subscribe", data={"email": EMAIL, "frequency": "hang-tuan"})
        assert client.post(confirm_link(site.smtp.wait_for(1)[-1])).status_code == 200
        assert client.post(preferences_path(site), data={"action": "unsubscribe"}).is_success
        stranger = client.post("/subscribe", data={"email": EMAIL, "frequency": "ngay-khi-co"})
        other = {"email": "moi@example.vn", "frequency": "ngay-khi-co"}
        unknown = client.post("/subscribe", data=other)
        assert stranger.text.replace(EMAIL, "@") == unknown.text.replace("moi@example.vn", "@")
        site.smtp.wait_for(3)
        assert frequency_of(site) is Frequency.WEEKLY  # not confirmed: nothing changed
        client.post("/subscribe", json={"email": EMAIL, "frequency": "hang-ngay"})
        newest = confirm_link(site.smtp.wait_for(4)[-1])
        assert frequency_of(site) is Frequency.WEEKLY
        assert client.post(newest).status_code == 200
        assert frequency_of(site) is Frequency.DAILY
        # Unsubscribed again, then a request that names no frequency: the choice stays.
        assert client.post(preferences_path(site), data={"action": "unsubscribe"}).is_success
        client.post("/subscribe", json={"email": EMAIL})
        assert client.post(confirm_link(site.smtp.wait_for(5)[-1])).status_code == 200
    found = row(site)
    assert found is not None
    assert (found.status, found.frequency) == (SubscriberStatus.ACTIVE, Frequency.DAILY)


def test_active_subscriber_frequency_is_untouched_by_a_new_request(site: Site) -> None:
    """An active subscriber's frequency is never changed by a subscribe request."""
    with site.client() as client:
        client.post("/subscribe", data={"email": EMAIL, "frequency": "hang-ngay"})
        assert client.post(confirm_link(site.smtp.wait_for(1)[-1])).status_code == 200
        again = client.post("/subscribe", data={"email": EMAIL, "frequency": "ngay-khi-co"})
    assert again.status_code == 200
    assert frequency_of(site) is Frequency.DAILY


def test_preferences_page_changes_the_frequency_with_a_consent_event(site: Site) -> None:
    """The preferences page shows the stored frequency checked, saves a new one with a
    preferences_changed consent event, and refuses an unknown one with a Vietnamese error."""
    with site.client() as client:
        client.post("/subscribe", data={"email": EMAIL})
        assert client.post(confirm_link(site.smtp.wait_for(1)[-1])).status_code == 200
        path = preferences_path(site)
        page = client.get(path)
        assert checked_frequency(page.text) == ["hang-tuan"]
        choice = {"action": "save", "name": "Hoa", "frequency": "ngay-khi-co"}
        saved = client.post(path, data=choice)
        assert saved.status_code == 200
        assert "Đã lưu lựa chọn của bạn" in saved.text
        assert checked_frequency(saved.text) == ["ngay-khi-co"]
        refused = client.post(path, data={"action": "save", "frequency": "hang-thang"})
        assert refused.status_code == 422
        assert INVALID_FREQUENCY_VI in refused.text
    assert frequency_of(site) is Frequency.IMMEDIATELY
    with site.runtime.sessions() as session:
        [event] = session.scalars(
            select(ConsentEvent).where(ConsentEvent.kind == ConsentKind.PREFERENCES_CHANGED)
        )
        assert event.detail is not None
        detail = json.loads(event.detail)
        assert (detail["frequency"], detail["previous_frequency"]) == ("ngay-khi-co", "hang-tuan")
        assert detail["via"] == "preferences"


def test_preferences_export_names_the_frequency(site: Site) -> None:
    """The resident's data export says which frequency is stored."""
    with site.client() as client:
        client.post("/subscribe", data={"email": EMAIL, "frequency": "hang-ngay"})
        site.smtp.wait_for(1)
        exported = client.post(preferences_path(site), data={"action": "export"})
    assert exported.json()["frequency"] == "hang-ngay"
