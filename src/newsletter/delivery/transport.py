"""Where built messages go: an SMTP relay or a Maildir outbox, chosen by NEWSLETTER_SMTP_URL.

`smtp://user:pass@host:587?starttls=true`, `smtps://user:pass@host:465`, `maildir:PATH`.
A transport is opened once per batch and reused, so a batch pays for one connection.
When the relay offers PIPELINING (RFC 2920), a message costs two round trips instead of
smtplib's four: MAIL, RCPT and DATA go in one write (docs/benchmarks.md).
A non-ASCII envelope goes out with SMTPUTF8 when the relay offers it, else with the
domain as IDNA A-labels. Retrying temporary failures is the caller's job (tasks/jobs.py
retries a batch with exponential backoff); a transport reports, it does not wait.
"""

from __future__ import annotations

import contextlib
import mailbox
import smtplib
import ssl
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self
from urllib.parse import parse_qs, unquote, urlsplit

from newsletter.idn import ascii_address


class DeliveryError(Exception):
    """A message was not accepted. `permanent` says whether retrying can help.

    `unavailable`: the transport could take no message at all (the relay refused the
    connection, the outbox cannot be written) — not this message's fault, so the caller
    must not count it as one of the message's attempts (docs/faults.md).
    `recipient_refused`: the server refused this recipient (at RCPT), which says
    something about the address; a refusal of the sender or the data does not.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        code: int | None = None,
        unavailable: bool = False,
        recipient_refused: bool = False,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.unavailable = unavailable
        self.recipient_refused = recipient_refused


class RetryLaterError(Exception):
    """A temporary failure (rows of a batch back in `queued`, a 4xx on a confirmation):
    the task that met it retries later, with backoff."""


class Transport(Protocol):
    def send(self, *, sender: str, recipient: str, message: bytes) -> None: ...

    def close(self) -> None: ...


class MaildirTransport:
    """Writes each message as a file in a Maildir (the default: `make run` leaves real .eml)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._box = mailbox.Maildir(str(path), create=True)

    def send(self, *, sender: str, recipient: str, message: bytes) -> None:
        envelope = f"Return-Path: <{sender}>\r\nDelivered-To: {recipient}\r\n".encode()
        try:
            self._box.add(envelope + message)
        except OSError as exc:
            raise DeliveryError(
                f"cannot write to outbox {self.path}: {exc}", permanent=False, unavailable=True
            ) from exc

    def close(self) -> None:
        self._box.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class SMTPConfig:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None
    timeout: float = 30.0
    verify_tls: bool = True


def parse_smtp_url(url: str) -> SMTPConfig:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(
            f"unsupported SMTP URL scheme {parts.scheme!r}: use smtp://, smtps:// or maildir:"
        )
    query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
    implicit_tls = parts.scheme == "smtps"
    return SMTPConfig(
        host=parts.hostname or "localhost",
        port=parts.port or (465 if implicit_tls else 25),
        implicit_tls=implicit_tls,
        starttls=query.get("starttls", "false") in ("1", "true", "yes"),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        timeout=float(query.get("timeout", "30")),
        verify_tls=query.get("verify", "true") not in ("0", "false", "no"),
    )


