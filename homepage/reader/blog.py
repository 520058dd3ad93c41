"""Reader pages: the index, posts and pages, tags and the archive."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import groupby

from flask import Blueprint, abort, redirect, render_template, request
from sqlalchemy import func, select

from ..core.models import PAGE, POST, Post, Tag, post_tags
from ..db import session
from . import caching, queries
from .templating import post_url

bp = Blueprint("blog", __name__)
caching.cache_reader_pages(bp)


def page_number() -> int:
    """Return the ``page`` query argument; abort 404 when it is not a number."""
    raw = request.args.get("page", "1")
    if not raw.isdigit() or len(raw) > 9:
        abort(404)
    return int(raw)


@bp.get("/")
def index():
    """Show the newest published posts."""
    listing = queries.paginate(
        queries.published(), queries.count_published(), page_number()
    )
    return render_template("reader/index.html", listing=listing)


def show(slug: str, kind: str):
    """Render the post or page at ``slug``, or send the reader to where it is.

    A slug that belonged to a post before the author changed it answers with
    a permanent redirect, and so does a post asked for as a page or the
    other way round.

    :raise 404: when no visible post has or had the slug.
    """
    post = queries.find_visible(slug)
    if post is None:
        moved = queries.redirect_target(slug)
        if moved is None:
            abort(404)
        return redirect(post_url(moved), 301)
    if post.kind != kind:
        return redirect(post_url(post), 301)
    if kind == PAGE:
        return render_template("reader/page.html", post=post)
    older, newer = queries.neighbours(post)
    return render_template(
        "reader/post.html",
        post=post,
        older=older,
        newer=newer,
        minutes=queries.reading_minutes(post),
    )


@bp.get("/posts/<slug>")
def post(slug: str):
    """Show one published post."""
    return show(slug, POST)


@bp.get("/pages/<slug>")
def page(slug: str):
    """Show one standalone page, such as About."""
    return show(slug, PAGE)


@bp.get("/tags/<name>")
def tag(name: str):
    """Show the published posts with one tag."""
    tag = session.scalars(select(Tag).where(Tag.name == name.lower())).first()
    if tag is None:
        abort(404)
    tagged = Post.tags.any(Tag.id == tag.id)
    listing = queries.paginate(
        queries.published().where(tagged),
        queries.count_published(tagged),
        page_number(),
    )
    if not listing.total:
        abort(404)
    return render_template("reader/tag.html", tag=tag, listing=listing)


@bp.get("/tags")
def tags():
    """List every tag that has posts, with how many."""
    count = func.count(Post.id).label("count")
    rows = session.execute(
        select(Tag.name, count)
        .join(post_tags, post_tags.c.tag_id == Tag.id)
        .join(Post, Post.id == post_tags.c.post_id)
        .where(*queries.visible())
        .group_by(Tag.id)
        .order_by(Tag.name)
    ).all()
    return render_template("reader/tags.html", tags=rows)


def _archive(start: datetime | None = None, end: datetime | None = None):
    """Return the visible posts in [start, end), grouped by year and month."""
    query = (
        select(Post.title, Post.slug, Post.published_at)
        .where(*queries.visible())
        .order_by(Post.published_at.desc(), Post.id.desc())
    )
    if start is not None:
        query = query.where(Post.published_at >= start, Post.published_at < end)
    rows = session.execute(query).all()
    months = [
        (month, list(entries))
        for month, entries in groupby(
            rows, key=lambda row: row.published_at.replace(day=1).date()
        )
    ]
    years = [
        (year, list(year_months))
        for year, year_months in groupby(months, key=lambda item: item[0].year)
    ]
    return years, len(rows)


@bp.get("/archive")
def archive():
    """List every published post, grouped by year and month."""
    years, total = _archive()
    return render_template("reader/archive.html", years=years, total=total)


@bp.get("/archive/<int:year>")
def archive_year(year: int):
    """List the posts of one year.

    :raise 404: for a year without posts.
    """
    if not 1 <= year < 9999:
        abort(404)
    start = datetime(year, 1, 1, tzinfo=UTC)
    years, total = _archive(start, start.replace(year=year + 1))
    if not total:
        abort(404)
    return render_template(
        "reader/archive.html", years=years, total=total, period=str(year)
    )


@bp.get("/archive/<int:year>/<int:month>")
def archive_month(year: int, month: int):
    """List the posts of one month.

    :raise 404: for a month that does not exist or has no posts.
    """
    if not (1 <= year < 9999 and 1 <= month <= 12):
        abort(404)
    start = datetime(year, month, 1, tzinfo=UTC)
    end = (
        start.replace(year=year + 1, month=1)
        if month == 12
        else start.replace(month=month + 1)
    )
    years, total = _archive(start, end)
    if not total:
        abort(404)
    return render_template(
        "reader/archive.html",
        years=years,
        total=total,
        period=f"{start:%B} {year}",
    )
