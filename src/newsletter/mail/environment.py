"""Jinja2 environments for pages and e-mails: autoescape by file extension, branded.

The templates live in the repository's top-level `templates/` and ship in the wheel as
`newsletter/templates/`; any single file can be replaced by putting a file of the same
relative path in NEWSLETTER_TEMPLATES_DIR.
"""

from __future__ import annotations

import datetime as dt
import functools
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined

from newsletter.config import Settings

_ESCAPED_EXTENSIONS = (".html", ".htm", ".xml")


def shipped_templates_dir() -> Path:
    """The folder of the templates the service ships with."""
    # An installed wheel carries its own copy (pyproject.toml maps the top-level templates/
    # into the package), so that copy is looked for first: an installed package never
    # picks up an unrelated templates/ folder two levels above it. A checkout or an
    # editable install runs from src/newsletter/, which has no copy: the checkout's
    # top-level templates/ is the one.
    package = Path(__file__).resolve().parents[1]
    packaged = package / "templates"
    if packaged.is_dir():
        return packaged
    checkout = package.parents[1] / "templates"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"no templates in {packaged} (installed wheel) nor in {checkout} (source checkout); "
        "reinstall the package from a wheel built with the repository's templates/ folder"
    )


def select_autoescape(template_name: str | None) -> bool:
    """Escape .html/.xml templates; .txt templates (text mail, subjects) are not HTML."""
    return template_name is not None and template_name.endswith(_ESCAPED_EXTENSIONS)


def create_environment(settings: Settings) -> Environment:
    """The environment for these settings, shared by every caller with the same ones.

    Compiling a template costs tens of milliseconds: a digest batch or a request that
    built its own environment paid that every time (docs/benchmarks.md). Jinja still
    reloads a template whose file changed; a file newly added to NEWSLETTER_TEMPLATES_DIR
    is seen after a restart.
    """
    return _environment(
        settings.templates_dir,
        settings.timezone,
        tuple(branding(settings).items()),
        settings.public_url.rstrip("/"),
    )


@functools.lru_cache(maxsize=8)
def _environment(
    templates_dir: Path | None,
    timezone: str,
    org: tuple[tuple[str, str], ...],
    public_url: str,
) -> Environment:
    loaders: list[Any] = []
    if templates_dir is not None:
        loaders.append(FileSystemLoader(str(templates_dir)))
    loaders.append(FileSystemLoader(str(shipped_templates_dir())))
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape,  # noqa: S701 - escapes .html/.xml by extension
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    tz = ZoneInfo(timezone)
    env.filters["vn_date"] = partial(vietnamese_date, tz=tz)
    env.filters["vn_datetime"] = partial(vietnamese_datetime, tz=tz)
    env.globals["org"] = dict(org)
    env.globals["public_url"] = public_url
    return env


def branding(settings: Settings) -> dict[str, str]:
    return {
        "name": settings.org_name,
        "short_name": settings.org_short_name,
        "address": settings.org_address,
        "phone": settings.org_phone,
        "email": settings.org_email,
        "website": settings.org_website,
        "logo_url": settings.org_logo_url,
    }


# The one date form of every mail and page: "Thứ Sáu, 04/12/2026" (a range drops the
# weekday: mail/digest.date_range).
DATE_FORMAT = "EEEE, dd/MM/yyyy"


def vietnamese_date(value: dt.datetime | dt.date, tz: ZoneInfo, fmt: str = DATE_FORMAT) -> str:
    """`Thứ Sáu, 04/12/2026`-style dates in the portal's time zone."""
    if isinstance(value, dt.datetime):
        value = value.astimezone(tz).date()
    return format_date(value, format=fmt, locale="vi")


def vietnamese_datetime(value: dt.datetime, tz: ZoneInfo, fmt: str = "HH:mm, dd/MM/yyyy") -> str:
    return format_datetime(value.astimezone(tz), format=fmt, locale="vi", tzinfo=tz)
