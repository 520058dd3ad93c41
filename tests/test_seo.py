"""What search engines and link previews read: sitemap, robots.txt, meta data."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def sitemap_entries(client) -> dict[str, str]:
    """Return the sitemap as {address: last modified}."""
    response = client.get("/sitemap.xml")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/xml; charset=utf-8"
    root = ET.fromstring(response.data)
    assert root.tag == f"{SITEMAP}urlset"
    return {
        url.findtext(f"{SITEMAP}loc"): url.findtext(f"{SITEMAP}lastmod") for url in root
    }


def json_ld(html: str) -> dict:
    match = re.search(
        r'<script type="application/ld\+json">(.*?)</script>', html, re.DOTALL
    )
    assert match, "no JSON-LD on the page"
    return json.loads(match.group(1))


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
