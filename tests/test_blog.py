"""A reader browses the blog: the index, posts, tags, the archive and 404s."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from homepage.core.models import Post
from homepage.db import session
from homepage.reader import blog

from .reader_support import set_published_at

# Threaded servers, Hypothesis or many requests per test: too slow for make
# test-fast, which runs the quick part of the suite in under 30 s.
pytestmark = pytest.mark.slow


def set_dates(app, dates: dict[str, datetime]) -> None:
    """Backdate posts, so archive and order tests do not depend on the clock."""
    for slug, when in dates.items():
        set_published_at(app, slug, when)


def test_empty_blog_says_so(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "No posts yet" in response.get_data(as_text=True)


def test_index_lists_published_posts_newest_first(client, auth):
    auth.login()
    auth.create_post("Older", tags="python, web")
    auth.create_post("Newer", summary="A summary written by hand.")
    html = client.get("/").get_data(as_text=True)
    assert html.index("Newer") < html.index("Older")
    assert 'href="/posts/older"' in html
    assert 'href="/tags/python"' in html and 'href="/tags/web"' in html
    assert "A summary written by hand." in html
    assert "<time datetime=" in html


def test_summary_falls_back_to_the_first_paragraph(client, auth):
    auth.login()
    auth.create_post("Long", body="First **paragraph**.\n\nSecond paragraph.")
    html = client.get("/").get_data(as_text=True)
    assert "First <strong>paragraph</strong>." in html
    assert "Second paragraph." not in html


def pager_link(html: str, rel: str) -> str | None:
    """Return where the pager's ``rel`` link ("next" is older, "prev" newer) leads."""
    match = re.search(rf'<a rel="{rel}" href="([^"]+)"', html)
    return match and match.group(1).replace("&amp;", "&")


def titles(html: str) -> list[str]:
    """Return the titles of the posts a listing shows, in order."""
    return re.findall(r'<article class="summary">\s*<h2><a [^>]+>([^<]+)</a>', html)


def walk(client, path: str) -> list[list[str]]:
    """Follow "Older posts" from ``path`` to the end; return each stretch's titles."""
    stretches = []
    while path:
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        stretches.append(titles(html))
        path = pager_link(html, "next")
    return stretches


def test_index_is_paginated(app, client, auth):
    auth.login()
    for number in range(23):
        auth.create_post(f"Post {number:02d}")
    stretches = walk(client, "/")
    assert [len(titles) for titles in stretches] == [10, 10, 3]
    newest_first = [f"Post {number:02d}" for number in range(22, -1, -1)]
    assert sum(stretches, []) == newest_first
    first = client.get("/").get_data(as_text=True)
    assert pager_link(first, "prev") is None
    second = client.get(pager_link(first, "next")).get_data(as_text=True)
    third_path = pager_link(second, "next")
    third = client.get(third_path).get_data(as_text=True)
    assert pager_link(third, "next") is None
    # "Newer posts" goes back the same way, to the plain address at the top.
    assert (
        titles(client.get(pager_link(third, "prev")).get_data(as_text=True))
        == (stretches[1])
    )
    assert pager_link(second, "prev") == "/"


def test_an_older_stretch_keeps_its_address_as_posts_are_added(client, auth):
    auth.login()
    for number in range(12):
        auth.create_post(f"Post {number:02d}")
    older = pager_link(client.get("/").get_data(as_text=True), "next")
    before = titles(client.get(older).get_data(as_text=True))
    auth.create_post("Newest post")
    assert titles(client.get(older).get_data(as_text=True)) == before
    html = client.get(older).get_data(as_text=True)
    assert (
        f'<link rel="canonical" href="http://localhost{older.replace("&", "&amp;")}">'
        in html
    )


