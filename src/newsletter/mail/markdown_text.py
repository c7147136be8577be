"""A bulletin's Markdown as the plain text a resident reads in the text part.

No Markdown syntax is left for the reader to decode: emphasis marks go, a link reads
"text (url)", headings stand on their own line (the top levels in capitals), lists keep
their "-" and "1." markers, block quotes and code are indented, a table is one line per
row. Line breaks inside a paragraph are kept, as the HTML part keeps them (`breaks`), so a
two-line sign-off stays two lines.
"""

from __future__ import annotations

import unicodedata

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

RULE = "――――――――――"


def markdown_to_text(markdown: str) -> str:
    """`markdown` (CommonMark + tables, as sanitize.markdown_to_html reads it) as plain text."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
    root = SyntaxTreeNode(md.parse(unicodedata.normalize("NFC", markdown)))
    blocks = _blocks(root.children)
    return "\n\n".join(blocks).strip("\n") + "\n"


def _blocks(nodes: list[SyntaxTreeNode]) -> list[str]:
    return [text for node in nodes if (text := _block(node))]


def _block(node: SyntaxTreeNode) -> str:
    kind = node.type
    if kind == "paragraph":
        return _inline_of(node)
    if kind == "heading":
        text = _inline_of(node)
        return text.upper() if node.tag in ("h1", "h2") else text
    if kind in ("bullet_list", "ordered_list"):
        return _list(node)
    if kind == "blockquote":
        return _indent("\n\n".join(_blocks(node.children)), "    ")
    if kind in ("fence", "code_block"):
        return _indent(node.content.rstrip("\n"), "    ")
    if kind == "hr":
        return RULE
    if kind == "table":
        rows = [row for section in node.children for row in section.children]
        return "\n".join(" | ".join(_inline_of(cell) for cell in row.children) for row in rows)
    return "\n\n".join(_blocks(node.children))


def _list(node: SyntaxTreeNode) -> str:
    ordered = node.type == "ordered_list"
    start = int(str(node.attrs.get("start", 1))) if ordered else 1
    items = []
    for number, item in enumerate(node.children, start=start):
        marker = f"{number}. " if ordered else "- "
        body = "\n".join(_blocks(item.children))
        items.append(marker + _indent(body, " " * len(marker)).lstrip(" "))
    return "\n".join(items)


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in text.split("\n"))


def _inline_of(node: SyntaxTreeNode) -> str:
    return "".join(_inline(child) for child in node.children).strip()


def _inline(node: SyntaxTreeNode) -> str:
    kind = node.type
    if kind in ("text", "code_inline"):
        return node.content
    if kind in ("softbreak", "hardbreak"):
        return "\n"
    if kind == "link":
        text = "".join(_inline(c) for c in node.children)
        href = str(node.attrs.get("href", ""))
        shown = href.removeprefix("mailto:").removeprefix("tel:")
        return text if not href or text.strip() in (href, shown) else f"{text} ({shown})"
    # Emphasis, strikethrough, an image (its alt text): the words without the marks.
    return "".join(_inline(c) for c in node.children)
