"""What readers see: the queries behind the reader's pages, and their pagination."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from flask import abort, g, has_app_context
from sqlalchemy import Row, and_, not_, select
from sqlalchemy.orm import joinedload, selectinload

from ..core import markdown
from ..core.models import (
    PAGE,
    POST,
    Post,
    SlugRedirect,
    Tag,
    post_tags,
    utcnow,
    visible_at,
    visible_criteria,
)
from ..db import session


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


#: How a cursor names a place in a list: the publish date to the microsecond
#: and the id, which together order posts without ties ("20260305143000000000-42").
_CURSOR = re.compile(r"(\d{20})-([1-9]\d{0,17})")
_CURSOR_DATE = "%Y%m%d%H%M%S%f"


@dataclass(frozen=True)
class Cursor:
    """A place in a list of posts ordered newest first: just after one post."""

    published_at: datetime
    id: int

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        """Read a cursor from a query argument; abort 404 when it is not one."""
        if text is None:
            return None
        match = _CURSOR.fullmatch(text)
        if match is None:
            abort(404)
        try:
            date = datetime.strptime(match[1], _CURSOR_DATE).replace(tzinfo=UTC)
        except ValueError:
            abort(404)
        return cls(date, int(match[2]))

    @classmethod
    def of(cls, row) -> Cursor:
        """Return the cursor at ``row`` (a post, or a row with its date and id)."""
        return cls(row.published_at, row.id)

    def __str__(self) -> str:
        return f"{self.published_at:{_CURSOR_DATE}}-{self.id}"

    def older(self, now: datetime, timeline: Timeline | None = None) -> tuple:
        """Return the criteria of the posts after this place readers see at ``now``."""
        line = timeline or POSTS
        # One upper bound on the date, the lower of the two, so that the
        # timeline's index starts its range right here; given "before now" and
        # "before here" apart, SQLite may start from now and step over every
        # post in between. The rare posts of the very same moment are told
        # apart by id.
        return (
            *line.visible(min(now, self.published_at)),
            not_(and_(line.date == self.published_at, line.id >= self.id)),
        )

    def newer(self, now: datetime, timeline: Timeline | None = None) -> tuple:
        """Return the criteria of the posts before this place readers see at ``now``."""
        line = timeline or POSTS
        return (
            *line.visible(now),
            line.date >= self.published_at,
            not_(and_(line.date == self.published_at, line.id <= self.id)),
        )


@dataclass(frozen=True)
class Timeline:
    """A list of visible posts, newest first, read along one index.

    ``date`` and ``id`` order it; ``visible(moment)`` gives its criteria for
    what readers see at that moment, with the date's only upper bound.
    """

    date: Any
    id: Any
    visible: Callable[[datetime], tuple]
    joins: tuple = ()


#: Every visible post, along the index on (kind, status, published_at).
POSTS = Timeline(
    Post.published_at,
    Post.id,
    lambda moment: (Post.kind == POST, *visible_criteria(moment)),
)


def tagged(tag_id: int) -> Timeline:
    """Return the visible posts with a tag, along post_tags' (tag, listed_at) index.

    Walking all posts newest first and keeping the tagged ones would cost a
    rare tag's page the whole blog; ``post_tags.listed_at`` (the post's
    publish date while it is listed, kept by core/counts.py) orders each
    tag's posts in their own index.
    """
    return Timeline(
        post_tags.c.listed_at,
        post_tags.c.post_id,
        lambda moment: (post_tags.c.tag_id == tag_id, post_tags.c.listed_at <= moment),
        joins=((post_tags, post_tags.c.post_id == Post.id),),
    )


@dataclass
class Stretch:
    """A run of posts from a list ordered newest first, with the ways on.

    Deep in a list, the next posts are found from where the run ends (keyset
    pagination), never by skipping the ones before: every stretch costs the
    same whatever the blog's size, and its address stays the same as posts are
    added.
    """

    items: list
    #: Where the older posts start, if there are any.
    older: Cursor | None = None
    #: Where the newer posts end, if this is not the start of the list; None
    #: there, and "" when the newer posts are the list's first stretch.
    newer: Cursor | str | None = None
    #: The query arguments that name this stretch, for its canonical address.
    address: dict[str, str] = field(default_factory=dict)


def stretch(
    criteria: tuple,
    before: Cursor | None,
    after: Cursor | None,
    size: int,
    *,
    until: datetime | None = None,
    timeline: Timeline | None = None,
    columns: tuple = (),
    options: tuple = (),
) -> Stretch:
    """Load ``size`` visible posts of ``timeline`` (all posts) around a cursor.

    ``before`` gives the posts older than it, ``after`` the ones newer than
    it; neither gives the newest. Each costs an index range scan of ``size``
    rows, plus one row to tell whether more lie beyond. ``until`` is an end
    date (exclusive) that the posts must precede, such as a month's end. With
    ``columns`` (which must include the date and id) the items are rows of
    them, not posts: lists need a few columns, and the ORM's objects cost
    more than the rest of the page.

    :raise 404: when the stretch is empty, unless it is the start of the list.
    """
    line = timeline or POSTS
    query = select(*(columns or (Post,))).where(*criteria).options(*options)
    for table, on in line.joins:
        query = query.join(table, on)
    load = session.execute if columns else session.scalars
    now = reader_now()
    if until is not None:
        # Folded into the one moment of the visibility rule (dates are
        # stored to the microsecond), for the reason Cursor.older gives.
        now = min(now, until - timedelta(microseconds=1))
    newest_first = (line.date.desc(), line.id.desc())
    oldest_first = (line.date, line.id)
    if after is not None:
        rows = list(
            load(
                query.where(*after.newer(now, line))
                .order_by(*oldest_first)
                .limit(size + 1)
            )
        )
        items = rows[:size][::-1]
        if not items:
            abort(404)
        older = _any(query.where(*Cursor.of(items[-1]).older(now, line)))
        return Stretch(
            items,
            older=Cursor.of(items[-1]) if older else None,
            newer=Cursor.of(items[0]) if len(rows) > size else "",
            address={"after": str(after)},
        )
    window = query.where(*(before.older(now, line) if before else line.visible(now)))
    rows = list(load(window.order_by(*newest_first).limit(size + 1)))
    items = rows[:size]
    older_start = Cursor.of(items[-1]) if len(rows) > size else None
    if before is None:
        return Stretch(items, older=older_start)
    if not items:
        abort(404)
    beyond = session.execute(
        query.with_only_columns(Post.id)
        .where(*Cursor.of(items[0]).newer(now, line))
        .order_by(*oldest_first)
        .limit(size + 1)
    ).all()
    return Stretch(
        items,
        older=older_start,
        newer=Cursor.of(items[0]) if len(beyond) > size else "",
        address={"before": str(before)},
    )


class TagName(NamedTuple):
    """A tag as a summary links it."""

    name: str


@dataclass(frozen=True)
class Summary:
    """A post as a list shows it: its title, date, summary and tags."""

    id: int
    title: str
    slug: str
    published_at: datetime
    summary_html: str
    tags: list[TagName]

    @property
    def display_date(self) -> datetime:
        """Return the date shown to readers: a listed post is published."""
        return self.published_at


#: The columns :func:`summaries` needs, for :func:`stretch`.
SUMMARY_COLUMNS = (Post.id, Post.title, Post.slug, Post.published_at, Post.summary_html)


def summaries(rows: list) -> list[Summary]:
    """Return the summaries of ``rows`` of SUMMARY_COLUMNS, with their tags."""
    tags: dict[int, list[TagName]] = {row.id: [] for row in rows}
    if tags:
        for post_id, name in session.execute(
            select(post_tags.c.post_id, Tag.name)
            .join(Tag, Tag.id == post_tags.c.tag_id)
            .where(post_tags.c.post_id.in_(list(tags)))
            .order_by(Tag.name)
        ):
            tags[post_id].append(TagName(name))
    return [
        Summary(
            row.id,
            row.title,
            row.slug,
            row.published_at,
            row.summary_html,
            tags[row.id],
        )
        for row in rows
    ]


def _any(query) -> bool:
    """Tell whether ``query`` has any row."""
    return (
        session.execute(query.with_only_columns(Post.id).limit(1)).first() is not None
    )


def cursor_for_page(
    number: int, size: int, timeline: Timeline | None = None
) -> Cursor | None:
    """Return where the old numbered page ``number`` started, for a redirect.

    :raise 404: when the list has no such page.
    """
    line = timeline or POSTS
    if number < 1:
        abort(404)
    if number == 1:
        return None
    query = select(line.date.label("published_at"), line.id.label("id"))
    for table, on in line.joins:
        query = query.select_from(Post).join(table, on)
    row = session.execute(
        query.where(*line.visible(reader_now()))
        .order_by(line.date.desc(), line.id.desc())
        .offset((number - 1) * size - 1)
        .limit(1)
    ).first()
    if row is None:
        abort(404)
    return Cursor.of(row)


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
    return visible_at(post.status, post.published_at, reader_now(), post.deleted_at)


def neighbours(post: Post) -> tuple:
    """Return the title and slug of the visible posts before and after ``post``."""
    here, now = Cursor.of(post), reader_now()
    older = session.execute(
        select(Post.title, Post.slug)
        .where(Post.kind == POST, *here.older(now))
        .order_by(Post.published_at.desc(), Post.id.desc())
        .limit(1)
    ).first()
    newer = session.execute(
        select(Post.title, Post.slug)
        .where(Post.kind == POST, *here.newer(now))
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
