"""The full-text search index of posts and the queries it answers.

One interface, two indexes, each the database's own: on SQLite an FTS5
virtual table; on PostgreSQL a plain table of the same name and shape whose
``document`` column, a ``tsvector`` generated from the text columns, has a
GIN index. Both are keyed by the post's id (``rowid``, FTS5's own name, so
that one table clause reads either) and hold the posts' plain text, which no
column of posts holds and which the snippets are cut from. A table rather
than a column of posts: the text would double the rows every reader page
reads, and the index stays out of the models, as FTS5's must.

What differs is only how a table is made, filled, matched, ranked and
marked: :class:`_FTS5` and :class:`_TextSearch`, picked by the connection's
dialect. Which posts may be found (``criteria``), the query's words, its
bounds, the candidates ranked and the escaping of snippets are written once.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import (
    REAL,
    Integer,
    Row,
    Select,
    String,
    case,
    column,
    event,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, REGCONFIG, TSQUERY, TSVECTOR
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.sql.elements import ColumnElement
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

_index = table(
    "post_search",
    column("rowid", Integer),
    column("title", String),
    column("body", String),
    column("document", TSVECTOR),
)
_matches = _index.join(Post, Post.id == _index.c.rowid)
_DELETE = text("DELETE FROM post_search WHERE rowid = :id")

# snippet() and highlight() (ts_headline() on PostgreSQL) wrap matches in
# these private-use characters, which the indexed text never contains; they
# become <mark> tags only after the text around them has been escaped, so no
# author text becomes markup. The third stands in for "<" on PostgreSQL,
# whose parser would otherwise read "<b>" in plain text as an HTML tag and
# leave it out of the index and the snippets.
_OPEN = "\ue000"
_CLOSE = "\ue001"
_LESS_THAN = "\ue002"
_MARKERS = str.maketrans("", "", _OPEN + _CLOSE + _LESS_THAN)
_WORD_BREAKS = re.compile(r"[\s()*^:{}+]+")
#: What the tokenizer keeps as a word: runs of letters and digits.
_TOKENS = re.compile(r"[^\W_]+")
#: One word of a query made by :func:`fts_query`.
_QUOTED = re.compile(r'"((?:[^"]|"")*)"')


class _FTS5:
    """SQLite's index: an FTS5 virtual table, ranked with bm25()."""

    # The Porter stemmer lets "running" find "run"; unicode61 folds case and,
    # with remove_diacritics, lets "cafe" find "café". A full copy of the
    # plain text is kept in the index (not an external-content table)
    # because what is indexed is text stripped of HTML, which no column of
    # posts holds.
    create = (
        text(
            "CREATE VIRTUAL TABLE IF NOT EXISTS post_search USING fts5("
            "title, summary, body, tags, "
            "tokenize = 'porter unicode61 remove_diacritics 2')"
        ),
    )
    upsert = text(
        "INSERT OR REPLACE INTO post_search (rowid, title, summary, body, tags) "
        "VALUES (:id, :title, :summary, :body, ("
        "  SELECT coalesce(group_concat(tags.name, ' '), '') FROM post_tags"
        "  JOIN tags ON tags.id = post_tags.tag_id WHERE post_tags.post_id = :id))"
    )
    _whole_index: ColumnClause[Any] = literal_column("post_search")

    def values(self, values: dict[str, Any]) -> dict[str, Any]:
        """Return the text of a post as this index keeps it."""
        return values

    def matches(self, match: str) -> ColumnElement[bool]:
        """Return the condition on the index of the rows that match ``match``."""
        return self._whole_index.match(match)

    def rank_columns(self, match: str) -> list[ColumnElement[Any]]:
        """Return what the candidates carry to be ranked: their score."""
        # Weights per column: title, summary, body, tags. A word in the
        # title says more about a post than the same word in its body.
        score = func.bm25(self._whole_index, 10.0, 4.0, 1.0, 6.0)
        return [score.label("score")]

    def best_first(self, match: str, candidates: Any) -> ColumnElement[Any]:
        """Return the order of the candidates, best first."""
        # bm25() is negative, and the lower the better.
        return candidates.c.score

    def marks(self, match: str, ids: list[int]) -> Select:
        """Return the id, marked title and snippet of posts ``ids``."""
        # snippet() and highlight() need the match; asked for by rowid, FTS5
        # evaluated the whole query once per row. Walking the matches between
        # the first and last id costs little, and only the wanted rows are
        # marked.
        wanted = _index.c.rowid.in_(ids)
        return select(
            _index.c.rowid,
            case((wanted, func.highlight(self._whole_index, 0, _OPEN, _CLOSE))),
            case(
                (
                    wanted,
                    func.snippet(
                        self._whole_index, 2, _OPEN, _CLOSE, "…", SNIPPET_TOKENS
                    ),
                )
            ),
        ).where(self.matches(match), _index.c.rowid.between(min(ids), max(ids)))


