"""The send budget: one rate for every holder, and the daily cap, in Redis and in a file."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from newsletter.config import Settings
from newsletter.delivery.budget import (
    DailyCapError,
    FileBudget,
    RedisBudget,
    burst_for,
    open_budget,
)


def take_concurrently(budgets: list[RedisBudget] | list[FileBudget], each: int) -> float:
    """Every budget object takes `each` tokens in its own thread; returns the elapsed time."""

    def run(budget: RedisBudget | FileBudget) -> None:
        for _ in range(each):
            budget.acquire()

    threads = [threading.Thread(target=run, args=(b,)) for b in budgets]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started


@pytest.mark.parametrize("where", ["redis", "file"])
def test_holders_share_one_rate(
    where: str, settings_factory: Callable[..., Settings], request: pytest.FixtureRequest
) -> None:
    """Three holders of the budget together never exceed the rate (plus the small burst)."""
    rate = 40.0
    if where == "redis":
        redis_url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
        settings = settings_factory(send_rate=rate, redis_url=redis_url, redis_prefix=prefix)
    else:
        settings = settings_factory(send_rate=rate)
    budgets = [open_budget(settings) for _ in range(3)]
    try:
        elapsed = take_concurrently(budgets, 20)  # type: ignore[arg-type]
    finally:
        for budget in budgets:
            budget.close()
    # 60 tokens at 40/s with a burst of 4 cannot be had in less than (60 - 4) / 40 s.
    assert elapsed >= (60 - burst_for(rate)) / rate * 0.95


@pytest.mark.parametrize("where", ["redis", "file"])
def test_daily_cap_stops_sending(
    where: str, settings_factory: Callable[..., Settings], request: pytest.FixtureRequest
) -> None:
    """After NEWSLETTER_DAILY_CAP messages in a day, the budget refuses every holder."""
    overrides: dict[str, object] = {"send_rate": 1000, "daily_cap": 5}
    if where == "redis":
        overrides["redis_url"] = request.getfixturevalue("redis_url")
        overrides["redis_prefix"] = request.getfixturevalue("redis_prefix")
    settings = settings_factory(**overrides)
    first, second = open_budget(settings), open_budget(settings)
    try:
        for budget in (first, second, first, second, first):
            budget.acquire()
        with pytest.raises(DailyCapError):
            second.acquire()
    finally:
        first.close()
        second.close()


def _budget_settings(
    where: str, settings_factory: Callable[..., Settings], request: pytest.FixtureRequest,
    **overrides: object,
) -> Settings:  # fmt: skip
    if where == "redis":
        overrides["redis_url"] = request.getfixturevalue("redis_url")
        overrides["redis_prefix"] = request.getfixturevalue("redis_prefix")
    return settings_factory(**overrides)


@pytest.mark.parametrize("where", ["redis", "file"])
def test_one_call_grants_several_tokens_up_to_the_burst(
    where: str, settings_factory: Callable[..., Settings], request: pytest.FixtureRequest
) -> None:
    """Asking for many grants what the bucket holds (a tenth of a second), never more."""
    settings = _budget_settings(where, settings_factory, request, send_rate=200)
    budget = open_budget(settings)
    try:
        first = budget.acquire(50)
        second = budget.acquire(3)
    finally:
        budget.close()
    assert first == burst_for(200) == 20
    assert 1 <= second <= 3


@pytest.mark.parametrize("where", ["redis", "file"])
def test_grants_stop_at_the_daily_cap_and_given_back_tokens_count_again(
    where: str, settings_factory: Callable[..., Settings], request: pytest.FixtureRequest
) -> None:
    """A grant never crosses the cap; tokens given back unused can be taken again today."""
    settings = _budget_settings(where, settings_factory, request, send_rate=1000, daily_cap=30)
    budget = open_budget(settings)
    try:
        assert budget.acquire(25) == 25
        assert budget.acquire(25) == 5
        with pytest.raises(DailyCapError):
            budget.acquire(1)
        budget.give_back(4)
        assert budget.acquire(25) == 4
        with pytest.raises(DailyCapError):
            budget.acquire(1)
    finally:
        budget.close()