def test_old_numbered_pages_lead_to_the_same_posts(client, auth):
    auth.login()
    for number in range(23):
        auth.create_post(f"Post {number:02d}")
    stretches = walk(client, "/")
    for number, expected in enumerate(stretches, start=1):
        response = client.get(f"/?page={number}")
        assert response.status_code == 301
        assert titles(client.get(response.location).get_data(as_text=True)) == expected
    assert client.get("/?page=1").location == "/"
    assert client.get("/?page=4").status_code == 404


def test_page_size_is_configurable(make_app):
    app = make_app(POSTS_PER_PAGE=2, owner=False)
    with app.app_context():
        author_post(app, count=3)
    html = app.test_client().get("/").get_data(as_text=True)
    assert html.count('<article class="summary">') == 2


def author_post(app, count: int) -> None:
    """Insert published posts straight into the database."""
    from homepage.core.authors import create_author
    from homepage.core.models import PUBLISHED

    author = create_author("writer", "long enough password")
    for number in range(count):
        session.add(
            Post(
                title=f"P{number}",
                slug=f"p{number}",
                body="b",
                body_html="<p>b</p>",
                summary_html="<p>b</p>",
                status=PUBLISHED,
                author_id=author.id,
                published_at=datetime.now(UTC),
            )
        )
    session.commit()


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=2",
        "page=-1",
        "page=abc",
        "page=1.5",
        "page=99999999999999",
        "before=x",
        "before=20260230000000000000-1",
        "before=20260101000000000000-0",
        "after=20260101000000000000-99999999999999999999",
        "before=1-1",
        "before=19990101000000000000-1",
        "after=29990101000000000000-1",
    ],
)
def test_out_of_range_pages_are_styled_404s(client, auth, query):
    auth.login()
    auth.create_post("Only one")
    response = client.get(f"/?{query}")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "<h1>404: Not Found</h1>" in html
    assert 'rel="stylesheet"' in html


def test_post_page_shows_the_whole_post(client, auth):
    auth.login()
    auth.create_post(
        "Markdown post",
        body="# Heading\n\nSome `code` and a [link](https://example.org).",
        tags="Python",
    )
    response = client.get("/posts/markdown-post")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>Markdown post</h1>" in html
    assert "<code>code</code>" in html
    assert 'href="https://example.org"' in html
    assert "by alice" in html
    assert 'href="/tags/python"' in html
    assert "<title>Markdown post · homepage</title>" in html


def test_drafts_are_invisible_to_readers(client, auth):
    auth.login()
    auth.create_post("Secret draft", status="draft", tags="hidden")
    auth.logout()
    assert client.get("/posts/secret-draft").status_code == 404
    assert "Secret draft" not in client.get("/").get_data(as_text=True)
    assert "Secret draft" not in client.get("/archive").get_data(as_text=True)
    assert client.get("/tags/hidden").status_code == 404


def test_drafts_stay_hidden_even_from_the_logged_in_author(client, auth):
    auth.login()
    auth.create_post("Secret draft", status="draft")
    assert client.get("/posts/secret-draft").status_code == 404


def test_tag_page_lists_only_that_tags_posts(app, auth):
    auth.login()
    auth.create_post("About Python", tags="Python")
    auth.create_post("About Rust", tags="rust")
    response = app.test_client().get("/tags/python")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "About Python" in html and "About Rust" not in html
    assert "Posts tagged “python”" in html


def test_tag_names_are_case_insensitive_and_unicode(client, auth):
    auth.login()
    auth.create_post("Unicode tag", tags="Kaffee, Café")
    assert client.get("/tags/Kaffee").status_code == 200
    assert client.get("/tags/caf%C3%A9").status_code == 200


def test_unknown_tag_is_404(client):
    assert client.get("/tags/nothing").status_code == 404


def test_tag_pages_are_paginated(client, auth):
    auth.login()
    for number in range(12):
        auth.create_post(f"Tagged {number}", tags="many")
    auth.create_post("Untagged")
    stretches = walk(client, "/tags/many")
    assert [len(titles) for titles in stretches] == [10, 2]
    assert "Untagged" not in sum(stretches, [])
    html = client.get("/tags/many").get_data(as_text=True)
    assert "12 posts" in html
    assert pager_link(html, "next").startswith("/tags/many?before=")
    assert client.get("/tags/many?page=2").status_code == 301
    assert client.get("/tags/many?page=3").status_code == 404


