"""The full-text search index of posts (SQLite FTS5) and the queries it answers."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import (
    Integer,
    Row,
    case,
    column,
    event,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.sql.expression import ColumnClause

from ..db import session
from . import markdown
from .models import Post

#: Readers rarely type more; the caps keep a pasted essay from costing much.
MAX_QUERY_CHARS = 200
#: Words (the parts of a hyphenated word count one each): ranking reads the
#: whole index entry of every word once, so each common word costs about as
#: much as a search for it alone.
MAX_TERMS = 8
SNIPPET_TOKENS = 32

# The Porter stemmer lets "running" find "run"; unicode61 folds case and, with
# remove_diacritics, lets "cafe" find "café". A full copy of the plain text is
# kept in the index (not an external-content table) because what is indexed
# is text stripped of HTML, which no column of posts holds.
_CREATE = text(
    "CREATE VIRTUAL TABLE IF NOT EXISTS post_search USING fts5("
    "title, summary, body, tags, "
    "tokenize = 'porter unicode61 remove_diacritics 2')"
)
_UPSERT = text(
    "INSERT OR REPLACE INTO post_search (rowid, title, summary, body, tags) "
    "VALUES (:id, :title, :summary, :body, ("
    "  SELECT coalesce(group_concat(tags.name, ' '), '') FROM post_tags"
    "  JOIN tags ON tags.id = post_tags.tag_id WHERE post_tags.post_id = :id))"
)
_DELETE = text("DELETE FROM post_search WHERE rowid = :id")

_index = table("post_search", column("rowid", Integer))
_whole_index: ColumnClause[Any] = literal_column("post_search")
_matches = _index.join(Post, Post.id == _index.c.rowid)

# snippet() and highlight() wrap matches in these private-use characters,
# which the indexed text never contains; they become <mark> tags only after
# the text around them has been escaped, so no author text becomes markup.
_OPEN = "\ue000"
_CLOSE = "\ue001"
_MARKERS = str.maketrans("", "", _OPEN + _CLOSE)
_WORD_BREAKS = re.compile(r"[\s()*^:{}+]+")
#: What the tokenizer keeps as a word: runs of letters and digits.
_TOKENS = re.compile(r"[^\W_]+")


def create_index(connection: Connection) -> None:
    """Create the search index if needed and index every post it lacks."""
    if connection.dialect.name != "sqlite":  # TEMPORARY: until pgsearch lands
        return
    connection.execute(_CREATE)
    indexed = select(_index.c.rowid)
    rows = connection.execute(
        select(Post.id, Post.title, Post.summary_html, Post.body_html).where(
            Post.id.not_in(indexed)
        )
    )
    for row in rows.all():
        connection.execute(_UPSERT, _index_values(*row))


def index_post(
    connection: Connection,
    post_id: int,
    title: str,
    summary_html: str,
    body_html: str,
) -> None:
    """Index a post again whose HTML a bulk statement changed (a re-rendering)."""
    if connection.dialect.name != "sqlite":  # TEMPORARY: until pgsearch lands
        return
    connection.execute(_UPSERT, _index_values(post_id, title, summary_html, body_html))


def _index_values(post_id: int, title: str, summary_html: str, body_html: str):
    return {
        "id": post_id,
        "title": title.translate(_MARKERS),
        "summary": markdown.plain_text(summary_html).translate(_MARKERS),
        "body": markdown.plain_text(body_html).translate(_MARKERS),
    }


def _sync_index(db_session: Session, _flush_context) -> None:
    """Bring the index in step with the posts this flush wrote."""
    # after_flush runs inside the flush's transaction: the index changes
    # commit or roll back together with the posts. The tag names are read
    # back from post_tags, which the flush has just written.
    connection = db_session.connection()
    if connection.dialect.name != "sqlite":  # TEMPORARY: until pgsearch lands
        return
    for post in _posts(db_session.deleted):
        connection.execute(_DELETE, {"id": post.id})
    changed = _posts(db_session.new) + [
        post for post in _posts(db_session.dirty) if db_session.is_modified(post)
    ]
    for post in changed:
        connection.execute(
            _UPSERT,
            _index_values(post.id, post.title, post.summary_html, post.body_html),
        )


def _posts(objects: Iterable) -> list[Post]:
    return [obj for obj in objects if isinstance(obj, Post)]


@dataclass(frozen=True)
class Hit:
    """One search result, with its matches marked."""

    slug: str
    kind: str
    published_at: datetime
    title: Markup
    snippet: Markup


def fts_query(user_text: str) -> str:
    """Turn anything a reader typed into an FTS5 query matching all its words.

    Every word becomes a quoted string, so FTS5 operators (``AND``, ``NEAR``,
    ``*``, ``-``, parentheses, column filters) are searched for as plain words
    and can never be a syntax error; a hyphenated word stays a phrase. Words
    without a letter or digit are dropped, and those past the first
    MAX_TERMS. Returns '' when nothing is left.
    """
    # NFKC folds full-width Latin letters and ligatures into plain ones.
    normalized = unicodedata.normalize("NFKC", user_text[:MAX_QUERY_CHARS])
    terms = []
    budget = MAX_TERMS
    # Splitting at FTS5's own punctuation too lets NEAR(a b) find a and b.
    for word in _WORD_BREAKS.split(normalized):
        # Control and private-use characters cannot be typed and would
        # break the quoting (FTS5 stops a string at NUL).
        word = "".join(char for char in word if char.isprintable())
        tokens = _TOKENS.findall(word)
        if not tokens:
            continue
        if len(tokens) > budget:
            # A phrase of the words that still fit, rather than none of it.
            word = "-".join(tokens[:budget])
        terms.append('"' + word.replace('"', '""') + '"')
        budget -= min(len(tokens), budget)
        if not budget:
            break
    return " ".join(terms)


def marked(fragment: str | None) -> Markup:
    """Escape a snippet, then turn its match markers into ``<mark>`` tags."""
    safe = str(escape(fragment or ""))
    return Markup(safe.replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>"))


def ranked(match: str, *criteria, limit: int) -> tuple[list[Row], bool]:
    """Return the newest ``limit`` posts matching ``match`` and ``criteria``, ranked.

    Returns rows of the posts' id, slug, kind and publish date, best first,
    and whether more posts match. Ranking every match of a common word (bm25
    reads each one's hits) grew with the blog (see docs/performance.md); the
    newest ``limit`` matches come straight off the index, which keeps its
    entries in id order, and only they are ranked.
    """
    if session.get_bind().dialect.name != "sqlite":  # TEMPORARY: until pgsearch
        return [], False
    candidates = (
        select(
            Post.id,
            Post.slug,
            Post.kind,
            Post.published_at,
            # Weights per column: title, summary, body, tags. A word in the
            # title says more about a post than the same word in its body.
            func.bm25(_whole_index, 10.0, 4.0, 1.0, 6.0).label("score"),
        )
        .select_from(_matches)
        .where(_whole_index.match(match), *criteria)
        # Newest first along the index itself, so that the index drives the
        # query and it stops after ``limit`` matches; led by the posts
        # instead, SQLite looked every visible post up in the index, even for
        # a word no post contains.
        .order_by(_index.c.rowid.desc())
        # One more than asked tells whether there are more.
        .limit(limit + 1)
        .subquery()
    )
    rows = session.execute(
        select(
            candidates.c.id,
            candidates.c.slug,
            candidates.c.kind,
            candidates.c.published_at,
        ).order_by(
            candidates.c.score,
            candidates.c.published_at.desc(),
            candidates.c.id.desc(),
        )
    ).all()
    if len(rows) <= limit:
        return list(rows), False
    oldest = min(row.id for row in rows)
    return [row for row in rows if row.id != oldest], True


def hits(match: str, posts: Sequence[Row]) -> list[Hit]:
    """Return ``posts`` (rows from :func:`ranked`) as hits, their matches marked."""
    if not posts or session.get_bind().dialect.name != "sqlite":  # TEMPORARY
        return []
    ids = [post.id for post in posts]
    # snippet() and highlight() need the match; asked for by rowid, FTS5
    # evaluated the whole query once per row. Walking the matches between the
    # first and last id costs little, and only the wanted rows are marked.
    wanted = _index.c.rowid.in_(ids)
    rows = session.execute(
        select(
            _index.c.rowid,
            case((wanted, func.highlight(_whole_index, 0, _OPEN, _CLOSE))),
            case(
                (
                    wanted,
                    func.snippet(_whole_index, 2, _OPEN, _CLOSE, "…", SNIPPET_TOKENS),
                )
            ),
        ).where(_whole_index.match(match), _index.c.rowid.between(min(ids), max(ids)))
    ).all()
    marks = {rowid: (title, snippet) for rowid, title, snippet in rows}
    # A post deleted since it was ranked is left out rather than shown bare.
    return [
        Hit(
            post.slug,
            post.kind,
            post.published_at,
            marked(marks[post.id][0]),
            marked(marks[post.id][1]),
        )
        for post in posts
        if post.id in marks
    ]


def watch(db_session: scoped_session) -> None:
    """Keep the index in step with every flush of ``db_session``."""
    if not event.contains(db_session, "after_flush", _sync_index):
        event.listen(db_session, "after_flush", _sync_index)
