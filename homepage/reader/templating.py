"""Template filters and globals shared by every blueprint: dates, URLs, the menu."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from flask import Flask, current_app, has_request_context, request, url_for
from flask import session as cookie
from markupsafe import Markup
from sqlalchemy import Row
from sqlalchemy.exc import SQLAlchemyError

from ..core import zone
from ..core.models import PAGE
from ..web.links import link
from ..web.memo import Memo
from . import caching
from .queries import Summary, visible_pages


def format_date(value: datetime) -> str:
    """Format a date for readers in the site's time zone, e.g. "5 March 2026"."""
    value = zone.local(value)
    return f"{value.day} {value:%B %Y}"


def rfc3339(value: datetime) -> str:
    """Format a moment for feeds and sitemaps, e.g. "2026-03-05T14:30:00Z"."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def absolute_url(endpoint: str, **values) -> str:
    """Return the full URL of ``endpoint``, on ``SITE_URL`` when it is set."""
    # Feeds, sitemaps and canonical links outlive the request; a configured
    # SITE_URL keeps them on the real address whatever Host header came in.
    site_url = current_app.config.get("SITE_URL")
    if site_url:
        return site_url.rstrip("/") + link(endpoint, **values)
    if not has_request_context():
        return url_for(endpoint, _external=True, **values)
    # What url_for(_external=True) gives, with the path built once per process.
    return request.host_url.rstrip("/") + link(endpoint, **values)


def site_origin() -> str:
    """Return the site's scheme and host, on ``SITE_URL`` when it is set."""
    parts = urlsplit(absolute_url("blog.index"))
    return f"{parts.scheme}://{parts.netloc}"


def site_host() -> str:
    """Return the site's host name, without a port, for tag: URIs."""
    site_url = current_app.config.get("SITE_URL")
    host = urlsplit(site_url or f"//{request.host}").hostname
    return host or "localhost"


def post_endpoint(kind: str) -> str:
    """Return the endpoint that shows a post or a page."""
    return "blog.page" if kind == PAGE else "blog.post"


def post_url(post, external: bool = False) -> str:
    """Return the address of a post or page (anything with kind and slug)."""
    endpoint = post_endpoint(post.kind)
    if external:
        return absolute_url(endpoint, slug=post.slug)
    return link(endpoint, slug=post.slug)


def nav_pages() -> Sequence[Row]:
    """Return the standalone pages linked from the site's navigation."""
    try:
        # Every reader page shows it; the same until the content changes.
        return caching.shared_part("nav_pages", visible_pages)
    except SQLAlchemyError:
        # The error page must render even when the database is what failed.
        current_app.logger.exception("Could not load the navigation's pages")
        return []


FRAGMENTS_KEY = "homepage.fragments"


class Fragments:
    """Rendered post summaries and layout parts, each kept under what it shows.

    A summary is a pure function of its post's row (title, slug, date,
    summary, tags), the address the site is mounted at and this process's
    templates and settings, so the row itself is the key: an edited post has
    another key, and a stale summary is never looked up again.
    """

    def __init__(self, limit: int) -> None:
        self.rendered: Memo[tuple, Any] = Memo(limit)

    def chrome(self) -> Chrome:
        """Return the HTML of the layout's parts, each rendered once per state.

        The head's links, the header and the footer are the same on every
        page for a given address, host and menu; only an author's, which
        carries a CSRF token, are rendered each time.
        """
        if "author_id" in cookie:
            return Chrome(*(_render_part(name, logged_in=True) for name in PARTS))
        key = ("chrome", request.script_root, request.host_url, tuple(nav_pages()))
        parts = self.rendered.get(key)
        if parts is None:
            parts = self.rendered.keep(
                key, Chrome(*(_render_part(name, logged_in=False) for name in PARTS))
            )
        return parts

    def summaries(self, posts: Sequence[Summary]) -> Markup:
        """Return the HTML of ``posts`` in a list, each rendered once per process."""
        root = request.script_root
        rendered = self.rendered
        html = []
        for post in posts:
            key = (root, post)
            part = rendered.get(key)
            if part is None:
                template = current_app.jinja_env.get_template("reader/_summary.html")
                part = rendered.keep(key, Markup(template.render(post=post)))
            html.append(part)
        return Markup("\n").join(html)


class Chrome(NamedTuple):
    """The parts of the layout that every page shows."""

    head: Markup
    header: Markup
    footer: Markup


#: The templates of :class:`Chrome`'s parts, in its order.
PARTS = ("_site_head.html", "_site_header.html", "_site_footer.html")


def _render_part(name: str, *, logged_in: bool) -> Markup:
    """Render the layout's part ``name``; only on a miss of the memo."""
    template = current_app.jinja_env.get_template(name)
    return Markup(
        template.render(
            site_title=current_app.config["SITE_TITLE"], logged_in=logged_in
        )
    )


def summaries(posts: Sequence[Summary]) -> Markup:
    """Return the HTML of ``posts`` as a list shows them."""
    return current_app.extensions[FRAGMENTS_KEY].summaries(posts)


def chrome() -> Chrome:
    """Return the HTML of the parts of the layout that every page shows."""
    return current_app.extensions[FRAGMENTS_KEY].chrome()


def init_app(app: Flask) -> None:
    """Register filters and globals."""
    app.add_template_filter(format_date, "date")
    app.add_template_filter(rfc3339, "rfc3339")
    app.add_template_filter(zone.format_moment, "moment")
    app.add_template_filter(zone.format_short, "short_date")
    app.add_template_global(zone.zone_name)
    app.add_template_global(absolute_url)
    app.add_template_global(post_url)
    app.add_template_global(nav_pages)
    app.add_template_global(summaries)
    app.add_template_global(chrome)
    app.extensions[FRAGMENTS_KEY] = Fragments(app.config["FRAGMENT_CACHE_ENTRIES"])

    @app.context_processor
    def site():
        """Give every template the site's name and the login state."""
        return {
            "site_title": app.config["SITE_TITLE"],
            "site_description": app.config["SITE_DESCRIPTION"],
            "logged_in": "author_id" in cookie,
        }
