"""Feeds (Atom, RSS 2.0, JSON Feed 1.1), read the way a feed reader reads them."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser

import feedparser
import pytest
from sqlalchemy import select

from homepage.core.models import Post
from homepage.db import session
from homepage.reader.feeds import absolute_html

from .json_feed import json_feed_errors

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


@pytest.mark.parametrize("ext", ["atom", "rss", "json"])
@pytest.mark.parametrize("name", ["nothing", "only-drafts"])
def test_a_tag_feed_without_visible_posts_is_404(client, auth, name, ext):
    auth.login()
    auth.create_post("Draft", tags="only-drafts", status="draft")
    auth.logout()
    assert client.get(f"/tags/{name}/feed.{ext}").status_code == 404


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
    assert (
        '<link rel="alternate" type="application/rss+xml" title="homepage (RSS)" '
        'href="http://localhost/feed.rss">'
    ) in text
    assert (
        '<link rel="alternate" type="application/feed+json" '
        'title="homepage (JSON Feed)" href="http://localhost/feed.json">'
    ) in text
    # And where people see them: the footer of every page.
    footer = text[text.index('<footer class="site-footer">') :]
    for address in ("/feed.atom", "/feed.rss", "/feed.json"):
        assert f'<a href="{address}">' in footer


def test_a_tag_page_links_to_its_own_feed(client, auth):
    auth.login()
    auth.create_post("Hello", tags="news")
    auth.logout()
    text = client.get("/tags/news").get_data(as_text=True)
    assert 'href="http://localhost/tags/news/feed.atom"' in text
    head = text[: text.index("</head>")]
    assert (
        '<link rel="alternate" type="application/rss+xml" title="homepage: news (RSS)" '
        'href="http://localhost/tags/news/feed.rss">'
    ) in head
    assert (
        '<link rel="alternate" type="application/feed+json" '
        'title="homepage: news (JSON Feed)" '
        'href="http://localhost/tags/news/feed.json">'
    ) in head
    # The visible links beside the tag's title.
    main = text[text.index("<main") :]
    for ext in ("atom", "rss", "json"):
        assert f'<a href="/tags/news/feed.{ext}"' in main


# -- RSS 2.0 and JSON Feed 1.1 beside Atom --------------------------------------

RSS = "application/rss+xml; charset=utf-8"
JSON_FEED = "application/feed+json; charset=utf-8"
NAMESPACES = {
    "atom": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
}
#: A date as RFC 822 writes it, with the four-digit year RSS asks for.
RFC822 = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT"
)


def parse_rss(response):
    """Parse an RSS response, failing on anything a feed reader would flag."""
    assert response.status_code == 200
    assert response.headers["Content-Type"] == RSS
    feed = feedparser.parse(response.data)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "rss20"
    return feed


def parse_json(response) -> dict:
    """Parse a JSON Feed response, failing on anything its specification forbids."""
    assert response.status_code == 200
    assert response.headers["Content-Type"] == JSON_FEED
    assert response.mimetype == "application/feed+json"
    feed = json.loads(response.data)
    assert json_feed_errors(feed) == []
    return feed


def entries(client, path: str) -> list[tuple[str, str, str, datetime]]:
    """Return each entry's id, title, address and publish date, in any format."""
    response = client.get(path)
    if path.endswith(".json"):
        return [
            (item["id"], item["title"], item["url"], when(item["date_published"]))
            for item in parse_json(response)["items"]
        ]
    feed = parse_rss(response) if path.endswith(".rss") else parse(response)
    return [
        (
            entry.id,
            entry.title,
            entry.link,
            datetime(*entry.published_parsed[:6], tzinfo=UTC),
        )
        for entry in feed.entries
    ]


def when(text: str) -> datetime:
    """Read an RFC 3339 date."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def urls_in(html: str) -> list[str]:
    """Return every address in ``html``'s href, src and srcset attributes."""
    found: list[str] = []

    class Finder(HTMLParser):
        def handle_starttag(self, tag, attrs):
            for name, value in attrs:
                if name in ("href", "src"):
                    found.append(value)
                elif name == "srcset":
                    found.extend(part.split()[0] for part in value.split(","))

    Finder().feed(html)
    return found


