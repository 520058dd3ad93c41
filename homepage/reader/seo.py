"""What search engines and link previews read: the sitemap, robots.txt, JSON-LD."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, url_for
from sqlalchemy import func, select

from ..core import markdown
from ..core.models import PAGE, POST, Post, Tag, modified_at, post_tags
from ..db import session
from . import caching
from .queries import visible
from .templating import absolute_url, post_url, rfc3339

bp = Blueprint("seo", __name__)
caching.cache_reader_pages(bp)


@bp.app_template_global()
def description(post: Post, limit: int = 160) -> str:
    """Return a plain-text description of ``post`` for meta tags."""
    text = markdown.plain_text(post.summary_html or post.body_html)
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",.;:") + "…"


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


@bp.get("/sitemap.xml")
def sitemap():
    """List every page readers can reach, with when it last changed."""
    entries = session.execute(
        select(Post.slug, Post.kind, Post.updated_at, Post.published_at)
        .where(*visible(None))
        .order_by(Post.published_at.desc(), Post.id.desc())
    ).all()
    tag_dates = session.execute(
        select(Tag.name, func.max(Post.published_at), func.max(Post.updated_at))
        .join(post_tags, post_tags.c.tag_id == Tag.id)
        .join(Post, Post.id == post_tags.c.post_id)
        .where(*visible())
        .group_by(Tag.id)
        .order_by(Tag.name)
    ).all()
    urls = [
        (
            post_url(entry, external=True),
            modified_at(entry.updated_at, entry.published_at),
        )
        for entry in entries
    ]
    urls += [
        (absolute_url("blog.tag", name=name), modified_at(updated, published))
        for name, published, updated in tag_dates
    ]
    posts_only = [
        modified_at(entry.updated_at, entry.published_at)
        for entry in entries
        if entry.kind != PAGE
    ]
    newest = max(posts_only, default=None)
    lists = [absolute_url(endpoint) for endpoint in ("blog.index", "blog.archive")]
    if tag_dates:
        lists.append(absolute_url("blog.tags"))
    xml = render_template("reader/sitemap.xml", lists=lists, newest=newest, urls=urls)
    return xml, {"Content-Type": "application/xml; charset=utf-8"}


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
