"""What a bench run starts itself: a database, the SMTP sink, workers, the web server.

Everything is torn down by the caller (ExitStack); the database and the Redis keys are
unique per run so a bench never touches another run's data.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import create_engine, text

ADMIN_URL = os.environ.get(
    "BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
SMTP_SINK = "/usr/sbin/smtp-sink"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_dkim_key(path: Path) -> Path:
    """A fresh RSA-2048 key in PEM at `path`: the benches sign as production does."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.touch(mode=0o600)  # the service refuses a key file others can read
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))  # fmt: skip
    return path


def sending_env(
    *, var_dir: Path, db_url: str, redis_url: str, prefix: str, smtp_port: int, dkim_key: Path
) -> dict[str, str]:
    """NEWSLETTER_* for a run's processes: its database, Redis keys and sink, DKIM on, no
    send-rate limit (the sink is the machine's own)."""
    return {
        "NEWSLETTER_ENV": "test",
        "NEWSLETTER_SECRET_KEY": "bench-" + "s" * 40,
        "NEWSLETTER_VAR_DIR": str(var_dir),
        "NEWSLETTER_DATABASE_URL": db_url,
        "NEWSLETTER_BROKER_URL": redis_url,
        "NEWSLETTER_REDIS_URL": redis_url,
        "NEWSLETTER_REDIS_PREFIX": prefix,
        "NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "NEWSLETTER_PUBLIC_URL": "https://bantin.example.gov.vn",
        "NEWSLETTER_SEND_RATE": "1000000",
        "NEWSLETTER_DKIM_DOMAIN": "example.gov.vn",
        "NEWSLETTER_DKIM_SELECTOR": "bench",
        "NEWSLETTER_DKIM_KEY_FILE": str(dkim_key),
        # The bench measures sending, not the two-officials rule: its bulletins go out on
        # one `bulletin send --yes`, as one official may send under the threshold.
        "NEWSLETTER_APPROVAL_THRESHOLD": "1000000000",
    }


@dataclass(frozen=True)
class SendingRig:
    """What a sending bench run starts before its workers (see `sending_rig`)."""

    tmp: Path
    key_file: Path
    db_url: str
    redis_url: str
    prefix: str
    port: int  # the sink's
    env: dict[str, str]  # NEWSLETTER_* for the run's processes (sending_env)


def sending_rig(stack: ExitStack, name: str, *, db_url: str | None = None) -> SendingRig:
    """A temporary folder, a DKIM key, a fresh database named `name` (unless `db_url` is
    given), Redis keys of the run's own and a sink; torn down when `stack` closes."""
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"{name}-")))
    key_file = write_dkim_key(tmp / "dkim.pem")
    db_url = db_url or stack.enter_context(database(name))
    prefix = f"{name.replace('_', '-')}:"
    redis_url = stack.enter_context(redis_keys(prefix))
    port = stack.enter_context(smtp_sink())
    env = sending_env(
        var_dir=tmp / "var", db_url=db_url, redis_url=redis_url, prefix=prefix,
        smtp_port=port, dkim_key=key_file,
    )  # fmt: skip
    return SendingRig(tmp, key_file, db_url, redis_url, prefix, port, env)


@contextmanager
def database(name: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this run, dropped afterwards."""
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def redis_keys(prefix: str) -> Iterator[str]:
    """Yield REDIS_URL; delete every key under `prefix` afterwards."""
    yield REDIS_URL
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(match=prefix + "*", count=1000):
            client.delete(key)
    finally:
        client.close()


def ensure_smtp_sink() -> None:
    if not Path(SMTP_SINK).exists():
        raise RuntimeError(f"{SMTP_SINK} is missing: `make bench` installs Debian's postfix")


@contextmanager
def smtp_sink() -> Iterator[int]:
    """Postfix's smtp-sink on a free loopback port: accepts and discards, in C."""
    ensure_smtp_sink()
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    proc = subprocess.Popen(
        [SMTP_SINK, *user, f"127.0.0.1:{port}", "1024"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield port
    finally:
        stop(proc)


def wait_for_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def stop(proc: subprocess.Popen[bytes], *, group: bool = False) -> None:
    if proc.poll() is None:
        if group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            proc.wait()


@contextmanager
def newsletter_process(
    args: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`newsletter ARGS` in its own process group, output to `log`."""
    exe = shutil.which("newsletter", path=str(Path(sys.executable).parent))
    command = [exe] if exe else [sys.executable, "-m", "newsletter"]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*command, *args], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc
        finally:
            stop(proc, group=True)


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (a Celery worker and its pool children)."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [pid] + [child.pid for child in root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
