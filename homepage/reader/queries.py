"""What readers see: the queries behind the reader's pages, and their pagination."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from math import ceil

from flask import abort, current_app, g, has_app_context
from sqlalchemy import Row, and_, func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from ..core import markdown
from ..core.models import (
    PAGE,
    POST,
    Post,
    SlugRedirect,
    utcnow,
    visible_at,
    visible_criteria,
)
from ..db import session


@dataclass
class Listing:
    """One stretch of a list of posts split over numbered pages (?page=N)."""

    items: list
    number: int
    total: int
    per_page: int

    @property
    def last_number(self) -> int:
        """Return the number of the list's last page."""
        return max(1, ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.last_number


def reader_now() -> datetime:
    """Return the moment publish dates are compared with, fixed for the request."""
    # One moment per request, so that a post coming due halfway through a
    # page cannot appear in one part of it and not in another.
    if not has_app_context():
        return utcnow()
    if "reader_now" not in g:
        g.reader_now = utcnow()
    return g.reader_now


def visible(kind: str | None = POST) -> tuple:
    """Return the criteria for posts (or pages, or with None both) readers see now."""
    criteria = visible_criteria(reader_now())
    return criteria if kind is None else (Post.kind == kind, *criteria)


def published():
    """Return a query of the posts readers can see, newest first."""
    return (
        select(Post)
        .where(*visible())
        .order_by(Post.published_at.desc(), Post.id.desc())
    )


def paginate(query, count_query, number: int) -> Listing:
    """Load one page of ``query``; abort 404 when the page does not exist."""
    per_page = current_app.config["POSTS_PER_PAGE"]
    total = session.execute(count_query).scalar_one()
    listing = Listing([], number, total, per_page)
    if number < 1 or number > listing.last_number:
        abort(404)
    listing.items = list(
        session.scalars(
            query.options(selectinload(Post.tags))
            .limit(per_page)
            .offset((number - 1) * per_page)
        )
    )
    return listing


def count_published(*criteria):
    """Return a COUNT query of visible posts matching ``criteria``."""
    return select(func.count(Post.id)).where(*visible(), *criteria)


def find_visible(slug: str) -> Post | None:
    """Return the post or page readers can see at ``slug``, or None."""
    return session.scalars(
        select(Post)
        .where(Post.slug == slug, *visible(None))
        .options(joinedload(Post.author), selectinload(Post.tags))
    ).first()


def redirect_target(slug: str) -> Post | None:
    """Return the visible post that used to have ``slug``, or None."""
    post_id = session.scalar(
        select(SlugRedirect.post_id).where(SlugRedirect.slug == slug)
    )
    if post_id is None:
        return None
    post = session.get(Post, post_id)
    if post is None or not is_visible(post):
        return None
    return post


def is_visible(post: Post) -> bool:
    """Tell whether readers can see ``post`` now."""
    return visible_at(post.status, post.published_at, reader_now())


def neighbours(post: Post) -> tuple:
    """Return the title and slug of the visible posts before and after ``post``."""
    same_date = Post.published_at == post.published_at
    older = session.execute(
        select(Post.title, Post.slug)
        .where(
            *visible(),
            or_(
                Post.published_at < post.published_at,
                and_(same_date, Post.id < post.id),
            ),
        )
        .order_by(Post.published_at.desc(), Post.id.desc())
        .limit(1)
    ).first()
    newer = session.execute(
        select(Post.title, Post.slug)
        .where(
            *visible(),
            or_(
                Post.published_at > post.published_at,
                and_(same_date, Post.id > post.id),
            ),
        )
        .order_by(Post.published_at, Post.id)
        .limit(1)
    ).first()
    return older, newer


def visible_pages() -> Sequence[Row]:
    """Return the title and slug of every page readers can see, for the menu."""
    return session.execute(
        select(Post.title, Post.slug)
        .where(*visible(PAGE))
        .order_by(Post.published_at, Post.id)
    ).all()


def reading_minutes(post: Post) -> int:
    """Estimate how many minutes reading the post takes, at 230 words a minute."""
    words = len(markdown.plain_text(post.body_html).split())
    return max(1, round(words / 230))
