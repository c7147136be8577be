"""Composition of a campaign's messages (see outgoing.py for the seam with delivery).

Fast by design (DESIGN.md, "Speed"): a campaign's mail is rendered once per segment —
subscribers with the same set of chosen categories — with slot markers where the
personal values go, CSS inlined, and pre-encoded into a MessageTemplate. Per recipient
only the tokens, To, Date, Message-ID, Return-Path and the DKIM signature are made.
`compose_slow` renders one recipient's mail the usual way; the tests hold the two to
the same bytes.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from markupsafe import Markup

from newsletter.config import Settings
from newsletter.idn import ascii_address
from newsletter.mail.digest import PREHEADER_CHARS, DigestContent, cut
from newsletter.mail.dkim import DkimSigner, signer_from_settings
from newsletter.mail.links import LinkMinter
from newsletter.mail.mime import (
    MessageTemplate,
    build_message,
    encode_header_words,
    format_address,
    make_message_id,
    new_boundary,
)
from newsletter.mail.outgoing import OutgoingMessage, Recipient
from newsletter.mail.render import MailRenderer, PersonalLinks, RenderedMail
from newsletter.models import CampaignKind
from newsletter.sanitize import clean_html, one_line

__all__ = [
    "CampaignComposer",
    "warm_up",
]

# Gmail clips a message past ~102 KB; stay under 100,000 bytes with room for the
# per-recipient values and two DKIM signatures.
MAX_MESSAGE_BYTES = 100_000
PER_RECIPIENT_MARGIN = 2_000

# The kinds whose mail lists articles (weekly and daily digests, alerts).
ARTICLE_KINDS = (CampaignKind.DIGEST, CampaignKind.DAILY_DIGEST, CampaignKind.ALERT)
# A segment: the category set and the watermark the articles start after (None: the
# campaign's own list); a bulletin's is always (frozenset(), None).
SegmentKey = tuple[frozenset[int], int | None]

SLOTS = ("to", "date", "message_id", "unsubscribe_url", "preferences_url", "unsubscribe_mailto")


@dataclass(frozen=True, slots=True)
class Personal:
    """One recipient's values for the slots, plus the envelope sender."""

    to: str
    date: str
    message_id: str
    unsubscribe_url: str
    preferences_url: str
    unsubscribe_mailto: str
    envelope_from: str

    def slot_values(self) -> dict[str, str]:
        return {
            "to": self.to,
            "date": self.date,
            "message_id": self.message_id,
            "unsubscribe_url": self.unsubscribe_url,
            "preferences_url": self.preferences_url,
            "unsubscribe_mailto": self.unsubscribe_mailto,
        }


@dataclass(frozen=True, slots=True)
class Segment:
    template: MessageTemplate
    boundary: str
    limit: int | None  # articles shown (digests cut to fit the size cap)


