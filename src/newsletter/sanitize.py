"""HTML that admins write (bulletins): Markdown to HTML, then cleaned by nh3."""

from __future__ import annotations

import unicodedata

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "hr", "i", "li", "ol",
    "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan"}, "th": {"colspan"}}
URL_SCHEMES = {"http", "https", "mailto", "tel"}


def clean_html(fragment: str) -> str:
    """Only harmless tags, attributes and link schemes; links get rel=noopener noreferrer."""
    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
    )


def markdown_to_html(markdown: str) -> str:
    """CommonMark (raw HTML off, tables on) to cleaned HTML."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
    return clean_html(md.render(unicodedata.normalize("NFC", markdown)))
