"""Turn the author's Markdown into HTML that is safe to put on a page."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from html import escape, unescape
from typing import Any

import nh3
from latex2mathml.converter import convert as latex_to_mathml
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import OptionsDict
from mdit_py_plugins.anchors import anchors_plugin
from mdit_py_plugins.anchors.index import slugify
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

from . import highlight

#: The prefixes of every id a post may carry: its headings' (``h-``) and its
#: footnotes' and their references' (``fn-``, ``fnref-``). No id of the
#: site's own pages starts with them (tests/test_markdown.py checks), so a
#: post cannot take over an id the page relies on (``id="content"``, say).
HEADING_PREFIX = "h-"
_CONTENT_ID = re.compile(r"(?:h-[\w-]*|fn-\d+|fnref-\d+(?:-\d+)?)")

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "dl",
    "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "i", "img", "input", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp",
    "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "id", "class", "aria-label"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "input": {"checked"},
    "li": {"id", "class"},
    "ol": {"start", "class"},
    "ul": {"class"},
    "td": {"class"},
    "th": {"class"},
    "code": {"class"},
    "span": {"class"},
    "sup": {"class"},
} | {heading: {"id"} for heading in _HEADINGS}
# Every <input> is a task list's ticked or empty box that nobody can change:
# whatever type an author writes, it becomes a disabled checkbox.
_SET_ATTRIBUTES = {"input": {"type": "checkbox", "disabled": ""}}
#: The classes each tag may carry: exactly those the renderer writes.
_ALIGN_CLASSES = {"align-left", "align-center", "align-right"}
_CLASSES = {
    "a": {"footnote-backref"},
    "li": {"task-list-item"},
    "ol": {"footnotes"},
    "ul": {"contains-task-list"},
    "td": _ALIGN_CLASSES,
    "th": _ALIGN_CLASSES,
    "span": highlight.CLASSES,
    "sup": {"footnote-ref"},
}
#: The language class of a fenced code block, as markdown-it writes it.
_LANGUAGE_CLASS = re.compile(r"language-[\w+#-]{1,32}")
#: The accessible name of a footnote's link back to where it is referenced.
_BACKREF_LABEL = re.compile(r"Back to reference \d+")
# Relative URLs stay allowed (nh3 keeps them); only these schemes may appear in
# absolute ones, so javascript:, data: and vbscript: never reach the page.
_URL_SCHEMES = {"http", "https", "mailto"}

# The MathML that latex2mathml writes, and no more; it copies some of the
# author's input into the markup (\href, \style, \class, the text of
# \text{}), so its output is sanitized too, with no URLs, styles or classes.
_MATH_TAGS = {
    "math", "menclose", "mfrac", "mi", "mn", "mo", "mover", "mpadded",
    "mphantom", "mroot", "mrow", "mspace", "msqrt", "mstyle", "msub",
    "msubsup", "msup", "mtable", "mtd", "mtext", "mtr", "munder", "munderover",
}  # fmt: skip
_MATH_ATTRIBUTES = {
    "accent", "columnalign", "columnspacing", "depth", "display",
    "displaystyle", "fence", "form", "height", "largeop", "linethickness",
    "lspace", "mathbackground", "mathcolor", "mathsize", "mathvariant",
    "maxsize", "minsize", "movablelimits", "notation", "rowspacing", "rspace",
    "scriptlevel", "separator", "stretchy", "voffset", "width",
}  # fmt: skip
#: An attribute value MathML may keep: words, lengths and colours, never a
#: URL, a CSS function or anything quoted.
_MATH_VALUE = re.compile(r"[\w .#%+-]{0,64}")

# markdown-it-py is linear on ordinary text but not on all input: each
# character that opens or closes inline Markdown (links, images, emphasis, code
# spans, autolinks, entities, escapes) costs tens of microseconds against about
# one for plain text, a link destination without a closing parenthesis is
# searched to the end of its paragraph, and lines inside deeply nested block
# quotes and lists cost more the more lines there are. These bounds, checked in
# one linear pass before rendering, keep the most expensive text the form
# accepts within a few times the cost of the longest ordinary post
# (bench/hostile_markdown.py measures it).
MARKUP_CHARACTERS = "[]!*_`<&\\~$"
#: The most markup characters one text may hold: far more than the longest
#: real post uses (a link takes 4, an emphasis 2).
MAX_MARKUP = 50_000
#: The longest block of text between two blank lines, in characters.
MAX_BLOCK = 20_000
#: The most lines one text may have.
MAX_LINES = 5_000
#: How deep block quotes and lists may be nested on one line ("> - > x" is 3).
MAX_NESTING = 4
#: The most dollar signs one text may hold: each pair may open a formula,
#: which latex2mathml converts at about twenty times the cost of a link.
MAX_DOLLARS = 1_000
#: The most characters in blocks that hold a dollar sign, which bounds the
#: text latex2mathml is given (several times costlier than prose).
MAX_MATH_TEXT = 50_000
#: The most characters that link destinations may be searched through: each
#: "](" searches up to the end of its block for the closing parenthesis.
MAX_LINK_SCAN = 100_000_000
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
#: One block-quote or list marker at the start of a line.
_CONTAINER = re.compile(r"[ \t]{0,3}(?:>[ \t]?|(?:[-+*]|\d{1,9}[.)])(?:[ \t]+|$))")
#: A thematic break ("* * *"), which looks like nested list markers but is not.
_THEMATIC_BREAK = re.compile(r"[ \t]{0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*")

#: The longest formula turned into MathML, in characters; a longer one is
#: shown as its source (bench/hostile_markdown.py measures the cost).
MAX_FORMULA = 2_000
#: How deep braces may nest in a formula turned into MathML.
MAX_FORMULA_DEPTH = 50

#: Bumped whenever the rendered HTML of a given text changes (a different
#: heading outline, say): ``init-db`` renders again every post stored by an
#: older renderer (see core.schema.rerender_posts).
RENDERER_VERSION = 4
#: The level an author's highest heading gets on a post's page, whose title is
#: the h1, and in a summary on a list, where the post titles are h2.
BODY_TOP = 2
SUMMARY_TOP = 3
_HEADING_TAG = re.compile(r"<(/?)h([1-6])\b")
#: The blocks that may be wider than a phone's screen. The sanitizer leaves
#: them without attributes, so their tags are exactly these.
_WIDE_TAG = re.compile(r"<(/?)(pre|table)>")
_WIDE_NAMES = {"pre": "Code", "table": "Table"}

_FOOTNOTE_REF = re.compile(r'<sup class="footnote-ref">.*?</sup>')
_ADDED_LINKS = re.compile(
    r'<a [^>]*class="(?:anchor|footnote-backref)"[^>]*>[^<]*</a>'
    r'|<nav class="toc".*?</nav>',
    re.DOTALL,
)
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
        set_tag_attribute_values=_SET_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        # The author's links are the author's own: no nofollow, and nothing
        # to protect with noopener, as no link may open a new window (target
        # is not kept). How much of the address other sites learn is the
        # Referrer-Policy header's business (web/security.py).
        link_rel=None,
        attribute_filter=_keep_attribute,
    )


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    """Keep only the ids, classes and labels that the renderer itself writes."""
    if attribute == "id":
        return value if _CONTENT_ID.fullmatch(value) else None
    if attribute == "class":
        if tag == "code" and _LANGUAGE_CLASS.fullmatch(value):
            return value
        return value if value in _CLASSES.get(tag, ()) else None
    if attribute == "aria-label":
        return value if _BACKREF_LABEL.fullmatch(value) else None
    return value


def _sanitize_math(mathml: str) -> str:
    """Keep only the MathML elements and plain attributes latex2mathml writes."""
    return nh3.clean(
        mathml,
        tags=_MATH_TAGS,
        attributes={tag: _MATH_ATTRIBUTES for tag in _MATH_TAGS},
        url_schemes=set(),
        link_rel=None,
        attribute_filter=_keep_math_attribute,
    )


def _keep_math_attribute(tag: str, attribute: str, value: str) -> str | None:
    return value if _MATH_VALUE.fullmatch(value) else None


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
    dollars = text.count("$")
    if dollars > MAX_DOLLARS:
        return (
            f"The text has {dollars:,} dollar signs, which open and close math; "
            f"at most {MAX_DOLLARS:,}."
        )
    if sum(len(block) for block in blocks if "$" in block) > MAX_MATH_TEXT:
        return (
            "The paragraphs with dollar signs (math) are too long to render; "
            f"keep them under {MAX_MATH_TEXT:,} characters in all."
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


def render(text: str, top: int | None = None, ids: bool = True) -> str:
    """Render Markdown to sanitized HTML.

    :param top: the level the highest heading gets (see :func:`shift_headings`);
        None keeps the levels the author wrote.
    :param ids: give headings and footnotes their ids, links and table of
        contents; False for a summary, shown with others on one page, where
        the ids would repeat and the links lead nowhere.
    """
    env: dict[str, Any] = {"math": [], "nonce": secrets.token_hex(8)}
    html = sanitize((_md if ids else _summary_md).render(text, env))
    html = _put_math(_boxes(html), env)
    if ids:
        html = heading_links(table_of_contents(html))
    html = scroll_boxes(html)
    return html if top is None else shift_headings(html, top)


def _boxes(html: str) -> str:
    """Write each checkbox of sanitized ``html`` one way, ticked or not.

    The sanitizer sets their attributes in an order of its own, which may
    differ from one process to the next.
    """

    def box(match: re.Match) -> str:
        ticked = " checked" if "checked" in match[0] else ""
        return f'<input type="checkbox" disabled{ticked}>'

    return _INPUT.sub(box, html)


def _parser(ids: bool) -> MarkdownIt:
    """Make the Markdown parser, with heading ids and footnotes if ``ids``."""
    # CommonMark plus the GitHub extensions an author expects. Raw HTML is
    # allowed through the parser on purpose (authors paste <kbd> or
    # <details>) because every byte of output passes through the sanitizer.
    md = MarkdownIt(
        "commonmark",
        {
            "html": True,
            "linkify": False,
            "typographer": False,
            "highlight": _highlight,
        },
    )
    md.enable(["table", "strikethrough"])
    md.core.ruler.push("align_classes", _align_classes)
    tasklists_plugin(md)
    # Pandoc's rule: "$5 and $10" is money, not math, since a closing dollar
    # may follow no space and precede no digit.
    # A display formula ends at a blank line, as other blocks do, so that
    # MAX_BLOCK bounds it too.
    dollarmath_plugin(
        md,
        allow_labels=False,
        allow_space=False,
        allow_digits=False,
        allow_blank_lines=False,
    )
    md.add_render_rule("math_inline", _render_math)
    md.add_render_rule("math_block", _render_math)
    if ids:
        anchors_plugin(md, min_level=1, max_level=6, slug_func=_heading_id)
        footnote_plugin(md)
        md.add_render_rule("footnote_ref", _render_footnote_ref)
        md.add_render_rule("footnote_block_open", _render_footnotes_open)
        md.add_render_rule("footnote_block_close", _render_footnotes_close)
        md.add_render_rule("footnote_open", _render_footnote_open)
        md.add_render_rule("footnote_anchor", _render_footnote_backref)
    return md


def _highlight(code: str, language: str, attributes: str) -> str:
    """Colour a fenced code block (markdown-it escapes it itself if this is '')."""
    return highlight.highlight(code, language)


def _heading_id(title: str) -> str:
    """Return the id of a heading: prefixed, so a post cannot take the page's."""
    return HEADING_PREFIX + slugify(title)


