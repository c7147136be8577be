"""The `newsletter` command imports only the sub-command it runs (an urgent bulletin's start)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from newsletter.cli import COMMANDS, load_command

# What `newsletter bulletin …` has no use for: other sub-commands and their libraries.
NOT_FOR_BULLETIN = [
    *(f"newsletter.cli.{e.module}" for e in COMMANDS.values() if e.module != "bulletin"),
    "argon2",
    "alembic",
    "uvicorn",
    "fastapi",
]

PROBE = """
import json, sys
from newsletter.cli import main
sys.argv = ["newsletter", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def modules_after(*args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return set(json.loads(result.stdout.splitlines()[-1]))


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
