"""What the sitemaps list: visible posts and tags, in files cut by id ranges.

A sitemap file holds the posts (or the tags) whose ids fall in one range of
``size`` ids, so that each file is one indexed range query however large the
blog grows, and its address stays the same as posts are added.
"""

from __future__ import annotations

from datetime import datetime
from math import ceil

from sqlalchemy import String, cast, func, select

from ..db import session
from .models import MAX_ID, POST, Post, Tag, post_tags, visible_criteria
from .sql import greatest


def _bounds(number: int, size: int) -> tuple[int, int]:
    """Return the first and last id of the ``number``-th range of ``size`` ids."""
    first, last = (number - 1) * size + 1, number * size
    if first > MAX_ID:
        return 1, 0  # no id at all, rather than a number the column cannot hold
    return first, min(last, MAX_ID)


def post_ranges(size: int, now: datetime) -> list[int]:
    """Return the numbers of the id ranges that hold a post readers see at ``now``."""
    last_id = session.scalar(select(func.max(Post.id))) or 0
    return [
        number
        for number in range(1, ceil(last_id / size) + 1)
        if session.scalar(
            select(Post.id)
            .where(Post.id.between(*_bounds(number, size)), *visible_criteria(now))
            .limit(1)
        )
    ]


def _modified_at():
    """Return :func:`models.modified_at` of a post in SQL, as stored text."""
    # Text in both databases ("2026-03-05 14:30:00.000000" in SQLite, the
    # same without trailing zeros in PostgreSQL), for _w3c to slice.
    return cast(
        greatest(Post.updated_at, func.coalesce(Post.published_at, Post.updated_at)),
        String,
    )


def _w3c(stored: str) -> str:
    """Write a stored UTC moment ("2026-03-05 14:30:00.000000") as a W3C datetime."""
    # Slicing the stored text costs a fraction of turning it into a datetime
    # and formatting that, which was most of a sitemap file's time (SQLite's
    # strftime was slower still).
    return f"{stored[:10]}T{stored[11:19]}Z"


def posts_in_range(number: int, size: int, now: datetime) -> list[tuple[str, str, str]]:
    """Return the slug, kind and lastmod of each visible post and page of a range."""
    rows = session.execute(
        select(Post.slug, Post.kind, _modified_at())
        .where(Post.id.between(*_bounds(number, size)), *visible_criteria(now))
        .order_by(Post.id)
    )
    return [(slug, kind, _w3c(stored)) for slug, kind, stored in rows]


def _newest_post_of_tag(now: datetime):
    """Return a query of the id of a tag's newest visible post, for a tag row."""
    # post_tags.listed_at (kept by core/counts.py) holds each tag's listed
    # posts in date order in an index of its own: one seek per tag, where
    # walking the posts newest first would cross the whole blog for a rare tag.
    return (
        select(post_tags.c.post_id)
        .where(post_tags.c.tag_id == Tag.id, post_tags.c.listed_at <= now)
        .order_by(post_tags.c.listed_at.desc(), post_tags.c.post_id.desc())
        .limit(1)
        .correlate(Tag)
        .scalar_subquery()
    )


def tag_ranges(size: int, now: datetime) -> list[int]:
    """Return the numbers of the id ranges that hold a tag with a visible post."""
    last_id = session.scalar(select(func.max(Tag.id))) or 0
    return [
        number
        for number in range(1, ceil(last_id / size) + 1)
        if session.scalar(
            select(Tag.id)
            .where(
                Tag.id.between(*_bounds(number, size)),
                _newest_post_of_tag(now).is_not(None),
            )
            .limit(1)
        )
    ]


def tags_in_range(number: int, size: int, now: datetime) -> list[tuple[str, str]]:
    """Return the name and lastmod of each tag of a range with a visible post.

    A tag's page changes when a post is published in it, or its newest post
    is edited; taking the newest post's dates costs one step down an index
    per tag, where the latest change among all its posts would read them all.
    """
    newest = (
        select(Tag.name, _newest_post_of_tag(now).label("post_id"))
        .where(Tag.id.between(*_bounds(number, size)))
        # Materialized, so the newest post is looked up once per tag rather
        # than once per pair of tag and post in the join below.
        .cte("newest")
        .prefix_with("MATERIALIZED")
    )
    rows = session.execute(
        select(newest.c.name, _modified_at())
        .join(Post, Post.id == newest.c.post_id)
        .order_by(newest.c.name)
    )
    return [(name, _w3c(stored)) for name, stored in rows]


def newest_lastmod(now: datetime) -> str | None:
    """Return the lastmod of the newest visible post, or None when there is none."""
    stored = session.scalar(
        select(_modified_at())
        .where(Post.kind == POST, *visible_criteria(now))
        .order_by(Post.published_at.desc(), Post.id.desc())
        .limit(1)
    )
    return None if stored is None else _w3c(stored)
