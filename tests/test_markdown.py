"""Markdown renders the way authors expect, and nothing active survives."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from homepage.core.markdown import first_paragraph, plain_text, render


def test_common_markdown_features():
    html = render(
        "# Title\n\n"
        "## Section\n\n"
        "- one\n- two\n\n"
        "1. first\n2. second\n\n"
        'A [link](https://example.org "Example") and ![a cat](/static/cat.png).\n\n'
        "```python\nprint('hi')\n```\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "> quoted\n\n"
        "~~gone~~ and `inline`\n"
    )
    assert "<h1>Title</h1>" in html and "<h2>Section</h2>" in html
    assert "<ul>\n<li>one</li>" in html and "<ol>\n<li>first</li>" in html
    assert 'href="https://example.org"' in html and 'title="Example"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
    assert '<img src="/static/cat.png" alt="a cat">' in html
    assert '<pre><code class="language-python">print(&#39;hi&#39;)' in html or (
        "<pre><code class=\"language-python\">print('hi')" in html
    )
    assert "<table>" in html and "<th>a</th>" in html and "<td>1</td>" in html
    assert "<blockquote>" in html
    assert "<s>gone</s>" in html or "<del>gone</del>" in html
    assert "<code>inline</code>" in html


class ActiveContent(HTMLParser):
    """Collect every tag, attribute or URL in a page that could run code."""

    DANGEROUS_TAGS = {"script", "iframe", "object", "embed", "svg", "math", "form"}

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.DANGEROUS_TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            url = "".join((value or "").split()).lower()
            if name.startswith("on") or name == "style":
                self.found.append(f"{tag} {name}=")
            if url.startswith(("javascript:", "vbscript:", "data:")):
                self.found.append(f"{tag} {name}={value}")


def active_content(html: str) -> list[str]:
    parser = ActiveContent()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">x</a>',
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](&#106;avascript:alert(1))",
        "[x](java\tscript:alert(1))",
        '<a href="&#x6A;avascript:alert(1)">x</a>',
        '<a href="java&#09;script:alert(1)">x</a>',
        "![x](data:image/svg+xml;base64,PHN2Zz4=)",
        '<img src="data:text/html,<script>alert(1)</script>">',
        '<svg onload="alert(1)"><circle/></svg>',
        '<iframe src="https://evil.example"></iframe>',
        '<div style="background:url(x)">x</div>',
        '<p onclick="alert(1)">x</p>',
        "<object data=x></object>",
        '<form action="https://evil.example"><input></form>',
        "<scr<script>ipt>alert(1)</script>",
        '<a href="vbscript:msgbox(1)">x</a>',
        '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
        '<IMG SRC="jav&#x0A;ascript:alert(1);">',
        '<a href="  javascript:alert(1)">x</a>',
    ],
)
def test_active_content_is_removed(source):
    html = render(source)
    assert active_content(html) == [], html
    assert "<script" not in html.lower()


def test_harmless_inline_html_is_kept():
    html = render(
        "Press <kbd>Ctrl</kbd>.\n\n<details><summary>More</summary>Hi</details>"
    )
    assert "<kbd>Ctrl</kbd>" in html
    assert "<details><summary>More</summary>" in html


def test_first_paragraph_and_plain_text():
    html = render("Hello *world*.\n\nSecond.")
    assert first_paragraph(html) == "<p>Hello <em>world</em>.</p>"
    assert first_paragraph(render("# Only a heading")) == ""
    assert plain_text("<p>a &amp; <b>b</b></p>") == "a & b"
