"""Colour fenced code with Pygments: CSS classes in the HTML, colours in style.css."""

from __future__ import annotations

from html import escape

from pygments import lex
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES, _TokenType
from pygments.util import ClassNotFound

#: The Pygments styles of the site's light and dark themes. Each keeps every
#: colour at a contrast of 4.5:1 or more (WCAG AA) on the code blocks'
#: background (--surface in static/style.css).
LIGHT_STYLE = "xcode"
DARK_STYLE = "lightbulb"
#: The classes highlighted code may carry, one per standard token type (a
#: lexer's own subtypes take their nearest standard parent's class), so the
#: sanitizer can keep exactly these.
CLASSES = frozenset(name for name in STANDARD_TYPES.values() if name)
#: Where the generated rules sit in static/style.css, which scripts/code_css.py
#: writes and tests/test_highlight.py checks against Pygments.
CSS_START = "/* Code highlighting, made by Pygments: scripts/code_css.py. */"
CSS_END = "/* End of code highlighting. */"


def highlight(code: str, language: str) -> str:
    """Return ``code`` as HTML with token classes, or '' for an unknown language.

    There is no guessing: a fence without a known language stays plain text.
    """
    if not language:
        return ""
    try:
        lexer = get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return ""
    # Neighbouring tokens of one class share a span: less HTML, same colours.
    runs: list[tuple[str, list[str]]] = []
    for token_type, value in lex(code, lexer):
        name = _class(token_type)
        if runs and runs[-1][0] == name:
            runs[-1][1].append(value)
        else:
            runs.append((name, [value]))
    return "".join(
        f'<span class="{name}">{escape("".join(values), quote=False)}</span>'
        if name
        else escape("".join(values), quote=False)
        for name, values in runs
    )


def _class(token_type: _TokenType | None) -> str:
    """Return the class of the nearest standard token type ('' for plain text)."""
    # Every type descends from Token, which is standard, so the walk ends.
    while token_type is not None and token_type not in STANDARD_TYPES:
        token_type = token_type.parent
    return STANDARD_TYPES.get(token_type, "") if token_type is not None else ""


def stylesheet() -> str:
    """Return the CSS of both themes, each under its own colour-scheme query."""
    blocks = [CSS_START]
    for scheme, style in (("light", LIGHT_STYLE), ("dark", DARK_STYLE)):
        rules = HtmlFormatter(style=style).get_token_style_defs("pre")
        blocks.append(f"@media (prefers-color-scheme: {scheme}) {{")
        blocks.extend(f"  {rule}" for rule in rules)
        blocks.append("}")
    blocks.append(CSS_END)
    return "\n".join(blocks) + "\n"