def test_archive_groups_by_year_and_month(app, client, auth):
    auth.login()
    auth.create_post("March post")
    auth.create_post("Another March post")
    auth.create_post("Old post")
    set_dates(
        app,
        {
            "march-post": datetime(2025, 3, 4, tzinfo=UTC),
            "another-march-post": datetime(2025, 3, 20, tzinfo=UTC),
            "old-post": datetime(2023, 11, 1, tzinfo=UTC),
        },
    )
    html = client.get("/archive").get_data(as_text=True)
    assert html.count("<h2 id=") == 2
    assert html.index("2025") < html.index("March 2025") < html.index("2023")
    assert html.index("November 2023") > html.index("Another March post")
    march = '/archive/2025/3">March 2025</a> <span class="count">2 posts</span></h3>'
    assert html.count(march) == 1
    assert "3 posts" in html


def test_a_big_archive_lists_months_and_splits_them(app, client, auth, monkeypatch):
    monkeypatch.setattr(blog, "ARCHIVE_TITLES", 2)
    auth.login()
    for number in range(5):
        auth.create_post(f"March {number}")
    auth.create_post("April")
    set_dates(
        app,
        {
            **{f"march-{n}": datetime(2025, 3, 1 + n, tzinfo=UTC) for n in range(5)},
            "april": datetime(2025, 4, 2, tzinfo=UTC),
        },
    )
    index = client.get("/archive").get_data(as_text=True)
    assert "6 posts" in index
    assert '/archive/2025/3">March 2025</a> <span class="count">5 posts</span>' in index
    assert '/archive/2025/4">April 2025</a> <span class="count">1 post</span>' in index
    assert "March 0" not in index and "April</a>" not in index
    year = client.get("/archive/2025").get_data(as_text=True)
    assert "March 2025" in year and "March 0" not in year
    month = client.get("/archive/2025/3")
    assert month.status_code == 200
    html = month.get_data(as_text=True)
    assert "5 posts" in html
    seen = []
    path = "/archive/2025/3"
    while path:
        html = client.get(path).get_data(as_text=True)
        seen += re.findall(r'<a href="/posts/(march-\d)">', html)
        path = pager_link(html, "next")
    assert seen == [f"march-{n}" for n in range(4, -1, -1)]


@pytest.mark.parametrize(
    "path", ["/nope", "/posts/", "/posts/missing", "/tags/", "/admin/posts/999/x"]
)
def test_unknown_pages_are_styled_404s(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "There is no page at this address" in response.get_data(as_text=True)


def test_pages_have_landmarks_and_a_stylesheet(client):
    html = client.get("/").get_data(as_text=True)
    assert html.startswith("<!doctype html>")
    assert '<html lang="en">' in html
    for landmark in ("<header", "<nav", "<main", "<footer"):
        assert landmark in html
    assert 'name="viewport"' in html
    with client.get("/static/style.css") as css:
        assert css.status_code == 200
        assert css.mimetype == "text/css"
        assert "@media" in css.get_data(as_text=True)


def test_reader_pages_do_not_set_cookies(client, auth):
    auth.login()
    auth.create_post("Cookieless")
    reader = client.application.test_client()
    for path in ("/", "/posts/cookieless", "/archive"):
        assert "Set-Cookie" not in reader.get(path).headers


def test_posts_in_the_database_match_what_readers_see(app, client, auth):
    auth.login()
    auth.create_post("Counted", tags="a, b")
    with app.app_context():
        post = session.scalars(select(Post).where(Post.slug == "counted")).one()
        assert [tag.name for tag in post.tags] == ["a", "b"]
        assert post.published_at is not None
        assert post.published_at <= datetime.now(UTC) + timedelta(seconds=1)
