"""What readers see: the queries behind the reader's pages, and their pagination.

The lists and a post's page run plain Core statements on the tables, each built
once per process with bound parameters, and return rows or small records: a
statement built for each request, and the ORM's objects, cost SQLAlchemy
several times what SQLite spends running the query (docs/performance.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from flask import abort, current_app, g, has_app_context
from sqlalchemy import (
    Executable,
    Row,
    Select,
    and_,
    bindparam,
    func,
    literal,
    not_,
    select,
    union_all,
)

from ..core import markdown
from ..core.models import (
    PAGE,
    POST,
    Author,
    Post,
    SlugRedirect,
    Tag,
    modified_at,
    post_columns,
    post_tags,
    utcnow,
    visible_at,
    visible_criteria,
)
from ..db import read_rows, session
from ..web.memo import Memo

posts = post_columns
tags = Tag.__table__.c
authors = Author.__table__.c


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

    def older(self, now: datetime) -> dict[str, Any]:
        """Return the parameters of :meth:`Timeline.older` at this place and ``now``."""
        # One upper bound on the date, the lower of the two, so that the
        # timeline's index starts its range right here; given "before now" and
        # "before here" apart, SQLite may start from now and step over every
        # post in between.
        return {
            "upto": min(now, self.published_at),
            "at": self.published_at,
            "id": self.id,
        }

    def newer(self, now: datetime) -> dict[str, Any]:
        """Return the parameters of :meth:`Timeline.newer` at this place and ``now``."""
        return {"now": now, "at": self.published_at, "id": self.id}


@dataclass(frozen=True)
class Timeline:
    """A list of visible posts, newest first, read along one index.

    ``date`` and ``id`` order it; ``visible(moment)`` gives its criteria for
    what readers see at that moment, with the date's only upper bound. Its
    statements are built once per process with bound parameters (``params``
    holds the timeline's own, such as a tag's id), and they name the posts
    table's columns, not the mapped class: building a statement and going
    through the ORM cost SQLAlchemy several times what SQLite spends running
    it.
    """

    name: str
    date: Any
    id: Any
    visible: Callable[[Any], tuple]
    joins: tuple = ()
    params: dict[str, Any] = field(default_factory=dict, hash=False)

    def older(self) -> tuple:
        """Return the criteria of the visible posts after a place (a :class:`Cursor`).

        Its parameters, from :meth:`Cursor.older`: ``upto`` (the lower of now
        and the place's date), ``at`` and ``id`` (the place).
        """
        at: Any = bindparam("at")
        # The rare posts of the very same moment are told apart by id.
        return (
            *self.visible(bindparam("upto")),
            not_(and_(self.date == at, self.id >= bindparam("id"))),
        )

    def newer(self) -> tuple:
        """Return the criteria of the visible posts before a place.

        Its parameters, from :meth:`Cursor.newer`: ``now``, ``at`` and ``id``.
        """
        at: Any = bindparam("at")
        return (
            *self.visible(bindparam("now")),
            self.date >= at,
            not_(and_(self.date == at, self.id <= bindparam("id"))),
        )


#: Every visible post, along the index on (kind, status, published_at).
POSTS = Timeline(
    "posts",
    posts.published_at,
    posts.id,
    lambda moment: (posts.kind == POST, *visible_criteria(moment)),
)

#: The visible posts with the tag ``tag_id``: see :func:`tagged`.
_TAGGED = Timeline(
    "tagged",
    post_tags.c.listed_at,
    post_tags.c.post_id,
    lambda moment: (
        post_tags.c.tag_id == bindparam("tag_id"),
        post_tags.c.listed_at <= moment,
    ),
    joins=((post_tags, post_tags.c.post_id == posts.id),),
)


def tagged(tag_id: int) -> Timeline:
    """Return the visible posts with a tag, along post_tags' (tag, listed_at) index.

    Walking all posts newest first and keeping the tagged ones would cost a
    rare tag's page the whole blog; ``post_tags.listed_at`` (the post's
    publish date while it is listed, kept by core/counts.py) orders each
    tag's posts in their own index.
    """
    return replace(_TAGGED, params={"tag_id": tag_id})


#: Where a stretch looks from: the newest posts, or a place's older or newer ones.
FIRST, OLDER, NEWER = "first", "older", "newer"
#: The statements built so far, by timeline, direction, columns, size and
#: whether a start date bounds them: a handful per process.
_statements: dict[tuple, Select] = {}


def _list_statement(
    line: Timeline, direction: str, columns: tuple, size: int, since: bool = False
) -> Select:
    """Return the statement of ``size`` posts of ``line`` from a place.

    Its parameters are the timeline's own, those of the direction (``now``
    for FIRST, else :meth:`Cursor.older` or :meth:`Cursor.newer`'s), and
    ``since`` when it is true: the date the posts may not precede.
    """
    key = (line.name, direction, id(columns), size, since)
    statement = _statements.get(key)
    if statement is None:
        criteria = {
            FIRST: lambda: line.visible(bindparam("now")),
            OLDER: line.older,
            NEWER: line.newer,
        }[direction]()
        query = select(*columns).where(*criteria)
        if since:
            query = query.where(line.date >= bindparam("since"))
        for table, on in line.joins:
            query = query.join(table, on)
        if direction == NEWER:
            query = query.order_by(line.date, line.id)
        else:
            query = query.order_by(line.date.desc(), line.id.desc())
        statement = _statements.setdefault(key, query.limit(size))
    return statement


def _rows(statement: Executable, params: dict[str, Any]) -> list[Row]:
    """Run a Core ``statement`` with ``params`` and return its rows."""
    return read_rows(statement, params)


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


#: Just the ids, to tell whether more posts lie beyond a stretch.
_IDS = (posts.id,)
#: What names a post's place in a list, for :func:`stretch` to find posts.
PLACE_COLUMNS = (posts.id, posts.published_at)


def stretch(
    before: Cursor | None,
    after: Cursor | None,
    size: int,
    columns: tuple,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    timeline: Timeline | None = None,
) -> Stretch:
    """Load rows of ``columns`` of ``size`` posts of ``timeline`` around a cursor.

    ``before`` gives the posts older than it, ``after`` the ones newer than
    it; neither gives the newest. Each costs an index range scan of ``size``
    rows, plus one row to tell whether more lie beyond. ``since`` and
    ``until`` are the dates the posts may not precede and must precede, such
    as a month's. ``columns`` must include the posts' ``published_at`` and
    ``id``.

    :raise 404: when the stretch is empty, unless it is the start of the list.
    """
    line = timeline or POSTS
    now = reader_now()
    if until is not None:
        # Folded into the one moment of the visibility rule (dates are
        # stored to the microsecond), for the reason Cursor.older gives.
        now = min(now, until - timedelta(microseconds=1))
    shared = {**line.params, "since": since}

    def load(direction: str, wanted: tuple, limit: int, params: dict) -> list[Row]:
        statement = _list_statement(line, direction, wanted, limit, since is not None)
        return _rows(statement, {**shared, **params})

    if after is not None:
        rows = load(NEWER, columns, size + 1, after.newer(now))
        items = rows[:size][::-1]
        if not items:
            abort(404)
        older = load(OLDER, _IDS, 1, Cursor.of(items[-1]).older(now))
        return Stretch(
            items,
            older=Cursor.of(items[-1]) if older else None,
            newer=Cursor.of(items[0]) if len(rows) > size else "",
            address={"after": str(after)},
        )
    if before is None:
        rows = load(FIRST, columns, size + 1, {"now": now})
    else:
        rows = load(OLDER, columns, size + 1, before.older(now))
    items = rows[:size]
    older_start = Cursor.of(items[-1]) if len(rows) > size else None
    if before is None:
        return Stretch(items, older=older_start)
    if not items:
        abort(404)
    beyond = load(NEWER, _IDS, size + 1, Cursor.of(items[0]).newer(now))
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
    tags: tuple[TagName, ...]

    @property
    def display_date(self) -> datetime:
        """Return the date shown to readers: a listed post is published."""
        return self.published_at


#: A post's tags as one text, their names joined by commas (which no name
#: holds: the tags field is split on them). Its own alias of post_tags, or a
#: tag's timeline, which walks post_tags, would correlate with it.
_tagging = post_tags.alias("tagging")
_TAG_NAMES = (
    select(func.aggregate_strings(tags.name, ","))
    .select_from(_tagging)
    .join(Tag.__table__, tags.id == _tagging.c.tag_id)
    .where(_tagging.c.post_id == posts.id)
    .scalar_subquery()
    .label("tag_names")
)
#: The columns :func:`summaries` needs, for :func:`stretch`: the tags come
#: in the same statement, which costs less than a second one.
SUMMARY_COLUMNS = (
    posts.id,
    posts.title,
    posts.slug,
    posts.published_at,
    posts.summary_html,
    _TAG_NAMES,
)


def summaries(rows: list) -> list[Summary]:
    """Return the summaries of ``rows`` of SUMMARY_COLUMNS, their tags by name."""

    def tags_of(row) -> tuple[TagName, ...]:
        return tuple(TagName(name) for name in sorted((row.tag_names or "").split(",")))

    return [
        Summary(
            row.id,
            row.title,
            row.slug,
            row.published_at,
            row.summary_html,
            tuple(
                TagName(name)
                for name in sorted((row.tag_names or "").split(","))
                if name
            ),
        )
        for row in rows
    ]


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
        query = query.select_from(Post.__table__).join(table, on)
    row = session.execute(
        query.where(*line.visible(reader_now()))
        .order_by(line.date.desc(), line.id.desc())
        .offset((number - 1) * size - 1)
        .limit(1),
        line.params,
    ).first()
    if row is None:
        abort(404)
    return Cursor.of(row)


class AuthorName(NamedTuple):
    """An author as a post's page names them."""

    username: str


