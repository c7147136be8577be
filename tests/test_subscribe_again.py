"""Subscribing again with a known address: what is stored stays until the new request is
confirmed, only the newest confirmation link works, and the answer tells the truth."""

from __future__ import annotations

from sqlalchemy import select

from newsletter.models import Subscriber, SubscriberStatus
from newsletter.signing import Purpose, make_resident_token
from tests.support.public_site import (  # noqa: F401
    Site,
    SiteFactory,
    mail_lane_fixture,
    mail_lanes_fixture,
    site_factory_fixture,
    site_fixture,
)
from tests.test_subscribe_web import confirm_link

EMAIL = "lan.tran@example.vn"


def stored(site: Site) -> tuple[SubscriberStatus, str | None, list[str]]:
    with site.runtime.sessions() as session:
        row = session.scalars(select(Subscriber).where(Subscriber.email == EMAIL)).one()
        return row.status, row.name, sorted(c.slug for c in row.categories)


def unsubscribe_path(site: Site) -> str:
    with site.runtime.sessions() as session:
        row = session.scalars(select(Subscriber).where(Subscriber.email == EMAIL)).one()
        token = make_resident_token(site.settings, Purpose.UNSUBSCRIBE, row.id, row.link_key)
    return f"/unsubscribe/{token}"


def subscribed_then_unsubscribed(site: Site) -> str:
    """Subscribe as Lan with one category, confirm, unsubscribe; the first confirm link."""
    with site.client() as client:
        client.post("/subscribe", data={"email": EMAIL, "name": "Lan", "categories": "tin-tuc"})
        first = confirm_link(site.smtp.wait_for(1)[-1])
        assert client.post(first).status_code == 200
        assert client.post(unsubscribe_path(site)).status_code == 200
    assert stored(site) == (SubscriberStatus.UNSUBSCRIBED, "Lan", ["tin-tuc"])
    return first


def test_request_within_the_resend_window_changes_nothing_and_says_so(site: Site) -> None:
    """Within CONFIRM_RESEND_HOURS of the last confirmation: status, name and categories stay,
    the old link stays dead, and the answer (the same as for an unknown address) says at
    most one confirmation is sent every 6 hours."""
    first = subscribed_then_unsubscribed(site)
    with site.client() as client:
        again = client.post("/subscribe", data={"email": EMAIL})
        unknown = client.post("/subscribe", data={"email": "nguoi.moi@example.vn"})
        as_json = client.post("/subscribe", json={"email": EMAIL})
        relink = client.post(first)
    assert again.status_code == 200
    assert "tối đa một thư xác nhận trong 6 giờ" in again.text
    # The page repeats the typed address; apart from it, the two answers are the same.
    assert again.text.replace(EMAIL, "<typed>") == unknown.text.replace(
        "nguoi.moi@example.vn", "<typed>"
    )
    assert "tối đa một thư xác nhận trong 6 giờ" in as_json.json()["message"]
    assert relink.status_code == 400
    assert stored(site) == (SubscriberStatus.UNSUBSCRIBED, "Lan", ["tin-tuc"])


def test_new_request_applies_only_once_confirmed_by_its_own_link(
    site_factory: SiteFactory,
) -> None:
    """A new confirmation is mailed; until it is confirmed the stored subscription stays, the
    older links are dead, and confirming applies what the new request asked for."""
    site = site_factory(confirm_resend_hours=0)
    site.add_categories(("tin-tuc", "Tin tức"), ("thong-bao", "Thông báo"))
    first = subscribed_then_unsubscribed(site)
    with site.client() as client:
        client.post("/subscribe", data={"email": EMAIL, "name": "Kẻ lạ", "categories": "thong-bao"})
        second = confirm_link(site.smtp.wait_for(2)[-1])
        assert stored(site) == (SubscriberStatus.UNSUBSCRIBED, "Lan", ["tin-tuc"])
        client.post("/subscribe", data={"email": EMAIL, "name": "Lan", "categories": "tin-tuc"})
        third = confirm_link(site.smtp.wait_for(3)[-1])
        assert stored(site) == (SubscriberStatus.UNSUBSCRIBED, "Lan", ["tin-tuc"])
        assert client.post(first).status_code == 400
        assert client.post(second).status_code == 400
        assert stored(site) == (SubscriberStatus.UNSUBSCRIBED, "Lan", ["tin-tuc"])
        assert client.post(third).status_code == 200
    assert stored(site) == (SubscriberStatus.ACTIVE, "Lan", ["tin-tuc"])
