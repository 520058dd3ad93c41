"""What search engines and link previews read: sitemap, robots.txt, meta data."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET  # noqa: S405 (parses the app's own output)

import pytest
from flask import url_for
from sqlalchemy import select, update

from homepage.core.models import DRAFT, POST, Post, modified_at, utcnow, visible_at
from homepage.db import session
from homepage.reader.templating import rfc3339

from .reader_support import add_posts

NAMESPACE = "http://www.sitemaps.org/schemas/sitemap/0.9"
SITEMAP = "{" + NAMESPACE + "}"
#: The protocol's limits (https://www.sitemaps.org/protocol.html).
MAX_URLS = 50_000
MAX_SITEMAPS = 50_000
MAX_BYTES = 50 * 1024 * 1024
#: A W3C datetime with seconds and a time zone, as the protocol allows.
W3C_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def sitemap_document(client, path: str, root_tag: str) -> ET.Element:
    """Fetch a sitemap document and check what every one of them must be."""
    response = client.get(path)
    assert response.status_code == 200, path
    assert response.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert len(response.data) <= MAX_BYTES
    assert response.data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    # The app's own output, so the standard parser is safe here.
    root = ET.fromstring(response.data)
    assert root.tag == SITEMAP + root_tag, path
    return root


def check_loc(loc: str | None, origin: str) -> str:
    """Check a <loc>: an absolute address on the site's origin, fully escaped."""
    assert loc is not None and loc == loc.strip()
    assert loc.startswith(origin + "/"), loc
    assert len(loc) < 2048
    # Characters outside URLs' own set would have to be percent-encoded.
    assert re.fullmatch(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", loc), loc
    return loc


def sitemap_entries(
    client, origin: str = "http://localhost", per_file: int = MAX_URLS
) -> dict[str, str | None]:
    """Follow the sitemap index; return every file's addresses {loc: lastmod}.

    Checks the protocol's rules on the way: namespace, root elements, the
    limits per file and per index, absolute addresses on ``origin``, W3C
    datetimes, each address listed once.
    """
    index = sitemap_document(client, "/sitemap.xml", "sitemapindex")
    files = [
        check_loc(sitemap.findtext(f"{SITEMAP}loc"), origin)
        for sitemap in index.iter(f"{SITEMAP}sitemap")
    ]
    assert len(files) == len(index) <= MAX_SITEMAPS
    assert len(set(files)) == len(files)
    entries: dict[str, str | None] = {}
    for file in files:
        urlset = sitemap_document(client, file.removeprefix(origin), "urlset")
        assert 0 < len(urlset) <= min(per_file, MAX_URLS), file
        for url in urlset:
            assert url.tag == f"{SITEMAP}url"
            assert {child.tag for child in url} <= {
                f"{SITEMAP}loc",
                f"{SITEMAP}lastmod",
            }
            loc = check_loc(url.findtext(f"{SITEMAP}loc"), origin)
            lastmod = url.findtext(f"{SITEMAP}lastmod")
            assert lastmod is None or W3C_DATETIME.fullmatch(lastmod), lastmod
            assert loc not in entries, loc
            entries[loc] = lastmod
    return entries


def test_the_sitemap_lists_visible_posts_pages_and_tags(client, auth):
    auth.login()
    auth.create_post("Post", tags="news", published_at="2024-03-05T10:00")
    auth.create_post("About", kind="page", published_at="2024-01-01T00:00")
    auth.create_post("Draft", tags="secret", status="draft")
    auth.create_post("Later", tags="future", published_at="2999-01-01T00:00")
    auth.logout()

    entries = sitemap_entries(client)
    assert set(entries) == {
        "http://localhost/",
        "http://localhost/archive",
        "http://localhost/tags",
        "http://localhost/posts/post",
        "http://localhost/pages/about",
        "http://localhost/tags/news",
    }
    for lastmod in entries.values():
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", lastmod)


def test_an_empty_blog_has_a_sitemap_of_its_lists(client):
    assert set(sitemap_entries(client)) == {
        "http://localhost/",
        "http://localhost/archive",
    }


@pytest.mark.parametrize("posts", [0, 1, 9, 10, 11, 95])
def test_the_sitemaps_of_a_blog_of_any_size_follow_the_protocol(make_app, posts):
    """Files of 10 ids: every visible post once, with its last change, no other."""
    app = make_app(SITEMAP_URLS_PER_FILE=10, SITE_URL="https://blog.example.org")
    rows = add_posts(app, posts, tags=12)
    client = app.test_client()

    entries = sitemap_entries(client, "https://blog.example.org", per_file=10)

    now = utcnow()
    visible = [
        row
        for row in rows
        if visible_at(row.status, row.published_at, now, row.deleted_at)
    ]
    expected = {
        f"https://blog.example.org/{row.kind}s/{row.slug}": rfc3339(
            modified_at(row.updated_at, row.published_at)
        )
        for row in visible
    }
    listed = {
        loc: lastmod
        for loc, lastmod in entries.items()
        if "/posts/" in loc or "/pages/" in loc
    }
    assert listed == expected
    # add_posts gives the post with id n the tag bulk-((n - 1) % 12).
    assert {loc for loc in entries if "/tags/" in loc} == {
        f"https://blog.example.org/tags/bulk-{(row.id - 1) % 12}"
        for row in visible
        if row.kind == POST
    }
    index = client.get("/sitemap.xml").get_data(as_text=True)
    # Ranges of ten ids: one file per ten posts that has a visible one.
    ranges = {(row.id - 1) // 10 + 1 for row in visible}
    assert index.count("/sitemaps/posts-") == len(ranges)


def test_a_sitemap_file_past_the_last_post_is_not_found(make_app):
    app = make_app(SITEMAP_URLS_PER_FILE=10)
    add_posts(app, 15)
    client = app.test_client()
    assert client.get("/sitemaps/posts-2.xml").status_code == 200
    for path in [
        "/sitemaps/posts-3.xml",
        "/sitemaps/posts-0.xml",
        "/sitemaps/posts-x.xml",
        "/sitemaps/posts--1.xml",
        "/sitemaps/tags-2.xml",
        "/sitemaps/other.xml",
        "/sitemaps/posts-99999999999999999999.xml",
        "/sitemaps/tags-99999999999999999999.xml",
    ]:
        assert client.get(path).status_code == 404, path


def test_a_range_of_drafts_only_is_left_out_of_the_index(make_app):
    app = make_app(SITEMAP_URLS_PER_FILE=10)
    rows = add_posts(app, 25)
    with app.app_context():
        session.execute(
            update(Post).where(Post.id.between(11, 20)).values(status=DRAFT)
        )
        session.commit()
    client = app.test_client()

    index = client.get("/sitemap.xml").get_data(as_text=True)
    assert "/sitemaps/posts-1.xml" in index and "/sitemaps/posts-3.xml" in index
    assert "/sitemaps/posts-2.xml" not in index
    assert client.get("/sitemaps/posts-2.xml").status_code == 404
    assert len(rows) == 25


def test_sitemap_addresses_are_escaped_and_match_the_pages_links(client, auth, app):
    auth.login()
    auth.create_post("Research", tags="r&d <lab>, 'quoted'")
    auth.logout()
    with app.app_context():
        # An imported slug can hold what the form would refuse.
        session.execute(update(Post).values(slug="café&co"))
        session.commit()

    raw = client.get("/sitemaps/posts-1.xml").get_data(as_text=True)
    assert "<loc>http://localhost/posts/caf%C3%A9&amp;co</loc>" in raw
    entries = sitemap_entries(client)
    post_page = client.get("/posts/caf%C3%A9&co")
    assert post_page.status_code == 200
    with app.test_request_context():
        for name in ("r&d <lab>", "'quoted'"):
            assert url_for("blog.tag", name=name, _external=True) in entries
        assert url_for("blog.post", slug="café&co", _external=True) in entries


def test_the_lists_and_tags_change_with_their_newest_post(client, auth, app):
    auth.login()
    auth.create_post("First", tags="news, old", published_at="2024-03-05T10:00")
    auth.create_post("Second", tags="news", published_at="2024-04-05T10:00")
    auth.create_post("Old page", kind="page", published_at="2025-01-01T00:00")
    auth.logout()
    with app.app_context():
        second = session.scalars(select(Post).where(Post.slug == "second")).one()
        newest = rfc3339(second.modified_at)

        first = session.scalars(select(Post).where(Post.slug == "first")).one()
        older = rfc3339(first.modified_at)

    entries = sitemap_entries(client)
    assert entries["http://localhost/"] == newest
    assert entries["http://localhost/archive"] == newest
    assert entries["http://localhost/posts/second"] == newest
    assert entries["http://localhost/tags/news"] == newest
    assert entries["http://localhost/tags/old"] == older


def json_ld(html: str) -> dict:
    match = re.search(
        r'<script type="application/ld\+json">(.*?)</script>', html, re.DOTALL
    )
    assert match, "no JSON-LD on the page"
    return json.loads(match.group(1))


def test_robots_txt_points_at_the_sitemap(client, app):
    app.config["SITE_URL"] = "https://blog.example.org"
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    lines = response.get_data(as_text=True).splitlines()
    assert "Sitemap: https://blog.example.org/sitemap.xml" in lines
    assert "Disallow: /admin/" in lines
    assert lines[0] == "User-agent: *"


def test_a_post_page_describes_itself_to_search_engines_and_previews(client, auth):
    auth.login()
    auth.create_post(
        "Tom & Jerry",
        summary="A cat, a mouse & a *chase*.",
        tags="cartoons",
        published_at="2024-03-05T10:00",
    )
    auth.logout()

    html = client.get("/posts/tom-jerry").get_data(as_text=True)
    assert '<link rel="canonical" href="http://localhost/posts/tom-jerry">' in html
    assert '<meta name="description" content="A cat, a mouse &amp; a chase.">' in html
    assert '<meta property="og:type" content="article">' in html
    assert '<meta property="og:site_name" content="homepage">' in html
    assert '<meta property="og:title" content="Tom &amp; Jerry">' in html
    assert '<meta property="og:url" content="http://localhost/posts/tom-jerry">' in html
    assert (
        '<meta property="article:published_time" content="2024-03-05T10:00:00Z">'
    ) in html
    assert '<meta property="article:tag" content="cartoons">' in html
    data = json_ld(html)
    assert data["@context"] == "https://schema.org"
    assert data["@type"] == "BlogPosting"
    assert data["headline"] == "Tom & Jerry"
    assert data["datePublished"] == "2024-03-05T10:00:00Z"
    assert data["author"] == {"@type": "Person", "name": "alice"}
    assert data["mainEntityOfPage"]["@id"] == "http://localhost/posts/tom-jerry"
    assert data["keywords"] == ["cartoons"]


def test_json_ld_cannot_be_broken_out_of(client, auth):
    title = "</script><script>alert(1)</script> <!-- & 'quotes'"
    auth.login()
    auth.create_post(title, slug="evil", body="</script><script>alert(2)</script>")
    auth.logout()

    html = client.get("/posts/evil").get_data(as_text=True)
    assert "<script>alert" not in html
    assert json_ld(html)["headline"] == title


def test_a_long_body_gives_a_short_description(client, auth):
    auth.login()
    auth.create_post("Long", body="word " * 500)
    auth.logout()
    html = client.get("/posts/long").get_data(as_text=True)
    description = re.search(r'<meta name="description" content="([^"]*)">', html)
    assert len(description.group(1)) <= 160
    assert description.group(1).endswith("…")


def test_pages_and_lists_have_canonical_links(client, auth):
    auth.login()
    auth.create_post("About", kind="page")
    auth.create_post("Post", tags="news")
    auth.logout()
    pages = {
        "/pages/about": "http://localhost/pages/about",
        "/": "http://localhost/",
        "/?before=29990101000000000000-1": "http://localhost/?before=29990101000000000000-1",
        "/tags/news": "http://localhost/tags/news",
        "/tags": "http://localhost/tags",
    }
    for path, canonical in pages.items():
        html = client.get(path).get_data(as_text=True)
        assert f'<link rel="canonical" href="{canonical}">' in html, path
    about = client.get("/pages/about").get_data(as_text=True)
    assert '<meta property="og:type" content="website">' in about
    assert '<meta property="og:site_name" content="homepage">' in about


def test_search_results_are_kept_out_of_indexes(client):
    html = client.get("/search?q=anything").get_data(as_text=True)
    assert '<meta name="robots" content="noindex">' in html