def _align_classes(state: StateCore) -> None:
    """Turn the table cells' alignment styles into classes (the CSP forbids styles)."""
    for token in state.tokens:
        if token.type in ("th_open", "td_open") and token.attrs.get("style"):
            align = str(token.attrs.pop("style")).removeprefix("text-align:")
            token.attrSet("class", f"align-{align}")


_Rule = Sequence[Token]


def _render_math(
    renderer: RendererHTML,
    tokens: _Rule,
    idx: int,
    options: OptionsDict,
    env: dict[str, Any],
) -> str:
    """Write a placeholder for a formula's MathML, put in after sanitizing."""
    token = tokens[idx]
    block = token.type == "math_block"
    try:
        if _formula_too_costly(token.content):
            raise ValueError("too long or too deeply nested to convert")
        mathml = latex_to_mathml(token.content, display="block" if block else "inline")
    # latex2mathml raises errors of many kinds on malformed input; the reader
    # then sees what the author wrote.
    except Exception:
        dollars = "$$" if block else "$"
        source = f"<code>{escape(dollars + token.content + dollars)}</code>"
        return f"<p>{source}</p>\n" if block else source
    env["math"].append(_sanitize_math(mathml))
    number = len(env["math"]) - 1
    # A display formula is a block of its own: the paragraph that carries
    # its placeholder through the sanitizer goes with it.
    return (
        f"<p>math{env['nonce']}b{number}x</p>\n"
        if block
        else (f"math{env['nonce']}i{number}x")
    )


