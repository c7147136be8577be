"""The `frequency` field: how often a resident gets the articles of their categories.

One place for reading it (form, JSON, preferences, API, CSV), for the Vietnamese labels a
resident reads and the English words an official reads. The values are the public
names of DESIGN.md: `ngay-khi-co`, `hang-ngay`, `hang-tuan` (the default). Urgent
bulletins reach every active subscriber at once, whatever they chose here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.config import Settings
from newsletter.models import ConsentKind, Frequency, Subscriber, SubscriberStatus, utcnow
from newsletter.subscribers.addresses import InputError
from newsletter.subscribers.consent import Consent, record_consent

__all__ = [
    "DEFAULT_FREQUENCY",
    "FREQUENCY_WORDS",
    "INVALID_FREQUENCY_VI",
    "FrequencyChoice",
    "FrequencyError",
    "count_by_frequency",
    "frequency_choices",
    "frequency_label",
    "parse_frequency",
    "read_frequency",
    "schedule_words",
    "set_frequency",
]

DEFAULT_FREQUENCY = Frequency.WEEKLY
VALUES = tuple(f.value for f in Frequency)

# For officials (admin pages, CSV messages, CLI): English.
FREQUENCY_WORDS = {
    Frequency.IMMEDIATELY: "immediately",
    Frequency.DAILY: "daily",
    Frequency.WEEKLY: "weekly",
}

INVALID_FREQUENCY_VI = (
    "Tần suất nhận tin không hợp lệ. Vui lòng chọn một trong ba: Ngay khi có tin mới, "
    "Hằng ngày hoặc Hằng tuần."
)

_WEEKDAYS_VI = {
    "0": "Chủ nhật", "7": "Chủ nhật", "sun": "Chủ nhật",
    "1": "thứ Hai", "mon": "thứ Hai",
    "2": "thứ Ba", "tue": "thứ Ba",
    "3": "thứ Tư", "wed": "thứ Tư",
    "4": "thứ Năm", "thu": "thứ Năm",
    "5": "thứ Sáu", "fri": "thứ Sáu",
    "6": "thứ Bảy", "sat": "thứ Bảy",
}  # fmt: skip


class FrequencyError(ValueError):
    """A `frequency` value that is none of the three names; the message is English."""

    def __init__(self, value: str) -> None:
        self.value = value
        shown = value if len(value) <= 40 else value[:40] + "…"
        super().__init__(f"invalid frequency {shown!r}: use one of {', '.join(VALUES)}")


def parse_frequency(raw: str | None) -> Frequency | None:
    """The Frequency named by `raw` (trimmed, any case); None when blank (not stated).

    Raises FrequencyError for any other text. What "not stated" means is the caller's:
    weekly for a new address, the stored choice for a known one.
    """
    text = (raw or "").strip().lower()
    if not text:
        return None
    try:
        return Frequency(text)
    except ValueError:
        raise FrequencyError((raw or "").strip()) from None


def read_frequency(fields: dict[str, list[str]]) -> Frequency | None:
    """The `frequency` of a resident's form or JSON: InputError (Vietnamese) when invalid."""
    values = [v for v in fields.get("frequency", []) if v.strip()]
    if len(set(values)) > 1:
        raise InputError(INVALID_FREQUENCY_VI, field="frequency")
    try:
        return parse_frequency(values[0] if values else None)
    except FrequencyError:
        raise InputError(INVALID_FREQUENCY_VI, field="frequency") from None


def _time_of(cron: str) -> tuple[str | None, str | None]:
    """("HH:MM", day-of-week field) of a cron line run once a day at a fixed time."""
    parts = cron.split()
    if len(parts) != 5 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None, None
    minute, hour = int(parts[0]), int(parts[1])
    if minute > 59 or hour > 23:
        return None, None
    return f"{hour:02d}:{minute:02d}", parts[4].lower()


def schedule_words(settings: Settings) -> dict[Frequency, str | None]:
    """When each digest goes out, in Vietnamese, when the schedule says it simply."""
    daily, _ = _time_of(settings.daily_schedule)
    weekly_time, weekday = _time_of(settings.digest_schedule)
    weekly = None
    if weekly_time and weekday in _WEEKDAYS_VI:
        weekly = f"{_WEEKDAYS_VI[weekday]}, {weekly_time}"
    return {Frequency.IMMEDIATELY: None, Frequency.DAILY: daily, Frequency.WEEKLY: weekly}


_NAMES_VI = {
    Frequency.IMMEDIATELY: "Ngay khi có tin mới",
    Frequency.DAILY: "Hằng ngày",
    Frequency.WEEKLY: "Hằng tuần",
}
_HINTS_VI = {
    Frequency.IMMEDIATELY: "một thư mỗi khi có bài mới",
    Frequency.DAILY: "một thư tổng hợp mỗi ngày",
    Frequency.WEEKLY: "một thư tổng hợp mỗi tuần",
}


def frequency_label(frequency: Frequency, settings: Settings) -> str:
    """The resident's name of a frequency, with its time: "Hằng ngày (17:00)"."""
    when = schedule_words(settings)[frequency]
    name = _NAMES_VI[frequency]
    return f"{name} ({when})" if when else name


@dataclass(frozen=True)
class FrequencyChoice:
    value: str
    label: str
    hint: str
    is_default: bool


def frequency_choices(settings: Settings) -> list[FrequencyChoice]:
    """The three choices in the order a form shows them, for `_frequency_field.html`."""
    return [
        FrequencyChoice(
            value=f.value,
            label=frequency_label(f, settings),
            hint=_HINTS_VI[f],
            is_default=f is DEFAULT_FREQUENCY,
        )
        for f in Frequency
    ]


def set_frequency(
    session: Session,
    *,
    subscriber_id: int,
    frequency: Frequency,
    consent: Consent,
    now: dt.datetime | None = None,
) -> Subscriber | None:
    """Change one subscriber's frequency, with a preferences_changed consent event.

    None when there is no such subscriber. Choosing what is stored already changes
    nothing and records nothing.
    """
    subscriber = session.get(Subscriber, subscriber_id, with_for_update=True)
    if subscriber is None or subscriber.frequency is frequency:
        return subscriber
    now = now or utcnow()
    extra = {"frequency": frequency.value, "previous_frequency": subscriber.frequency.value}
    subscriber.frequency = frequency
    subscriber.updated_at = now
    record_consent(
        session, subscriber, ConsentKind.PREFERENCES_CHANGED, consent, now=now, extra=extra
    )
    session.flush()
    return subscriber


def count_by_frequency(
    session: Session, *, status: SubscriberStatus = SubscriberStatus.ACTIVE
) -> dict[str, int]:
    """How many subscribers of `status` chose each frequency (every value present)."""
    counts = {f.value: 0 for f in Frequency}
    for frequency, count in session.execute(
        select(Subscriber.frequency, func.count())
        .where(Subscriber.status == status)
        .group_by(Subscriber.frequency)
    ):
        counts[Frequency(frequency).value] = count
    return counts
