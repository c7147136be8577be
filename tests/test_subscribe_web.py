"""POST /subscribe over real HTTP: same answer for every address, one mail per window, abuse."""

from __future__ import annotations

import base64
import json
import re

import pytest
import redis
from sqlalchemy import func, select

from newsletter.models import ConsentEvent, Subscriber, SubscriberStatus
from newsletter.tasks.app import SEND_CONFIRMATIONS, URGENT_QUEUE
from newsletter.web.public import BAD_REQUEST_MESSAGE
from tests.support.ledger import wait_until
from tests.support.public_site import (  # noqa: F401
    Site,
    SiteFactory,
    mail_lane_fixture,
    mail_lanes_fixture,
    site_factory_fixture,
    site_fixture,
)
from tests.support.smtp import ReceivedMail, _free_port

EMAIL = "an.nguyen@example.gov.vn"


def subscriber(site: Site, email: str) -> Subscriber | None:
    with site.runtime.sessions() as session:
        return session.scalar(select(Subscriber).where(Subscriber.email == email))


def set_status(site: Site, email: str, status: SubscriberStatus) -> None:
    with site.runtime.sessions.begin() as session:
        row = session.scalars(select(Subscriber).where(Subscriber.email == email)).one()
        row.status = status


def confirm_link(mail: ReceivedMail) -> str:
    text = mail.message.get_body(("plain",))
    assert text is not None
    found = re.search(r"https://bantin\.example\.gov\.vn(/confirm/\S+)", text.get_content())
    assert found, text.get_content()
    return found.group(1)


def test_form_post_creates_pending_and_mails_confirmation(site: Site) -> None:
    """A form POST stores a pending subscriber and consent event, and mails a confirmation."""
    with site.client() as client:
        response = client.post(
            "/subscribe",
            data={"email": EMAIL, "name": "Nguyễn Văn An", "categories": ["tin-tuc"]},
            headers={"User-Agent": "TestBrowser/1.0", "Referer": "https://portal.example.vn/"},
        )
    assert response.status_code == 200
    assert "Cảm ơn bạn!" in response.text
    [mail] = site.smtp.wait_for(1)
    assert mail.rcpt_tos == [EMAIL]
    message = mail.message
    assert message["Subject"] == "Xác nhận đăng ký nhận bản tin – Thành phố Hoa Sen"
    assert "Nguyễn Văn An" not in mail.data.decode("ascii")  # the name is never mailed
    assert confirm_link(mail).startswith("/confirm/")
    row = subscriber(site, EMAIL)
    assert row is not None
    assert row.status is SubscriberStatus.PENDING
    with site.runtime.sessions() as session:
        [event] = session.scalars(select(ConsentEvent)).all()
        assert event.kind.value == "subscribe_requested"
        assert event.ip == "127.0.0.1"
        assert event.user_agent == "TestBrowser/1.0"
        assert event.source_url == "https://portal.example.vn/"
        assert event.form_text_version
        assert event.form_text_version.startswith("sha256:")
        assert event.detail
        assert "bạn đồng ý" in event.detail


def typed_out(body: bytes, email: str) -> bytes:
    """The answer with the address typed (and repeated back) replaced by a placeholder."""
    return body.replace(email.encode(), b"<typed>")


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
def test_answer_is_identical_for_every_known_and_unknown_address(site: Site, as_json: bool) -> None:
    """New, pending, active and unsubscribed addresses get the same status and body, byte
    for byte once the address typed (which the answer repeats) is taken out."""
    states = {
        "new@example.gov.vn": None,
        "pending@example.gov.vn": SubscriberStatus.PENDING,
        "active@example.gov.vn": SubscriberStatus.ACTIVE,
        "left@example.gov.vn": SubscriberStatus.UNSUBSCRIBED,
    }
    with site.client() as client:
        for email, status in states.items():
            if status is not None:
                assert client.post("/subscribe", data={"email": email}).status_code == 200
                set_status(site, email, status)
        answers = set()
        for email in states:
            if as_json:
                response = client.post("/subscribe", json={"email": email})
            else:
                response = client.post("/subscribe", data={"email": email})
            assert email.encode() in response.content  # the page names the address typed
            answers.add((response.status_code, typed_out(response.content, email)))
    assert len(answers) == 1
    [(status_code, body)] = answers
    assert status_code == (202 if as_json else 200)
    if as_json:
        assert body.decode().startswith('{"status":"ok","message":"Cảm ơn bạn!')