def _formula_too_costly(source: str) -> bool:
    """Tell whether latex2mathml would take too long or recurse too deep on ``source``.

    Its time grows with a formula's length, and each group nested in a
    command costs it a few Python frames: a few hundred reach the recursion
    limit. Such formulas are shown as their source instead.
    """
    if len(source) > MAX_FORMULA:
        return True
    depth = 0
    for char in source:
        if char == "{":
            depth += 1
            if depth > MAX_FORMULA_DEPTH:
                return True
        elif char == "}":
            depth -= 1
    return False


def _put_math(html: str, env: dict[str, Any]) -> str:
    """Replace the formulas' placeholders in sanitized ``html`` with their MathML.

    The placeholders hold a random nonce made for this rendering, so no text
    an author writes can stand for one.
    """
    if not env["math"]:
        return html
    nonce, formulas = env["nonce"], env["math"]
    pattern = re.compile(rf"<p>math{nonce}b(\d+)x</p>|math{nonce}i(\d+)x")
    return pattern.sub(lambda match: formulas[int(match[1] or match[2])], html)


def _render_footnote_ref(
    renderer: RendererHTML,
    tokens: _Rule,
    idx: int,
    options: OptionsDict,
    env: dict[str, Any],
) -> str:
    meta = tokens[idx].meta
    number = meta["id"] + 1
    suffix = f"-{meta['subId']}" if meta["subId"] > 0 else ""
    return (
        f'<sup class="footnote-ref"><a href="#fn-{number}" '
        f'id="fnref-{number}{suffix}">{number}</a></sup>'
    )