class SMTPTransport:
    """One SMTP connection, opened lazily, reused across messages and reopened on a drop."""

    def __init__(self, config: SMTPConfig) -> None:
        self.config = config
        self._conn: smtplib.SMTP | None = None

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.config.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        try:
            conn: smtplib.SMTP
            if cfg.implicit_tls:
                conn = smtplib.SMTP_SSL(
                    cfg.host, cfg.port, timeout=cfg.timeout, context=self._tls_context()
                )
            else:
                conn = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            conn.ehlo()
            if cfg.starttls:
                conn.starttls(context=self._tls_context())
                conn.ehlo()
            if cfg.username:
                conn.login(cfg.username, cfg.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP login refused: {exc.smtp_code}", permanent=False) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(
                f"cannot connect to SMTP {cfg.host}:{cfg.port}: {exc}",
                permanent=False,
                unavailable=True,
            ) from exc
        return conn

    @property
    def supports_smtputf8(self) -> bool:
        conn = self._conn or self._open()
        return conn.has_extn("smtputf8")

    def _open(self) -> smtplib.SMTP:
        self._conn = self._connect()
        return self._conn

    def _envelope(
        self, conn: smtplib.SMTP, sender: str, recipient: str
    ) -> tuple[str, str, list[str]]:
        """The envelope to use on `conn`: UTF-8 with SMTPUTF8 when offered, else A-labels."""
        if sender.isascii() and recipient.isascii():
            return sender, recipient, []
        if conn.has_extn("smtputf8"):
            return sender, recipient, ["SMTPUTF8"]
        try:
            return ascii_address(sender), ascii_address(recipient), []
        except ValueError as exc:
            raise DeliveryError(
                f"{exc}; the relay does not offer SMTPUTF8", permanent=True, code=None
            ) from exc

    def send(self, *, sender: str, recipient: str, message: bytes) -> None:
        conn = self._conn or self._open()
        envelope_from, envelope_to, options = self._envelope(conn, sender, recipient)
        try:
            refused = sendmail(conn, envelope_from, envelope_to, message, options)
        except smtplib.SMTPServerDisconnected:
            # The relay closed an idle connection: reconnect once and try again.
            self._conn = None
            conn = self._open()
            refused = self._send_once(conn, envelope_from, envelope_to, message, options)
        except (OSError, smtplib.SMTPException) as exc:
            raise self._failure(exc, envelope_to) from exc
        if refused:
            code, reply = refused[envelope_to]
            raise _recipient_refused(code, reply)

    def _send_once(
        self, conn: smtplib.SMTP, sender: str, recipient: str, message: bytes, options: list[str]
    ) -> dict[str, tuple[int, bytes]]:
        try:
            return sendmail(conn, sender, recipient, message, options)
        except (OSError, smtplib.SMTPException) as exc:
            raise self._failure(exc, recipient) from exc

    def _failure(self, exc: OSError | smtplib.SMTPException, recipient: str) -> DeliveryError:
        """What smtplib raised as a DeliveryError, the connection left fit for the next message.

        The one mapping for a first try and a retry after a reconnect, so a refusal reads
        the same whichever of the two met it.
        """
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            code, reply = exc.recipients.get(recipient, (550, b"refused"))
            return _recipient_refused(code, reply)
        if isinstance(exc, smtplib.SMTPResponseException):
            # A reply refused the sender or the data: RSET keeps the connection for the
            # next message, and forgets it when even that fails (a 421 closed it).
            self._reset()
            return DeliveryError(
                _reply(exc.smtp_code, exc.smtp_error),
                permanent=exc.smtp_code >= 500,
                code=exc.smtp_code,
            )
        # Anything else broke the conversation itself: the next message reconnects.
        self._conn = None
        return DeliveryError(f"SMTP connection failed: {exc}", permanent=False)

    def _reset(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.rset()
        except (OSError, smtplib.SMTPException):
            self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._conn.quit()
            self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def sendmail(
    conn: smtplib.SMTP, sender: str, recipient: str, message: bytes, options: list[str]
) -> dict[str, tuple[int, bytes]]:
    """`conn.sendmail` for one recipient, pipelined when the server offers PIPELINING.

    Same answers and exceptions as smtplib's (SMTPSenderRefused, SMTPRecipientsRefused,
    SMTPDataError, SMTPServerDisconnected), and the same state after a refusal (RSET
    sent), so the caller cannot tell which path ran.
    """
    if not conn.has_extn("pipelining"):
        return conn.sendmail(sender, [recipient], message, mail_options=options)
    params = list(options)
    if conn.has_extn("size"):
        params.append(f"SIZE={len(message)}")
    # With SMTPUTF8 the envelope may carry UTF-8 (smtplib switches the same way).
    encoding = "utf-8" if "SMTPUTF8" in params else "ascii"
    mail = " ".join([f"MAIL FROM:<{sender}>", *params])
    conn.send(f"{mail}\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode(encoding))
    # Every reply is read before deciding, so the connection stays in step whatever failed.
    mail_code, mail_reply = conn.getreply()
    rcpt_code, rcpt_reply = conn.getreply()
    data_code, data_reply = conn.getreply()
    if data_code == 354 and (mail_code != 250 or rcpt_code not in (250, 251)):
        # A server that opened DATA after refusing the envelope: the transaction cannot be
        # ended without sending something, so drop the connection (the next send reconnects).
        conn.close()
    elif mail_code != 250 or rcpt_code not in (250, 251) or data_code != 354:
        with contextlib.suppress(smtplib.SMTPServerDisconnected):
            conn.rset()
    if mail_code != 250:
        raise smtplib.SMTPSenderRefused(mail_code, mail_reply, sender)
    if rcpt_code not in (250, 251):
        raise smtplib.SMTPRecipientsRefused({recipient: (rcpt_code, rcpt_reply)})
    if data_code != 354:
        raise smtplib.SMTPDataError(data_code, data_reply)
    data = dot_stuffed(message)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    conn.send(data + b".\r\n")
    code, reply = conn.getreply()
    if code != 250:
        with contextlib.suppress(smtplib.SMTPServerDisconnected):
            conn.rset()
        raise smtplib.SMTPDataError(code, reply)
    return {}


def dot_stuffed(message: bytes) -> bytes:
    """Every line that starts with a dot gets one more (RFC 5321 4.5.2), as smtplib does.

    `bytes.replace` rather than smtplib's multi-line regex: over a 40 KB message the regex
    took ~0.2 ms, a fifth of a sender's CPU per message (docs/benchmarks.md); a line
    starts at the message's start or after a LF, the lines that regex sees too.
    """
    data = message.replace(b"\n.", b"\n..")
    return b"." + data if data.startswith(b".") else data


def _recipient_refused(code: int, reply: bytes) -> DeliveryError:
    return DeliveryError(
        _reply(code, reply), permanent=code >= 500, code=code, recipient_refused=True
    )


def _reply(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return f"{code} {text}".strip()


def open_transport(smtp_url: str) -> MaildirTransport | SMTPTransport:
    if smtp_url.startswith("maildir:"):
        return MaildirTransport(Path(smtp_url.removeprefix("maildir:")))
    return SMTPTransport(parse_smtp_url(smtp_url))