def test_confirmation_at_most_once_per_window_and_never_to_active(site: Site) -> None:
    """One confirmation per CONFIRM_RESEND_HOURS per address; none to an active subscriber."""
    with site.client() as client:
        for _ in range(3):
            client.post("/subscribe", data={"email": EMAIL})
        site.smtp.wait_for(1)
        set_status(site, EMAIL, SubscriberStatus.ACTIVE)
        with site.runtime.sessions.begin() as session:
            row = session.scalars(select(Subscriber)).one()
            row.confirmation_sent_at = None  # even with the window passed
        client.post("/subscribe", data={"email": EMAIL})
        # A different address still gets its own mail: the last message proves the queue drained.
        client.post("/subscribe", data={"email": "other@example.gov.vn"})
    received = site.smtp.wait_for(2)
    assert [m.rcpt_tos for m in received] == [[EMAIL], ["other@example.gov.vn"]]
    row = subscriber(site, EMAIL)
    assert row is not None
    assert row.status is SubscriberStatus.ACTIVE


def test_the_same_mailbox_in_other_letter_cases_is_one_subscriber(site: Site) -> None:
    """`An.Nguyen@…` after `an.nguyen@…` is the same resident: one row, one confirmation."""
    with site.client() as client:
        client.post("/subscribe", data={"email": EMAIL})
        client.post("/subscribe", data={"email": EMAIL.upper()})
        client.post("/subscribe", data={"email": "other@example.gov.vn"})
    received = site.smtp.wait_for(2)
    assert [m.rcpt_tos for m in received] == [[EMAIL], ["other@example.gov.vn"]]
    with site.runtime.sessions() as session:
        emails = sorted(session.scalars(select(Subscriber.email)))
    assert emails == [EMAIL, "other@example.gov.vn"]


def test_resend_after_window(site_factory: SiteFactory) -> None:
    """With CONFIRM_RESEND_HOURS=0 every request for a pending address mails again."""
    running = site_factory(confirm_resend_hours=0)
    with running.client() as client:
        client.post("/subscribe", data={"email": EMAIL})
        running.smtp.wait_for(1)
        client.post("/subscribe", data={"email": EMAIL})
    assert len(running.smtp.wait_for(2)) == 2


def test_confirmation_is_queued_on_the_urgent_queue(
    site_factory: SiteFactory, redis_prefix: str
) -> None:
    """The web app sends no mail itself: it queues a send_confirmations task on `urgent`."""
    running = site_factory(redis_prefix=redis_prefix)  # queues no worker reads
    with running.client() as client:
        assert client.post("/subscribe", data={"email": EMAIL}).status_code == 200
    queue = redis_prefix + URGENT_QUEUE
    broker = redis.Redis.from_url(running.settings.broker_url)
    try:
        wait_until(lambda: broker.llen(queue) == 1, timeout=30, what="the queued confirmation")
        [raw] = broker.lrange(queue, 0, -1)
    finally:
        broker.close()
    message = json.loads(raw)
    row = subscriber(running, EMAIL)
    assert row is not None
    assert message["headers"]["task"] == SEND_CONFIRMATIONS
    assert json.loads(base64.b64decode(message["body"]))[0] == [[row.id]]
    assert running.smtp.received == []


def test_broker_outage_answers_the_same_and_the_next_request_retries(
    site_factory: SiteFactory,
) -> None:
    """With the broker down the resident gets the usual answer and the address is not silenced:
    the next request, once the queue is back, mails the confirmation."""
    down = site_factory(broker_url=f"redis://127.0.0.1:{_free_port()}/0")
    up = site_factory()
    with down.client() as client:
        failed = client.post("/subscribe", data={"email": EMAIL})
    with up.client() as client:
        usual = client.post("/subscribe", data={"email": "other@example.gov.vn"})
    assert (failed.status_code, typed_out(failed.content, EMAIL)) == (
        usual.status_code,
        typed_out(usual.content, "other@example.gov.vn"),
    )

    def forgotten() -> bool:
        row = subscriber(down, EMAIL)
        return row is not None and row.confirmation_sent_at is None

    wait_until(forgotten, timeout=30, what="confirmation_sent_at to be cleared")
    with up.client() as client:
        client.post("/subscribe", data={"email": EMAIL})
    received = up.smtp.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in received) == [EMAIL, "other@example.gov.vn"]
    row = subscriber(up, EMAIL)
    assert row is not None
    assert row.confirmation_sent_at is not None


