"""Markdown renders the way authors expect, and nothing active survives."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from homepage.core import markdown
from homepage.core.markdown import first_paragraph, plain_text, render

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


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
    assert '<h1 id="h-title">Title</h1>' in html
    assert '<h2 id="h-section">Section</h2>' in html
    assert "<ul>\n<li>one</li>" in html and "<ol>\n<li>first</li>" in html
    assert '<a href="https://example.org" title="Example">link</a>' in html
    assert '<img src="/static/cat.png" alt="a cat">' in html
    assert '<pre><code class="language-python"><span class="nb">print</span>' in html
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


def test_the_authors_links_carry_no_rel_and_open_in_place():
    html = render(
        "[out](https://example.org) and "
        '<a href="https://example.org" target="_blank" rel="nofollow">raw</a>'
    )
    assert "rel=" not in html and "target=" not in html
    assert '<a href="https://example.org">raw</a>' in html


def test_headings_get_prefixed_unique_ids_and_a_named_link():
    html = render("## Set up\n\nText.\n\n## Set up\n\n### Café & *tea*")
    assert (
        '<div class="heading"><h2 id="h-set-up">Set up</h2>'
        '<a class="anchor" href="#h-set-up" aria-label="Link to section: Set up">'
        "#</a></div>"
    ) in html
    assert '<h2 id="h-set-up-1">Set up</h2>' in html
    assert '<h3 id="h-café--tea">Café &amp; <em>tea</em></h3>' in html
    assert 'aria-label="Link to section: Café &amp; tea"' in html


def test_heading_ids_keep_their_prefix_when_shifted():
    html = render("# Top\n\n## Under", top=2)
    assert '<h2 id="h-top">Top</h2>' in html and '<h3 id="h-under">' in html


def test_toc_lists_the_headings_where_the_author_asks():
    html = render("[TOC]\n\n# One\n\n## One a\n\n# Two\n\nText [TOC] inline.")
    toc = html[: html.index("</nav>") + 6]
    assert toc == (
        '<nav class="toc" aria-label="Contents"><ul>'
        '<li><a href="#h-one">One</a><ul><li><a href="#h-one-a">One a</a></li></ul>'
        '</li><li><a href="#h-two">Two</a></li></ul></nav>'
    )
    assert "<p>Text [TOC] inline.</p>" in html
    assert "<nav" not in render("# One\n\nNo table of contents.")


def test_footnotes_link_both_ways_with_prefixed_ids():
    html = render("A claim[^src] and another[^src].\n\n[^src]: The *source*.")
    assert '<sup class="footnote-ref"><a href="#fn-1" id="fnref-1">1</a></sup>' in html
    assert '<a href="#fn-1" id="fnref-1-1">1</a>' in html
    assert '<ol class="footnotes">\n<li id="fn-1"><p>The <em>source</em>.' in html
    assert (
        '<a href="#fnref-1" class="footnote-backref" '
        'aria-label="Back to reference 1">\u21a9\ufe0e</a>'
    ) in html


def test_a_footnote_label_with_html_is_only_a_number():
    html = render("Note[^<b>x</b>].\n\n[^<b>x</b>]: Said.")
    assert "<b>" not in html.split('<ol class="footnotes">')[0].replace("<b>x</b>", "")


def test_task_lists_are_disabled_checkboxes():
    html = render("- [x] done\n- [ ] to do\n- plain")
    assert '<ul class="contains-task-list">' in html
    assert (
        '<li class="task-list-item"><input type="checkbox" disabled checked> done</li>'
    ) in html
    assert '<li class="task-list-item"><input type="checkbox" disabled> to do' in html


@pytest.mark.parametrize(
    "source", ["<input>", '<input type="text" value="x" name="q">', "<input type=file>"]
)
def test_any_input_an_author_writes_is_a_disabled_checkbox(source):
    html = render(source)
    assert re.findall(r"<input[^>]*>", html) == ['<input type="checkbox" disabled>']


def test_table_alignment_is_kept_as_a_class():
    html = render("| n | name | x |\n|--:|:--|:-:|\n| 1 | a | b |")
    assert '<th class="align-right">n</th>' in html
    assert '<td class="align-left">a</td>' in html
    assert '<td class="align-center">b</td>' in html
    assert "style=" not in html


def test_math_becomes_mathml_without_a_script():
    html = render("Euler: $e^{i\\pi}+1=0$.\n\n$$\n\\frac{a}{b}\n$$")
    assert ('<p>Euler: <math display="inline"><mrow><msup><mi>e</mi>') in html
    assert '<math display="block"><mrow><mfrac>' in html
    assert '<p><math display="block">' not in html
    assert "<script" not in html and "$" not in html


def test_dollars_as_money_are_not_math():
    html = render("It costs $5, or $10 with $3 more.")
    assert html.strip() == "<p>It costs $5, or $10 with $3 more.</p>"


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("A $\\frac{$ b", "<p>A <code>$\\frac{$</code> b</p>"),
        ("$\\begin{x}<b>$", "<code>$\\begin{x}&lt;b&gt;$</code>"),
        ("$$\n\\sqrt[\n$$", "<code>$$\n\\sqrt[\n$$</code>"),
    ],
)
def test_a_malformed_formula_shows_its_source(source, shown):
    assert shown in render(source)


@pytest.mark.parametrize(
    "source",
    [
        "$\\href{javascript:alert(1)}{x}$",
        "$\\href{https://example.org}{x}$",
        "$\\style{color:red}{x}$",
        "$\\class{scroll}{x}$",
        "$\\color{url(javascript:alert(1))}{x}$",
        "$\\text{<img src=x onerror=alert(1)>}$",
    ],
)
def test_math_carries_no_link_style_class_or_html(source):
    html = render(source)
    assert "<math" in html
    for word in ("href", "style=", "class=", "javascript", "<img", "url("):
        assert word not in html, html


def test_the_math_placeholder_cannot_be_forged():
    text = "math0123456789abcdefb0x and math0123456789abcdefi0x"
    assert render(f"$x$ {text}").endswith(f" {text}</p>\n")


@pytest.mark.parametrize(
    "source",
    [
        '<p id="content">x</p>',
        '<h2 id="main">x</h2>',
        '<a id="site-title" href="/">x</a>',
        '<li id="search">x</li>',
        '<a id="h-x" href="/" class="anchor" aria-label="Log in">x</a>',
        '<span class="visually-hidden">x</span>',
        '<p class="scroll">x</p>',
        '<code class="language-x scroll">x</code>',
        '<td class="align-right hidden">x</td>',
        '<ol class="footnotes skip-link">x</ol>',
        '<span class="k x">x</span>',
        '<nav class="toc">x</nav>',
        '<div class="heading">x</div>',
    ],
)
def test_authors_cannot_set_the_pages_ids_or_classes(source):
    html = render(source)
    for attribute in re.findall(r'\b(?:id|class|aria-label)="([^"]*)"', html):
        assert re.fullmatch(r"h-x|k", attribute), html
    assert "<nav" not in html and "<div" not in html


def test_no_id_of_the_sites_pages_has_a_posts_prefix():
    ids = re.findall(
        r'\bid="([^"{]+)',
        "".join(path.read_text() for path in TEMPLATES.rglob("*.html")),
    )
    assert ids
    assert not [i for i in ids if re.match(r"h-|fn-|fnref-", i)]


def test_a_summary_has_no_ids_and_a_default_summary_no_footnote_link():
    summary = render("# Teaser[^1]\n\n[^1]: Note.", ids=False)
    assert "id=" not in summary and "#" not in summary
    body = render("First[^1] words.\n\n[^1]: Note.")
    assert first_paragraph(body) == "<p>First words.</p>"


def test_plain_text_leaves_out_the_links_the_renderer_adds():
    html = render("[TOC]\n\n## Part\n\nSaid[^1].\n\n[^1]: Note.")
    assert plain_text(html) == "Part Said1. Note."


def test_dollar_signs_count_as_markup():
    assert "$" in markdown.MARKUP_CHARACTERS
    assert markdown.too_costly("$" * (markdown.MAX_MARKUP + 1))


@pytest.mark.parametrize(
    "formula",
    [
        "x+" * (markdown.MAX_FORMULA // 2 + 1),
        "\\frac{1}{" * (markdown.MAX_FORMULA_DEPTH + 1) + "x" + "}" * 51,
        # Deep enough to exhaust latex2mathml's recursion, were it tried.
        "\\frac{1}{" * 400 + "x" + "}" * 400,
    ],
)
def test_a_formula_too_long_or_deep_to_convert_shows_its_source(formula):
    html = render(f"${formula}$")
    assert html.startswith(f"<p><code>${formula[:20]}")
    assert "<math" not in html


def test_a_formula_within_the_bounds_is_converted():
    formula = "\\frac{1}{" * markdown.MAX_FORMULA_DEPTH + "x" + "}" * 50
    assert "<math" in render(f"${formula}$")


def test_a_display_formula_ends_at_a_blank_line():
    assert "<math" not in render("$$\na\n\nb\n$$")


def test_dollar_signs_and_the_paragraphs_holding_them_are_bounded():
    assert markdown.too_costly("$a$ " * 500) is None
    assert "dollar signs" in markdown.too_costly("$a$ " * 501)
    paragraph = "Costs $5. " + "x" * 19_000
    ok = "\n\n".join([paragraph] * (markdown.MAX_MATH_TEXT // len(paragraph)))
    assert markdown.too_costly(ok) is None
    assert "dollar signs (math)" in markdown.too_costly(ok + "\n\n" + paragraph)
