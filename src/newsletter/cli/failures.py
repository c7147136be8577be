"""One line instead of a traceback when a command fails on configuration, not on a bug.

`newsletter.cli.main` asks `explain` about any exception a command lets out: a database
without schema, a server that refuses the connection, a file the embedded defaults cannot
open. Each answer names the setting to look at. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from urllib.parse import urlsplit

NO_SCHEMA = "the database has no schema yet: run `newsletter db upgrade`"

# Which library the failing call went through → the setting that points there. The first
# one found in the traceback wins: the broker's SQLite transport runs SQLAlchemy, yet its
# setting is the broker's.
_LIBRARIES = (
    ("smtplib", "NEWSLETTER_SMTP_URL", "the SMTP server"),
    ("kombu", "NEWSLETTER_BROKER_URL", "the broker"),
    ("celery", "NEWSLETTER_BROKER_URL", "the broker"),
    ("redis", "NEWSLETTER_REDIS_URL", "Redis"),
    ("psycopg", "NEWSLETTER_DATABASE_URL", "PostgreSQL"),
    ("sqlite3", "NEWSLETTER_DATABASE_URL", "the SQLite database"),
    ("sqlalchemy", "NEWSLETTER_DATABASE_URL", "the database"),
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _libraries(exc: BaseException) -> set[str]:
    """The packages of _LIBRARIES whose code the exceptions passed through."""
    found: set[str] = set()
    for link in _chain(exc):
        for frame in reversed(traceback.extract_tb(link.__traceback__)):
            parts = frame.filename.replace("\\", "/").split("/")
            for name, _setting, _what in _LIBRARIES:
                if f"{name}.py" in parts or name in parts[:-1]:
                    found.add(name)
    return found


def _is_connection_problem(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, ConnectionError | TimeoutError) or any(
        marker in text
        for marker in (
            "connection refused",
            "could not connect",
            "connection timed out",
            "unable to open database file",
            "name or service not known",
            "temporary failure in name resolution",
            "no route to host",
            "error 111",
        )
    )


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    # sqlalchemy prefixes the driver's class: "(sqlite3.OperationalError) unable to …".
    if text.startswith("(") and ") " in text:
        text = text.split(") ", 1)[1]
    return text


def redact(url: str) -> str:
    """`url` without its password, for a message."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unreadable URL)"
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def explain(exc: BaseException) -> str | None:
    """One English line for a configuration or connection problem; None for anything else."""
    chain = list(_chain(exc))
    for link in chain:
        text = str(link)
        if "no such table" in text or type(link).__name__ == "UndefinedTable":
            return NO_SCHEMA
    connection = next((link for link in chain if _is_connection_problem(link)), None)
    if connection is None:
        return None
    libraries = _libraries(exc)
    for name, setting, what in _LIBRARIES:
        if name in libraries:
            return f"cannot reach {what} ({setting}): {_first_line(connection)}"
    return f"cannot connect: {_first_line(connection)} (check the NEWSLETTER_*_URL settings)"