def test_honeypot_gets_the_same_answer_and_nothing_happens(site: Site) -> None:
    """A filled `website` field answers like a real signup but stores and sends nothing."""
    with site.client() as client:
        trap = client.post("/subscribe", data={"email": EMAIL, "website": "http://spam"})
        real = client.post("/subscribe", data={"email": "real@example.gov.vn"})
    assert (trap.status_code, typed_out(trap.content, EMAIL)) == (
        real.status_code,
        typed_out(real.content, "real@example.gov.vn"),
    )
    assert [m.rcpt_tos for m in site.smtp.wait_for(1)] == [["real@example.gov.vn"]]
    assert subscriber(site, EMAIL) is None


def test_rate_limit_answers_429_in_vietnamese(site_factory: SiteFactory) -> None:
    """Past SUBSCRIBE_RATE_LIMIT requests per IP: a Vietnamese 429 page, and 429 JSON."""
    running = site_factory(subscribe_rate_limit=2)
    with running.client() as client:
        for i in range(2):
            assert client.post("/subscribe", data={"email": f"a{i}@example.gov.vn"}).is_success
        page = client.post("/subscribe", data={"email": "a3@example.gov.vn"})
        api = client.post("/subscribe", json={"email": "a4@example.gov.vn"})
    assert page.status_code == 429
    assert "quá nhiều yêu cầu" in page.text
    assert "Retry-After" in page.headers
    assert api.status_code == 429
    assert api.json()["status"] == "error"
    assert subscriber(running, "a3@example.gov.vn") is None


def test_deeply_nested_json_is_a_clean_400_and_counts(site_factory: SiteFactory) -> None:
    """JSON nested past Python's recursion limit gets the Vietnamese 400, never a 500, and
    counts against the client's limit like any other request."""
    running = site_factory(subscribe_rate_limit=2)
    nested = "[" * 5000 + "]" * 5000
    with running.client() as client:
        answers = [
            client.post("/subscribe", content=nested, headers={"Content-Type": "application/json"})
            for _ in range(2)
        ]
        after = client.post("/subscribe", json={"email": "sau@example.gov.vn"})
    assert [a.status_code for a in answers] == [400, 400]
    assert answers[0].json()["message"] == BAD_REQUEST_MESSAGE
    assert after.status_code == 429


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "x=?UTF-8?Q?=0A?=Bcc: a@b.vn"),
        ("name", "An\r\nBcc: a@b.vn"),
        ("email", "an@example.gov.vn\r\nBcc: a@b.vn"),
        ("email", "=?utf-8?q?an?=@example.gov.vn"),
    ],
)
def test_control_characters_and_encoded_words_are_refused(
    site: Site, field: str, value: str
) -> None:
    """Control characters and =?...?= in any input are refused with a clear message."""
    data = {"email": EMAIL, field: value}
    with site.client() as client:
        page = client.post("/subscribe", data=data)
        api = client.post("/subscribe", json=data)
    assert page.status_code == 422
    assert "không được phép" in page.text or "ký tự điều khiển" in page.text
    assert api.status_code == 422
    assert api.json()["field"] == field
    with site.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_name_never_yields_an_extra_header(site: Site) -> None:
    """A name that looks like a header stays out of every header of the confirmation mail."""
    with site.client() as client:
        client.post("/subscribe", data={"email": EMAIL, "name": "An Bcc: evil@b.vn"})
    [mail] = site.smtp.wait_for(1)
    assert set(mail.message.keys()) == {
        "From", "To", "Subject", "Date", "Message-ID", "Feedback-ID", "Auto-Submitted",
        "MIME-Version", "Content-Type",
    }  # fmt: skip
    assert b"evil" not in mail.data
    assert mail.rcpt_tos == [EMAIL]


