"""A real SMTP server for tests: aiosmtpd on a loopback port, keeping what it accepts."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    smtputf8: bool

    @property
    def message(self) -> EmailMessage:
        """The message parsed by the stdlib parser: the oracle the tests compare with."""
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Handler:
    received: list[ReceivedMail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Replies to give instead of accepting, keyed by recipient (e.g. "451 4.3.0 try later").
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    # Replies to give instead of accepting, keyed by envelope sender (at MAIL) ...
    mail_replies: dict[str, str] = field(default_factory=dict)
    # ... and keyed by recipient at the end of DATA.
    data_replies: dict[str, str] = field(default_factory=dict)
    pipelining: bool = True
    greetings: int = 0  # EHLOs answered: one per connection from our clients

    async def handle_EHLO(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does itself when there is no hook
        with self.lock:
            self.greetings += 1
        if self.pipelining:
            # aiosmtpd reads commands one line at a time, so pipelined ones just queue up.
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        reply = self.mail_replies.get(address)
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        data = envelope.original_content or b""
        for rcpt in envelope.rcpt_tos:
            if rcpt in self.data_replies:
                return self.data_replies[rcpt]
        mail = ReceivedMail(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            data=data,
            smtputf8="SMTPUTF8" in [o.upper() for o in envelope.mail_options],
        )
        with self.lock:
            self.received.append(mail)
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class SMTPServer:
    """Start with `.start()`; `.url` is the NEWSLETTER_SMTP_URL that reaches it."""

    def __init__(self, *, smtputf8: bool = False, pipelining: bool = True) -> None:
        self.handler = _Handler(pipelining=pipelining)
        self.port = _free_port()
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            enable_SMTPUTF8=smtputf8,
            decode_data=False,
        )

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[ReceivedMail]:
        with self.handler.lock:
            return list(self.handler.received)

    @property
    def connections(self) -> int:
        """Connections that greeted with EHLO (smtplib greets once per connection)."""
        with self.handler.lock:
            return self.handler.greetings

    def refuse(self, address: str, reply: str) -> None:
        """Answer `reply` to RCPT TO:<address> instead of accepting it."""
        self.handler.rcpt_replies[address] = reply

    def refuse_sender(self, address: str, reply: str) -> None:
        """Answer `reply` to MAIL FROM:<address> instead of accepting it."""
        self.handler.mail_replies[address] = reply

    def refuse_data(self, recipient: str, reply: str) -> None:
        """Answer `reply` at the end of the data of a message to `recipient`."""
        self.handler.data_replies[recipient] = reply

    def wait_for(self, count: int, timeout: float = 30.0) -> list[ReceivedMail]:
        """Wait until at least `count` messages arrived; fails the test on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            received = self.received
            if len(received) >= count:
                return received
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages, SMTP server got {len(self.received)}")

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