BODY = (
    "See [the other post](/posts/other), [a note](#note) and "
    "[elsewhere](https://example.org/page?a=1&b=2).\n\n"
    "![a cat](/static/cat.png)\n\n"
    '<img src="/media/cat.jpg" alt="cat" title="not an href=/x">\n\n'
    "<script>alert(1)</script>"
)


def test_the_site_rss_carries_the_latest_posts_in_full(client, auth):
    auth.login()
    auth.create_post("Older", published_at="2024-01-01T09:00", tags="news, Web")
    auth.create_post(
        "Newer", published_at="2024-02-01T09:30", summary="In *short*.", body=BODY
    )
    auth.create_post("Draft", status="draft")
    auth.create_post("Scheduled", published_at="2999-01-01T00:00")
    auth.create_post("About", kind="page")
    auth.logout()

    response = client.get("/feed.rss")
    feed = parse_rss(response)
    assert feed.feed.title == "homepage"
    assert feed.feed.link == "http://localhost/"
    assert feed.feed.subtitle == "A blog."
    assert [entry.title for entry in feed.entries] == ["Newer", "Older"]
    newer, older = feed.entries
    assert newer.link == "http://localhost/posts/newer"
    assert newer.author == "alice"
    assert newer.published_parsed[:6] == (2024, 2, 1, 9, 30, 0)
    assert [tag.term for tag in older.tags] == ["news", "web"]
    assert "<em>short</em>" in newer.summary
    content = newer.content[0].value
    assert "See <a" in content and "<script" not in content
    # The ids are Atom's: a reader that follows both sees one post once.
    atom_ids = [entry.id for entry in parse(client.get("/feed.atom")).entries]
    assert [entry.id for entry in feed.entries] == atom_ids

    # What feedparser forgives, read from the XML itself.
    root = ET.fromstring(response.data)
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    self_link = channel.find("atom:link", NAMESPACES)
    assert self_link.attrib == {
        "rel": "self",
        "type": "application/rss+xml",
        "href": "http://localhost/feed.rss",
    }
    last_build = channel.findtext("lastBuildDate")
    assert RFC822.fullmatch(last_build), last_build
    items = channel.findall("item")
    assert len(items) == 2
    for item, atom_id in zip(items, atom_ids, strict=True):
        guid = item.find("guid")
        # The address changes with the slug; the guid does not, so it is
        # no permalink.
        assert guid.get("isPermaLink") == "false"
        assert guid.text == atom_id
        assert RFC822.fullmatch(item.findtext("pubDate")), item.findtext("pubDate")
        assert item.findtext("dc:creator", namespaces=NAMESPACES) == "alice"
    assert parsedate_to_datetime(items[0].findtext("pubDate")) == datetime(
        2024, 2, 1, 9, 30, tzinfo=UTC
    )
    # The newest change of any entry, as in the Atom feed.
    atom_updated = when(parse(client.get("/feed.atom")).feed.updated)
    assert parsedate_to_datetime(last_build) == atom_updated
    categories = items[1].findall("category")
    assert [(c.text, c.get("domain")) for c in categories] == [
        ("news", "http://localhost/tags"),
        ("web", "http://localhost/tags"),
    ]
    encoded = items[0].findtext("content:encoded", namespaces=NAMESPACES)
    assert set(urls_in(encoded)) == {
        "http://localhost/posts/other",
        "http://localhost/posts/newer#note",
        "https://example.org/page?a=1&b=2",
        "http://localhost/static/cat.png",
        "http://localhost/media/cat.jpg",
    }
    assert 'title="not an href=/x"' in encoded