#: PostgreSQL's text search configuration, made by revision 0002: English
#: stems without stop words (FTS5's Porter stemmer drops none, so "the who"
#: finds what it finds on SQLite) after unaccent, which folds "café" to "cafe"
#: in the index and the query alike while the snippets keep the accents.
_CONFIG = literal_column("'homepage_search'::regconfig", REGCONFIG)
#: ts_rank()'s weights of the D, C, B and A parts: body, summary, tags and
#: title, in the proportions of bm25()'s weights on SQLite.
_WEIGHTS = literal_column("'{0.1, 0.4, 0.6, 1.0}'::real[]", ARRAY(REAL))
#: ts_rank()'s normalization 1: divided by 1 + the logarithm of the
#: document's length, as bm25() favours the shorter of two documents.
_BY_LENGTH = 1
_SELECTED = f'StartSel="{_OPEN}", StopSel="{_CLOSE}"'
_TITLE_MARKS = f"HighlightAll=true, {_SELECTED}"
_SNIPPET_MARKS = (
    f"MaxWords={SNIPPET_TOKENS}, MinWords={SNIPPET_TOKENS // 2}, "
    f"MaxFragments=1, {_SELECTED}"
)
#: The most characters of a body PostgreSQL indexes. A tsvector holds at most
#: 1 MB, and a body of MAX_BODY_BYTES made of distinct short words makes
#: twice that; this many characters of the worst text (two-character CJK
#: words) make about 700 kB. Some 25,000 English words: no post goes unfound.
INDEXED_BODY_CHARS = 150_000


class _TextSearch:
    """PostgreSQL's index: a tsvector with a GIN index, ranked with ts_rank()."""

    # The same table the revision makes (0002), for a database that lacks it.
    # document is generated, so no statement can write text and document
    # out of step; the text is kept for ts_headline().
    create = (
        text(
            "CREATE TABLE IF NOT EXISTS post_search ("
            " rowid integer PRIMARY KEY REFERENCES posts (id) ON DELETE CASCADE,"
            " title text NOT NULL, summary text NOT NULL,"
            " body text NOT NULL, tags text NOT NULL,"
            " document tsvector GENERATED ALWAYS AS ("
            "  setweight(to_tsvector('homepage_search', title), 'A')"
            "  || setweight(to_tsvector('homepage_search', tags), 'B')"
            "  || setweight(to_tsvector('homepage_search', summary), 'C')"
            "  || setweight(to_tsvector('homepage_search', body), 'D')"
            " ) STORED)"
        ),
        text(
            "CREATE INDEX IF NOT EXISTS ix_post_search_document"
            " ON post_search USING gin (document)"
        ),
    )
    upsert = text(
        "INSERT INTO post_search (rowid, title, summary, body, tags) "
        "VALUES (:id, :title, :summary, :body, ("
        "  SELECT coalesce(string_agg(tags.name, ' ' ORDER BY tags.name), '')"
        "  FROM post_tags JOIN tags ON tags.id = post_tags.tag_id"
        "  WHERE post_tags.post_id = :id)) "
        "ON CONFLICT (rowid) DO UPDATE SET title = excluded.title,"
        " summary = excluded.summary, body = excluded.body, tags = excluded.tags"
    )

    def values(self, values: dict[str, Any]) -> dict[str, Any]:
        """Return the text of a post as this index keeps it."""
        kept = {**values, "body": values["body"][:INDEXED_BODY_CHARS]}
        for name in ("title", "summary", "body"):
            kept[name] = kept[name].replace("<", _LESS_THAN)
        return kept

    def query(self, match: str) -> ColumnElement[Any]:
        """Return the tsquery of ``match``: all its words, each hyphenated one a phrase.

        No text of the reader's is ever read as tsquery syntax: each word of
        ``match`` is cut into runs of letters and digits, which
        phraseto_tsquery() reads as text, as to_tsvector() reads a post.
        """
        words = [
            " ".join(_TOKENS.findall(word.replace('""', '"')))
            for word in _QUOTED.findall(match)
        ]
        # No words (not a query of fts_query's) make an empty query, which
        # matches nothing.
        phrases = [
            func.phraseto_tsquery(_CONFIG, word, type_=TSQUERY)
            for word in words or [""]
        ]
        query: ColumnElement[Any] = phrases[0]
        for phrase in phrases[1:]:
            query = query.op("&&", return_type=TSQUERY)(phrase)
        return query

    def matches(self, match: str) -> ColumnElement[bool]:
        """Return the condition on the index of the rows that match ``match``."""
        return _index.c.document.bool_op("@@")(self.query(match))

    def rank_columns(self, match: str) -> list[ColumnElement[Any]]:
        """Return what the candidates carry to be ranked: their document."""
        # Ranked outside the candidates' query, so that only the newest few
        # matches' documents are read, not every match's.
        return [_index.c.document]

    def best_first(self, match: str, candidates: Any) -> ColumnElement[Any]:
        """Return the order of the candidates, best first."""
        return func.ts_rank(
            _WEIGHTS, candidates.c.document, self.query(match), _BY_LENGTH
        ).desc()

    def marks(self, match: str, ids: list[int]) -> Select:
        """Return the id, marked title and snippet of posts ``ids``."""
        query = self.query(match)
        return select(
            _index.c.rowid,
            func.ts_headline(_CONFIG, _index.c.title, query, _TITLE_MARKS),
            func.ts_headline(_CONFIG, _index.c.body, query, _SNIPPET_MARKS),
        ).where(_index.c.rowid.in_(ids))


