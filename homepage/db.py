"""The database layer: the one place that creates engines, sessions and connections.

Stand-alone database files (backups and their scratch copies) are opened here
too, so every SQLite connection the site makes is made by this module; what is
done with them belongs to their owners (ops/backup.py copies them).

Every other module imports :data:`session` and :class:`Base` from here. The rules
that keep SQLite safe under mod_wsgi's threads and processes live in this file, each
with the reason it exists.
"""

from __future__ import annotations

import os
import sqlite3
import time
import weakref
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from flask import Flask, current_app, has_request_context, request
from sqlalchemy import Executable, create_engine, event
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.exc import (
    DatabaseError,
    DBAPIError,
    InvalidatePoolError,
    OperationalError,
)
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

#: The project root, where the default ``blog.db`` lives.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: An absolute path, so the database does not move with the server's working
#: directory (Apache starts daemons in ``/``).
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'blog.db'}"

#: Methods whose requests never write.
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: The connection execution option that makes a transaction begin with
#: ``BEGIN IMMEDIATE``; :func:`write_transaction` sets it.
WRITE_LOCK = "homepage_write_lock"

EXTENSION_KEY = "homepage.db"

#: PostgreSQL: the transaction-scoped advisory lock every writer takes, the
#: counterpart of SQLite's write lock (see :func:`_on_begin_postgresql`).
WRITER_LOCK_KEY = 0x686F6D65  # "home"

#: Seconds a pooled connection to a database server may sit unused before it
#: is pinged at checkout (see :class:`_ServerConnections`). What closes an
#: unused connection behind the pool's back (a firewall's or a NAT's idle
#: timeout, PostgreSQL's ``idle_session_timeout``, a pooler's) waits minutes,
#: so every such connection is pinged first. A process under load lends each
#: of its connections again within a fraction of a second (the pool hands
#: them out in turn), so the pages it serves send no ping; a quiet site may
#: ping on every request, when the round trip costs nothing that matters.
#: Not longer, because it is also the window in which a connection that a
#: restart closed, last used just before it, reaches a statement that is not
#: retried (a save, an admin page): only the reader's reads are
#: (:func:`read_rows`, through :func:`fetch_all`).
PING_AFTER_IDLE = 10.0

#: The size SQLite cuts the WAL file back to after a checkpoint, and above which
#: a write request checkpoints it once its response is sent.
JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024


class Base(DeclarativeBase):
    """Base class of every model."""


class _AppSession(Session):
    """A session that finds its engine through the current Flask app.

    Looking the engine up per use, instead of binding the session once, lets several
    apps (one per test, each with its own database file) share the module-level
    ``session`` without leaking into each other.
    """

    def get_bind(self, *args, **kwargs):  # noqa: D401 - SQLAlchemy's signature
        """Return the engine of the current app."""
        return get_engine()


#: One session per thread. mod_wsgi serves each request on one thread from start
#: to end, so thread-local scope gives every request its own session, and
#: ``remove()`` at teardown hands the connection back to the pool.
session: scoped_session[Session] = scoped_session(
    sessionmaker(class_=_AppSession, expire_on_commit=False)
)

# Engines made by this process. A forked child must not reuse the parent's SQLite
# connections (two processes on one connection corrupt its state), so each is
# disposed without closing the parent's handles right after a fork.
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _dispose_engines_after_fork() -> None:
    for engine in list(_engines):
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_dispose_engines_after_fork)


def get_engine(app: Flask | None = None) -> Engine:
    """Return the engine of ``app`` or of the current app."""
    app = app or current_app
    return app.extensions[EXTENSION_KEY]


