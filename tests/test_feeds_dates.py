"""Dates as Vietnamese CMSs write them: a date without a zone is NEWSLETTER_TIMEZONE time."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from newsletter.content.articles import ArticleRejectedError, parse_datetime
from newsletter.content.dates import parse_date
from newsletter.content.parse import parse_feed
from tests.support.feedserver import rss, rss_item

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
WEEKDAYS = ["Thứ hai", "Thứ ba", "Thứ tư", "Thứ năm", "Thứ sáu", "Thứ bảy", "Chủ nhật"]
RFC_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
RFC_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def local_moment() -> dt.datetime:
    """Two days ago at 10:05 local time, so nothing depends on the day the test runs."""
    day = dt.datetime.now(ZONE) - dt.timedelta(days=2)
    return day.replace(hour=10, minute=5, second=0, microsecond=0)


def rfc822(moment: dt.datetime, zone: str) -> str:
    return (
        f"{RFC_DAYS[moment.weekday()]}, {moment.day:02d} {RFC_MONTHS[moment.month - 1]} "
        f"{moment.year} {moment:%H:%M:%S}{zone}"
    ).strip()


FORMS = {
    "gmt+7": lambda m: rfc822(m, " GMT+7"),
    "gmt+07:00 in brackets": lambda m: rfc822(m, " (GMT+07:00)"),
    "rfc822 without zone": lambda m: rfc822(m, ""),
    "rfc822 +0700": lambda m: rfc822(m, " +0700"),
    "naive iso with space": lambda m: f"{m:%Y-%m-%d %H:%M:%S}",
    "naive iso with T": lambda m: f"{m:%Y-%m-%dT%H:%M:%S}",
    "iso with offset": lambda m: m.isoformat(),
    "dd/mm/yyyy HH:MM": lambda m: f"{m:%d/%m/%Y %H:%M}",
    "HH:MM dd/mm/yyyy": lambda m: f"{m:%H:%M %d/%m/%Y}",
    "vietnamese weekday": lambda m: f"{WEEKDAYS[m.weekday()]}, {m:%d/%m/%Y - %H:%M}",
    "vietnamese weekday with gmt+7": lambda m: (
        f"{WEEKDAYS[m.weekday()]}, {m:%d/%m/%Y, %H:%M} (GMT+7)"
    ),
}


@pytest.mark.parametrize("form", FORMS)
def test_feed_date_forms_are_local_time(form: str) -> None:
    """Each form a Vietnamese CMS writes gives the right instant, zoneless ones in local time."""
    moment = local_moment()
    body = rss(rss_item(1, pub_date=FORMS[form](moment))).encode()

    published = parse_feed(body, timezone=ZONE).entries[0].published_at

    assert published == moment.astimezone(dt.UTC)


def test_day_without_time_is_local_midnight() -> None:
    """`dd/mm/yyyy` alone is the start of that day in the city, not in UTC."""
    moment = local_moment()
    published = parse_date(f"{moment:%d/%m/%Y}", timezone=ZONE)
    assert published == moment.replace(hour=0, minute=0).astimezone(dt.UTC)


def test_other_zone_setting_moves_naive_dates() -> None:
    """The zone of a naive date is the configured one, whatever it is."""
    moment = local_moment().replace(tzinfo=None)
    paris = ZoneInfo("Europe/Paris")
    body = rss(rss_item(1, pub_date=f"{moment:%Y-%m-%d %H:%M:%S}")).encode()
    published = parse_feed(body, timezone=paris).entries[0].published_at
    assert published == moment.replace(tzinfo=paris).astimezone(dt.UTC)


def test_api_dates_accept_the_same_forms() -> None:
    """The push API and file import read the Vietnamese forms too, and refuse what is no date."""
    moment = local_moment()
    text = f"{WEEKDAYS[moment.weekday()]}, {moment:%d/%m/%Y - %H:%M}"
    assert parse_datetime(text, timezone=ZONE) == moment.astimezone(dt.UTC)
    with pytest.raises(ArticleRejectedError, match="dd/mm/yyyy"):
        parse_datetime("hôm qua", timezone=ZONE)
    with pytest.raises(ArticleRejectedError, match="out of range"):
        parse_datetime(dt.datetime(1, 1, 1, 0, 30), timezone=ZONE)


@pytest.mark.parametrize(
    "text",
    [
        "31/02/2026 10:00",
        "Thứ năm",
        "GMT+7",
        "26/11/2026 25:00",
        # Before year 1 once moved to UTC (found by fuzzing the push API: it was a 500).
        "0001-01-01T00:02:00.0+01:00",
        "01/01/0001 00:30",
    ],
)
def test_impossible_dates_give_no_date(text: str) -> None:
    """A date that does not exist gives None (the entry gets the time it was first seen)."""
    assert parse_date(text, timezone=ZONE) is None
