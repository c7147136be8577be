"""Changing a subscription's address: confirmed from the new mailbox, neutral when taken."""

from __future__ import annotations

import json
import re
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.mail.links import preferences_url
from newsletter.models import (
    ConsentEvent,
    ConsentKind,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
)
from newsletter.signing import Purpose, make_resident_token
from newsletter.subscribers.change_address import confirm_change, request_change
from newsletter.subscribers.consent import Consent
from newsletter.subscribers.preferences import erase_subscriber, export_subscriber
from newsletter.subscribers.suppression import suppress
from tests.support.public_site import (  # noqa: F401
    MailLane,
    Site,
    SiteFactory,
    mail_lane_fixture,
    mail_lanes_fixture,
    site_factory_fixture,
    site_fixture,
)
from tests.support.smtp import ReceivedMail

OLD = "an.nguyen@example.gov.vn"
NEW = "an.moi@example.gov.vn"
BASE = "https://bantin.example.gov.vn"


def add(site: Site, email: str, status: SubscriberStatus = SubscriberStatus.ACTIVE) -> Subscriber:
    with site.runtime.sessions.begin() as session:
        row = Subscriber(email=email, status=status, locale="vi")
        session.add(row)
        session.flush()
        session.expunge(row)
        return row


def prefs_path(site: Site, row: Subscriber) -> str:
    return preferences_url(site.settings, row.id, row.link_key).removeprefix(BASE)


def mails_to(lane: MailLane) -> list[str]:
    lane.drain()
    return [m.rcpt_tos[0] for m in lane.smtp.received if not m.rcpt_tos[0].startswith("drain")]


def link_in(mail: ReceivedMail, path: str) -> str:
    body = mail.message.get_body(("plain",))
    assert body is not None
    found = re.search(rf"{re.escape(BASE)}(/{path}/\S+)", body.get_content())
    assert found, body.get_content()
    return found.group(1)


def row_of(site: Site, subscriber_id: int) -> Subscriber:
    with site.runtime.sessions() as session:
        row = session.get_one(Subscriber, subscriber_id)
        session.expunge(row)
        return row


def test_new_address_takes_effect_only_once_confirmed(site: Site, mail_lane: MailLane) -> None:
    """The new address gets a confirmation link; the old one stays until it is followed;
    then the row (same id, same links) carries the new address, with consent events for
    the request, the address given up and the one confirmed."""
    row = add(site, OLD)
    prefs = prefs_path(site, row)
    with site.client() as client:
        page = client.get(prefs)
        assert f'action="{BASE}{prefs}/address"' in page.text
        asked = client.post(f"{prefs}/address", data={"email": " An.Moi@Example.gov.vn "})
        assert asked.status_code == 200
        assert f"Nếu địa chỉ {NEW} có thể dùng để nhận bản tin" in asked.text
        [mail] = site.smtp.wait_for(1)
        assert mail.rcpt_tos == [NEW]
        assert mail.message["Subject"] == (
            "Xác nhận địa chỉ e-mail mới nhận bản tin – Thành phố Hoa Sen"
        )
        assert row_of(site, row.id).email == OLD  # the old address keeps receiving
        assert f"Đang chờ xác nhận địa chỉ mới <strong>{NEW}</strong>" in client.get(prefs).text
        confirm = link_in(mail, "change-address")
        shown = client.get(confirm)
        assert shown.status_code == 200
        assert "Xác nhận địa chỉ mới" in shown.text
        assert row_of(site, row.id).email == OLD  # GET changes nothing
        done = client.post(confirm)
        assert done.status_code == 200
        assert f"Từ nay bản tin sẽ được gửi đến {NEW}" in done.text
        again = client.post(confirm)  # the link works once
        assert again.status_code == 400
        assert f"<strong>{NEW}</strong>" in client.get(prefs).text  # the old link still works
    moved = row_of(site, row.id)
    assert (moved.email, moved.link_key, moved.pending_email) == (NEW, row.link_key, None)
    with site.runtime.sessions() as session:
        events = session.scalars(
            select(ConsentEvent).where(ConsentEvent.subscriber_id == row.id)
        ).all()
        kinds = [(e.kind, json.loads(e.detail or "{}")) for e in events]
    assert [k for k, _ in kinds] == [
        ConsentKind.ADDRESS_CHANGE_REQUESTED,
        ConsentKind.ADDRESS_CHANGED_AWAY,
        ConsentKind.ADDRESS_CONFIRMED,
    ]
    assert kinds[0][1]["new_address"] == NEW
    assert kinds[1][1]["address"] == OLD
    assert kinds[2][1]["address"] == NEW
    assert mails_to(mail_lane) == [NEW]