def sqlite_path(url: str) -> Path | None:
    """Return the file behind a SQLite URL, or None for other databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry):
    """Configure every new SQLite connection for concurrent use."""
    # Take transaction control away from Python's sqlite3 module, which would
    # otherwise BEGIN only before a write, so that reads ran outside the
    # transaction and read-modify-write cycles lost updates. SQLAlchemy's begin
    # event below emits the BEGIN itself. (On Python 3.12+ this is the same as
    # autocommit=LEGACY_TRANSACTION_CONTROL with isolation_level=None.)
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # Wait up to 30 s for another writer instead of failing at once with
        # "database is locked".
        cursor.execute("PRAGMA busy_timeout = 30000")
        # WAL lets readers proceed while one writer writes; it is persistent, but
        # setting it on every connection makes a fresh file safe too.
        cursor.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL is durable across application crashes and much
        # faster than FULL; only a power cut can lose the latest commits.
        cursor.execute("PRAGMA synchronous = NORMAL")
        # SQLite leaves foreign keys off unless asked, per connection.
        cursor.execute("PRAGMA foreign_keys = ON")
        # Truncate the WAL back to 4 MiB after checkpoints so it cannot keep
        # the size of the biggest burst of writes forever.
        cursor.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
    finally:
        cursor.close()


def _on_begin(conn: Connection) -> None:
    """Open the transaction with the lock it will need."""
    # A deferred transaction that reads and then writes must upgrade its lock;
    # if another connection writes meanwhile, SQLite returns "database is
    # locked" at once, without honouring the busy timeout, because waiting
    # could deadlock. So every transaction that writes takes the write lock at
    # BEGIN and writers queue on the busy timeout instead. In a request that is
    # only the block inside write_transaction(): everything before it (the
    # login check, validation, rendering Markdown, hashing passwords, decoding
    # images) runs in a deferred transaction that, in WAL mode, never waits for
    # writers and never makes them wait. CLI commands and background code keep
    # one write transaction throughout.
    options = conn.get_execution_options()
    if options.get(WRITE_LOCK) or not has_request_context():
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def _on_begin_postgresql(conn: Connection) -> None:
    """Queue a transaction that will write behind every other writer."""
    # PostgreSQL's READ COMMITTED lets two transactions read the same row and
    # both write what they computed from it, so read-modify-write cycles
    # (revision numbers, unique slugs, new tags, the content version,
    # throttle counters) would lose updates. A transaction-scoped advisory
    # lock taken where SQLite takes its write lock gives every rule written
    # for SQLite the same guarantee here: writers run one at a time, each
    # seeing every earlier commit, and readers never wait. Writes are short
    # by design (see write_transaction), so the queue is too; the lock goes
    # with the commit or rollback, and with the connection if a process dies.
    if conn.get_execution_options().get(WRITE_LOCK) or not has_request_context():
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITER_LOCK_KEY})")


def _name_the_process(_dialect, _record, _cargs, cparams: dict) -> None:
    """Name the server process in every PostgreSQL connection it opens."""
    # pg_stat_activity and pg_locks then tell which of mod_wsgi's processes
    # holds a lock or runs a slow query; each forked daemon opens its own
    # connections, so the pid is read when connecting, not at import.
    cparams.setdefault("application_name", f"homepage[{os.getpid()}]")


class _ServerConnections:
    """Replace the pooled connections to a database server that it closed.

    A server restart, a failover or an idle timeout closes connections
    behind the pool's back. SQLAlchemy's ``pool_pre_ping`` would find them
    by pinging every connection at every checkout: a second round trip for
    each of the reader's one-statement requests. Instead, only a connection
    that sat unused for :data:`PING_AFTER_IDLE` is pinged, which is when an
    idle timeout can have closed it; one closed while in recent use (a
    restart under load) fails its next statement, which the reader's reads
    retry once (:func:`read_rows`, through :func:`fetch_all`) after the pool has
    dropped it and every connection made before, as a restart closed them
    all. Raising :class:`~sqlalchemy.exc.InvalidatePoolError` at checkout is
    SQLAlchemy's public way to ask for that, the same invalidation its Core
    performs by itself when a statement meets a disconnect.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        #: When a lone read last met a closed connection (time.monotonic()).
        self.lost_at = float("-inf")

    def connected(self, _dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        """Note when a connection was made (``info`` starts empty on each)."""
        record.info[_CONNECTED_AT] = record.info[_IDLE_SINCE] = time.monotonic()

    def checked_in(self, _dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        """Note when a connection came back to the pool."""
        record.info[_IDLE_SINCE] = time.monotonic()

    def checked_out(
        self, dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any
    ) -> None:
        """Replace a connection that may have been closed; the pool retries."""
        now = time.monotonic()
        if record.info.get(_CONNECTED_AT, now) < self.lost_at:
            raise InvalidatePoolError("made before the server closed another")
        if now - record.info.get(_IDLE_SINCE, now) <= PING_AFTER_IDLE:
            return
        try:
            self.dialect.do_ping(dbapi_connection)
        except self.dialect.loaded_dbapi.Error as error:
            # One idle connection closed usually means all were (a restart),
            # so the pool replaces every one made before this moment.
            raise InvalidatePoolError(str(error)) from error

    def lost(self) -> None:
        """Have every connection made until now replaced at its next checkout."""
        self.lost_at = time.monotonic()


#: Keys of a pooled connection's ``info`` (see :class:`_ServerConnections`).
_CONNECTED_AT = "homepage_connected_at"
_IDLE_SINCE = "homepage_idle_since"

#: The watch over each server engine's connections (none for SQLite).
_server_connections: weakref.WeakKeyDictionary[Engine, _ServerConnections] = (
    weakref.WeakKeyDictionary()
)


def _watch_server_connections(engine: Engine) -> None:
    """Replace the connections of ``engine``'s pool that its server closed."""
    watch = _server_connections[engine] = _ServerConnections(engine.dialect)
    event.listen(engine, "connect", watch.connected)
    event.listen(engine, "checkin", watch.checked_in)
    event.listen(engine, "checkout", watch.checked_out)


class WriteOutsideTransaction(RuntimeError):
    """A request wrote to the database outside write_transaction()."""


def _refuse_unlocked_writes(conn, _cursor, statement, _params, context, _many):
    """Refuse a request's write that did not take the write lock first."""
    # Such a write would upgrade a read transaction and fail with "database is
    # locked" only under load; failing at once in every test is kinder.
    if (
        context is not None
        and (context.isinsert or context.isupdate or context.isdelete)
        and has_request_context()
        and not conn.get_execution_options().get(WRITE_LOCK)
    ):
        raise WriteOutsideTransaction(
            f"{request.method} {request.path} wrote outside write_transaction(): "
            f"{statement.split(None, 3)[:3]}"
        )


#: PostgreSQL's SQLSTATE codes for a schema that lacks a table or a column,
#: which it reports as a programming error where SQLite reports an operational
#: one: a database not yet upgraded, not a mistaken query.
_SCHEMA_BEHIND = frozenset({"42P01", "42703"})


def database_unavailable(error: Exception) -> bool:
    """Tell whether ``error`` says the database cannot be used, not a query is wrong.

    An unreadable, missing, corrupt or locked SQLite file, a PostgreSQL
    server that is down, refuses connections or lost one, or a schema that
    lacks a table, raises an operational error or a bare database error; a
    broken constraint or a malformed statement raises one of the more precise
    subclasses, which are bugs and stay 500s.
    """
    if isinstance(error, DBAPIError):
        if getattr(error.orig, "sqlstate", None) in _SCHEMA_BEHIND:
            return True
    return isinstance(error, OperationalError) or type(error) is DatabaseError


@contextmanager
def write_transaction() -> Iterator[Session]:
    """Run the block in one short transaction that holds the write lock; commit it.

    Do every slow step (validating, rendering, hashing, decoding) before the
    block and only reads and writes inside it, so that no request keeps other
    writers waiting. Objects loaded earlier in the request are expired and
    load again under the lock, so decisions inside the block see the latest
    committed data; one that was deleted meanwhile is gone. Rolls back when
    the block raises.
    """
    db_session = session()
    if db_session.new or db_session.dirty or db_session.deleted:
        raise WriteOutsideTransaction("changes were made before write_transaction()")
    # End the read transaction: its snapshot may be older than the newest
    # commit, and SQLite cannot upgrade a stale snapshot to a write.
    db_session.commit()
    db_session.expire_all()
    db_session.connection(execution_options={WRITE_LOCK: True})
    try:
        yield db_session
        db_session.commit()
    except BaseException:
        db_session.rollback()
        raise


class Prepared(NamedTuple):
    """A read-only Core statement compiled once for one database's DB-API."""

    sql: str
    #: The values the statement carries itself (literals such as a kind).
    defaults: dict[str, Any]
    #: The parameters a caller must give.
    required: frozenset[str]
    #: Each parameter's conversion, as SQLAlchemy would bind it (dates are
    #: text in SQLite, naive UTC timestamps in PostgreSQL).
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]
    #: The order of the parameters for a positional DB-API (SQLite's ``?``).
    positions: tuple[str, ...] | None
    #: A named tuple of the result's columns, and each column's conversion.
    row: type
    results: tuple[tuple[int, Callable[[Any], Any]], ...]

    def run(self, engine: Engine, params: dict[str, Any]) -> list:
        """Run the statement with ``params`` on a lone connection; return its rows."""
        values = {**self.defaults, **params}
        if missing := self.required - values.keys():
            raise TypeError(f"parameters missing: {', '.join(sorted(missing))}")
        for name, convert in self.binds:
            values[name] = convert(values[name])
        rows = fetch_all(
            engine,
            self.sql,
            values if self.positions is None else [values[n] for n in self.positions],
        )
        make, results = self.row._make, self.results  # type: ignore[attr-defined]
        if not results:
            return [make(row) for row in rows]
        converted = []
        for row in rows:
            fields = list(row)
            for index, convert in results:
                fields[index] = convert(fields[index])
            converted.append(make(fields))
        return converted


#: The statements prepared so far, by statement and database kind. Only
#: statements built once (module constants, or a bounded memo of them) come
#: here, so this stays as small as the code that builds them.
_prepared: dict[tuple[Any, str, str, str], Prepared] = {}


def prepare(statement: Any, dialect: Dialect) -> Prepared:
    """Return ``statement`` (a Core SELECT) compiled for ``dialect``'s DB-API."""
    key = (statement, dialect.name, dialect.driver, dialect.paramstyle)
    prepared = _prepared.get(key)
    if prepared is not None:
        return prepared
    compiled = statement.compile(dialect=dialect)
    sql, rendered = compiled.string, set()
    for name, bind in compiled.binds.items():
        marker = f"__[POSTCOMPILE_{name}]"
        if marker not in sql:
            continue
        if bind.required or bind.expanding:
            # An IN list is rendered per call; that is not for this path.
            raise ValueError(f"{name} must be bound at each call: {statement}")
        # A constant SQLAlchemy writes into the SQL (a separator, say).
        literal = compiled.render_literal_value(bind.effective_value, bind.type)
        sql = sql.replace(marker, literal)
        rendered.add(name)
    # By the names the SQL gives them (anonymous ones such as "status_1").
    binds = compiled.binds.items()
    columns = list(statement.selected_columns)
    # Compiling is idempotent, so threads racing here do no harm.
    prepared = _prepared[key] = Prepared(
        sql=sql,
        defaults={name: b.effective_value for name, b in binds if not b.required},
        required=frozenset(name for name, b in binds if b.required),
        binds=tuple(
            (name, convert)
            for name, bind in binds
            if (convert := bind.type.dialect_impl(dialect).bind_processor(dialect))
        ),
        positions=tuple(n for n in compiled.positiontup or () if n not in rendered)
        if compiled.positional
        else None,
        row=namedtuple("Row", statement.selected_columns.keys(), rename=True),
        results=tuple(
            (index, convert)
            for index, column in enumerate(columns)
            if (
                convert := column.type.dialect_impl(dialect).result_processor(
                    dialect, None
                )
            )
        ),
    )
    return prepared


def read_rows(
    statement: Executable, params: dict[str, Any], engine: Engine | None = None
) -> list:
    """Run one read-only Core ``statement`` alone; return its rows.

    For the reader's hot statements (the validators behind every page and
    304, the lists and post pages), whose cost is most of what the site
    spends: a statement reads one consistent snapshot by itself, so the
    BEGIN, the session and its teardown would only add cost, and so would
    SQLAlchemy's execution of it, several times what the database spends.
    The statement is compiled once per database kind (:func:`prepare`; build
    it once, as a module constant) and run with the DB-API; its rows are
    named tuples with the columns' values converted as SQLAlchemy converts
    them. Statements of one page may see different moments (a neighbour
    published in between), which a reader cannot tell from a page rendered a
    moment later. A connection the server had closed (a restart) is replaced
    and the statement run once more (:func:`fetch_all`).
    """
    engine = engine or get_engine()
    return prepare(statement, engine.dialect).run(engine, params)


def fetch_all(engine: Engine, sql: str, params: Sequence | dict) -> list[tuple]:
    """Run one read-only statement on a lone DB-API connection; return its rows.

    If the server had closed the connection (a restart), the statement runs
    once more on a fresh one; a second failure is raised. The driver's errors
    are raised as SQLAlchemy's, as the ORM would raise them, so callers
    handle one family of errors whatever the database.
    """
    driver_error = engine.dialect.loaded_dbapi.Error
    retried = False
    while True:
        try:
            # Connecting runs the engine's connect listeners (SQLite's
            # PRAGMAs), whose errors SQLAlchemy passes on unwrapped too.
            with lone_statements(engine) as connection:
                try:
                    cursor = connection.cursor()
                    try:
                        cursor.execute(sql, params)
                        return cursor.fetchall()
                    finally:
                        cursor.close()
                except driver_error as error:
                    closed = _forget_if_closed(engine, connection, error)
                    if closed and not retried:
                        retried = True
                        continue
                    raise DBAPIError.instance(
                        sql,
                        params,
                        error,
                        driver_error,
                        connection_invalidated=closed,
                        dialect=engine.dialect,
                    ) from error
        except driver_error as error:
            raise DBAPIError.instance(
                sql, params, error, driver_error, dialect=engine.dialect
            ) from error


def _forget_if_closed(engine: Engine, connection: Any, error: Any) -> bool:
    """Tell whether ``error`` says the server closed ``connection``; if so, drop it.

    Every other connection made before it is replaced at its next checkout,
    as Core does after a disconnect: a restart closed them all at once.
    """
    if not engine.dialect.is_disconnect(error, connection.dbapi_connection, None):
        return False
    connection.invalidate(error)
    watch = _server_connections.get(engine)
    if watch is not None:
        watch.lost()
    return True


@contextmanager
def lone_statements(engine: Engine) -> Iterator[Any]:
    """Yield a pooled DB-API connection on which each statement runs alone.

    For :func:`fetch_all`, where one statement is the whole cost: SQLite
    runs a lone SELECT without a transaction already; psycopg would BEGIN
    before it and the pool ROLLBACK after it, so on PostgreSQL the
    connection is in autocommit while it is lent.
    """
    connection = engine.raw_connection()
    try:
        if engine.dialect.name != "postgresql":
            yield connection
            return
        dbapi_connection: Any = connection.dbapi_connection
        dbapi_connection.autocommit = True
        try:
            yield connection
        finally:
            # Unless it was dropped as closed, when psycopg would refuse.
            if connection.is_valid:
                dbapi_connection.autocommit = False
    finally:
        connection.close()


#: The mode of the database file, and so of its -wal and -shm files, which SQLite
#: creates with the database's mode: the serving user and its group only.
DATABASE_MODE = 0o640


def create_private_file(path: Path) -> None:
    """Create an empty database file that other local users cannot read."""
    # SQLite would create it with 0644 (less the umask): password hashes and
    # drafts readable by every local account. An empty file is a valid empty
    # database. Any other failure (a missing folder) is SQLite's to report.
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DATABASE_MODE))
    except OSError:
        pass


