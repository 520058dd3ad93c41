"""The site's content version: one number that changes whenever readers' pages do.

Every flush that changes what readers can see (a visible post saved, published,
unpublished or deleted, an author renamed) bumps ``site_state.version`` in the
same transaction. HTTP caching compares it, together with the newest publish
date already due, to tell whether a reader's copy of a page is current; one
indexed query answers that, without rendering anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from itertools import chain
from typing import Any, NamedTuple

from sqlalchemy import bindparam, event, func, insert, inspect, select, update
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, scoped_session

from ..db import read_alone, session
from .models import (
    Author,
    Post,
    SiteState,
    UTCDateTime,
    utcnow,
    visible_at,
    visible_criteria,
)
from .sql import greatest

_STATE_ID = 1


def create_state(connection: Connection) -> None:
    """Insert the site's state row if it is missing."""
    exists = connection.execute(
        select(SiteState.id).where(SiteState.id == _STATE_ID)
    ).first()
    if exists is None:
        connection.execute(
            insert(SiteState).values(id=_STATE_ID, version=0, changed_at=utcnow())
        )


def content_changed(connection: Connection | None = None, after: int = 0) -> None:
    """Record that what readers see has changed, in the current transaction.

    Flushes of posts call this by themselves; code that changes posts with
    bulk ``UPDATE`` or ``DELETE`` statements must call it too. The new version
    is also greater than ``after``: a restore passes the live site's, since
    the database it brings back numbered its versions on its own.
    """
    connection = connection or session.connection()
    current = greatest(SiteState.version, after) if after else SiteState.version
    connection.execute(
        update(SiteState)
        .where(SiteState.id == _STATE_ID)
        .values(version=current + 1, changed_at=utcnow())
    )


def _old_value(obj, name: str):
    history = inspect(obj).attrs[name].history
    return history.deleted[0] if history.deleted else getattr(obj, name)


def _changes_reader_pages(db_session: Session, now: datetime) -> bool:
    """Tell whether this flush changes anything a reader can see."""
    for post in _of_type(chain(db_session.new, db_session.deleted), Post):
        if visible_at(post.status, post.published_at, now, post.deleted_at):
            return True
    for post in _of_type(db_session.dirty, Post):
        if not db_session.is_modified(post):
            continue
        # A draft or a scheduled post can change freely: readers see it
        # neither before nor after, so their cached pages stay valid.
        before = visible_at(
            _old_value(post, "status"),
            _old_value(post, "published_at"),
            now,
            _old_value(post, "deleted_at"),
        )
        if before or visible_at(post.status, post.published_at, now, post.deleted_at):
            return True
    # Post pages show the author's name.
    return any(
        inspect(author).attrs.username.history.has_changes()
        for author in _of_type(db_session.dirty, Author)
    )


def _of_type(objects: Iterable, cls: type) -> list:
    return [obj for obj in objects if isinstance(obj, cls)]


def _bump_on_flush(db_session: Session, _flush_context) -> None:
    """Bump the content version when a flush changes what readers see."""
    if _changes_reader_pages(db_session, utcnow()):
        content_changed(db_session.connection())


# The validators' one query, through the DB-API rather than the ORM session:
# it is the whole cost of a 304, and plain DB-API is several times cheaper.
# It runs before the page's own queries, so a page can only be newer than its
# validators, never older: at worst a reader fetches a page once more.
_STATE_SELECT = select(
    SiteState.version,
    SiteState.changed_at,
    select(func.max(Post.published_at))
    .where(*visible_criteria(bindparam("now", type_=UTCDateTime)))
    .scalar_subquery(),
).where(SiteState.id == _STATE_ID)


class StateQuery(NamedTuple):
    """The validators' query compiled for one database, with its conversions."""

    sql: str
    params: dict
    #: The order of the parameters for a positional DB-API (SQLite's ``?``).
    positions: tuple[str, ...] | None
    #: Turn a moment into what the driver compares with stored dates (text in
    #: SQLite, a naive UTC timestamp in PostgreSQL), and back again.
    bind_date: Callable[[Any], Any]
    read_date: Callable[[Any], Any]


# One per database kind, compiled once from the same criteria as every reader
# query; compiling is idempotent, so threads racing here do no harm.
_state_queries: dict[tuple[str, str, str], StateQuery] = {}


def state_query(dialect: Dialect) -> StateQuery:
    """Return the validators' query as the DB-API of ``dialect`` takes it."""
    key = (dialect.name, dialect.driver, dialect.paramstyle)
    query = _state_queries.get(key)
    if query is None:
        compiled = _STATE_SELECT.compile(dialect=dialect)
        # The column type's own conversions, so dates are compared and read
        # exactly as SQLAlchemy stores them in this database.
        date_type = UTCDateTime().dialect_impl(dialect)
        query = _state_queries[key] = StateQuery(
            sql=str(compiled),
            params=compiled.params,
            positions=tuple(compiled.positiontup or ())
            if compiled.positional
            else None,
            bind_date=date_type.bind_processor(dialect) or (lambda value: value),
            read_date=date_type.result_processor(dialect, None)
            or (lambda value: value),
        )
    return query


def fetch_one(engine: Engine, sql: str, params: tuple | dict = ()) -> tuple | None:
    """Run one read-only statement on a pooled connection with the DB-API.

    For the few hot paths where the ORM's overhead is most of the cost (the
    validators behind every 304). A single statement reads one consistent
    snapshot; the connection goes straight back to the pool, and one the
    server had closed is replaced and the statement run again, once
    (:func:`homepage.db.read_alone`). The driver's errors are raised as
    SQLAlchemy's, as the ORM would raise them, so callers handle one family
    of errors whatever the database.
    """
    driver_error = engine.dialect.loaded_dbapi.Error

    def read(connection: Any) -> tuple | None:
        cursor = connection.cursor()
        try:
            return cursor.execute(sql, params).fetchone()
        finally:
            cursor.close()

    try:
        # Connecting runs the engine's connect listeners (SQLite's PRAGMAs),
        # whose errors SQLAlchemy passes on unwrapped too.
        return read_alone(engine, read)
    except driver_error as error:
        raise DBAPIError.instance(
            sql, params, error, driver_error, dialect=engine.dialect
        ) from error


def read_state(engine: Engine, now: datetime) -> tuple | None:
    """Return the content version, when it changed, and the newest due date."""
    query = state_query(engine.dialect)
    params = {**query.params, "now": query.bind_date(now)}
    if query.positions is not None:
        row = fetch_one(engine, query.sql, tuple(params[k] for k in query.positions))
    else:
        row = fetch_one(engine, query.sql, params)
    if row is None:
        return None
    version, changed_at, due = row
    return version, query.read_date(changed_at), due and query.read_date(due)


def watch(db_session: scoped_session) -> None:
    """Bump the content version whenever a flush of ``db_session`` changes it."""
    if not event.contains(db_session, "after_flush", _bump_on_flush):
        event.listen(db_session, "after_flush", _bump_on_flush)
