"""The SMTP transport's envelope for international addresses, and reconnecting after a drop."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from newsletter.message import build_message, make_message_id
from newsletter.transport import DeliveryError, SMTPTransport, open_transport
from tests.support.smtp import SMTPServer


def message(to: str = "a@example.vn") -> bytes:
    return build_message(
        from_header="bantin@example.gov.vn", to=to, subject="Chào bạn", text="Nội dung",
        message_id=make_message_id("example.gov.vn"),
    )  # fmt: skip


@pytest.fixture
def utf8_server() -> Iterator[SMTPServer]:
    server = SMTPServer(smtputf8=True)
    server.start()
    yield server
    server.stop()


def test_idn_domain_goes_as_a_labels_when_relay_lacks_smtputf8(smtp_server: SMTPServer) -> None:
    """Without SMTPUTF8 the envelope recipient's Unicode domain is sent as its A-label."""
    transport = open_transport(smtp_server.url)
    try:
        transport.send(sender="b@example.gov.vn", recipient="an@ví-dụ.vn", message=message())
    finally:
        transport.close()
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["an@xn--v-d-rma6749a.vn"]
    assert mail.smtputf8 is False


def test_unicode_envelope_uses_smtputf8_when_offered(utf8_server: SMTPServer) -> None:
    """A relay offering SMTPUTF8 gets the address as written, with the SMTPUTF8 option."""
    transport = open_transport(utf8_server.url)
    try:
        transport.send(sender="b@example.gov.vn", recipient="nguyễn@ví-dụ.vn", message=message())
    finally:
        transport.close()
    [mail] = utf8_server.wait_for(1)
    assert mail.rcpt_tos == ["nguyễn@ví-dụ.vn"]
    assert mail.smtputf8 is True


def test_unicode_local_part_without_smtputf8_is_a_permanent_failure(
    smtp_server: SMTPServer,
) -> None:
    """A non-ASCII local part cannot be carried without SMTPUTF8: failed, not retried."""
    transport = open_transport(smtp_server.url)
    try:
        with pytest.raises(DeliveryError) as failure:
            transport.send(
                sender="b@example.gov.vn", recipient="nguyễn@example.vn", message=message()
            )
    finally:
        transport.close()
    assert failure.value.permanent is True


def test_dropped_connection_is_reopened(smtp_server: SMTPServer) -> None:
    """When the relay closed the reused connection, the next message reconnects and goes out."""
    transport = open_transport(smtp_server.url)
    assert isinstance(transport, SMTPTransport)
    try:
        transport.send(sender="b@example.gov.vn", recipient="a@example.vn", message=message())
        assert transport._conn is not None
        transport._conn.sock.close()  # the server side sees a drop; smtplib does not know yet
        transport.send(
            sender="b@example.gov.vn", recipient="c@example.vn", message=message("c@example.vn")
        )
    finally:
        transport.close()
    assert [m.rcpt_tos for m in smtp_server.wait_for(2)] == [["a@example.vn"], ["c@example.vn"]]