def make_private(path: Path) -> None:
    """Take away other users' access to the database and its -wal and -shm."""
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            mode = file.stat().st_mode
            if mode & 0o007:
                file.chmod(mode & 0o770)
        except OSError:
            pass  # missing, or someone else's: `flask doctor` reports it


def make_engine(url: str, pool_size: int = 20, max_overflow: int = 10) -> Engine:
    """Create an engine configured for this project's concurrency rules."""
    options: dict = {}
    is_sqlite = url.startswith("sqlite")
    path = sqlite_path(url) if is_sqlite else None
    in_memory = is_sqlite and path is None
    if not in_memory:
        # The pool must hold at least one connection per server thread, or
        # threads queue for connections rather than for the database. For file
        # databases SQLAlchemy uses a QueuePool: a connection passes from thread
        # to thread only through the pool, one thread at a time, and sessions,
        # one per thread, are never shared.
        # (An in-memory database keeps SQLAlchemy's one-connection-per-thread
        # pool: each connection is its own database.)
        options.update(pool_size=pool_size, max_overflow=max_overflow, pool_timeout=30)
    if is_sqlite:
        # Python's own busy wait, as a second line behind the PRAGMA.
        options["connect_args"] = {"timeout": 30}
    engine = create_engine(url, **options)
    if not is_sqlite:
        # A server restart, a failover or an idle timeout closes pooled
        # connections behind the pool's back, and each would then fail the
        # request it is handed. Not pool_pre_ping, whose ping at every
        # checkout doubles the round trips of a cached page: connections
        # that sat idle are pinged, the reader's reads are retried once
        # (see _ServerConnections). A SQLite file has no server to lose.
        _watch_server_connections(engine)
    if path is not None:
        event.listen(engine, "do_connect", lambda *_: create_private_file(path))
    if is_sqlite:
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "do_connect", _name_the_process)
        event.listen(engine, "begin", _on_begin_postgresql)
    event.listen(engine, "before_cursor_execute", _refuse_unlocked_writes)
    _engines.add(engine)
    return engine


