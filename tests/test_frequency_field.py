"""subscribers/frequency.py: the one reading of `frequency` and the labels residents read."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from newsletter.config import Settings
from newsletter.models import Frequency
from newsletter.subscribers.addresses import InputError
from newsletter.subscribers.frequency import (
    FrequencyError,
    frequency_choices,
    frequency_label,
    parse_frequency,
    read_frequency,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ngay-khi-co", Frequency.IMMEDIATELY),
        (" HANG-NGAY ", Frequency.DAILY),
        ("hang-tuan", Frequency.WEEKLY),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_parse_frequency_reads_the_three_names(raw: str | None, expected: Frequency) -> None:
    """The three public names, trimmed and in any case; blank is "not stated"."""
    assert parse_frequency(raw) is expected


@pytest.mark.parametrize("raw", ["weekly", "hang_tuan", "hằng-tuần", "1", "x" * 500])
def test_parse_frequency_refuses_anything_else_in_english(raw: str) -> None:
    """Anything else names the value (cut to 40 characters) and the allowed ones."""
    with pytest.raises(FrequencyError) as caught:
        parse_frequency(raw)
    message = str(caught.value)
    assert message.startswith("invalid frequency '")
    assert message.endswith("use one of ngay-khi-co, hang-ngay, hang-tuan")
    assert len(message) < 120


def test_read_frequency_refuses_two_different_values_in_vietnamese() -> None:
    """A form may repeat a field: two different values are an error for the resident."""
    assert read_frequency({"frequency": ["hang-ngay", "hang-ngay"]}) is Frequency.DAILY
    assert read_frequency({}) is None
    with pytest.raises(InputError) as caught:
        read_frequency({"frequency": ["hang-ngay", "hang-tuan"]})
    assert caught.value.field == "frequency"
    assert "Tần suất nhận tin không hợp lệ" in caught.value.message


@pytest.mark.parametrize(
    ("daily", "weekly", "labels"),
    [
        ("0 17 * * *", "0 7 * * mon", ["Hằng ngày (17:00)", "Hằng tuần (thứ Hai, 07:00)"]),
        ("5 6 * * *", "30 18 * * 0", ["Hằng ngày (06:05)", "Hằng tuần (Chủ nhật, 18:30)"]),
        ("*/30 * * * *", "0 7 * * mon-fri", ["Hằng ngày", "Hằng tuần"]),
        ("0 7,17 * * *", "not a cron", ["Hằng ngày", "Hằng tuần"]),
        ("0 25 * * *", "61 7 * * fri", ["Hằng ngày", "Hằng tuần"]),
    ],
)
def test_labels_follow_the_schedules(
    settings_factory: Callable[..., Settings], daily: str, weekly: str, labels: list[str]
) -> None:
    """The daily and weekly labels say their time when the schedule is one fixed time."""
    settings = settings_factory(daily_schedule=daily, digest_schedule=weekly)
    assert [frequency_label(f, settings) for f in (Frequency.DAILY, Frequency.WEEKLY)] == labels
    assert frequency_label(Frequency.IMMEDIATELY, settings) == "Ngay khi có tin mới"
    choices = frequency_choices(settings)
    assert [c.value for c in choices] == ["ngay-khi-co", "hang-ngay", "hang-tuan"]
    assert [c.is_default for c in choices] == [False, False, True]