def test_the_site_json_feed_carries_the_latest_posts_in_full(client, auth):
    auth.login()
    auth.create_post("Older", published_at="2024-01-01T09:00", tags="news, Web")
    auth.create_post("Newer", published_at="2024-02-01T09:30", body=BODY)
    auth.create_post("Draft", status="draft")
    auth.create_post("Scheduled", published_at="2999-01-01T00:00")
    auth.create_post("About", kind="page")
    auth.logout()

    feed = parse_json(client.get("/feed.json"))
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"] == "homepage"
    assert feed["description"] == "A blog."
    assert feed["home_page_url"] == "http://localhost/"
    assert feed["feed_url"] == "http://localhost/feed.json"
    assert [item["title"] for item in feed["items"]] == ["Newer", "Older"]
    newer, older = feed["items"]
    atom_ids = [entry.id for entry in parse(client.get("/feed.atom")).entries]
    assert [newer["id"], older["id"]] == atom_ids
    assert newer["url"] == "http://localhost/posts/newer"
    assert newer["date_published"] == "2024-02-01T09:30:00Z"
    assert when(newer["date_modified"]) >= when(newer["date_published"])
    assert newer["authors"] == [{"name": "alice"}]
    assert older["tags"] == ["news", "web"] and newer["tags"] == []
    assert "See <a" in newer["content_html"]
    assert "<script" not in newer["content_html"]
    assert set(urls_in(newer["content_html"])) == {
        "http://localhost/posts/other",
        "http://localhost/posts/newer#note",
        "https://example.org/page?a=1&b=2",
        "http://localhost/static/cat.png",
        "http://localhost/media/cat.jpg",
    }


def test_the_atom_feed_content_has_absolute_addresses_too(client, auth):
    auth.login()
    auth.create_post("Newer", summary="[More](/posts/more).", body=BODY)
    auth.logout()
    # The raw XML: a reader that ignores xml:base reads these as they are.
    root = ET.fromstring(client.get("/feed.atom").data)
    entry = root.find("atom:entry", NAMESPACES)
    content = entry.findtext("atom:content", namespaces=NAMESPACES)
    assert set(urls_in(content)) == {
        "http://localhost/posts/other",
        "http://localhost/posts/newer#note",
        "https://example.org/page?a=1&b=2",
        "http://localhost/static/cat.png",
        "http://localhost/media/cat.jpg",
    }
    summary = entry.findtext("atom:summary", namespaces=NAMESPACES)
    assert urls_in(summary) == ["http://localhost/posts/more"]


BASE = "https://blog.example.org/posts/hello"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (
            '<a href="/posts/x">x</a>',
            '<a href="https://blog.example.org/posts/x">x</a>',
        ),
        ('<a href="#fn-1">1</a>', f'<a href="{BASE}#fn-1">1</a>'),
        (
            '<img src="cat.png" alt="">',
            '<img src="https://blog.example.org/posts/cat.png" alt="">',
        ),
        (
            '<img srcset="/media/a-480.webp 480w, /media/a-960.webp 960w" '
            'src="/media/a.jpg">',
            '<img srcset="https://blog.example.org/media/a-480.webp 480w, '
            'https://blog.example.org/media/a-960.webp 960w" '
            'src="https://blog.example.org/media/a.jpg">',
        ),
        (
            '<a href="/search?q=a&amp;tag=b">s</a>',
            '<a href="https://blog.example.org/search?q=a&amp;tag=b">s</a>',
        ),
        # The scheme too is the feed's.
        ('<a href="//cdn.example/x">c</a>', '<a href="https://cdn.example/x">c</a>'),
        # Already absolute, or not a web address: left as written.
        ('<a href="https://other.example/x?a=1&amp;b=2">o</a>', None),
        ('<a href="mailto:me@example.org">m</a>', None),
        # Text, code and other attributes keep what merely looks like a URL.
        ('<p>src="/x" &lt;img src="/y"&gt;</p>', None),
        (
            '<a title="a href=" href="/z">z</a>',
            '<a title="a href=" href="https://blog.example.org/z">z</a>',
        ),
        ('<abbr title="src=/q">Q</abbr>', None),
        ('<a href="http://[::1">broken</a>', None),
    ],
)
def test_absolute_html_resolves_relative_addresses_only(app, html, expected):
    with app.test_request_context():
        assert absolute_html(html, BASE) == (html if expected is None else expected)