@dataclass(frozen=True)
class PostView:
    """A post or page as its own page shows it."""

    id: int
    kind: str
    title: str
    slug: str
    body_html: str
    summary_html: str
    published_at: datetime
    updated_at: datetime
    #: The library image the author chose for link previews, if any.
    share_image: str | None
    author: AuthorName
    tags: list[TagName]

    @property
    def display_date(self) -> datetime:
        """Return the date shown to readers: a visible post is published."""
        return self.published_at

    @property
    def modified_at(self) -> datetime:
        """Return when readers last saw the post change."""
        return modified_at(self.updated_at, self.published_at)


#: The visible post or page at ``slug`` (at ``now``) with its author's name, a
#: row for each of its tags (one with no tag when it has none), sorted by
#: :func:`find_visible` as a handful of names is cheapest sorted in Python: one
#: statement rather than two, since a statement's overhead in SQLAlchemy
#: exceeds what SQLite spends on the repeated columns.
_POST_AT_SLUG = (
    select(
        posts.id,
        posts.kind,
        posts.title,
        posts.slug,
        posts.body_html,
        posts.summary_html,
        posts.published_at,
        posts.updated_at,
        posts.share_image,
        authors.username,
        tags.name.label("tag"),
    )
    .join_from(Post.__table__, Author.__table__, authors.id == posts.author_id)
    .outerjoin(post_tags, post_tags.c.post_id == posts.id)
    .outerjoin(Tag.__table__, tags.id == post_tags.c.tag_id)
    .where(posts.slug == bindparam("slug"), *visible_criteria(bindparam("now")))
)