def test_taken_or_suppressed_address_gets_the_same_answer_and_no_mail(
    site: Site, mail_lane: MailLane
) -> None:
    """Another subscriber's address, or a bounced one, answers exactly as a free address
    does; nothing is kept aside, no mail leaves, and no one's subscription moves."""
    row = add(site, OLD)
    other = add(site, "chi.tran@example.gov.vn")
    with site.runtime.sessions.begin() as session:
        suppress(session, email="bounced@example.gov.vn", reason="hard_bounce")
    prefs = prefs_path(site, row)
    answers = set()
    with site.client() as client:
        for email in ("chi.tran@example.gov.vn", "bounced@example.gov.vn", NEW):
            response = client.post(f"{prefs}/address", data={"email": email})
            answers.add((response.status_code, response.content.replace(email.encode(), b"<>")))
    assert len(answers) == 1
    site.smtp.wait_for(1)
    assert mails_to(mail_lane) == [NEW]
    assert row_of(site, row.id).pending_email == NEW
    assert row_of(site, other.id).email == "chi.tran@example.gov.vn"


def test_address_taken_before_confirmation_moves_nothing(site: Site) -> None:
    """When someone subscribes the new address between the request and the click, the
    link says the change cannot be made and the old address stays."""
    row = add(site, OLD)
    prefs = prefs_path(site, row)
    with site.client() as client:
        client.post(f"{prefs}/address", data={"email": NEW})
        [mail] = site.smtp.wait_for(1)
        add(site, NEW, SubscriberStatus.PENDING)
        refused = client.post(link_in(mail, "change-address"))
    assert refused.status_code == 400
    assert "Không thể đổi sang địa chỉ này" in refused.text
    assert row_of(site, row.id).email == OLD


def test_bad_or_same_address_is_explained(site: Site) -> None:
    """A malformed address or the current one: the form again with a Vietnamese message."""
    row = add(site, OLD)
    prefs = prefs_path(site, row)
    with site.client() as client:
        bad = client.post(f"{prefs}/address", data={"email": "an@@example"})
        same = client.post(f"{prefs}/address", data={"email": OLD.upper()})
        forged = client.post("/preferences/khong-hop-le/address", data={"email": NEW})
        forged_confirm = client.post("/change-address/khong-hop-le")
    assert bad.status_code == 422
    assert "Địa chỉ e-mail không hợp lệ" in bad.text
    assert same.status_code == 422
    assert "Đây đã là địa chỉ nhận bản tin hiện tại" in same.text
    assert forged.status_code == 400
    assert forged_confirm.status_code == 400
    assert row_of(site, row.id).pending_email is None


def test_a_bounced_subscription_moved_to_a_working_address_receives_again(site: Site) -> None:
    """A subscriber stopped for bounces who proves a new mailbox becomes active there."""
    row = add(site, OLD, SubscriberStatus.BOUNCED)
    with site.client() as client:
        client.post(f"{prefs_path(site, row)}/address", data={"email": NEW})
        [mail] = site.smtp.wait_for(1)
        assert client.post(link_in(mail, "change-address")).status_code == 200
    moved = row_of(site, row.id)
    assert (moved.email, moved.status) == (NEW, SubscriberStatus.ACTIVE)


def test_erasure_after_a_move_scrubs_every_address_and_export_shows_the_pending_one(
    session: Session,
) -> None:
    """An erased subscriber's former and pending addresses leave no trace in log-like text;
    the export names a pending new address."""
    row = Subscriber(email=OLD, status=SubscriberStatus.ACTIVE, locale="vi")
    session.add(row)
    session.flush()
    session.add(
        Delivery(
            campaign_id=1,
            subscriber_id=row.id,
            status=DeliveryStatus.BOUNCED,
            last_error=f"550 <{OLD}>: user unknown",
        )
    )
    consent = Consent(via="preferences")
    request_change(session, subscriber_id=row.id, new_email=NEW, consent=consent)
    key = row.pending_email_key
    assert key is not None
    assert confirm_change(session, subscriber_id=row.id, key=key, consent=consent) is not None
    request_change(session, subscriber_id=row.id, new_email="third@example.gov.vn", consent=consent)
    exported = export_subscriber(session, subscriber_id=row.id)
    assert exported is not None
    assert (exported["email"], exported["pending_email"]) == (NEW, "third@example.gov.vn")
    assert erase_subscriber(session, subscriber_id=row.id)
    errors = session.scalars(select(Delivery.last_error)).all()
    assert errors == ["550 <[erased address]>: user unknown"]


def test_expired_link_says_so_and_moves_nothing(site_factory: SiteFactory) -> None:
    """A new-address link older than CONFIRM_TOKEN_DAYS is refused with its own message."""
    running = site_factory(confirm_token_days=1 / 86400)  # one second
    row = add(running, OLD)
    with running.runtime.sessions.begin() as session:
        request_change(
            session, subscriber_id=row.id, new_email=NEW, consent=Consent(via="preferences")
        )
        key = session.get_one(Subscriber, row.id).pending_email_key
    assert key is not None
    token = make_resident_token(running.settings, Purpose.CHANGE_ADDRESS, row.id, key)
    time.sleep(2.1)
    with running.client() as client:
        page = client.get(f"/change-address/{token}")
        refused = client.post(f"/change-address/{token}")
    for answer in (page, refused):
        assert answer.status_code == 400
        assert "Liên kết xác nhận địa chỉ mới đã hết hạn" in answer.text
    assert row_of(running, row.id).email == OLD
