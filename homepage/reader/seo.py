"""What search engines and link previews read: sitemaps, robots.txt, JSON-LD."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, abort, current_app, g, url_for

from ..core import images, markdown
from ..core import sitemap as sitemap_queries
from ..core.models import KINDS, POST, Post
from . import caching
from .queries import reader_now
from .templating import absolute_url, post_endpoint, post_url, rfc3339, site_origin

bp = Blueprint("seo", __name__)
caching.cache_reader_pages(bp)


@bp.app_template_global()
def description(post: Post, limit: int = 160) -> str:
    """Return a plain-text description of ``post`` for meta tags."""
    # A post's page shows it three times (meta, OpenGraph, JSON-LD); within
    # one request a post id names one version of the post.
    known: dict[tuple[int, int], str] = g.setdefault("descriptions", {})
    found = known.get((post.id, limit))
    if found is None:
        found = known[post.id, limit] = _shortened(
            markdown.plain_text(post.summary_html or post.body_html), limit
        )
    return found


def _shortened(text: str, limit: int) -> str:
    """Return ``text`` cut at a word to at most ``limit`` characters."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",.;:") + "…"


@bp.app_template_global()
def share_image(post: Post) -> dict | None:
    """Return the absolute URL, size and description of ``post``'s share image."""
    image = images.share_image(post)
    if image is None:
        return None
    return {
        "url": f"{site_origin()}{images.MEDIA_PATH}{image.name}",
        "type": image.content_type,
        "width": image.width,
        "height": image.height,
        "alt": image.alt,
    }


@bp.app_template_global()
def blog_posting(post: Post) -> dict:
    """Describe ``post`` as schema.org BlogPosting data for JSON-LD."""
    url = post_url(post, external=True)
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "BlogPosting" if post.kind == POST else "WebPage",
        "headline": post.title,
        "description": description(post),
        "url": url,
        "mainEntityOfPage": {"@type": "WebPage", "@id": url},
        # Readers see published posts only, so display_date is published_at.
        "datePublished": rfc3339(post.display_date),
        "dateModified": rfc3339(post.modified_at),
        "author": {"@type": "Person", "name": post.author.username},
        "publisher": {
            "@type": "Organization",
            "name": current_app.config["SITE_TITLE"],
            "url": absolute_url("blog.index"),
        },
    }
    if post.tags:
        data["keywords"] = [tag.name for tag in post.tags]
    return data


#: The sitemap protocol's namespace (https://www.sitemaps.org/protocol.html).
NAMESPACE = "http://www.sitemaps.org/schemas/sitemap/0.9"
XML = {"Content-Type": "application/xml; charset=utf-8"}
#: Beyond any blog's ids; a range past the largest id (core.models.MAX_ID)
#: holds nothing, and a larger number is a 404, not an overflow.
MAX_FILE_NUMBER = 10**9
_PROLOG = '<?xml version="1.0" encoding="utf-8"?>\n'
#: What url_for's quoting leaves as it is: a slug made of these needs none.
_PLAIN = re.compile(r"[A-Za-z0-9._~-]+")


