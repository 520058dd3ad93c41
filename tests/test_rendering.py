"""How posts render: the outline under the page's headings, wide blocks that scroll."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from homepage.core import markdown
from homepage.core.models import Post
from homepage.db import get_engine, session


def headings(html: str) -> list[str]:
    """Return the heading levels and texts of ``html`` in order, like "h2 Intro"."""
    return [
        f"h{level} {re.sub(r'<[^>]+>', '', text).strip()}"
        for level, text in re.findall(r"<h([1-6])[^>]*>(.*?)</h\1>", html, re.S)
    ]


@pytest.mark.parametrize(
    ("text", "top", "expected"),
    [
        ("# A\n\n## B\n\n### C", 2, ["h2 A", "h3 B", "h4 C"]),
        ("### A\n\n#### B\n\n### C", 2, ["h2 A", "h3 B", "h2 C"]),
        ("## A\n\n###### B", 2, ["h2 A", "h6 B"]),
        ("# A\n\n##### B\n\n###### C", 3, ["h3 A", "h6 B", "h6 C"]),
        ("<h1>Raw</h1>\n\n## Typed", 2, ["h2 Raw", "h3 Typed"]),
        ("No headings, `<h1>` in code.", 2, []),
    ],
)
def test_render_shifts_headings_below_the_page(text, top, expected):
    html = markdown.render(text, top=top)
    assert headings(html) == expected
    if not expected:
        assert "&lt;h1&gt;" in html


def test_render_without_top_keeps_the_authors_levels():
    assert headings(markdown.render("### Deep")) == ["h3 Deep"]


@pytest.fixture
def author(auth):
    auth.login()
    return auth


def test_a_post_starting_at_h3_has_a_gapless_outline(client, author):
    author.create_post(
        "Outline", body="### Start\n\nText.\n\n#### Detail\n\nMore.", summary=""
    )
    page = client.get("/posts/outline").text
    body = page[page.index("<main") :]
    assert headings(body)[:3] == ["h1 Outline", "h2 Start", "h3 Detail"]


def test_a_summary_with_headings_sits_below_the_list_titles(client, author):
    author.create_post("Listed", summary="# Teaser\n\nShort.", body="Body.")
    page = client.get("/").text
    main = page[page.index("<main") :]
    assert "h2 Listed" in headings(main)
    assert "h3 Teaser" in headings(main)
    assert "h1 Teaser" not in headings(main)


def test_the_preview_nests_the_post_under_its_heading(client, author):
    response = author.create_post(
        "Previewed", body="# Big\n\n## Smaller", action="preview"
    )
    page = response.text
    preview = page[page.index('<section class="preview"') :]
    preview = preview[: preview.index("</section>")]
    assert headings(preview) == [
        "h2 Preview (not saved)",
        "h3 Previewed",
        "h4 Big",
        "h5 Smaller",
    ]


def test_the_feed_carries_the_shifted_headings(client, author):
    author.create_post("Fed", body="# Top")
    feed = client.get("/feed.atom").text
    assert "&lt;h2 id=&#34;h-top&#34;&gt;Top&lt;/h2&gt;" in feed
    assert "&lt;h1" not in feed


def test_init_db_renders_posts_stored_by_an_older_renderer(app, runner, author):
    author.create_post("Old", body="# Old heading", summary="# Old teaser")
    # As an older version stored it: the author's levels, no renderer noted.
    with get_engine(app).begin() as conn:
        conn.exec_driver_sql(
            "UPDATE posts SET body_html = '<h1>Old heading</h1>', "
            "summary_html = '<h1>Old teaser</h1>', renderer = 0"
        )
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        post = session.scalars(select(Post)).one()
        assert headings(post.body_html) == ["h2 Old heading"]
        assert post.summary_html.strip() == "<h3>Old teaser</h3>"
        assert post.renderer == markdown.RENDERER_VERSION
    page = app.test_client().get("/posts/old").text
    assert '<h2 id="h-old-heading">Old heading</h2>' in page


WIDE_CODE = "```\n" + "x" * 300 + "\n```"
WIDE_TABLE = "| a | b |\n|---|---|\n| " + "y" * 300 + " | 2 |"


def test_code_blocks_and_tables_scroll_in_a_focusable_named_box():
    html = markdown.render(f"Intro.\n\n{WIDE_CODE}\n\n{WIDE_TABLE}\n\nEnd.")
    assert html.count('<div class="scroll" tabindex="0" role="group"') == 2
    box = '<div class="scroll" tabindex="0" role="group" aria-label="{}">'
    assert box.format("Code") + "<pre>" in html
    assert "</pre></div>" in html
    assert box.format("Table") + "<table>" in html
    assert "</table></div>" in html


def test_a_table_inside_a_table_gets_one_box():
    html = markdown.render(
        "<table><tr><td><table><tr><td>in</td></tr></table>"
        "<pre>code</pre></td></tr></table>"
    )
    assert html.count('class="scroll"') == 1
    assert html.endswith("</table></div>") or html.rstrip().endswith("</div>")


def test_markup_typed_as_text_is_no_box():
    html = markdown.render("Write `<pre>` or &lt;table&gt; in a sentence.")
    assert "scroll" not in html


def test_a_post_page_wraps_its_wide_blocks(client, author):
    author.create_post("Wide", body=f"{WIDE_CODE}\n\n{WIDE_TABLE}")
    page = client.get("/posts/wide").text
    assert page.count('tabindex="0" role="group"') == 2


def test_reading_a_post_never_renders_markdown(client, author, monkeypatch):
    author.create_post("Stored", body="## Code\n\n```python\nx = 1\n```\n\n$x^2$")
    author.logout()

    def refuse(*args, **kwargs):
        raise AssertionError("rendered while reading")

    monkeypatch.setattr(markdown, "render", refuse)
    monkeypatch.setattr(markdown, "highlight", None)
    for path in ("/posts/stored", "/", "/feed.atom", "/search?q=code"):
        assert client.get(path).status_code == 200, path
