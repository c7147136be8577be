"""Throwaway servers the fault tests may break: an SMTP sink, a Redis, a PostgreSQL cluster.

The machine's shared Redis and PostgreSQL serve other runs and are never restarted or
flushed here; each test that breaks a server starts its own on a free loopback port.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), Path("/usr/bin"))
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, *, up: bool, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            listening = sock.connect_ex(("127.0.0.1", port)) == 0
        if listening == up:
            return
        time.sleep(0.1)
    raise AssertionError(f"port {port} still {'closed' if up else 'open'} after {timeout}s")


class Process:
    """A child process with its output in a log file; stopped with SIGTERM, or killed."""

    def __init__(self, argv: list[str], log: Path, **kwargs: object) -> None:
        self.log_file = log.open("ab")
        self.process = subprocess.Popen(
            argv,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            **kwargs,  # type: ignore[call-overload]
        )

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, *, kill: bool = False) -> None:
        if self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log_file.close()


class Sink:
    """tests/faults/sink.py in its own process; `.received()` reads its record."""

    def __init__(self, workdir: Path, *, flaky_seed: int | None = None) -> None:
        self.port = free_port()
        self.record = workdir / "sink-record.txt"
        self.record.touch()
        self.log = workdir / "sink.log"
        self.flaky_seed = flaky_seed
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?timeout=10"

    def start(self) -> None:
        argv = [sys.executable, "-m", "tests.faults.sink", str(self.port), str(self.record)]
        if self.flaky_seed is not None:
            argv += ["--flaky", str(self.flaky_seed)]
        self.process = Process(argv, self.log, cwd=ROOT)
        wait_for_port(self.port, up=True)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
            wait_for_port(self.port, up=False)

    def received(self) -> Counter[str]:
        """How many times each recipient was accepted."""
        return Counter(self.record.read_text(encoding="utf-8").split())


class RedisServer:
    """A private redis-server (no persistence): killing it and starting again empties it."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.log = workdir / "redis.log"
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        self.process = Process(argv, self.log)
        wait_for_port(self.port, up=True)

    def kill(self) -> None:
        if self.process is not None:
            self.process.stop(kill=True)
            self.process = None
            wait_for_port(self.port, up=False)


def _as_postgres(argv: list[str]) -> list[str]:
    """initdb and pg_ctl refuse to run as root: run them as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class PostgresCluster:
    """A throwaway PostgreSQL cluster (initdb into a temp dir) on its own port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        # Outside pytest's tmp dir: the postgres user must be able to reach it.
        self.root = Path(tempfile.mkdtemp(prefix="nlfaults-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"  # copied to workdir by destroy()
        self.workdir = workdir
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"]
            ),
            check=True,
            capture_output=True,
        )

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args]),
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-l", str(self.log), "-o", options, "-w", "start")

    def crash(self) -> None:
        """Stop without a clean shutdown: every connection is cut, as on a crash."""
        self._ctl("-m", "immediate", "-w", "stop")
        wait_for_port(self.port, up=False)

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ctl("-m", "immediate", "-w", "stop")
        if self.log.exists():
            shutil.copyfile(self.log, self.workdir / "postgres.log")
        shutil.rmtree(self.root, ignore_errors=True)