def _escape(text: str) -> str:
    """Escape ``text`` for an XML element's content."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("'", "&apos;")
        .replace('"', "&quot;")
    )


def urlset(urls: Iterable[tuple[str, str | None]]) -> str:
    """Return a sitemap file of ``urls``: pairs of an escaped address and lastmod."""
    # Written out here rather than by a template: a file of 10,000 addresses
    # spent most of its time in the template's loop and escaping.
    entries = [
        f"<url><loc>{loc}</loc><lastmod>{lastmod}</lastmod></url>\n"
        if lastmod
        else f"<url><loc>{loc}</loc></url>\n"
        for loc, lastmod in urls
    ]
    return f'{_PROLOG}<urlset xmlns="{NAMESPACE}">\n{"".join(entries)}</urlset>\n'


def sitemapindex(files: Iterable[str]) -> str:
    """Return a sitemap index naming the sitemap files at ``files``."""
    entries = "".join(
        f"<sitemap><loc>{_escape(loc)}</loc></sitemap>\n" for loc in files
    )
    return f'{_PROLOG}<sitemapindex xmlns="{NAMESPACE}">\n{entries}</sitemapindex>\n'


@bp.get("/sitemap.xml")
def sitemap():
    """List the sitemap files: posts and tags by id range, then the site's lists.

    Only ranges that hold something readers see are named, so no file is
    empty; the ranges are probed one index seek each, never read whole.
    """
    size = current_app.config["SITEMAP_URLS_PER_FILE"]
    now = reader_now()
    files = [
        absolute_url("seo.sitemap_posts", number=number)
        for number in sitemap_queries.post_ranges(size, now)
    ]
    files += [
        absolute_url("seo.sitemap_tags", number=number)
        for number in sitemap_queries.tag_ranges(size, now)
    ]
    files.append(absolute_url("seo.sitemap_lists"))
    return sitemapindex(files), XML


@bp.get("/sitemaps/lists.xml")
def sitemap_lists():
    """List the pages that list posts, with when the newest post changed."""
    now = reader_now()
    lastmod = sitemap_queries.newest_lastmod(now)
    lists = [absolute_url(endpoint) for endpoint in ("blog.index", "blog.archive")]
    if sitemap_queries.tag_ranges(current_app.config["SITEMAP_URLS_PER_FILE"], now):
        lists.append(absolute_url("blog.tags"))
    return urlset((_escape(url), lastmod) for url in lists), XML


@bp.get(f"/sitemaps/posts-<int(min=1, max={MAX_FILE_NUMBER}):number>.xml")
def sitemap_posts(number: int):
    """List the visible posts and pages of one id range, with when each changed.

    :raise 404: when the range holds none.
    """
    size = current_app.config["SITEMAP_URLS_PER_FILE"]
    rows = sitemap_queries.posts_in_range(number, size, reader_now())
    if not rows:
        abort(404)
    locs = {kind: _loc_maker(post_endpoint(kind), "slug") for kind in KINDS}
    return urlset((locs[kind](slug), lastmod) for slug, kind, lastmod in rows), XML


@bp.get(f"/sitemaps/tags-<int(min=1, max={MAX_FILE_NUMBER}):number>.xml")
def sitemap_tags(number: int):
    """List the tag pages of one id range, with when each one's newest post changed.

    :raise 404: when the range holds no tag with a visible post.
    """
    size = current_app.config["SITEMAP_URLS_PER_FILE"]
    rows = sitemap_queries.tags_in_range(number, size, reader_now())
    if not rows:
        abort(404)
    loc = _loc_maker("blog.tag", "name")
    return urlset((loc(name), lastmod) for name, lastmod in rows), XML


def _loc_maker(endpoint: str, argument: str) -> Callable[[str], str]:
    """Return a function giving the escaped absolute URL of ``endpoint`` for a value.

    The rule must end with that argument, as ``/posts/<slug>`` does. url_for
    and escaping for each of 10,000 posts would be most of a sitemap file's
    time; the addresses differ only at their end, and a plain slug needs
    neither quoting nor escaping.
    """
    prefix = absolute_url(endpoint, **{argument: "x"}).removesuffix("x")
    escaped_prefix = _escape(prefix)
    # The converter url_for itself uses, so the addresses come out the same.
    converter = current_app.url_map.converters["default"](current_app.url_map)

    def loc(value: str) -> str:
        if _PLAIN.fullmatch(value):
            return escaped_prefix + value
        return _escape(prefix + converter.to_url(value))

    return loc


@bp.get("/robots.txt")
def robots():
    """Let crawlers in, keep them out of the admin and search, name the sitemap."""
    lines = [
        "User-agent: *",
        f"Disallow: {url_for('admin.posts.index')}",
        # Search result pages are endless combinations of the same posts.
        f"Disallow: {url_for('search.results')}",
        f"Sitemap: {absolute_url('seo.sitemap')}",
        "",
    ]
    return "\n".join(lines), {"Content-Type": "text/plain; charset=utf-8"}