def find_visible(slug: str) -> PostView | None:
    """Return the post or page readers can see at ``slug``, or None."""
    found = _rows(_POST_AT_SLUG, {"slug": slug, "now": reader_now()})
    if not found:
        return None
    row = found[0]
    return PostView(
        row.id,
        row.kind,
        row.title,
        row.slug,
        row.body_html,
        row.summary_html,
        row.published_at,
        row.updated_at,
        row.share_image,
        AuthorName(row.username),
        [TagName(name) for name in sorted(row.tag for row in found if row.tag)],
    )


#: The tag called ``name``.
_TAG_NAMED = select(tags.id, tags.name).where(tags.name == bindparam("name"))


def find_tag(name: str) -> Row | None:
    """Return the id and name of the tag called ``name``, or None."""
    found = _rows(_TAG_NAMED, {"name": name})
    return found[0] if found else None


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


#: The title and slug of the visible posts just older and just newer than a
#: place, marked ``older`` true or false, in one statement.
_NEIGHBOURS = union_all(
    *(
        select(literal(direction == OLDER).label("older"), *neighbour.c).select_from(
            neighbour
        )
        for direction in (OLDER, NEWER)
        for neighbour in [
            _list_statement(POSTS, direction, (posts.title, posts.slug), 1).subquery()
        ]
    )
)


def neighbours(post: PostView) -> tuple:
    """Return the title and slug of the visible posts before and after ``post``."""
    here = Cursor.of(post)
    # Cursor.older's parameters and Cursor.newer's share "at" and "id".
    params = {**here.older(reader_now()), **here.newer(reader_now())}
    found = {row.older: row for row in _rows(_NEIGHBOURS, params)}
    return found.get(True), found.get(False)


def visible_pages() -> Sequence[Row]:
    """Return the title and slug of every page readers can see, for the menu."""
    return session.execute(
        select(Post.title, Post.slug)
        .where(*visible(PAGE))
        .order_by(Post.published_at, Post.id)
    ).all()


#: Where an app keeps the reading times it has worked out.
READING_KEY = "homepage.reading_minutes"


def reading_minutes(post: PostView) -> int:
    """Estimate how many minutes reading the post takes, at 230 words a minute."""
    # Stripping the tags of a long post costs more than the rest of its page,
    # and its text only changes when it is saved (updated_at moves).
    known: Memo[tuple, int] = current_app.extensions.setdefault(READING_KEY, Memo(4096))
    key = (post.id, post.updated_at)
    minutes = known.get(key)
    if minutes is None:
        words = len(markdown.plain_text(post.body_html).split())
        minutes = known.keep(key, max(1, round(words / 230)))
    return minutes
