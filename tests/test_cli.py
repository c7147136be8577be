"""The `newsletter` command as a user runs it: a real process, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.accounts.api_tokens import find_api_token
from newsletter.cli.processes import default_concurrency, default_niceness
from newsletter.config import Settings
from newsletter.runtime import build_runtime
from tests.conftest import TEST_SECRET

GROUPS = [
    "run", "web", "worker", "beat", "db", "categories", "feeds", "articles", "digest",
    "bulletin", "campaigns", "subscribers", "admin", "bounces",
]  # fmt: skip


def newsletter(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    full_env.update({"NEWSLETTER_SECRET_KEY": TEST_SECRET, "COLUMNS": "200", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        capture_output=True, text=True, env=full_env, cwd=cwd, timeout=120, check=False,
    )  # fmt: skip


def test_help_lists_every_command_group() -> None:
    """`newsletter --help` names every command group of the contract."""
    result = newsletter("--help")
    assert result.returncode == 0
    for group in GROUPS:
        assert f" {group} " in result.stdout, group


def test_every_contract_command_has_help() -> None:
    """Every command of the contract answers --help (none is a stub any more)."""
    for command in [
        ["feeds", "poll"], ["articles", "import"], ["digest", "preview"], ["digest", "send"],
        ["bulletin", "send"], ["campaigns", "show"], ["subscribers", "import"],
        ["subscribers", "export"], ["subscribers", "stats"], ["subscribers", "erase"],
        ["admin", "create-user"], ["admin", "create-token"], ["admin", "list-tokens"],
        ["admin", "revoke-token"], ["bounces", "process"],
    ]:  # fmt: skip
        result = newsletter(*command, "--help")
        assert result.returncode == 0, (command, result.stderr)
        assert "not built" not in result.stdout


def test_default_secret_is_refused_in_production(tmp_path: Path) -> None:
    """Outside development, the default secret stops the command with a clear message."""
    result = newsletter("db", "upgrade", env={"NEWSLETTER_SECRET_KEY": ""}, cwd=tmp_path)
    assert result.returncode == 2
    assert "NEWSLETTER_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_then_categories(db_backend: str, database_url: str, tmp_path: Path) -> None:
    """`db upgrade` is repeatable on a migrated database; categories can be added and listed."""
    env = {"NEWSLETTER_DATABASE_URL": database_url}
    assert newsletter("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    added = newsletter("categories", "add", "thong-bao", "Thông báo", env=env, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    duplicate = newsletter("categories", "add", "thong-bao", "Khác", env=env, cwd=tmp_path)
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr
    listed = newsletter("categories", "list", "--json", env=env, cwd=tmp_path)
    assert listed.stdout.strip() == '[{"slug": "thong-bao", "name": "Thông báo"}]'


@pytest.mark.parametrize("backend", ["sqlite"])
def test_db_upgrade_on_empty_sqlite_file(backend: str, tmp_path: Path) -> None:
    """With defaults only (development), `db upgrade` creates var/newsletter.db."""
    result = newsletter("db", "upgrade", env={"NEWSLETTER_ENV": "development"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "newsletter.db").stat().st_size > 0


@pytest.mark.parametrize(
    ("queues", "processes", "niceness"),
    [
        ("bulk", 6, 10),
        (" bulk ", 6, 10),
        ("urgent,bulk", 6, 10),
        ("urgent", 6, 0),
        ("default", 2, 0),
    ],
)
def test_a_sender_runs_two_processes_per_core_and_a_digest_sender_yields_the_cpu(
    queues: str, processes: int, niceness: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Senders get two processes per core, the slow jobs two; digest senders are niced."""
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert default_concurrency(queues) == processes
    assert default_niceness(queues) == niceness


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_an_api_token_can_be_listed_and_revoked(
    db_backend: str, database_url: str, tmp_path: Path
) -> None:
    """`admin revoke-token` stops a token at once; `list-tokens` shows it, never the secret."""
    env = {"NEWSLETTER_DATABASE_URL": database_url}
    created = newsletter("admin", "create-token", "cms", env=env, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    listed = json.loads(newsletter("admin", "list-tokens", "--json", env=env, cwd=tmp_path).stdout)
    assert [(t["name"], t["revoked_at"]) for t in listed] == [("cms", None)]
    assert token not in json.dumps(listed)
    revoked = newsletter("admin", "revoke-token", str(listed[0]["id"]), env=env, cwd=tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    after = json.loads(newsletter("admin", "list-tokens", "--json", env=env, cwd=tmp_path).stdout)
    assert after[0]["revoked_at"] is not None
    runtime = build_runtime(Settings(database_url=database_url, secret_key=TEST_SECRET))
    try:
        with runtime.sessions() as session:
            assert find_api_token(session, token=token) is None
    finally:
        runtime.close()
    missing = newsletter("admin", "revoke-token", "999", env=env, cwd=tmp_path)
    assert missing.returncode == 1
    assert "no API token #999" in missing.stderr
