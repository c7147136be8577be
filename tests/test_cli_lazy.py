"""The `newsletter` command imports only the sub-command it runs (an urgent bulletin's start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.cli import COMMANDS, load_command
from tests.conftest import TEST_SECRET

# What `newsletter bulletin …` has no use for: other sub-commands and their libraries.
NOT_FOR_BULLETIN = [
    *(f"newsletter.cli.{e.module}" for e in COMMANDS.values() if e.module != "bulletin"),
    "argon2",
    "alembic",
    "uvicorn",
    "fastapi",
    # Work the bulletin's workers do, not its command: it only enqueues by task name.
    "newsletter.tasks.jobs",
    "newsletter.content.feeds",
    "newsletter.bounces.intake",
    "newsletter.delivery.batch",
    "newsletter.delivery.confirmations",
    "newsletter.mail.composer",
    "newsletter.delivery.transport",
    "flufl",
    "httpx",
    "feedparser",
    "jinja2",
    # Imported on the way by shared modules until they were cut (~25–60 ms each): the
    # subscribe path's address validation, MIME building with DKIM, rich's consoles.
    "newsletter.subscribers.lifecycle",
    "newsletter.subscribers.addresses",
    "newsletter.bounces.rules",
    "newsletter.mail.mime",
    "newsletter.mail.dkim",
    "email_validator",
    "dns",
    "cryptography",
]
# Typer formats help with rich when it is installed; a real send prints plain lines.
NOT_FOR_SENDING = [*NOT_FOR_BULLETIN, "rich"]

PROBE = """
import json, sys
from newsletter.cli import main
sys.argv = ["newsletter", *json.loads(sys.argv[1])]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def modules_after(*args: str, cwd: Path | None = None) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env["NEWSLETTER_SECRET_KEY"] = TEST_SECRET
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=120, check=True,
    )  # fmt: skip
    answer = json.loads(result.stdout.splitlines()[-1])
    assert answer["code"] in (0, None), result.stderr
    return set(answer["modules"])


def loaded(modules: set[str], names: list[str]) -> list[str]:
    return [n for n in names if n in modules or any(m.startswith(f"{n}.") for m in modules)]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_listed_help_is_the_commands_own(name: str) -> None:
    """The one-line help `newsletter --help` shows is the first paragraph of the command's."""
    command = load_command(name)
    assert command.name == name
    assert command.help is not None
    assert " ".join(command.help.split("\n\n")[0].split()) == COMMANDS[name].short_help


def test_top_level_help_imports_no_sub_command() -> None:
    """`newsletter --help` lists every command without importing any of their modules."""
    modules = modules_after("--help")
    assert loaded(modules, [f"newsletter.cli.{e.module}" for e in COMMANDS.values()]) == []


def test_bulletin_imports_only_its_own_module() -> None:
    """`newsletter bulletin send` loads the bulletin module and none of the others'."""
    modules = modules_after("bulletin", "send", "--help")
    assert "newsletter.cli.bulletin" in modules
    assert loaded(modules, NOT_FOR_BULLETIN) == []


def test_sending_a_bulletin_imports_only_what_enqueueing_needs(tmp_path: Path) -> None:
    """A real `bulletin send --yes` (SQLite, embedded broker) queues its batches by task
    name: no task module, feed, bounce or composing library is ever imported."""
    modules_after("db", "upgrade", cwd=tmp_path)
    body = tmp_path / "body.md"
    body.write_text("Cắt nước khu vực phường 1 từ 8 giờ sáng mai.\n", encoding="utf-8")
    modules = modules_after(
        "bulletin", "send", "--subject", "Cắt nước", "--body-file", str(body), "--yes",
        cwd=tmp_path,
    )  # fmt: skip
    assert "newsletter.tasks.enqueue" in modules
    assert loaded(modules, NOT_FOR_SENDING) == []