class CampaignComposer:
    """Builds every recipient's message of one campaign (a Composer)."""

    def __init__(
        self,
        settings: Settings,
        *,
        kind: CampaignKind,
        campaign_id: int | None,
        subject: str = "",
        digest: DigestContent | None = None,
        body_html: str = "",
        body_text: str = "",
        signer: DkimSigner | None = None,
        issued_at: dt.datetime | None = None,
        clock: Callable[[], float] = time.time,
        message_ids: Callable[[Recipient], str] | None = None,
    ) -> None:
        if kind in ARTICLE_KINDS and digest is None:
            raise ValueError("a digest or alert composer needs its articles")
        self.settings = settings
        self.kind = kind
        self.campaign_id = campaign_id
        self.subject = subject
        self.digest = digest
        self.body_html = Markup(clean_html(body_html))  # noqa: S704 - sanitised by nh3
        self.body_text = body_text
        self.signer = signer
        self.clock = clock
        # A bulletin shows its date of issue (when the official sent it).
        self.issued_at = issued_at or dt.datetime.fromtimestamp(clock(), dt.UTC)
        domain = settings.sending_domain
        self.message_ids = message_ids or (lambda _r: make_message_id(domain))
        self.renderer = MailRenderer(settings)
        self.links = LinkMinter(settings)
        self.from_header = format_address(settings.sender_address, settings.sender_name)
        self.markers = {
            name: f"btslot{secrets.token_hex(6)}{name.replace('_', '')}" for name in SLOTS
        }
        self._segments: dict[SegmentKey, Segment] = {}
        self._date_second = -1
        self._date = ""

    # --- what the mail says ------------------------------------------------------------

    @property
    def archive_url(self) -> str:
        path = "/archive" if self.campaign_id is None else f"/archive/{self.campaign_id}"
        return self.settings.public_link(path)

    def has_content(self, category_ids: frozenset[int], after: int | None = None) -> bool:
        """False when a digest or alert has no article for these categories after this
        watermark: the send loop skips the row (a preview still shows the empty mail)."""
        return self.digest is None or bool(self.digest.selected(category_ids, after))

    def segment_key(self, category_ids: frozenset[int], after: int | None = None) -> SegmentKey:
        # A bulletin says the same to everyone it targets: one segment. A digest's or
        # alert's segment is the category set and the watermark: most subscribers of one
        # frequency share theirs, so segments stay few (docs/benchmarks.md).
        if self.digest is None:
            return (frozenset(), None)
        return (category_ids, after)

    def context(
        self, key: SegmentKey, links: PersonalLinks | None, limit: int | None
    ) -> dict[str, Any]:
        base: dict[str, Any] = {
            "archive_url": self.archive_url,
            "links": links,
            # Table-of-contents links lead to the archive copy's sections: many mobile mail
            # apps ignore in-mail #anchors. A preview (no campaign yet) has no archive copy.
            "toc_base": self.archive_url if self.campaign_id is not None else None,
        }
        if self.digest is not None:
            categories, after = key
            return {
                **base,
                **self.digest.context(self.settings, categories, limit=limit, after=after),
            }
        return {
            **base,
            "subject": self.subject,
            "body_html": self.body_html,
            "body_text": self.body_text,
            "issued_at": self.issued_at,
            "preheader": cut(one_line(self.body_text), PREHEADER_CHARS),
        }

    @property
    def template_name(self) -> str:
        # Weekly, daily digests and alerts share the digest's templates ("edition" differs).
        return "digest" if self.digest is not None else self.kind.value

    def render(
        self, key: SegmentKey, links: PersonalLinks | None, limit: int | None
    ) -> RenderedMail:
        return self.renderer.render(self.template_name, self.context(key, links, limit))

    def headers(self, unsubscribe_url: str, unsubscribe_mailto: str) -> list[tuple[str, str]]:
        settings = self.settings
        headers = [
            (
                "List-Id",
                f"{encode_header_words(settings.org_short_name, prefix_length=9)}"
                f" <newsletter.{settings.sending_domain}>",
            ),
            ("List-Unsubscribe", list_unsubscribe(settings, unsubscribe_url, unsubscribe_mailto)),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("Feedback-ID", feedback_id(self.campaign_id, self.kind.value, settings)),
            # Both kinds are bulk mail: RFC 3834 auto-responders (out-of-office) stay silent,
            # while a resident can still answer a bulletin by hand (to Reply-To when set).
            ("Precedence", "bulk"),
            ("Auto-Submitted", "auto-generated"),
        ]
        if self.kind is CampaignKind.BULLETIN and settings.reply_to:
            headers.insert(0, ("Reply-To", format_address(settings.reply_to)))
        return headers

    # --- the fast path -----------------------------------------------------------------

    def _template(self, key: SegmentKey, limit: int | None, boundary: str) -> MessageTemplate:
        m = self.markers
        mail = self.render(key, PersonalLinks(m["unsubscribe_url"], m["preferences_url"]), limit)
        return MessageTemplate(
            slots=m,
            signer=self.signer,
            from_header=self.from_header,
            to=m["to"],
            subject=mail.subject,
            text=mail.text,
            html=mail.html,
            message_id=m["message_id"],
            date=m["date"],
            headers=self.headers(m["unsubscribe_url"], m["unsubscribe_mailto"]),
            boundary=boundary,
        )

    def _fits(self, template: MessageTemplate) -> bool:
        sample = self.personal(
            Recipient(10**12, 10**12, "x" * 64 + "@" + "y" * 60 + ".vn", frozenset(), "f" * 32)
        )
        size = len(template.fill(sample.slot_values(), timestamp=0))
        return size + PER_RECIPIENT_MARGIN <= MAX_MESSAGE_BYTES

    def segment(self, category_ids: frozenset[int], after: int | None = None) -> Segment:
        """The pre-encoded mail for one category set (and watermark), built on first use."""
        key = self.segment_key(category_ids, after)
        found = self._segments.get(key)
        if found is not None:
            return found
        boundary = new_boundary()
        template = self._template(key, None, boundary)
        limit = None
        if self.digest is not None and not self._fits(template):
            # Too long: keep the newest articles that fit (binary search over the count).
            low, high = 0, len(self.digest.selected(*key))
            while low < high:
                middle = (low + high + 1) // 2
                if self._fits(self._template(key, middle, boundary)):
                    low = middle
                else:
                    high = middle - 1
            limit = low
            template = self._template(key, limit, boundary)
        segment = Segment(template, boundary, limit)
        self._segments[key] = segment
        return segment

    def _now_date(self, now: float) -> str:
        second = int(now)
        if second != self._date_second:
            self._date_second = second
            self._date = formatdate(second, localtime=False, usegmt=True)
        return self._date

    def personal(self, recipient: Recipient) -> Personal:
        links = self.links
        unsubscribe = links.unsubscribe_token(recipient.subscriber_id, recipient.link_key)
        return Personal(
            to=ascii_address(recipient.email),
            date=self._now_date(self.clock()),
            message_id=self.message_ids(recipient),
            unsubscribe_url=links.unsubscribe_base + unsubscribe,
            preferences_url=links.preferences_base
            + links.preferences_token(recipient.subscriber_id, recipient.link_key),
            unsubscribe_mailto=links.unsubscribe_mailto(unsubscribe),
            envelope_from=links.return_path(recipient.delivery_id),
        )

    def compose(self, recipient: Recipient) -> OutgoingMessage:
        segment = self.segment(recipient.category_ids, recipient.after_article)
        personal = self.personal(recipient)
        data = segment.template.fill(personal.slot_values(), timestamp=int(self.clock()))
        return OutgoingMessage(
            envelope_from=personal.envelope_from,
            recipient=personal.to,
            message_id=personal.message_id,
            data=data,
        )

    # --- the usual way: the oracle ------------------------------------------------------

    def compose_slow(self, recipient: Recipient) -> OutgoingMessage:
        """The same message rendered for this recipient alone (Jinja, css-inline, MIME)."""
        segment = self.segment(recipient.category_ids, recipient.after_article)
        personal = self.personal(recipient)
        key = self.segment_key(recipient.category_ids, recipient.after_article)
        mail = self.render(
            key, PersonalLinks(personal.unsubscribe_url, personal.preferences_url), segment.limit
        )
        data = build_message(
            from_header=self.from_header,
            to=personal.to,
            subject=mail.subject,
            text=mail.text,
            html=mail.html,
            message_id=personal.message_id,
            date=personal.date,
            headers=self.headers(personal.unsubscribe_url, personal.unsubscribe_mailto),
            boundary=segment.boundary,
            body_encoding="quoted-printable",
        )
        if self.signer is not None:
            data = self.signer.sign_message(data, timestamp=int(self.clock()))
        return OutgoingMessage(personal.envelope_from, personal.to, personal.message_id, data)

    def archive_html(self) -> str:
        """The web copy: every category, nothing personal, no size cap."""
        context = {
            **self.context((frozenset(), None), None, None),
            "archive_url": None,
            "toc_base": "",
        }
        subject = self.renderer.subject(self.template_name, context)
        return self.renderer.html_page(self.template_name, {**context, "subject": subject})


