"""GET|POST /manage over real HTTP: the same answer for every address, the link by mail."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from newsletter.models import Subscriber, SubscriberStatus
from newsletter.subscribers.suppression import SUPPRESSION_ERASED, suppress
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

ACTIVE = "active@example.gov.vn"


def add(site: Site, email: str, status: SubscriberStatus, *, suppressed: str | None = None) -> int:
    with site.runtime.sessions.begin() as session:
        row = Subscriber(email=email, status=status, locale="vi", name="Nguyễn Văn An")
        session.add(row)
        session.flush()
        if suppressed:
            suppress(session, email=email, reason=suppressed)
        return row.id


def mails_to(lane: MailLane) -> list[str]:
    """Every recipient of the test's mail, the lane's drain markers left out."""
    lane.drain()
    return [m.rcpt_tos[0] for m in lane.smtp.received if not m.rcpt_tos[0].startswith("drain")]


def text_of(mail: ReceivedMail) -> str:
    body = mail.message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
def test_answer_is_identical_and_only_subscriptions_get_mail(
    site: Site, mail_lane: MailLane, as_json: bool
) -> None:
    """Unknown, erased, bounced, complained, unsubscribed-and-suppressed, pending, active and
    unsubscribed addresses get byte-identical answers; only the last three get a mail."""
    add(site, "bounced@example.gov.vn", SubscriberStatus.BOUNCED, suppressed="hard_bounce")
    add(site, "complained@example.gov.vn", SubscriberStatus.COMPLAINED, suppressed="complaint")
    add(site, "left-silent@example.gov.vn", SubscriberStatus.UNSUBSCRIBED, suppressed="complaint")
    with site.runtime.sessions.begin() as session:
        suppress(session, email="erased@example.gov.vn", reason=SUPPRESSION_ERASED)
    add(site, "pending@example.gov.vn", SubscriberStatus.PENDING)
    add(site, "left@example.gov.vn", SubscriberStatus.UNSUBSCRIBED)
    add(site, ACTIVE, SubscriberStatus.ACTIVE)
    addresses = [
        "nobody@example.gov.vn",
        "erased@example.gov.vn",
        "bounced@example.gov.vn",
        "complained@example.gov.vn",
        "left-silent@example.gov.vn",
        "pending@example.gov.vn",
        "left@example.gov.vn",
        ACTIVE.upper(),  # the same mailbox in other letter cases
    ]
    answers = set()
    with site.client() as client:
        for email in addresses:
            if as_json:
                response = client.post("/manage", json={"email": email})
            else:
                response = client.post("/manage", data={"email": email})
            answers.add((response.status_code, response.content))
    assert len(answers) == 1
    [(status, body)] = answers
    assert status == (202 if as_json else 200)
    assert "chúng tôi vừa gửi đến đó một thư" in body.decode()
    site.smtp.wait_for(3)
    assert sorted(mails_to(mail_lane)) == sorted(
        ["pending@example.gov.vn", "left@example.gov.vn", ACTIVE]
    )


def test_mailed_link_opens_the_preferences_page(site: Site, mail_lane: MailLane) -> None:
    """The mail goes to the subscription's address, signed by nobody's name, and its link
    opens that subscriber's preferences page (whose footer box links back to /manage)."""
    other = add(site, "other@example.gov.vn", SubscriberStatus.ACTIVE)
    mine = add(site, ACTIVE, SubscriberStatus.ACTIVE)
    with site.client() as client:
        assert client.post("/manage", data={"email": ACTIVE}).status_code == 200
        [mail] = site.smtp.wait_for(1)
        assert mail.rcpt_tos == [ACTIVE]
        message = mail.message
        assert message["Subject"] == "Liên kết quản lý đăng ký nhận bản tin – Thành phố Hoa Sen"
        assert message["Auto-Submitted"] == "auto-generated"
        text = text_of(mail)
        assert "Nguyễn Văn An" not in text
        found = re.search(r"https://bantin\.example\.gov\.vn(/preferences/\S+)", text)
        assert found, text
        page = client.get(found.group(1))
    assert page.status_code == 200
    assert f"<strong>{ACTIVE}</strong>" in page.text
    assert "other@example.gov.vn" not in page.text
    with site.runtime.sessions() as session:
        assert session.get_one(Subscriber, mine).manage_sent_at is not None
        assert session.get_one(Subscriber, other).manage_sent_at is None
    assert mails_to(mail_lane) == [ACTIVE]


