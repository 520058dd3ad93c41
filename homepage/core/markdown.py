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

# markdown-it-py is linear on ordinary text but not on all input: each
# character that opens or closes inline Markdown (links, images, emphasis, code
# spans, autolinks, entities, escapes) costs tens of microseconds against about
# one for plain text, a link destination without a closing parenthesis is
# searched to the end of its paragraph, and lines inside deeply nested block
# quotes and lists cost more the more lines there are. These bounds, checked in
# one linear pass before rendering, keep the most expensive text the form
# accepts within a few times the cost of the longest ordinary post
# (bench/hostile_markdown.py measures it).
MARKUP_CHARACTERS = "[]!*_`<&\\~"
#: The most markup characters one text may hold: far more than the longest
#: real post uses (a link takes 4, an emphasis 2).
MAX_MARKUP = 50_000
#: The longest block of text between two blank lines, in characters.
MAX_BLOCK = 20_000
#: The most lines one text may have.
MAX_LINES = 5_000
#: How deep block quotes and lists may be nested on one line ("> - > x" is 3).
MAX_NESTING = 4
#: The most characters that link destinations may be searched through: each
#: "](" searches up to the end of its block for the closing parenthesis.
MAX_LINK_SCAN = 100_000_000
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
#: One block-quote or list marker at the start of a line.
_CONTAINER = re.compile(r"[ \t]{0,3}(?:>[ \t]?|(?:[-+*]|\d{1,9}[.)])(?:[ \t]+|$))")
#: A thematic break ("* * *"), which looks like nested list markers but is not.
_THEMATIC_BREAK = re.compile(r"[ \t]{0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*")

#: Bumped whenever the rendered HTML of a given text changes (a different
#: heading outline, say): ``init-db`` renders again every post stored by an
#: older renderer (see core.schema.rerender_posts).
RENDERER_VERSION = 3
#: The level an author's highest heading gets on a post's page, whose title is
#: the h1, and in a summary on a list, where the post titles are h2.
BODY_TOP = 2
SUMMARY_TOP = 3
_HEADING_TAG = re.compile(r"<(/?)h([1-6])>")
#: The blocks that may be wider than a phone's screen. The sanitizer leaves
#: them without attributes, so their tags are exactly these.
_WIDE_TAG = re.compile(r"<(/?)(pre|table)>")
_WIDE_NAMES = {"pre": "Code", "table": "Table"}

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


def too_costly(text: str) -> str | None:
    """Return why ``text`` would take too long to render, or None."""
    lines = text.count("\n") + 1
    if lines > MAX_LINES:
        return f"The text has {lines:,} lines; keep it under {MAX_LINES:,}."
    blocks = _BLANK_LINE.split(text)
    longest = max(map(len, blocks), default=0)
    if longest > MAX_BLOCK:
        return (
            f"One block of text between blank lines has {longest:,} characters; "
            f"keep each under {MAX_BLOCK:,} by splitting it with blank lines."
        )
    if sum(block.count("](") * len(block) for block in blocks) > MAX_LINK_SCAN:
        return (
            "The text has too many links in too long blocks to render; "
            "split long paragraphs with blank lines."
        )
    for line in text.split("\n"):
        if _nesting(line) > MAX_NESTING and not _THEMATIC_BREAK.fullmatch(line):
            return (
                f"Block quotes and lists are nested more than {MAX_NESTING} deep "
                f"in: {line[:60]!r}"
            )
    marks = sum(text.count(char) for char in MARKUP_CHARACTERS)
    if marks > MAX_MARKUP:
        return (
            f"The text has too much Markdown punctuation to render: {marks:,} of "
            f"the characters {' '.join(MARKUP_CHARACTERS)}; at most {MAX_MARKUP:,}."
        )
    return None


def _nesting(line: str) -> int:
    """Count the block-quote and list markers that open ``line``."""
    depth = position = 0
    while depth <= MAX_NESTING and (match := _CONTAINER.match(line, position)):
        if match.end() == position:
            break
        depth += 1
        position = match.end()
    return depth


def render(text: str, top: int | None = None) -> str:
    """Render Markdown to sanitized HTML.

    :param top: the level the highest heading gets (see :func:`shift_headings`);
        None keeps the levels the author wrote.
    """
    html = scroll_boxes(sanitize(_md.render(text)))
    return html if top is None else shift_headings(html, top)


def scroll_boxes(html: str) -> str:
    """Put each outermost code block and table of sanitized ``html`` in a scroll box.

    A wide block then scrolls inside its own box on a phone rather than
    widening the page, and the box takes the keyboard's focus, with a name,
    so that it can be scrolled without a pointer. The box is a named group
    rather than a region: a page may hold many code blocks, and landmarks
    must be few and named apart.
    """
    parts = []
    depth = position = 0
    for match in _WIDE_TAG.finditer(html):
        closing, name = match[1], match[2]
        if not closing:
            if depth == 0:
                parts.append(html[position : match.start()])
                parts.append(
                    f'<div class="scroll" tabindex="0" role="group" '
                    f'aria-label="{_WIDE_NAMES[name]}">'
                )
                position = match.start()
            depth += 1
        elif depth > 0:
            depth -= 1
            if depth == 0:
                parts.append(html[position : match.end()])
                parts.append("</div>")
                position = match.end()
    parts.append(html[position:])
    return "".join(parts)


def shift_headings(html: str, top: int) -> str:
    """Move the headings of sanitized ``html`` so the highest one is ``h{top}``.

    The outline stays as the author wrote it below the page's own headings,
    with no level skipped at its start: a text whose headings start at ``###``
    starts at ``top`` too. Levels past 6 stay 6, as HTML has no more.
    """
    levels = [int(level) for _, level in _HEADING_TAG.findall(html)]
    if not levels:
        return html
    shift = top - min(levels)

    def moved(match: re.Match) -> str:
        return f"<{match[1]}h{min(int(match[2]) + shift, 6)}>"

    return _HEADING_TAG.sub(moved, html)


def first_paragraph(html: str) -> str:
    """Return the first paragraph of rendered HTML, as HTML, or ''."""
    match = _FIRST_PARAGRAPH.search(html)
    return f"<p>{match.group(1)}</p>" if match else ""


def plain_text(html: str) -> str:
    """Strip tags from sanitized HTML, for meta descriptions and the like."""
    return " ".join(unescape(_TAG.sub("", _BLOCK_TAG.sub(" ", html))).split())