@pytest.mark.parametrize("ext", ["rss", "json"])
def test_every_format_has_the_posts_of_the_atom_feed(client, auth, app, ext):
    auth.login()
    for number in range(3):
        auth.create_post(
            f"Post {number}", published_at=f"2024-01-0{number + 1}T09:00", tags="news"
        )
    auth.create_post("Draft", status="draft", tags="news")
    auth.create_post("Scheduled", published_at="2999-01-01T00:00", tags="news")
    auth.create_post("About", kind="page", tags="news")
    auth.create_post("Binned", tags="news")
    with app.app_context():
        binned = session.scalars(select(Post.id).where(Post.slug == "binned")).one()
    auth.post_form(f"/admin/posts/{binned}/delete")
    auth.logout()

    for path in ("/feed", "/tags/news/feed"):
        expected = entries(client, f"{path}.atom")
        assert [title for _, title, _, _ in expected] == ["Post 2", "Post 1", "Post 0"]
        assert entries(client, f"{path}.{ext}") == expected


@pytest.mark.parametrize("ext", ["rss", "json"])
def test_every_format_follows_site_url_and_feed_size(client, auth, app, ext):
    app.config.update(SITE_URL="https://blog.example.org/", FEED_SIZE=2)
    auth.login()
    for number in range(3):
        auth.create_post(
            f"Post {number}", published_at=f"2024-01-0{number + 1}T09:00", tags="news"
        )
    auth.logout()

    for path in (f"/feed.{ext}", f"/tags/news/feed.{ext}"):
        response = client.get(path, headers={"Host": "evil.example"})
        assert "evil.example" not in response.text and "localhost" not in response.text
        found = entries(client, path)
        assert [title for _, title, _, _ in found] == ["Post 2", "Post 1"]
        _, _, link, _ = found[0]
        assert link == "https://blog.example.org/posts/post-2"
        assert f"https://blog.example.org{path}" in response.text


@pytest.mark.parametrize("path", ["/feed.rss", "/feed.json"])
def test_an_empty_blog_still_has_valid_feeds_in_every_format(client, path):
    assert entries(client, path) == []


@pytest.mark.parametrize("ext", ["rss", "json"])
def test_awkward_titles_keep_every_format_valid(client, auth, ext):
    auth.login()
    auth.create_post("Tom & Jerry <3\x0b\x1f “quotes”]]>", body="Body & <soul>")
    auth.create_post("Кириллица и 日本語")
    auth.logout()
    assert [title for _, title, _, _ in entries(client, f"/feed.{ext}")] == [
        "Кириллица и 日本語",
        "Tom & Jerry <3 “quotes”]]>",
    ]


@pytest.mark.parametrize(
    "path", ["/feed.xml", "/feed.ATOM", "/feed.", "/tags/news/feed.txt"]
)
def test_other_extensions_are_no_feed(client, auth, path):
    auth.login()
    auth.create_post("Hello", tags="news")
    auth.logout()
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"version": "https://jsonfeed.org/version/1"}, "feed.version"),
        ({"title": None}, "feed.title is not a valid string"),
        ({"home_page_url": "/relative"}, "feed.home_page_url"),
        ({"items": [{"id": "1", "title": "x"}]}, "neither content_html"),
        ({"items": [{"id": 1, "content_text": "x"}]}, "items[0].id"),
        (
            {
                "items": [
                    {"id": "1", "content_html": "", "date_published": "2024-01-01"}
                ]
            },
            "date_published",
        ),
        (
            {"items": [{"id": "1", "content_html": "", "authors": [{}]}]},
            "authors[0] is empty",
        ),
        ({"items": [{"id": "1", "content_html": "", "tags": "a,b"}]}, "tags"),
        ({"author": {"name": "x"}}, "feed.author is not a JSON Feed field"),
    ],
)
def test_the_json_feed_checker_catches_what_the_specification_forbids(change, error):
    valid = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "t",
        "home_page_url": "https://example.org/",
        "items": [
            {
                "id": "1",
                "content_html": "<p>x</p>",
                "date_published": "2024-01-01T00:00:00Z",
                "_ext": {},
            }
        ],
    }
    assert json_feed_errors(valid) == []
    errors = json_feed_errors({**valid, **change})
    assert any(error in message for message in errors), errors
