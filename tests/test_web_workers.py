"""`newsletter web --workers N`: several processes on one port, one shared per-IP limit."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from newsletter.web.app import create_app_from_environment
from tests.conftest import TEST_SECRET
from tests.support.smtp import _free_port


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        {
            "NEWSLETTER_ENV": "test",
            "NEWSLETTER_SECRET_KEY": TEST_SECRET,
            "NEWSLETTER_VAR_DIR": str(tmp_path / "var"),
            **extra,
        }
    )
    return env


def test_app_factory_reads_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The factory each worker process calls builds the app from NEWSLETTER_* variables."""
    for name, value in _env(tmp_path, NEWSLETTER_SUBSCRIBE_RATE_LIMIT="7").items():
        if name.startswith("NEWSLETTER_"):
            monkeypatch.setenv(name, value)
    app = create_app_from_environment()
    assert app.state.settings.subscribe_rate_limit == 7
    assert app.state.settings.var_dir == tmp_path / "var"


def test_several_workers_need_redis(tmp_path: Path) -> None:
    """Without Redis the per-IP limit would count per process: refused with one clear line."""
    result = subprocess.run(
        [sys.executable, "-m", "newsletter", "web", "--workers", "2"],
        capture_output=True, text=True, env={**_env(tmp_path), "COLUMNS": "200"},
        cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "NEWSLETTER_REDIS_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_two_workers_serve_and_share_the_rate_limit(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """Two web processes answer on one port; the per-IP limit counts across both."""
    env = _env(
        tmp_path,
        NEWSLETTER_REDIS_URL=redis_url,
        NEWSLETTER_REDIS_PREFIX=redis_prefix,
        NEWSLETTER_WEB_WORKERS="2",
        NEWSLETTER_SUBSCRIBE_RATE_LIMIT="3",
    )
    subprocess.run([sys.executable, "-m", "newsletter", "db", "upgrade"],
                   env=env, cwd=tmp_path, check=True, capture_output=True)  # fmt: skip
    port = _free_port()
    log_path = tmp_path / "web.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "web", "--port", str(port)],
            env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        # Both processes up: each logs its own start once its app is built.
        while log_path.read_text(errors="replace").count("Started server process") < 2:
            assert proc.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")
            time.sleep(0.2)
        statuses = []
        for i in range(8):
            # A new connection each time, so the kernel spreads them over both processes.
            response = httpx.post(
                f"http://127.0.0.1:{port}/subscribe",
                json={"email": f"nguoi.{i}@example.vn"},
                headers={"Connection": "close"},
                timeout=10,
            )
            statuses.append(response.status_code)
        assert statuses == [202] * 3 + [429] * 5
    finally:
        proc.terminate()
        proc.wait(timeout=30)