def list_unsubscribe(settings: Settings, url: str, mailto: str) -> str:
    """The https one-click link, and a mailto only where the bounce intake reads its mail.

    A mail to `unsubscribe+TOKEN@BOUNCE_DOMAIN` lands in the bounce mailbox, whose intake
    unsubscribes the subscriber the token names. Without BOUNCE_DOMAIN such a mail would go
    to the sender's own domain, where nothing reads it, so no mailto is advertised.
    """
    if not settings.bounce_domain:
        return f"<{url}>"
    return f"<{url}>,\r\n <mailto:{mailto}>"


def feedback_id(campaign_id: int | None, kind: str, settings: Settings) -> str:
    """Gmail's Feedback-ID (`a:b:c:SenderId`): complaint rates per campaign and kind."""
    campaign = "preview" if campaign_id is None else str(campaign_id)
    return f"{campaign}:{kind}:{settings.sending_domain}"


def warm_up(settings: Settings) -> None:
    """Compile every e-mail template and parse the DKIM key now: both are cached per process.

    Called by a worker before it forks its pool (tasks.warm_up), so no pool process does
    it on its first batch, before that batch's first message. Raises what composer_for
    would for a broken template or key.
    """
    env = MailRenderer(settings).env
    for name in env.list_templates(filter_func=lambda name: name.startswith("email/")):
        env.get_template(name)
    signer_from_settings(settings)
