"""Turn the author's Markdown into HTML that is safe to put on a page."""

from __future__ import annotations

import re
from html import unescape

import nh3
from markdown_it import MarkdownIt

# CommonMark plus the GitHub extensions an author expects. Raw HTML is allowed
# through the parser on purpose (authors paste <kbd> or <details>) because every
# byte of output passes through the sanitizer below anyway.
_md = MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False})
_md.enable(["table", "strikethrough"])

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "dl",
    "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "i", "img", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small",
    "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "u", "ul",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "ol": {"start"},
    "td": {"align"},
    "th": {"align"},
    "code": {"class"},
}
# Relative URLs stay allowed (nh3 keeps them); only these schemes may appear in
# absolute ones, so javascript:, data: and vbscript: never reach the page.
_URL_SCHEMES = {"http", "https", "mailto"}

_FIRST_PARAGRAPH = re.compile(r"<p>(.*?)</p>", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
# Tags that separate words; inline ones (<em>, <a>, <code>) must not, or
# "a *chase*." would read "a chase ." in descriptions and snippets.
_BLOCK_TAG = re.compile(
    r"</?(?:p|br|hr|h[1-6]|li|ul|ol|dl|dt|dd|pre|blockquote|table|thead|tbody"
    r"|tfoot|tr|td|th|figure|figcaption|details|summary|img)\b[^>]*>"
)


def sanitize(html: str) -> str:
    """Remove every tag, attribute and URL that could run code."""
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        # Only a language-xxx class on code blocks, for syntax highlighters.
        attribute_filter=_keep_attribute,
    )


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "class":
        return value if re.fullmatch(r"language-[\w+#-]{1,32}", value) else None
    return value


def render(text: str) -> str:
    """Render Markdown to sanitized HTML."""
    return sanitize(_md.render(text))


def first_paragraph(html: str) -> str:
    """Return the first paragraph of rendered HTML, as HTML, or ''."""
    match = _FIRST_PARAGRAPH.search(html)
    return f"<p>{match.group(1)}</p>" if match else ""


def plain_text(html: str) -> str:
    """Strip tags from sanitized HTML, for meta descriptions and the like."""
    return " ".join(unescape(_TAG.sub("", _BLOCK_TAG.sub(" ", html))).split())
