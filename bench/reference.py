"""The machine's own limit: what plain processes push into the same sink, one per core.

"signed": per message, only what the machine must do: put a per-recipient token into
pre-built bytes of the compared run's message size (a header and the body's
unsubscribe link), finish the body hash from a pre-hashed prefix, sign the headers with
RSA-2048 through OpenSSL (newsletter.mail.dkim's signer) and send the message over one
reused SMTP connection with PIPELINING (MAIL, RCPT and DATA in one write, as
delivery/transport.py does). No per-message Python beyond that: the token is a counter,
the date and recipient are fixed widths filled in place. "bare": pre-built bytes only.
"marked": "signed" plus what the service's ledger promise costs at the least — after each
message is accepted, one synchronous UPDATE of its row in PostgreSQL (prepared, autocommit,
on a table with `deliveries`' claim and in-flight indexes, so the update is not HOT, but
not its two subscriber indexes: a lenient bound), before the next message is sent. It is
the yardstick for "how fast can a sender go that never loses a mail and duplicates at
most one per crash" on this machine (docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import socket
import time
from email.utils import formatdate
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from newsletter.mail.dkim import DkimSigner, relaxed_header

BODY_LINE = (
    "Ủy ban nhân dân thành phố thông báo lịch cắt điện, cấp nước và phân luồng giao thông."
).encode()
DEFAULT_SIZE = 20_000
TOKEN = 43  # bytes of a token, as the service's links carry
SIGNED = ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe")


class Message:
    """A message of about `size` bytes whose token slots are filled per recipient."""

    def __init__(self, size: int, signer: DkimSigner) -> None:
        self.signer = signer
        self.date = formatdate().encode()
        self.headers = [
            (b"From", b"=?utf-8?b?QuG6o24gdGlu?= <bantin@example.gov.vn>"),
            (b"To", None),  # the recipient
            (b"Subject", b"=?utf-8?b?QuG6o24gdGluIHR14bqnbg==?="),
            (b"Date", self.date),
            (b"Message-ID", None),  # <token@example.gov.vn>
            (b"List-Unsubscribe", None),  # <https://…/unsubscribe/token>
        ]
        self.tail = (
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        )
        body = b""
        while len(body) < max(0, size - 900):
            body += BODY_LINE + b"\r\n"
        self.body_prefix = body + b"https://bantin.example.gov.vn/unsubscribe/"
        self.body_suffix = b"\r\n"
        # The body is already in relaxed canonical form: its hash continues from here.
        self.prefix_hash = hashlib.sha256(self.body_prefix)
        self.names = list(SIGNED)

    def build(self, rcpt: bytes, token: bytes) -> bytes:
        values = {
            b"To": rcpt,
            b"Message-ID": b"<" + token + b"@example.gov.vn>",
            b"List-Unsubscribe": b"<https://bantin.example.gov.vn/unsubscribe/" + token + b">",
        }
        fields = [(name, value or values[name]) for name, value in self.headers]
        body_hash = self.prefix_hash.copy()
        body_hash.update(token + self.body_suffix)
        canonical = b"".join(relaxed_header(name, value) for name, value in fields)
        signature = self.signer.signature_headers(
            canonical, body_hash.digest(), names=self.names, timestamp=int(time.time())
        )
        head = b"".join(name + b": " + value + b"\r\n" for name, value in fields)
        return b"".join((signature, head, self.tail, self.body_prefix, token, self.body_suffix))


class Pipelined:
    """One SMTP connection; a message is one write of the envelope and one of the data."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buffer = b""
        self._replies(1)  # greeting
        self.sock.sendall(b"EHLO bench.example.vn\r\n")
        self._replies(1)

    def _replies(self, count: int) -> None:
        """Read `count` replies (a multi-line reply ends with "NNN " at a line start)."""
        while count:
            while b"\r\n" not in self.buffer:
                self.buffer += self.sock.recv(65536)
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            if line[3:4] != b"-":
                if line[:1] not in (b"2", b"3"):
                    raise RuntimeError(f"sink refused: {line!r}")
                count -= 1

    def send(self, rcpt: bytes, data: bytes) -> None:
        self.sock.sendall(
            b"MAIL FROM:<bounces@example.gov.vn>\r\nRCPT TO:<" + rcpt + b">\r\nDATA\r\n"
        )
        self._replies(3)
        self.sock.sendall(data + b".\r\n")
        self._replies(1)

    def close(self) -> None:
        self.sock.sendall(b"QUIT\r\n")
        self.sock.close()


def _lower_priority(niceness: int) -> None:
    """As cli/processes.lower_priority does for the senders: the process and its autogroup."""
    if not niceness:
        return
    os.setsid()  # a session of its own, so its autogroup is its own too
    os.nice(niceness)
    with contextlib.suppress(OSError):  # no autogroups: niced alone
        Path("/proc/self/autogroup").write_text(str(niceness))


