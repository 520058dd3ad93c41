"""Atom feeds of the latest posts, for the whole site and for each tag."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Blueprint, abort, current_app, render_template
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from ..core.models import Post, Tag
from ..db import session
from . import caching
from .queries import published
from .templating import absolute_url, post_url, site_host

bp = Blueprint("feeds", __name__)
caching.cache_reader_pages(bp)

ATOM = "application/atom+xml; charset=utf-8"

# Characters XML 1.0 forbids even when escaped; a title typed with one would
# otherwise make the whole feed unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def entry_id(post: Post) -> str:
    """Return the post's permanent Atom id, which survives slug changes."""
    return f"tag:{site_host()},{post.created_at:%Y-%m-%d}:post-{post.id}"


def render_feed(posts: list[Post], **context) -> tuple:
    """Render an Atom document of ``posts`` with its content type."""
    if posts:
        updated = max(post.modified_at for post in posts)
    else:
        # Not "now": the same content must give the same bytes.
        validators = caching.this_request().validators
        updated = validators.last_modified if validators else _EPOCH
    xml = render_template(
        "reader/atom.xml",
        posts=posts,
        updated=updated,
        entry_id=entry_id,
        post_url=post_url,
        **context,
    )
    return _NOT_XML.sub("", xml), {"Content-Type": ATOM}


def latest(*criteria) -> list[Post]:
    """Return the newest visible posts matching ``criteria``, for a feed."""
    return list(
        session.scalars(
            published()
            .where(*criteria)
            .options(joinedload(Post.author), selectinload(Post.tags))
            .limit(current_app.config["FEED_SIZE"])
        )
    )


@bp.get("/feed.atom")
def site():
    """Serve the feed of the latest posts."""
    return render_feed(
        latest(),
        title=current_app.config["SITE_TITLE"],
        subtitle=current_app.config["SITE_DESCRIPTION"],
        feed_id=absolute_url("feeds.site"),
        self_url=absolute_url("feeds.site"),
        html_url=absolute_url("blog.index"),
    )


@bp.get("/tags/<name>/feed.atom")
def tag(name: str):
    """Serve the feed of the latest posts with one tag.

    :raise 404: when no visible post has the tag.
    """
    tag = session.scalars(select(Tag).where(Tag.name == name.lower())).first()
    if tag is None:
        abort(404)
    posts = latest(Post.tags.any(Tag.id == tag.id))
    if not posts:
        abort(404)
    return render_feed(
        posts,
        title=f"{current_app.config['SITE_TITLE']}: {tag.name}",
        subtitle=f"Posts tagged “{tag.name}”",
        feed_id=absolute_url("feeds.tag", name=tag.name),
        self_url=absolute_url("feeds.tag", name=tag.name),
        html_url=absolute_url("blog.tag", name=tag.name),
    )