def test_idn_address_is_mailed_to_its_a_label_form(site: Site) -> None:
    """`an@ví-dụ.vn` is stored in Unicode and mailed as A-labels to a relay without SMTPUTF8."""
    with site.client() as client:
        response = client.post("/subscribe", json={"email": "an@ví-dụ.vn"})
    assert response.status_code == 202
    [mail] = site.smtp.wait_for(1)
    assert mail.rcpt_tos == ["an@xn--v-d-rma6749a.vn"]
    assert mail.smtputf8 is False
    assert mail.message["To"] == "an@xn--v-d-rma6749a.vn"
    assert subscriber(site, "an@ví-dụ.vn") is not None


def test_invalid_address_and_unknown_category_are_explained(site: Site) -> None:
    """A malformed address or an unknown category gets a Vietnamese message naming the field."""
    with site.client() as client:
        bad = client.post("/subscribe", json={"email": "not-an-address"})
        cat = client.post("/subscribe", json={"email": EMAIL, "categories": ["khong-co"]})
        page = client.post("/subscribe", data={"email": "x@", "name": "<b>An</b>"})
    assert bad.status_code == 422
    assert bad.json() == {
        "status": "error",
        "message": "Địa chỉ e-mail không hợp lệ. Vui lòng kiểm tra lại (ví dụ: ten@example.vn).",
        "field": "email",
    }
    assert cat.status_code == 422
    assert cat.json()["field"] == "categories"
    assert page.status_code == 422
    assert 'value="&lt;b&gt;An&lt;/b&gt;"' in page.text


def test_special_use_domain_refused_outside_development(site_factory: SiteFactory) -> None:
    """`.test`/`.local` addresses are refused outside development and `.test` allowed in it."""
    strict = site_factory()
    with strict.client() as client:
        assert client.post("/subscribe", json={"email": "a@x.local"}).status_code == 422
        assert client.post("/subscribe", json={"email": "a@mail.test"}).status_code == 422
    relaxed = site_factory(env="development")
    with relaxed.client() as client:
        assert client.post("/subscribe", json={"email": "a@mail.test"}).status_code == 202


def test_cors_only_for_allowed_origins(site_factory: SiteFactory) -> None:
    """The JSON path answers CORS for NEWSLETTER_ALLOWED_ORIGINS and for no other origin."""
    running = site_factory(allowed_origins="https://portal.example.gov.vn")
    with running.client() as client:
        allowed = {"Origin": "https://portal.example.gov.vn"}
        other = {"Origin": "https://evil.example.com"}
        pre_ok = client.options(
            "/subscribe", headers={**allowed, "Access-Control-Request-Method": "POST"}
        )
        pre_no = client.options(
            "/subscribe", headers={**other, "Access-Control-Request-Method": "POST"}
        )
        post_ok = client.post("/subscribe", json={"email": EMAIL}, headers=allowed)
        post_no = client.post("/subscribe", json={"email": EMAIL}, headers=other)
    assert pre_ok.headers["access-control-allow-origin"] == "https://portal.example.gov.vn"
    assert "POST" in pre_ok.headers["access-control-allow-methods"]
    assert "access-control-allow-origin" not in pre_no.headers
    assert post_ok.headers["access-control-allow-origin"] == "https://portal.example.gov.vn"
    assert "access-control-allow-origin" not in post_no.headers


def test_oversized_body_is_refused(site: Site) -> None:
    """A body over the public form limit is answered 413 and stores nothing."""
    with site.client() as client:
        response = client.post("/subscribe", data={"email": EMAIL, "name": "a" * 40_000})
    assert response.status_code == 413
    assert "Yêu cầu quá lớn" in response.text
    assert subscriber(site, EMAIL) is None


def test_widget_and_pages_render_the_box(site: Site) -> None:
    """GET /widget is the embeddable box; / and /privacy are full Vietnamese pages."""
    with site.client() as client:
        widget = client.get("/widget")
        index = client.get("/")
        privacy = client.get("/privacy")
    assert widget.status_code == 200
    assert "ĐĂNG KÝ NHẬN TIN" in widget.text
    assert "<html" not in widget.text
    assert 'value="tin-tuc"' in widget.text
    assert "Thông báo" in widget.text
    assert 'name="website"' in widget.text
    assert 'action="https://bantin.example.gov.vn/subscribe"' in widget.text
    assert "/privacy" in widget.text
    assert index.status_code == 200
    assert "ĐĂNG KÝ NHẬN TIN" in index.text
    assert '<html lang="vi">' in index.text
    assert privacy.status_code == 200
    assert "Chúng tôi lưu gì và vì sao" in privacy.text