def _render_footnotes_open(
    renderer: RendererHTML,
    tokens: _Rule,
    idx: int,
    options: OptionsDict,
    env: dict[str, Any],
) -> str:
    return '<hr>\n<ol class="footnotes">\n'


def _render_footnotes_close(
    renderer: RendererHTML,
    tokens: _Rule,
    idx: int,
    options: OptionsDict,
    env: dict[str, Any],
) -> str:
    return "</ol>\n"


def _render_footnote_open(
    renderer: RendererHTML,
    tokens: _Rule,
    idx: int,
    options: OptionsDict,
    env: dict[str, Any],
) -> str:
    return f'<li id="fn-{tokens[idx].meta["id"] + 1}">'


def _render_footnote_backref(
    renderer: RendererHTML,
    tokens: _Rule,
    idx: int,
    options: OptionsDict,
    env: dict[str, Any],
) -> str:
    meta = tokens[idx].meta
    number = meta["id"] + 1
    suffix = f"-{meta['subId']}" if meta["subId"] > 0 else ""
    return (
        f' <a href="#fnref-{number}{suffix}" class="footnote-backref" '
        f'aria-label="Back to reference {number}">\u21a9\ufe0e</a>'
    )


_md = _parser(ids=True)
_summary_md = _parser(ids=False)

_INPUT = re.compile(r"<input[^>]*>")
#: A heading of sanitized HTML that has an id (the renderer gives each one).
_HEADING = re.compile(r'<h([1-6]) id="([^"]+)">(.*?)</h\1>', re.DOTALL)
#: Where the author asked for a table of contents: a paragraph of "[TOC]".
_TOC = re.compile(r"<p>\[TOC\]</p>")


def heading_links(html: str) -> str:
    """Follow each heading of sanitized ``html`` with a link to itself.

    The link is a sibling of the heading, not inside it, so the heading's
    accessible name stays its text; CSS shows the "#" on hover and focus,
    and the link is named after the heading for screen readers.
    """

    def linked(match: re.Match) -> str:
        name = escape(plain_text(match[3]))
        return (
            f'<div class="heading">{match[0]}<a class="anchor" href="#{match[2]}"'
            f' aria-label="Link to section: {name}">#</a></div>'
        )

    return _HEADING.sub(linked, html)


def table_of_contents(html: str) -> str:
    """Replace each "[TOC]" paragraph of sanitized ``html`` with its headings."""
    if not _TOC.search(html):
        return html
    headings = _HEADING.findall(html)
    if not headings:
        return _TOC.sub("", html)
    parts = ['<nav class="toc" aria-label="Contents">']
    levels: list[int] = []
    for level_text, anchor, inner in headings:
        level = int(level_text)
        if levels and level > levels[-1]:
            parts.append("<ul>")
            levels.append(level)
        else:
            while levels and level < levels[-1]:
                parts.append("</li></ul>")
                levels.pop()
            if levels:
                parts.append("</li>")
            else:
                parts.append("<ul>")
                levels.append(level)
        parts.append(f'<li><a href="#{anchor}">{escape(plain_text(inner))}</a>')
    parts.append("</li></ul>" * len(levels))
    parts.append("</nav>")
    return _TOC.sub(lambda _: "".join(parts), html)


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
        return f"<{match[1]}h{min(int(match[2]) + shift, 6)}"

    return _HEADING_TAG.sub(moved, html)


def first_paragraph(html: str) -> str:
    """Return the first paragraph of rendered HTML, as HTML, or ''.

    Its footnote references go: the footnotes are not where it is shown.
    """
    match = _FIRST_PARAGRAPH.search(html)
    return f"<p>{_FOOTNOTE_REF.sub('', match.group(1))}</p>" if match else ""


def plain_text(html: str) -> str:
    """Strip tags from sanitized HTML, for meta descriptions and the like.

    The links the renderer adds (a heading's "#", a footnote's way back, the
    table of contents) are not the author's words, so they go too.
    """
    html = _BLOCK_TAG.sub(" ", _ADDED_LINKS.sub("", html))
    return " ".join(unescape(_TAG.sub("", html)).split())
