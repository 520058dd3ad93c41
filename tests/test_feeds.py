"""Atom feeds, read the way a feed reader reads them."""

from __future__ import annotations

import feedparser
import pytest
from sqlalchemy import select

from homepage.core.models import Post
from homepage.db import session

# Threaded servers, Hypothesis or many requests per test: too slow for make
# test-fast, which runs the quick part of the suite in under 30 s.
pytestmark = pytest.mark.slow


def parse(response):
    """Parse a feed response, failing on anything a feed reader would flag."""
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(response.data)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed


def test_the_site_feed_carries_the_latest_posts_in_full(client, auth):
    auth.login()
    auth.create_post("Older", published_at="2024-01-01T09:00", tags="news")
    auth.create_post(
        "Newer",
        published_at="2024-02-01T09:00",
        summary="In *short*.",
        body="Hello **world**, ![a cat](/static/cat.png)\n\n<script>alert(1)</script>",
    )
    auth.create_post("Draft", status="draft")
    auth.create_post("Scheduled", published_at="2999-01-01T00:00")
    auth.create_post("About", kind="page")
    auth.logout()

    feed = parse(client.get("/feed.atom"))
    assert feed.feed.title == "homepage"
    assert feed.feed.link == "http://localhost/"
    assert [entry.title for entry in feed.entries] == ["Newer", "Older"]
    newer, older = feed.entries
    assert newer.link == "http://localhost/posts/newer"
    assert newer.author == "alice"
    assert newer.published == "2024-02-01T09:00:00Z"
    content = newer.content[0]
    assert content.type == "text/html"
    assert "Hello <strong>world</strong>," in content.value
    assert "<script" not in content.value
    # Relative links and images resolve against the post's address.
    assert 'src="http://localhost/static/cat.png"' in content.value
    assert "<em>short</em>" in newer.summary
    assert [tag.term for tag in older.tags] == ["news"]
    # The feed changed when its newest entry last did.
    assert feed.feed.updated == max(entry.updated for entry in feed.entries)


def test_entry_ids_survive_edits_and_new_slugs(client, auth, app):
    auth.login()
    auth.create_post("First title", published_at="2024-01-01T09:00")
    first = parse(client.get("/feed.atom")).entries[0].id
    with app.app_context():
        post = session.scalars(select(Post)).one()
        post_id, created = post.id, post.created_at
    assert first == f"tag:localhost,{created:%Y-%m-%d}:post-{post_id}"

    auth.post_form(
        f"/admin/posts/{post_id}/edit",
        title="Second title",
        slug="second-title",
        body="Changed.",
        status="published",
        action="save",
    )
    entry = parse(client.get("/feed.atom")).entries[0]
    assert entry.title == "Second title"
    assert entry.id == first
    assert entry.link == "http://localhost/posts/second-title"


def test_the_feed_follows_site_url_and_feed_size(client, auth, app):
    app.config.update(SITE_URL="https://blog.example.org/", FEED_SIZE=2)
    auth.login()
    for number in range(3):
        auth.create_post(f"Post {number}", published_at=f"2024-01-0{number + 1}T09:00")
    auth.logout()

    feed = parse(client.get("/feed.atom"))
    assert [entry.title for entry in feed.entries] == ["Post 2", "Post 1"]
    assert feed.entries[0].link == "https://blog.example.org/posts/post-2"
    assert feed.entries[0].id.startswith("tag:blog.example.org,")
    assert feed.feed.id == "https://blog.example.org/feed.atom"


def test_a_tag_feed_has_only_that_tags_posts(client, auth):
    auth.login()
    auth.create_post("Tagged", tags="Python, web")
    auth.create_post("Untagged")
    auth.create_post("Tagged draft", tags="python", status="draft")
    auth.logout()

    feed = parse(client.get("/tags/python/feed.atom"))
    assert feed.feed.title == "homepage: python"
    assert [entry.title for entry in feed.entries] == ["Tagged"]
    assert feed.feed.link == "http://localhost/tags/python"


@pytest.mark.parametrize("name", ["nothing", "only-drafts"])
def test_a_tag_feed_without_visible_posts_is_404(client, auth, name):
    auth.login()
    auth.create_post("Draft", tags="only-drafts", status="draft")
    auth.logout()
    assert client.get(f"/tags/{name}/feed.atom").status_code == 404


def test_an_empty_blog_still_has_a_valid_feed(client):
    feed = parse(client.get("/feed.atom"))
    assert feed.entries == []


def test_awkward_titles_keep_the_feed_valid(client, auth):
    auth.login()
    auth.create_post("Tom & Jerry <3\x0b\x1f “quotes”]]>", body="Body & <soul>")
    auth.create_post("Кириллица и 日本語")
    auth.logout()
    feed = parse(client.get("/feed.atom"))
    assert [entry.title for entry in feed.entries] == [
        "Кириллица и 日本語",
        "Tom & Jerry <3 “quotes”]]>",
    ]


@pytest.mark.parametrize(
    "path", ["/", "/posts/hello", "/pages/about", "/archive", "/tags", "/nowhere"]
)
def test_every_page_links_to_the_feed(client, auth, path):
    auth.login()
    auth.create_post("Hello", tags="news")
    auth.create_post("About", kind="page")
    auth.logout()
    text = client.get(path).get_data(as_text=True)
    assert (
        '<link rel="alternate" type="application/atom+xml" title="homepage" '
        'href="http://localhost/feed.atom">'
    ) in text


def test_a_tag_page_links_to_its_own_feed(client, auth):
    auth.login()
    auth.create_post("Hello", tags="news")
    auth.logout()
    text = client.get("/tags/news").get_data(as_text=True)
    assert 'href="http://localhost/tags/news/feed.atom"' in text