MARKS_TABLE = "bench_reference_marks"


class Ledger:
    """ "marked": this process's rows of MARKS_TABLE, `sending` until their message is accepted."""

    def __init__(self, db_url: str, rows: int) -> None:
        import psycopg

        self.conn = psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"),
                                    autocommit=True)  # fmt: skip
        first = self.conn.execute(
            f"INSERT INTO {MARKS_TABLE} (campaign_id, status, claimed_at)"
            " SELECT 1, 'sending', now() FROM generate_series(1, %s) RETURNING id",
            (rows,),
        ).fetchall()
        self.ids = [int(r[0]) for r in first]
        self.cursor = self.conn.cursor()

    def mark(self, index: int, message_id: bytes) -> None:
        self.cursor.execute(
            f"UPDATE {MARKS_TABLE} SET status = 'sent', message_id = %s, sent_at = now(),"
            " updated_at = now(), attempts = attempts + 1 WHERE id = %s AND status = 'sending'",
            (message_id.decode(), self.ids[index % len(self.ids)]),
            prepare=True,
        )

    def close(self) -> None:
        self.conn.close()


def create_marks_table(db_url: str) -> None:
    """MARKS_TABLE: the columns of `deliveries` a mark touches, its claim and in-flight
    indexes (status is indexed, so a mark is not a HOT update); not its two subscriber
    indexes, which would make each mark dearer still."""
    import psycopg

    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"),
                         autocommit=True) as conn:  # fmt: skip
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {MARKS_TABLE} (id bigserial PRIMARY KEY,"
            " campaign_id bigint NOT NULL, subscriber_id bigint, status varchar(32) NOT NULL,"
            " attempts int NOT NULL DEFAULT 0, last_error text, message_id varchar(500),"
            " claimed_at timestamptz, after_article bigint, sent_at timestamptz,"
            " updated_at timestamptz)"
        )
        conn.execute(
            f"CREATE INDEX IF NOT EXISTS {MARKS_TABLE}_claim ON {MARKS_TABLE}"
            " (campaign_id, status, id)"
        )
        conn.execute(
            f"CREATE INDEX IF NOT EXISTS {MARKS_TABLE}_sending ON {MARKS_TABLE} (claimed_at)"
            " WHERE status = 'sending'"
        )


def _run(kind: str, port: int, key_file: str, seconds: float, size: int, niceness: int,
         db_url: str | None, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]  # fmt: skip
    _lower_priority(niceness)
    key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
    signer = DkimSigner(domain="example.gov.vn", selector="bench", rsa_key=key)  # type: ignore[arg-type]
    message = Message(size, signer)
    bare = message.build(b"ban.doc@example.vn", b"x" * TOKEN)
    # Rows for up to 4,000 messages a second (more than any run here sends).
    ledger = Ledger(db_url, int(seconds * 4_000) + 1_000) if kind == "marked" else None
    smtp = Pipelined(port)
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    pid = os.getpid()
    try:
        while time.perf_counter() < deadline:
            for _ in range(50):
                rcpt = b"dan%010d@example.vn" % count
                token = b"" if kind == "bare" else b"%010d%033d" % (pid, count)
                data = bare if kind == "bare" else message.build(rcpt, token)
                smtp.send(rcpt, data)
                if ledger is not None:
                    ledger.mark(count, token)
                count += 1
        elapsed = time.perf_counter() - start
    finally:
        smtp.close()
        if ledger is not None:
            ledger.close()
    out.put((count, elapsed))


def message_size(size: int, key_file: Path) -> int:
    """The size of the reference's signed message built for `size` (to quote beside it)."""
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    signer = DkimSigner(domain="example.gov.vn", selector="bench", rsa_key=key)  # type: ignore[arg-type]
    return len(Message(size, signer).build(b"dan0000000000@example.vn", b"x" * TOKEN))


def measure(
    kind: str,
    port: int,
    key_file: Path,
    *,
    processes: int = 0,
    seconds: float = 10,
    size: int = DEFAULT_SIZE,
    niceness: int = 10,
    db_url: str | None = None,
) -> float:
    """Messages per second of `processes` (default: one per core) senders of `kind`.

    At the senders' niceness (10, cli/processes.BULK_NICENESS): on a shared machine a
    niced worker and an un-niced reference would not be compared on the same terms.
    """
    processes = processes or os.cpu_count() or 1
    if kind == "marked":
        if db_url is None:
            raise ValueError("the marked reference needs a PostgreSQL database")
        create_marks_table(db_url)
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [
        ctx.Process(
            target=_run, args=(kind, port, str(key_file), seconds, size, niceness, db_url, out)
        )
        for _ in range(processes)
    ]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=seconds + 60) for _ in procs]
    for proc in procs:
        proc.join()
    return sum(count / elapsed for count, elapsed in results)
