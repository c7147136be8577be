"""`newsletter run --port P`: announced once bound, links follow P, a differing PUBLIC_URL warns."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import TEST_SECRET


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def run_until_announced(
    port: int, tmp_path: Path, env: dict[str, str]
) -> tuple[subprocess.Popen[str], str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    full_env.update({"NEWSLETTER_SECRET_KEY": TEST_SECRET, "NEWSLETTER_ENV": "development",
                     **env})  # fmt: skip
    with (tmp_path / "run.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "run", "--port", str(port)],
            stdout=subprocess.PIPE, stderr=log, text=True,
            env=full_env, cwd=tmp_path, start_new_session=True,
        )  # fmt: skip
    assert process.stdout is not None
    # Beat's banner shares the terminal: the announcement is the first line of our own.
    for line in process.stdout:
        if line.startswith("Bản tin"):
            return process, line
    return process, ""


def stop(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=60)
    assert process.stdout is not None
    process.stdout.close()


def test_run_announces_after_binding_and_links_follow_the_port(tmp_path: Path) -> None:
    """The "running at" line comes once the port answers; pages link to that port; favicon."""
    port = free_port()
    process, line = run_until_announced(port, tmp_path, {})
    try:
        assert line.startswith(f"Bản tin is running at http://127.0.0.1:{port}/"), line
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert page.status_code == 200
        assert f'href="http://127.0.0.1:{port}/static/favicon.svg"' in page.text
        icon = httpx.get(f"http://127.0.0.1:{port}/static/favicon.svg", timeout=30)
        assert icon.status_code == 200
    finally:
        stop(process)


def test_a_differing_public_url_wins_with_a_warning(tmp_path: Path) -> None:
    """NEWSLETTER_PUBLIC_URL set to another address: links keep it, the log says so in English."""
    port = free_port()
    env = {"NEWSLETTER_PUBLIC_URL": "https://bantin.example.gov.vn"}
    process, line = run_until_announced(port, tmp_path, env)
    try:
        assert "running at" in line
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert 'href="https://bantin.example.gov.vn/static/site.css"' in page.text
    finally:
        stop(process)
    log = (tmp_path / "run.log").read_text(encoding="utf-8")
    assert (
        "NEWSLETTER_PUBLIC_URL is https://bantin.example.gov.vn but the web server listens "
        f"on http://127.0.0.1:{port}"
    ) in log