def journal_mode(app: Flask | None = None) -> str:
    """Return the journal mode of the database."""
    with get_engine(app).connect() as conn:
        return str(conn.exec_driver_sql("PRAGMA journal_mode").scalar())


def connect_file(path: Path, *, read_only: bool = False) -> closing[sqlite3.Connection]:
    """Open a stand-alone database file, such as a backup; close it on exit.

    Not the site's database, so not the engine. A copy opened ``read_only``
    can never be changed (``mode=ro``). sqlite3's own with-block only commits;
    closing() is what is wanted here.
    """
    if read_only:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        return closing(sqlite3.connect(uri, uri=True))
    return closing(sqlite3.connect(path))


def standalone_session(engine: Engine) -> Session:
    """Return a session on a database other than the site's, such as a backup's."""
    # Not the scoped session: it belongs to no request and to no thread, and
    # the caller closes it (``with standalone_session(engine) as s:``).
    return Session(engine)


def _remove_session(_exc: BaseException | None = None) -> None:
    # Closing the session rolls back whatever a failed request left open and
    # returns its connection to the pool; the thread's next request starts clean.
    session.remove()


def init_app(app: Flask) -> None:
    """Create the app's engine and release sessions after each request."""
    url = app.config.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    path = sqlite_path(url)
    if path is not None and not path.is_absolute():
        # A relative path would follow the working directory, which differs
        # between the CLI, the dev server and Apache.
        raise RuntimeError(f"DATABASE_URL must name an absolute path, not {url!r}")
    app.extensions[EXTENSION_KEY] = make_engine(
        url,
        pool_size=app.config.setdefault("DATABASE_POOL_SIZE", 20),
        max_overflow=app.config.setdefault("DATABASE_MAX_OVERFLOW", 10),
    )
    # Both hooks: requests, and app contexts pushed by CLI commands or tests.
    app.teardown_request(_remove_session)
    app.teardown_appcontext(_remove_session)
