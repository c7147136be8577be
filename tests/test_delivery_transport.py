"""The SMTP transport: international envelopes, reconnecting after a drop, pipelining and
refusals at each step."""

from __future__ import annotations

import re
import smtplib
import socket
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.delivery.transport import (
    DeliveryError,
    SMTPTransport,
    dot_stuffed,
    open_transport,
    sendmail,
)
from newsletter.mail.mime import build_message, make_message_id
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
        transport._conn.sock.shutdown(socket.SHUT_RDWR)  # a drop smtplib does not know of yet
        transport.send(
            sender="b@example.gov.vn", recipient="c@example.vn", message=message("c@example.vn")
        )
    finally:
        transport.close()
    assert [m.rcpt_tos for m in smtp_server.wait_for(2)] == [["a@example.vn"], ["c@example.vn"]]
    assert smtp_server.connections == 2


class CountingSMTP(smtplib.SMTP):
    """smtplib's client, counting its writes: each write is one round trip's worth."""

    writes = 0

    def send(self, s: bytes | str) -> None:
        self.writes += 1
        super().send(s)


def dotted_message() -> bytes:
    # A body line that starts with a dot must arrive as written (dot-stuffing, RFC 5321).
    return build_message(
        from_header="bantin@example.gov.vn", to="a@example.vn", subject="Chào bạn",
        text="Dòng một\n.dòng bắt đầu bằng dấu chấm\n.\n", message_id="<x@example.gov.vn>",
    )  # fmt: skip


@given(st.lists(st.sampled_from([b".", b"..", b"\r\n", b"\n", b"\r", b"a", b" ", b"\xc3"])))
def test_dot_stuffing_doubles_the_dot_that_starts_each_line(pieces: list[bytes]) -> None:
    """The same bytes smtplib's own dot-stuffing gives, for any mix of dots and line ends."""
    message = b"".join(pieces)
    assert dot_stuffed(message) == re.sub(rb"(?m)^\.", b"..", message)


@pytest.mark.parametrize("pipelining", [True, False])
def test_one_message_in_two_writes_when_the_relay_pipelines(pipelining: bool) -> None:
    """MAIL, RCPT and DATA go in one write when PIPELINING is offered, else smtplib's four."""
    server = SMTPServer(pipelining=pipelining)
    server.start()
    try:
        conn = CountingSMTP("127.0.0.1", server.port)
        conn.ehlo()
        conn.writes = 0
        assert sendmail(conn, "b@example.gov.vn", "a@example.vn", dotted_message(), []) == {}
        writes = conn.writes
        conn.quit()
        [mail] = server.wait_for(1)
    finally:
        server.stop()
    assert writes == (2 if pipelining else 4)
    assert mail.data.replace(b"\r\n", b"\n") == dotted_message().replace(b"\r\n", b"\n")
    assert mail.rcpt_tos == ["a@example.vn"]
    assert mail.mail_from == "b@example.gov.vn"


@pytest.mark.parametrize("pipelining", [True, False])
@pytest.mark.parametrize(
    ("refuse", "code", "permanent", "recipient_refused"),
    [
        ("sender", 553, True, False),
        ("recipient", 550, True, True),
        ("recipient", 451, False, True),
        ("data", 554, True, False),
        ("data", 452, False, False),
    ],
)
def test_a_refusal_is_reported_and_the_connection_stays_usable(
    pipelining: bool, refuse: str, code: int, permanent: bool, recipient_refused: bool
) -> None:
    """Whichever reply refuses, pipelined or not: the same error, and the next message goes."""
    server = SMTPServer(pipelining=pipelining)
    reply = f"{code} refused here"
    if refuse == "sender":
        server.refuse_sender("refused@example.gov.vn", reply)
        sender, recipient = "refused@example.gov.vn", "a@example.vn"
    elif refuse == "recipient":
        server.refuse("gone@example.vn", reply)
        sender, recipient = "b@example.gov.vn", "gone@example.vn"
    else:
        server.refuse_data("spam@example.vn", reply)
        sender, recipient = "b@example.gov.vn", "spam@example.vn"
    server.start()
    transport = open_transport(server.url)
    try:
        with pytest.raises(DeliveryError) as failure:
            transport.send(sender=sender, recipient=recipient, message=message(recipient))
        transport.send(sender="b@example.gov.vn", recipient="c@example.vn", message=message())
        received = server.wait_for(1)
    finally:
        transport.close()
        server.stop()
    assert failure.value.code == code
    assert failure.value.permanent is permanent
    assert failure.value.recipient_refused is recipient_refused
    assert "refused here" in str(failure.value)
    assert [m.rcpt_tos for m in received] == [["c@example.vn"]]


@pytest.mark.parametrize(
    ("refuse", "code", "recipient_refused"), [("recipient", 550, True), ("data", 554, False)]
)
def test_a_refusal_right_after_a_reconnect_reads_as_on_a_first_try(
    smtp_server: SMTPServer, refuse: str, code: int, recipient_refused: bool
) -> None:
    """A message retried on a fresh connection and then refused reports the refusal itself."""
    if refuse == "recipient":
        smtp_server.refuse("gone@example.vn", f"{code} refused here")
    else:
        smtp_server.refuse_data("gone@example.vn", f"{code} refused here")
    transport = open_transport(smtp_server.url)
    assert isinstance(transport, SMTPTransport)
    try:
        transport.send(sender="b@example.gov.vn", recipient="a@example.vn", message=message())
        assert transport._conn is not None
        transport._conn.sock.shutdown(socket.SHUT_RDWR)  # a drop smtplib does not know of yet
        with pytest.raises(DeliveryError) as failure:
            transport.send(
                sender="b@example.gov.vn",
                recipient="gone@example.vn",
                message=message("gone@example.vn"),
            )
    finally:
        transport.close()
    assert failure.value.code == code
    assert failure.value.permanent is True
    assert failure.value.recipient_refused is recipient_refused
    assert "refused here" in str(failure.value)