_Backend = _FTS5 | _TextSearch
_BACKENDS: dict[str, _Backend] = {"sqlite": _FTS5(), "postgresql": _TextSearch()}


def _backend(connection: Connection | scoped_session) -> _Backend:
    """Return the index of the database ``connection`` is on."""
    bind = connection if isinstance(connection, Connection) else connection.get_bind()
    return _BACKENDS[bind.dialect.name]


def create_index(connection: Connection) -> None:
    """Create the search index if needed and index every post it lacks."""
    backend = _backend(connection)
    for statement in backend.create:
        connection.execute(statement)
    indexed = select(_index.c.rowid)
    rows = connection.execute(
        select(Post.id, Post.title, Post.summary_html, Post.body_html).where(
            Post.id.not_in(indexed)
        )
    )
    values = [backend.values(_index_values(*row)) for row in rows.all()]
    if values:
        # One statement for many rows: the driver sends them together.
        connection.execute(backend.upsert, values)


def index_post(
    connection: Connection,
    post_id: int,
    title: str,
    summary_html: str,
    body_html: str,
) -> None:
    """Index a post again whose HTML a bulk statement changed (a re-rendering)."""
    backend = _backend(connection)
    values = _index_values(post_id, title, summary_html, body_html)
    connection.execute(backend.upsert, backend.values(values))


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
    backend = _backend(connection)
    for post in _posts(db_session.deleted):
        connection.execute(_DELETE, {"id": post.id})
    changed = _posts(db_session.new) + [
        post for post in _posts(db_session.dirty) if db_session.is_modified(post)
    ]
    for post in changed:
        values = _index_values(post.id, post.title, post.summary_html, post.body_html)
        connection.execute(backend.upsert, backend.values(values))


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
    safe = str(escape((fragment or "").replace(_LESS_THAN, "<")))
    return Markup(safe.replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>"))


def ranked(match: str, *criteria, limit: int) -> tuple[list[Row], bool]:
    """Return the newest ``limit`` posts matching ``match`` and ``criteria``, ranked.

    Returns rows of the posts' id, slug, kind and publish date, best first,
    and whether more posts match. Ranking every match of a common word (bm25
    reads each one's hits) grew with the blog (see docs/performance.md); the
    newest ``limit`` matches come straight off the index, which keeps its
    entries in id order, and only they are ranked.
    """
    backend = _backend(session)
    candidates = (
        select(
            Post.id,
            Post.slug,
            Post.kind,
            Post.published_at,
            *backend.rank_columns(match),
        )
        .select_from(_matches)
        .where(backend.matches(match), *criteria)
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
            backend.best_first(match, candidates),
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
    if not posts:
        return []
    ids = [post.id for post in posts]
    rows = session.execute(_backend(session).marks(match, ids)).all()
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
