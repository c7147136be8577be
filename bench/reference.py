"""The machine's own limit: what two bare processes push into the same sink.

"signed": per message, fill a pre-rendered ~20 KB template with a per-recipient token and
DKIM-sign it (RSA-2048 through OpenSSL, newsletter.mail.dkim's signer); "bare": pre-built
bytes. Each process holds one smtplib connection for its whole run.
"""

from __future__ import annotations

import multiprocessing
import secrets
import smtplib
import time
from email.utils import formatdate
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from newsletter.mail.dkim import DkimSigner

BODY_LINE = (
    "Ủy ban nhân dân thành phố thông báo lịch cắt điện, cấp nước và phân luồng giao thông."
).encode()


def template() -> bytes:
    head = (
        b"From: =?utf-8?b?QuG6o24gdGlu?= <bantin@example.gov.vn>\r\n"
        b"To: {to}\r\n"
        b"Subject: =?utf-8?b?QuG6o24gdGluIHR14bqnbg==?=\r\n"
        b"Date: {date}\r\n"
        b"Message-ID: <{token}@example.gov.vn>\r\n"
        b"List-Unsubscribe: <https://bantin.example.gov.vn/unsubscribe/{token}>\r\n"
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    body = b""
    while len(body) < 20_000:
        body += BODY_LINE + b"\r\n"
    return head + body + b"https://bantin.example.gov.vn/unsubscribe/{token}\r\n"


def _run(kind: str, port: int, key_file: str, seconds: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
    signer = DkimSigner(domain="example.gov.vn", selector="bench", rsa_key=key)  # type: ignore[arg-type]
    raw = template()
    bare = raw.replace(b"{to}", b"ban.doc@example.vn").replace(b"{token}", b"x" * 43)
    bare = bare.replace(b"{date}", formatdate().encode())
    smtp = smtplib.SMTP("127.0.0.1", port)
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    try:
        while time.perf_counter() < deadline:
            for _ in range(50):
                rcpt = f"dan{count}@example.vn"
                if kind == "signed":
                    token = secrets.token_urlsafe(32).encode()
                    data = (
                        raw.replace(b"{to}", rcpt.encode())
                        .replace(b"{token}", token)
                        .replace(b"{date}", formatdate().encode())
                    )
                    data = signer.sign_message(data, timestamp=int(time.time()))
                else:
                    data = bare
                smtp.sendmail("bounces@example.gov.vn", [rcpt], data)
                count += 1
        elapsed = time.perf_counter() - start
    finally:
        smtp.quit()
    out.put((count, elapsed))


def measure(
    kind: str, port: int, key_file: Path, *, processes: int = 2, seconds: float = 10
) -> float:
    """Messages per second of `processes` parallel senders of `kind` into the sink."""
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [
        ctx.Process(target=_run, args=(kind, port, str(key_file), seconds, out))
        for _ in range(processes)
    ]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=seconds + 60) for _ in procs]
    for proc in procs:
        proc.join()
    return sum(count / elapsed for count, elapsed in results)
