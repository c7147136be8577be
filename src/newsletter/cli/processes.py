"""`newsletter run | web | worker | beat`: the service's processes."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import typer
import uvicorn

from newsletter import migrate
from newsletter.cli.common import cli_settings, fail, require_address_key
from newsletter.cli.db import rekey, report
from newsletter.cli.output import console
from newsletter.config import Settings
from newsletter.db import create_db_engine
from newsletter.logs import configure_logging
from newsletter.mail.dkim import DkimConfigError, signer_from_settings
from newsletter.ops.health import check_broker, check_database
from newsletter.runtime import build_runtime
from newsletter.tasks.app import BULK_QUEUE, DEFAULT_QUEUE, SENDING_QUEUES, create_celery

# Niceness of a worker that sends digests (see default_niceness).
BULK_NICENESS = 10
# What `newsletter worker` without --queues starts: one node for every sending queue
# (bulletins first, docs/delivery.md "Queues"), one for the slow jobs of `default`.
SENDERS = ",".join(SENDING_QUEUES)


def require_dependencies(settings: Settings) -> None:
    """Refuse to start, with one clear line, when the database or the broker is down.

    Once running, a worker rides out outages by itself: the broker connection retries
    and the database pool pings before use.
    """
    engine = create_db_engine(settings.database_url)
    try:
        checks = [check_database(engine), check_broker(settings)]
    finally:
        engine.dispose()
    down = [f"{c.name} {c.detail}" for c in checks if not c.ok]
    if down:
        fail("cannot start: " + "; ".join(down), code=4)


def require_same_address_key(settings: Settings) -> None:
    """Refuse to start when the suppressions were written with another key (one line)."""
    runtime = build_runtime(settings)
    try:
        require_address_key(runtime)
    finally:
        runtime.close()


def require_dkim_key(settings: Settings) -> None:
    """Refuse to start when DKIM is configured with a key we would not sign with.

    A worker would otherwise start and pause every campaign at its first batch; a key
    others can read, or a short one, is an operator's mistake best met at once.
    """
    try:
        signer_from_settings(settings)
    except DkimConfigError as exc:
        fail(f"cannot start: {exc}", code=2)


FACTORY = "newsletter.web.app:create_app_from_environment"

log = logging.getLogger(__name__)


def listening_url(host: str, port: int) -> str:
    """The address a browser on this machine reaches the server at."""
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else "::1" if host == "::" else host  # noqa: S104
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def follow_bound_port(settings: Settings, host: str, port: int) -> Settings:
    """Links in pages and mail follow the address served, unless NEWSLETTER_PUBLIC_URL is set.

    Set, it wins (a proxy or a domain sits in front), with a warning when it is not the
    address served: on a trial machine that is a stale setting more often than a proxy.
    The environment carries the choice to the processes `newsletter run` starts.
    """
    bound = listening_url(host, port)
    if "public_url" in settings.model_fields_set:
        if settings.public_url.rstrip("/") != bound:
            log.warning(
                "NEWSLETTER_PUBLIC_URL is %s but the web server listens on %s: links in "
                "pages and mail point to %s",
                settings.public_url,
                bound,
                settings.public_url,
            )
        return settings
    os.environ["NEWSLETTER_PUBLIC_URL"] = bound
    return settings.model_copy(update={"public_url": bound})


def wait_until_listening(host: str, port: int, web: subprocess.Popen[bytes]) -> bool:
    """True once the port takes connections; False when the web process ended first."""
    address = listening_url(host, port).removeprefix("http://").rsplit(":", 1)[0].strip("[]")
    while web.poll() is None:
        try:
            with socket.create_connection((address, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def web(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(
        0, min=0, help="Web processes sharing the port (0: NEWSLETTER_WEB_WORKERS, default 1)."
    ),
) -> None:
    """Run the web server (public pages, API, admin)."""
    from newsletter.web import create_app

    settings = cli_settings()
    require_dkim_key(settings)  # test bulletins and previews are signed here
    configure_logging(settings)
    settings = follow_bound_port(settings, host, port)
    processes = workers or settings.web_workers
    if processes > 1 and not settings.redis_url:
        # The per-IP subscribe limit counts in memory without Redis: each process would
        # allow the whole limit again, so N processes would let a client send N times more.
        fail(
            f"{processes} web processes need NEWSLETTER_REDIS_URL (or a Redis broker) so "
            "that the per-IP subscribe limit is shared; set it, or run one process.",
            code=2,
        )
    require_same_address_key(settings)
    if processes == 1:
        uvicorn.run(create_app(settings), host=host, port=port, proxy_headers=True, log_config=None)
        return
    # Each process builds its own app from the environment (settings were checked above).
    uvicorn.run(FACTORY, factory=True, workers=processes, host=host, port=port,
                proxy_headers=True, log_config=None)  # fmt: skip


def _names(queues: str) -> set[str]:
    return {name.strip() for name in queues.split(",") if name.strip()}


def default_niceness(queues: str) -> int:
    """A worker that sends digests yields the CPU to the web process and the CLI.

    On a small server the senders would otherwise take the cores from the web process
    (subscribe requests) and from `bulletin send` itself; at a lower priority they still
    use every idle cycle (docs/benchmarks.md). Bulletins sent by the same processes are
    niced too, which costs them nothing: they run when the digest has given way.
    """
    return BULK_NICENESS if BULK_QUEUE in _names(queues) else 0


def default_concurrency(queues: str) -> int:
    """Two processes per core for a worker that sends mail, else two.

    A sender spends much of its time waiting for the relay's and the database's replies;
    a second process per core fills those waits (docs/benchmarks.md). A worker of the
    slow jobs alone gets two, so the reconciler never waits behind a stuck feed poll.
    """
    if _names(queues) & set(SENDING_QUEUES):
        return 2 * (os.cpu_count() or 1)
    return 2


def lower_priority(niceness: int) -> None:
    """Add `niceness` to this process (its pool inherits it), and to its autogroup.

    With the kernel's autogroups (sched_autogroup_enabled, Debian's default) the CPU is
    shared between sessions first and niceness only counts inside a session; a worker
    that leads its own session (a container, a service manager, bench/) is niced as a
    group too. A worker sharing a terminal's session is niced alone, which is what
    counts inside that session.
    """
    os.nice(niceness)
    autogroup = Path("/proc/self/autogroup")
    if os.getsid(0) == os.getpid() and autogroup.exists():
        with contextlib.suppress(OSError):  # not permitted, or no autogroups: niced alone
            autogroup.write_text(str(min(19, niceness)))


def worker(
    queues: str = typer.Option(
        "",
        help=f"Comma-separated queues to consume (default: a {SENDERS} worker and a "
        f"{DEFAULT_QUEUE} worker, as two processes).",
    ),
    concurrency: int = typer.Option(
        0, help="Worker processes (0: two per core for a sending worker, else two)."
    ),
    nice: int | None = typer.Option(
        None,
        help=f"Scheduling niceness to add (default: {BULK_NICENESS} for a worker of the "
        "bulk queue, else 0).",
    ),
) -> None:
    """Run a Celery worker (without --queues: the senders and the slow jobs, side by side)."""
    # Checked here once, so a broken setup is one line, not one per child process.
    settings = cli_settings()
    require_dependencies(settings)
    require_dkim_key(settings)
    require_same_address_key(settings)
    if not queues:
        base = [sys.executable, "-m", "newsletter", "worker"]
        senders = [*base, "--queues", SENDERS]
        if concurrency:
            senders += ["--concurrency", str(concurrency)]
        if nice is not None:
            senders += ["--nice", str(nice)]
        raise typer.Exit(supervise([senders, [*base, "--queues", DEFAULT_QUEUE]]))
    configure_logging(settings)
    niceness = default_niceness(queues) if nice is None else nice
    if niceness > 0:
        lower_priority(niceness)
    argv = [
        "worker",
        "--loglevel=INFO",
        f"--queues={queues}",
        # One node name per queue set, so several workers on one host stay distinct.
        f"--hostname={queues.replace(',', '-')}@%h",
        "--without-gossip",
        "--without-mingle",
    ]
    argv.append(f"--concurrency={concurrency or default_concurrency(queues)}")
    app = create_celery(settings)
    from newsletter.tasks.jobs import warm_up  # imported by create_celery already

    warm_up(settings)
    app.worker_main(argv)


def beat() -> None:
    """Run the Celery beat scheduler (weekly digest, feed polling, reconciler)."""
    settings = cli_settings()
    require_dependencies(settings)
    configure_logging(settings)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    schedule = settings.var_dir / "celerybeat-schedule"
    create_celery(settings).start(["beat", "--loglevel=INFO", f"--schedule={schedule}"])


def run(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
) -> None:
    """Run web, worker and beat together (one command for a small installation)."""
    settings = cli_settings()
    configure_logging(settings)
    require_dkim_key(settings)  # one clear line here rather than one per child process
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)
    report(rekey(settings))  # as `db upgrade` does; refuses a changed key
    # Before the children start: they inherit NEWSLETTER_PUBLIC_URL from here (the web
    # process, which warns about a set one that differs, and the workers writing mail).
    if "public_url" not in settings.model_fields_set:
        os.environ["NEWSLETTER_PUBLIC_URL"] = listening_url(host, port)
    base = [sys.executable, "-m", "newsletter"]
    commands = [
        [*base, "web", "--host", host, "--port", str(port)],
        # The same workers as `newsletter worker`: every sender takes bulletins first, and
        # the slow jobs have a process of their own (docs/delivery.md "Queues").
        [*base, "worker", "--queues", SENDERS],
        [*base, "worker", "--queues", DEFAULT_QUEUE],
        [*base, "beat"],
    ]
    raise typer.Exit(supervise(commands, listening=(host, port)))


def supervise(commands: list[list[str]], *, listening: tuple[str, int] | None = None) -> int:
    """Run the commands as child processes until one ends or this one is told to stop.

    With `listening`, the first command is the web process: "running at" is printed once
    its port takes connections, not before. Returns the exit code to leave with: the first
    child's that ended (1 if it was 0), or 0 after Ctrl+C / SIGTERM. The others get
    SIGTERM, then SIGKILL after 15 s.
    """
    children = [subprocess.Popen(command) for command in commands]

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        if listening is not None and wait_until_listening(*listening, children[0]):
            console.print(
                f"Bản tin is running at {listening_url(*listening)}/ (Ctrl+C to stop)",
                highlight=False,
            )
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        code = next(child.returncode for child in children if child.poll() is not None) or 1
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
    return code
