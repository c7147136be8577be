"""Transports: a real SMTP server on loopback, and the Maildir outbox."""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest

from newsletter.delivery.transport import DeliveryError, open_transport, parse_smtp_url
from newsletter.mail.mime import build_message, make_message_id
from tests.support.smtp import SMTPServer


def message(to: str) -> bytes:
    return build_message(
        from_header="bantin@example.gov.vn", to=to, subject="Chào bạn", text="Nội dung",
        message_id=make_message_id("example.gov.vn"),
    )  # fmt: skip


def test_smtp_reuses_one_connection_for_a_batch(smtp_server: SMTPServer) -> None:
    """Messages sent through one transport all arrive, with the envelope given."""
    transport = open_transport(smtp_server.url)
    try:
        for i in range(5):
            to = f"nguoi{i}@example.vn"
            transport.send(sender="bounces@example.gov.vn", recipient=to, message=message(to))
    finally:
        transport.close()
    received = smtp_server.wait_for(5)
    assert [m.rcpt_tos for m in received] == [[f"nguoi{i}@example.vn"] for i in range(5)]
    assert received[0].mail_from == "bounces@example.gov.vn"
    assert received[0].message["Subject"] == "Chào bạn"


def test_smtp_temporary_and_permanent_refusals(smtp_server: SMTPServer) -> None:
    """A 4xx reply is a temporary failure, a 5xx a permanent one; the code is kept."""
    smtp_server.refuse("busy@example.vn", "451 4.3.0 try again later")
    smtp_server.refuse("gone@example.vn", "550 5.1.1 no such user")
    transport = open_transport(smtp_server.url)
    try:
        with pytest.raises(DeliveryError) as temporary:
            transport.send(
                sender="b@example.gov.vn",
                recipient="busy@example.vn",
                message=message("busy@example.vn"),
            )
        with pytest.raises(DeliveryError) as permanent:
            transport.send(
                sender="b@example.gov.vn",
                recipient="gone@example.vn",
                message=message("gone@example.vn"),
            )
        transport.send(
            sender="b@example.gov.vn", recipient="ok@example.vn", message=message("ok@example.vn")
        )
    finally:
        transport.close()
    assert (temporary.value.permanent, temporary.value.code) == (False, 451)
    assert (permanent.value.permanent, permanent.value.code) == (True, 550)
    assert [m.rcpt_tos for m in smtp_server.wait_for(1)] == [["ok@example.vn"]]


def test_unreachable_smtp_is_a_temporary_failure() -> None:
    """No server listening is a temporary failure, so the send is retried later."""
    transport = open_transport("smtp://127.0.0.1:9?timeout=2")
    with pytest.raises(DeliveryError) as failure:
        transport.send(
            sender="b@example.gov.vn", recipient="a@example.vn", message=message("a@example.vn")
        )
    assert failure.value.permanent is False


def test_maildir_outbox_keeps_each_message(tmp_path: Path) -> None:
    """The Maildir transport leaves one readable file per message in new/."""
    transport = open_transport(f"maildir:{tmp_path / 'outbox'}")
    transport.send(
        sender="b@example.gov.vn", recipient="a@example.vn", message=message("a@example.vn")
    )
    transport.close()
    box = mailbox.Maildir(str(tmp_path / "outbox"), create=False)
    messages = list(box)
    assert len(messages) == 1
    assert messages[0]["Delivered-To"] == "a@example.vn"
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 1


def test_smtp_url_parsing() -> None:
    """User, password, STARTTLS and implicit TLS are read from NEWSLETTER_SMTP_URL."""
    cfg = parse_smtp_url("smtp://user%40x:p%40ss@mail.example.vn:587?starttls=true")
    assert (cfg.host, cfg.port, cfg.starttls, cfg.implicit_tls) == (
        "mail.example.vn",
        587,
        True,
        False,
    )
    assert (cfg.username, cfg.password) == ("user@x", "p@ss")
    assert parse_smtp_url("smtps://mail.example.vn").port == 465
    with pytest.raises(ValueError, match="unsupported"):
        parse_smtp_url("http://mail.example.vn")
