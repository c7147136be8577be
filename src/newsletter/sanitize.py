"""Every HTML we did not write ourselves, made safe to show: one nh3 configuration per purpose.

- What admins write (bulletins): `markdown_to_html`, `clean_html`. A document's tags
  (headings, tables) and links of the web, mail or phone.
- What feeds, the CMS and imports send (article summaries): `sanitize_html`, and
  `text_to_html` for summaries given as plain text. A digest's subset: absolute http(s)
  links and images only, active content dropped with its text.
- Titles, authors and digest summaries: `plain_text`, `one_line`. No markup at all,
  one line.

Each purpose keeps its own allowlist; what they share (what an http(s) URL is, which
tags lose their content) is written once here.
"""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt

# Every link that leaves a mail or a page opens without handing over the opener.
LINK_REL = "noopener noreferrer"

# --- what admins write --------------------------------------------------------------------

BULLETIN_TAGS = {
    "a", "b", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "hr", "i", "li", "ol",
    "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
BULLETIN_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan"}, "th": {"colspan"}}
BULLETIN_URL_SCHEMES = {"http", "https", "mailto", "tel"}


def clean_html(fragment: str) -> str:
    """Only harmless tags, attributes and link schemes; links get rel=noopener noreferrer."""
    return nh3.clean(
        fragment,
        tags=BULLETIN_TAGS,
        attributes=BULLETIN_ATTRIBUTES,
        url_schemes=BULLETIN_URL_SCHEMES,
        link_rel=LINK_REL,
    )


def markdown_to_html(markdown: str) -> str:
    """CommonMark (raw HTML off, tables on) to cleaned HTML.

    A line break inside a paragraph is kept (`breaks`): officials type a sign-off or an
    address on separate lines and mean them so.
    """
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True})
    md.enable("table")
    return clean_html(md.render(unicodedata.normalize("NFC", markdown)))


# --- what feeds and the CMS send ----------------------------------------------------------

# What a digest may show of a summary: text structure, links and images, nothing active.
SUMMARY_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "em", "figcaption", "figure", "h3", "h4",
    "i", "img", "li", "ol", "p", "pre", "q", "s", "small", "strong", "sub", "sup", "u", "ul",
}  # fmt: skip
SUMMARY_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
}
# Dropped with their content, not just unwrapped: their text is code or layout noise.
DROPPED_WITH_CONTENT = {"script", "style", "iframe", "object", "embed", "template", "noscript"}


def is_http_url(value: str) -> bool:
    """An absolute http(s) URL with a host and no whitespace or control characters."""
    if not value or any(ch.isspace() or ord(ch) < 32 for ch in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _keep_http_only(_tag: str, attribute: str, value: str) -> str | None:
    # nh3's url_schemes still lets relative URLs through; in an e-mail they lead nowhere,
    # so links and images must be absolute http(s).
    if attribute in ("href", "src"):
        return value if is_http_url(value.strip()) else None
    return value


def sanitize_html(value: str) -> str:
    """`value` reduced to SUMMARY_TAGS: no script, no event handlers, only http(s) URLs."""
    cleaned = nh3.clean(
        unicodedata.normalize("NFC", value),
        tags=SUMMARY_TAGS,
        attributes=SUMMARY_ATTRIBUTES,
        clean_content_tags=DROPPED_WITH_CONTENT,
        url_schemes={"http", "https"},
        attribute_filter=_keep_http_only,
        link_rel=LINK_REL,
        strip_comments=True,
    )
    return cleaned.strip()


def text_to_html(value: str) -> str:
    """Plain text as HTML that shows the same characters (feeds' text/plain content)."""
    return html.escape(value.strip()).replace("\n", "<br>")


# --- plain text ---------------------------------------------------------------------------

# Kept through the cleaning only to become spaces: "<p>a</p><p>b</p>" reads "a b", not "ab".
SPACED_TAGS = {
    "blockquote", "br", "div", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li", "ol", "p",
    "td", "th", "tr", "ul",
}  # fmt: skip
# In nh3's output "<" and ">" are escaped everywhere but around tags (attribute values
# included), so this finds exactly the tags it kept.
_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")
# Control characters (other than the whitespace `\s` finds) are never meant as text.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def one_line(text: str) -> str:
    """Plain `text` on one line: controls and runs of whitespace become one space, ends trimmed."""
    return _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()


def plain_text(value: str, *, limit: int | None = None) -> str:
    """HTML or text as one line of plain text, NFC; with `limit`, cut at a word boundary.

    Tags are removed (block-level ones leave a space), script and other active content
    goes with its text, entities are decoded. The result is text, not HTML: whoever
    shows it escapes it. A text longer than `limit` characters ends in "…".
    """
    cleaned = nh3.clean(
        unicodedata.normalize("NFC", value),
        tags=SPACED_TAGS,
        attributes={},
        clean_content_tags=DROPPED_WITH_CONTENT,
    )
    text = one_line(html.unescape(_TAG.sub(" ", cleaned)))
    # Again: removing tags and decoding entities can put a combining mark after its letter.
    text = unicodedata.normalize("NFC", text)
    if limit is None or len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(" ,.;:") + "…"
