"""Dates as Vietnamese CMSs write them, read as aware datetimes.

A date without a zone is local time: a city portal's "19:41" is 19:41 in the city,
`NEWSLETTER_TIMEZONE`, never 19:41 UTC (seven hours off in Asia/Ho_Chi_Minh). Forms
read: ISO 8601 (`2017-07-26 19:41:14`, `2026-11-26T10:00:00+07:00`), RFC 822 with or
without a zone (`Thu, 26 Nov 2026 10:00:00 +0700`), a zone written `GMT+7` /
`(GMT+07:00)` / `UTC+7`, and day-first dates `26/11/2026`, `26/11/2026 10:00`,
`10:00 26/11/2026`, optionally after a Vietnamese weekday (`Thứ năm, 26/11/2026 - 10:00`).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

_GMT_OFFSET = re.compile(
    r"\(?\s*(?:GMT|UTC)\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?\s*\)?", re.IGNORECASE
)
_WEEKDAY = re.compile(
    r"^(?:thứ\s*(?:hai|ba|tư|năm|sáu|bảy|[2-7])|chủ\s*nhật|cn|t[2-7])\s*[,-]?\s*", re.IGNORECASE
)
_CLOCK = r"(\d{1,2})\s*[:hg]\s*(\d{2})(?::(\d{2}))?"
_DAY = r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})"
_DAY_THEN_TIME = re.compile(rf"^{_DAY}(?:\s*[-,|]?\s*(?:lúc\s*)?{_CLOCK})?$", re.IGNORECASE)
_TIME_THEN_DAY = re.compile(rf"^{_CLOCK}\s*[-,|]?\s*(?:ngày\s*)?{_DAY}$", re.IGNORECASE)


def _clock(hour: str | None, minute: str | None, second: str | None) -> tuple[int, int, int]:
    return int(hour or 0), int(minute or 0), int(second or 0)


def _day_first(text: str) -> dt.datetime | None:
    text = _WEEKDAY.sub("", text)
    if match := _DAY_THEN_TIME.match(text):
        day, month, year, hour, minute, second = match.groups()
    elif match := _TIME_THEN_DAY.match(text):
        hour, minute, second, day, month, year = match.groups()
    else:
        return None
    try:
        return dt.datetime(int(year), int(month), int(day), *_clock(hour, minute, second))
    except ValueError:
        return None


def _iso(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None


def _rfc822(text: str) -> dt.datetime | None:
    try:
        moment = parsedate_to_datetime(text)  # naive when the text has no zone
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None and text.endswith("-0000"):
        return moment.replace(tzinfo=dt.UTC)  # RFC 5322: UTC, local zone unknown
    return moment


def parse_date(text: str, *, timezone: ZoneInfo) -> dt.datetime | None:
    """`text` as an aware UTC datetime, naive forms read in `timezone`; None if no form fits."""
    value = " ".join(unicodedata.normalize("NFC", text).split())
    offset: dt.timezone | None = None
    if match := _GMT_OFFSET.search(value):
        sign, hours, minutes = match.groups()
        delta = dt.timedelta(hours=int(hours), minutes=int(minutes or 0))
        if delta > dt.timedelta(hours=14):
            return None
        offset = dt.timezone(-delta if sign == "-" else delta)
        value = (value[: match.start()] + " " + value[match.end() :]).strip(" -,")
    if not value:
        return None
    parsed = _iso(value) or _rfc822(value) or _day_first(value)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=offset or timezone)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01 east of UTC falls before year 1: no usable date
        return None
