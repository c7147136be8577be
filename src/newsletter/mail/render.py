"""E-mail triples (subject, text, HTML) rendered from templates/email/, CSS inlined.

Each call renders one mail; the composer calls it once per segment with slot markers
for the personal links, so Jinja and css-inline run once per segment, not per recipient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import css_inline

from newsletter.config import Settings
from newsletter.mail.environment import create_environment
from newsletter.mail.mime import check_header_value


@dataclass(frozen=True, slots=True)
class RenderedMail:
    subject: str
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class PersonalLinks:
    """The links only one subscriber may hold; absent from archive copies."""

    unsubscribe: str
    preferences: str


class MailRenderer:
    def __init__(self, settings: Settings) -> None:
        self.env = create_environment(settings)
        # @media rules cannot be inlined; keep_at_rules leaves them in a <style> block
        # for clients that honour them (the mobile layout). Nothing is fetched remotely.
        self.inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)

    def subject(self, name: str, context: dict[str, Any]) -> str:
        rendered = self.env.get_template(f"email/{name}.subject.txt").render(context)
        # A template's line breaks are layout; the subject is one line, spaces kept as given.
        subject = " ".join(rendered.splitlines()).strip()
        return check_header_value(subject)

    def html_page(self, name: str, context: dict[str, Any]) -> str:
        """The HTML part alone, CSS inlined (also the archive's web page)."""
        html = self.env.get_template(f"email/{name}.html").render(context)
        return _ending_newline(self.inliner.inline(html))

    def render(self, name: str, context: dict[str, Any]) -> RenderedMail:
        subject = self.subject(name, context)
        context = {**context, "subject": subject}
        text = self.env.get_template(f"email/{name}.txt").render(context)
        return RenderedMail(
            subject=subject, text=_ending_newline(text), html=self.html_page(name, context)
        )


def _ending_newline(text: str) -> str:
    # Every body ends with a line break so each chunk of a MessageTemplate ends a line.
    return text if text.endswith("\n") else text + "\n"
