"""`bulletin send`, the urgent path's one-shot command, runs without the cyclic collector.

Its full collections cost ~10 % of the command's run (docs/benchmarks.md); every other
command, servers above all, keeps the collector.
"""

from __future__ import annotations

import gc
import sys

import pytest

import newsletter.cli as cli


def collector_enabled_while_running(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> bool:
    seen: list[bool] = []
    monkeypatch.setattr(cli, "app", lambda: seen.append(gc.isenabled()))
    monkeypatch.setattr(sys, "argv", ["newsletter", *argv])
    try:
        cli.main()
    finally:
        gc.enable()
    assert len(seen) == 1
    return seen[0]


def test_bulletin_send_runs_without_the_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    argv = ["bulletin", "send", "--subject", "Cắt nước", "--body-file", "b.md", "--yes"]
    assert collector_enabled_while_running(argv, monkeypatch) is False


@pytest.mark.parametrize(
    "argv",
    [["web"], ["worker"], ["run"], ["subscribers", "import", "a.csv"], ["bulletin", "--help"]],
)
def test_every_other_command_keeps_it(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert collector_enabled_while_running(argv, monkeypatch) is True
