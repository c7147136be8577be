"""The web process starts on embedded defaults and answers /healthz over real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.smtp import _free_port


def test_web_process_answers_healthz(tmp_path: Path) -> None:
    """`newsletter web` on the defaults serves GET /healthz and a static stylesheet."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env["NEWSLETTER_ENV"] = "development"
    subprocess.run(
        [sys.executable, "-m", "newsletter", "db", "upgrade"],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    log = (tmp_path / "web.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "web", "--port", str(port)],
        env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        css = httpx.get(f"http://127.0.0.1:{port}/static/site.css", timeout=5)
        assert css.status_code == 200
        assert "text/css" in css.headers["content-type"]
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()
