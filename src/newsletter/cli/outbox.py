"""`newsletter outbox [--last] [--links]`: the Maildir outbox, decoded for a person.

Messages are stored as sent: base64 or quoted-printable, encoded headers. `ls` and `grep`
find no link in them, so a newcomer reads them here.
"""

from __future__ import annotations

import email.policy
import mailbox
import re
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

import typer

from newsletter.cli.common import cli_settings, fail

URL = re.compile(r"https?://[^\s<>\"')\]]+")
# Links a reader acts on come first, in this order; the rest keep the message's order.
FIRST = ("/confirm/", "/unsubscribe/", "/preferences/")


def outbox_path(smtp_url: str) -> Path:
    if not smtp_url.startswith("maildir:"):
        fail(
            "NEWSLETTER_SMTP_URL is not a Maildir (it starts with "
            f"{smtp_url.split(':', 1)[0]!r}): mail goes to a server, so there is no outbox "
            "to read here"
        )
    return Path(smtp_url.removeprefix("maildir:"))


def read_outbox(path: Path) -> list[EmailMessage]:
    """Every message of the Maildir at `path`, oldest first (by Date, then file time)."""
    if not (path / "new").is_dir() and not (path / "cur").is_dir():
        return []
    box = mailbox.Maildir(str(path), factory=None, create=False)
    found: list[tuple[float, float, EmailMessage]] = []
    try:
        for key in box.iterkeys():
            message = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            try:
                sent = parsedate_to_datetime(str(message["Date"])).timestamp()
            except (TypeError, ValueError):
                sent = 0.0
            found.append((sent, _mtime(path, key), message))
    finally:
        box.close()
    found.sort(key=lambda item: (item[0], item[1]))
    return [message for _, _, message in found]


def _mtime(path: Path, key: str) -> float:
    for folder in ("new", "cur"):
        for candidate in (path / folder).glob(f"{key}*"):
            return candidate.stat().st_mtime
    return 0.0


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = part.get_content()
    return content if isinstance(content, str) else ""


def links_of(message: EmailMessage) -> list[str]:
    """Every distinct link of the message's text, the confirm/unsubscribe/preferences first."""
    links: list[str] = []
    for url in URL.findall(text_of(message)):
        url = url.rstrip(".,;:")
        if url not in links:
            links.append(url)

    def rank(url: str) -> int:
        return next((i for i, marker in enumerate(FIRST) if marker in url), len(FIRST))

    return sorted(links, key=rank)  # stable: the rest keep their order


def show(message: EmailMessage) -> str:
    lines = [
        f"From:    {message['From']}",
        f"To:      {message['To']}",
        f"Subject: {message['Subject']}",
        f"Date:    {message['Date']}",
        "",
        text_of(message).rstrip(),
    ]
    return "\n".join(lines)


def outbox(
    last: bool = typer.Option(False, "--last", help="Only the newest message."),
    links: bool = typer.Option(
        False, "--links", help="Only the links, one per line (confirm/unsubscribe first)."
    ),
) -> None:
    """Read the Maildir outbox (NEWSLETTER_SMTP_URL maildir:PATH), decoded."""
    path = outbox_path(cli_settings().smtp_url).absolute()
    if not path.is_dir():
        fail(
            f"no outbox at {path}: run this command in the folder where the service runs "
            "(the embedded defaults live in its ./var/), or set NEWSLETTER_VAR_DIR (or "
            "NEWSLETTER_SMTP_URL) to it"
        )
    messages = read_outbox(path)
    if not messages:
        typer.echo(f"the outbox {path} is empty: no mail was sent yet", err=True)
        return
    if last:
        messages = messages[-1:]
    for index, message in enumerate(messages):
        if links:
            for url in links_of(message):
                typer.echo(url)
            continue
        if index:
            typer.echo("\n" + "─" * 72 + "\n")
        typer.echo(show(message))
