"""The folders are the architecture: imports run one way, and no module outgrows one reading."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "newsletter"
REPOSITORY = PACKAGE.parents[1]

# Lower ranks are imported by higher ones, never the reverse. Within the parts (rank 2),
# the order says who may call whom: delivery sends what subscribers and bounces decide,
# campaigns start deliveries, and content is read by all of them.
RANK = {
    "core": 0,
    "mail": 1,
    "content": 2.0,
    "accounts": 2.0,
    "subscribers": 2.1,
    "bounces": 2.2,
    "delivery": 2.3,
    "campaigns": 2.4,
    "tasks": 3,
    "ops": 3.5,
    "web": 4,
    "cli": 4,
}
MAX_LINES = 400


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in RANK else "core"


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        found.append((".".join(relative.parts), path))
    return found


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "newsletter":
                found += [(node.lineno, f"newsletter.{alias.name}.x") for alias in node.names]
            elif node.module.startswith("newsletter."):
                found.append((node.lineno, node.module + ".x"))
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, alias.name + ".x")
                for alias in node.names
                if alias.name.startswith("newsletter.")
            ]
    return found


def test_imports_run_one_way() -> None:
    """No part imports a part above it: faces → tasks → parts → mail → core."""
    backwards = []
    for module, path in _modules():
        if module.endswith("__main__"):
            continue  # `python -m newsletter` is a face
        mine = _part(module + ".x")
        for line, imported in _imports(path):
            theirs = _part(imported)
            if RANK[theirs] > RANK[mine]:
                backwards.append(f"{path.relative_to(REPOSITORY)}:{line} {mine} → {theirs}")
    assert backwards == []


# Migrations are history, applied as written: they are never split or edited.
_SIZED = [(module, path) for module, path in _modules() if ".migrations.versions." not in module]


@pytest.mark.parametrize(("module", "path"), _SIZED, ids=[module for module, _ in _SIZED])
def test_no_module_outgrows_one_reading(module: str, path: Path) -> None:
    """A module past 400 lines is two concerns (STYLE.md)."""
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines"


def test_templates_sit_at_the_top() -> None:
    """Pages and mails live in templates/ at the repository root, not inside the package."""
    assert (REPOSITORY / "templates" / "email").is_dir()
    assert (REPOSITORY / "templates" / "web").is_dir()
    assert not (PACKAGE / "templates").exists()
