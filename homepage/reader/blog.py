"""Reader pages: the index, posts and pages, tags and the archive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import groupby

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from ..core import counts
from ..core.models import PAGE, POST, Post, Tag
from ..db import session
from . import caching, queries, wordpress
from .templating import post_url

bp = Blueprint("blog", __name__)


@dataclass(frozen=True)
class TagCount:
    """A tag's name and how many posts readers see with it."""

    name: str
    count: int


caching.cache_reader_pages(bp)


def page_number() -> int:
    """Return the ``page`` query argument; abort 404 when it is not a number."""
    raw = request.args.get("page", "1")
    if not raw.isdigit() or len(raw) > 9:
        abort(404)
    return int(raw)


def listing_page(endpoint: str, timeline: queries.Timeline | None = None, **values):
    """Return the stretch of ``timeline`` (all posts) the request asks for.

    ``?before=`` and ``?after=`` name a place in the list; the old numbered
    ``?page=N`` addresses lead there with a permanent redirect, returned
    instead.
    """
    size = current_app.config["POSTS_PER_PAGE"]
    if "page" in request.args:
        cursor = queries.cursor_for_page(page_number(), size, timeline)
        before = str(cursor) if cursor else None
        return redirect(url_for(endpoint, before=before, **values), 301)
    listing = queries.stretch(
        queries.Cursor.parse(request.args.get("before")),
        queries.Cursor.parse(request.args.get("after")),
        size,
        queries.SUMMARY_COLUMNS,
        timeline=timeline,
    )
    listing.items = queries.summaries(listing.items)
    return listing


@bp.get("/")
def index():
    """Show the newest published posts, or an older stretch of them."""
    if wordpress.asks_by_id():
        return wordpress.by_id()
    listing = listing_page("blog.index")
    if not isinstance(listing, queries.Stretch):
        return listing
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
    tag = queries.find_tag(name.lower())
    if tag is None:
        abort(404)
    listing = listing_page("blog.tag", queries.tagged(tag.id), name=tag.name)
    if not isinstance(listing, queries.Stretch):
        return listing
    if not listing.items:
        abort(404)
    count = counts.visible_tag_count(tag.id, queries.reader_now())
    return render_template("reader/tag.html", tag=tag, listing=listing, count=count)


@bp.get("/tags")
def tags():
    """List every tag that has posts, with how many."""
    visible = counts.visible_counts(counts.TAG, queries.reader_now())
    # Every tag's name (far fewer than posts), the counts from post_counts.
    names = session.execute(select(Tag.id, Tag.name).order_by(Tag.name)).all()
    rows = [
        TagCount(name, visible[str(tag_id)])
        for tag_id, name in names
        if str(tag_id) in visible
    ]
    return render_template("reader/tags.html", tags=rows)


#: The most post titles an archive page lists. A blog this small gets every
#: title on /archive; a bigger one gets its months, each its own page, and a
#: month with more posts than this is split like the index.
ARCHIVE_TITLES = 100
#: What an archive page shows of each post.
ARCHIVE_COLUMNS = (
    queries.posts.id,
    queries.posts.title,
    queries.posts.slug,
    queries.posts.published_at,
)


def _months(year: int | None = None) -> list[tuple[date, int]]:
    """Return the months readers see posts in, newest first, with how many."""
    visible = counts.visible_counts(counts.MONTH, queries.reader_now())
    months = sorted(
        ((date.fromisoformat(f"{key}-01"), number) for key, number in visible.items()),
        reverse=True,
    )
    return [(month, n) for month, n in months if year is None or month.year == year]


def _render_archive(months: list[tuple[date, int]], period: str = "", *criteria) -> str:
    """Render months grouped by year, with every title when there are few.

    :param criteria: what the posts of ``months`` have in common (a year).
    """
    total = sum(number for _, number in months)
    if not months and period:
        abort(404)
    entries: dict[date, list] = {}
    if months and total <= ARCHIVE_TITLES:
        rows = session.execute(
            select(Post.title, Post.slug, Post.published_at)
            .where(*queries.visible(), *criteria)
            .order_by(Post.published_at.desc(), Post.id.desc())
        ).all()
        for row in rows:
            entries.setdefault(row.published_at.date().replace(day=1), []).append(row)
    years = [
        (year, [(month, n, entries.get(month)) for month, n in year_months])
        for year, year_months in groupby(months, key=lambda item: item[0].year)
    ]
    return render_template(
        "reader/archive.html", years=years, total=total, period=period
    )


def _month_start(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def _month_end(month: date) -> datetime:
    if month.month == 12:
        return datetime(month.year + 1, 1, 1, tzinfo=UTC)
    return datetime(month.year, month.month + 1, 1, tzinfo=UTC)


@bp.get("/archive")
def archive():
    """List the months with posts, by year; every title when there are few."""
    return _render_archive(_months())


@bp.get("/archive/<int:year>")
def archive_year(year: int):
    """List the months of one year with posts; every title when there are few.

    :raise 404: for a year without posts.
    """
    if not 1 <= year < 9999:
        abort(404)
    start = datetime(year, 1, 1, tzinfo=UTC)
    return _render_archive(
        _months(year),
        str(year),
        Post.published_at >= start,
        Post.published_at < start.replace(year=year + 1),
    )


@bp.get("/archive/<int:year>/<int:month>")
def archive_month(year: int, month: int):
    """List the posts of one month, a hundred titles at a time.

    :raise 404: for a month that does not exist or has no posts.
    """
    if not (1 <= year < 9999 and 1 <= month <= 12):
        abort(404)
    first = date(year, month, 1)
    listing = queries.stretch(
        queries.Cursor.parse(request.args.get("before")),
        queries.Cursor.parse(request.args.get("after")),
        ARCHIVE_TITLES,
        ARCHIVE_COLUMNS,
        since=_month_start(first),
        until=_month_end(first),
    )
    if not listing.items:
        abort(404)
    number = dict(_months(year)).get(first, len(listing.items))
    return render_template(
        "reader/archive_month.html",
        month=first,
        count=number,
        listing=listing,
        period=f"{first:%B} {year}",
    )
