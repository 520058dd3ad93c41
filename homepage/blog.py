"""Reader pages: the index, posts, tags and the archive."""

from __future__ import annotations

from itertools import groupby

from flask import Blueprint, abort, render_template, request
from sqlalchemy import select

from . import posts
from .db import session
from .models import PUBLISHED, Post, Tag

bp = Blueprint("blog", __name__)


def page_number() -> int:
    """Return the ``page`` query argument; abort 404 when it is not a number."""
    raw = request.args.get("page", "1")
    if not raw.isdigit() or len(raw) > 9:
        abort(404)
    return int(raw)


@bp.get("/")
def index():
    """Show the newest published posts."""
    page = posts.paginate(posts.published(), posts.count_published(), page_number())
    return render_template("blog/index.html", page=page)


@bp.get("/posts/<slug>")
def post(slug: str):
    """Show one published post."""
    return render_template("blog/post.html", post=posts.get_published_post(slug))


@bp.get("/tags/<name>")
def tag(name: str):
    """Show the published posts with one tag."""
    tag = session.scalars(select(Tag).where(Tag.name == name.lower())).first()
    if tag is None:
        abort(404)
    tagged = Post.tags.any(Tag.id == tag.id)
    page = posts.paginate(
        posts.published().where(tagged),
        posts.count_published(tagged),
        page_number(),
    )
    if not page.total:
        abort(404)
    return render_template("blog/tag.html", tag=tag, page=page)


@bp.get("/archive")
def archive():
    """List every published post, grouped by year and month."""
    rows = session.execute(
        select(Post.title, Post.slug, Post.published_at)
        .where(Post.status == PUBLISHED)
        .order_by(Post.published_at.desc(), Post.id.desc())
    ).all()
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
    return render_template("blog/archive.html", years=years, total=len(rows))