def test_one_mail_per_address_in_ten_minutes(site: Site, mail_lane: MailLane) -> None:
    """A second request for the same address soon after mails nothing more."""
    add(site, ACTIVE, SubscriberStatus.ACTIVE)
    with site.client() as client:
        client.post("/manage", data={"email": ACTIVE})
        site.smtp.wait_for(1)
        again = client.post("/manage", data={"email": ACTIVE})
    assert again.status_code == 200
    assert mails_to(mail_lane) == [ACTIVE]


def test_rate_limited_like_subscribe(site_factory: SiteFactory) -> None:
    """Past SUBSCRIBE_RATE_LIMIT requests per network (shared with /subscribe): a Vietnamese
    429 page with Retry-After; the per-address limit applies too."""
    running = site_factory(subscribe_rate_limit=3, subscribe_address_limit=1)
    with running.client() as client:
        assert client.post("/subscribe", data={"email": "a@example.gov.vn"}).status_code == 200
        assert client.post("/manage", data={"email": "b@example.gov.vn"}).status_code == 200
        same_address = client.post("/manage", data={"email": "b@example.gov.vn"})
        over = client.post("/manage", data={"email": "c@example.gov.vn"})
    for refused in (same_address, over):
        assert refused.status_code == 429
        assert "quá nhiều yêu cầu" in refused.text
        assert refused.headers["Retry-After"] == "600"


def test_bad_address_is_explained_and_honeypot_answers_alike(site: Site) -> None:
    """An address that is not one gets the form again with a Vietnamese message (422); a
    filled honeypot gets the usual answer and no mail."""
    add(site, ACTIVE, SubscriberStatus.ACTIVE)
    with site.client() as client:
        bad = client.post("/manage", data={"email": "khong-phai-dia-chi"})
        trap = client.post("/manage", data={"email": ACTIVE, "website": "http://spam"})
        usual = client.post("/manage", data={"email": "nobody@example.gov.vn"})
        unreadable = client.post(
            "/manage", content=b"{", headers={"Content-Type": "application/json"}
        )
    assert bad.status_code == 422
    assert "Địa chỉ e-mail không hợp lệ" in bad.text
    assert 'value="khong-phai-dia-chi"' in bad.text
    assert (trap.status_code, trap.content) == (usual.status_code, usual.content)
    assert unreadable.status_code == 400
    with site.runtime.sessions() as session:
        row = session.scalars(select(Subscriber).where(Subscriber.email == ACTIVE)).one()
        assert row.manage_sent_at is None


def test_manage_is_linked_from_the_box_and_the_subscribe_page(site: Site) -> None:
    """The footer box (widget and subscribe page) and the privacy page link to "Quản lý
    đăng ký", the privacy page states RETENTION_DAYS; the page has its form."""
    with site.client() as client:
        for path in ("/", "/widget"):
            page = client.get(path)
            assert 'href="https://bantin.example.gov.vn/manage">Quản lý đăng ký</a>' in page.text
        form = client.get("/manage")
        privacy = client.get("/privacy")
    assert 'href="https://bantin.example.gov.vn/manage">Quản lý đăng ký</a>' in privacy.text
    assert "tự động xóa 400 ngày sau khi đợt gửi kết thúc" in privacy.text
    assert form.status_code == 200
    assert 'action="https://bantin.example.gov.vn/manage"' in form.text
    assert "<h1>Quản lý đăng ký nhận bản tin</h1>" in form.text
