"""Fenced code is coloured at render time by classes, never guessed or inline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from homepage.core import highlight
from homepage.core.markdown import render, sanitize

STYLE_CSS = Path(__file__).resolve().parent.parent / "static" / "style.css"


def test_a_fence_naming_its_language_is_coloured_with_classes():
    html = render("```python\ndef greet(name):\n    return f'hi {name}'\n```")
    assert '<pre><code class="language-python"><span class="k">def</span>' in html
    assert '<span class="nf">greet</span>' in html
    assert "style=" not in html


@pytest.mark.parametrize(
    "fence",
    ["```\ndef f():\n    pass\n```", "```no-such-language\ndef f():\n    pass\n```"],
)
def test_a_fence_without_a_known_language_stays_plain(fence):
    html = render(fence)
    assert "<pre><code" in html and "def f():\n    pass" in html
    assert "<span" not in html


def test_highlighted_code_is_escaped():
    html = render('```html\n<script>alert("x")</script>\n```')
    assert "<script" not in html
    assert "&lt;" in html and "script" in html


def test_every_class_a_lexer_writes_is_one_the_sanitizer_keeps():
    # Lexers have subtypes of their own (Name.Builtin.Pseudo, Comment.Hashbang
    # and the like); each gets its nearest standard class.
    code = "#!/usr/bin/env python\nimport os\n@decorator\nclass A(B):\n    x = self\n"
    spans = highlight.highlight(code, "python")
    classes = set(re.findall(r'class="([^"]+)"', spans))
    assert classes and classes <= highlight.CLASSES
    assert sanitize(spans) == spans


def test_style_css_holds_the_rules_pygments_makes():
    css = STYLE_CSS.read_text()
    start = css.index(highlight.CSS_START)
    end = css.index(highlight.CSS_END) + len(highlight.CSS_END) + 1
    assert css[start:end] == highlight.stylesheet(), (
        "static/style.css is out of date: run .venv/bin/python scripts/code_css.py"
    )


def test_each_colour_scheme_has_its_own_code_colours():
    css = highlight.stylesheet()
    light = css[css.index("(prefers-color-scheme: light)") :]
    dark = css[css.index("(prefers-color-scheme: dark)") :]
    keyword = re.compile(r"pre \.k \{ color: (#\w+)")
    assert keyword.search(light)[1] != keyword.search(dark)[1]
    # The block's background stays the site's own (--surface).
    assert not re.search(r"^\s*pre \{", css, re.MULTILINE)


def test_long_lines_scroll_inside_the_code_block():
    html = render("```python\nx = '" + "y" * 400 + "'\n```")
    box = '<div class="scroll" tabindex="0" role="group" aria-label="Code"><pre>'
    assert box in html
    css = STYLE_CSS.read_text()
    assert ".scroll { overflow-x: auto;" in css
