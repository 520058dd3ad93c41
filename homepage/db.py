"""The database layer: the one place that creates the engine and the session.

Every other module imports :data:`session` and :class:`Base` from here. The rules
that keep SQLite safe under mod_wsgi's threads and processes live in this file, each
with the reason it exists.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import weakref
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import click
from flask import Flask, current_app, has_request_context, request
from flask.cli import with_appcontext
from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Connection, Engine
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

#: The size SQLite cuts the WAL file back to after a checkpoint, and above which
#: a write request checkpoints it once its response is sent.
JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024

#: How long that checkpoint waits for readers to finish, in milliseconds.
CHECKPOINT_WAIT_MS = 500


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
    from sqlalchemy.engine import make_url

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
    if conn.get_execution_options().get(WRITE_LOCK) or not has_request_context():
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


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
    if path is not None:
        event.listen(engine, "do_connect", lambda *_: create_private_file(path))
    if is_sqlite:
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
        event.listen(engine, "before_cursor_execute", _refuse_unlocked_writes)
    _engines.add(engine)
    return engine


def init_db(app: Flask | None = None, engine: Engine | None = None) -> None:
    """Create every table that does not exist yet; never drop anything.

    :param engine: a database other than the app's, such as a backup's copy.
    """
    from . import caching, images, models, search  # noqa: F401 - registers tables

    own_database = engine is None
    engine = engine or get_engine(app)
    Base.metadata.create_all(engine)
    upgrade_schema(engine)
    if (path := sqlite_path(str(engine.url))) is not None:
        make_private(path)  # a file an older version created readable by all
    # What create_all cannot make: the site's state row and the full-text
    # index (a virtual table), filled for posts written before it existed.
    with engine.begin() as connection:
        # A database from before roles has only plain authors: keep an owner.
        models.ensure_owner(connection)
        caching.create_state(connection)
        search.create_index(connection)
    # Images stored before uploads were stripped of their metadata; only the
    # site's own database names the files in its upload folder.
    if own_database:
        images.strip_stored_images(app)


def upgrade_schema(engine: Engine) -> list[str]:
    """Add the columns and indexes that newer models have and the database lacks.

    Upgrading homepage must not cost anyone their posts, so ``init-db`` also
    upgrades: SQLite can add a column to a table in place, given a constant
    default for the rows already there, and ``create_all`` makes the indexes of
    new tables only. Nothing the models no longer name is dropped. Returns what
    it added.
    """
    from . import models  # noqa: F401

    added = []
    with engine.begin() as conn:
        # Inspect through the same connection: another one would queue behind
        # this transaction's write lock.
        inspector = inspect(conn)
        for table in Base.metadata.sorted_tables:
            if not inspector.has_table(table.name):
                continue
            columns = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in columns:
                    conn.exec_driver_sql(
                        f"ALTER TABLE {table.name} "
                        f"ADD COLUMN {_column_ddl(engine, column)}"
                    )
                    added.append(f"{table.name}.{column.name}")
            indexes = {index["name"] for index in inspector.get_indexes(table.name)}
            for index in table.indexes:
                if index.name not in indexes:
                    index.create(conn)
                    added.append(str(index.name))
    return added


def _column_ddl(engine: Engine, column) -> str:
    """Return the DDL of ``column`` for ALTER TABLE ADD COLUMN."""
    ddl = f"{column.name} {column.type.compile(dialect=engine.dialect)}"
    default = column.default.arg if column.default is not None else None
    if column.server_default is not None:
        return f"{ddl} DEFAULT {column.server_default.arg}"
    if default is not None and not callable(default):
        literal = default if isinstance(default, int | float) else f"'{default}'"
        return f"{ddl} NOT NULL DEFAULT {literal}"
    if column.nullable:
        return ddl
    raise RuntimeError(
        f"Cannot add {column.table.name}.{column.name} to an existing database: "
        "it is required and has no constant default."
    )


def schema_is_current(app: Flask | None = None) -> bool:
    """Tell whether every table, column and index of the models exists."""
    from . import models  # noqa: F401

    inspector = inspect(get_engine(app))
    for table in Base.metadata.sorted_tables:
        if not inspector.has_table(table.name):
            return False
        columns = {column["name"] for column in inspector.get_columns(table.name)}
        if not {column.name for column in table.columns} <= columns:
            return False
        indexes = {index["name"] for index in inspector.get_indexes(table.name)}
        if not {index.name for index in table.indexes} <= indexes:
            return False
    return True


def journal_mode(app: Flask | None = None) -> str:
    """Return the journal mode of the database."""
    with get_engine(app).connect() as conn:
        return str(conn.exec_driver_sql("PRAGMA journal_mode").scalar())


def fetch_one(sql: str, params: tuple = (), app: Flask | None = None) -> tuple | None:
    """Run one read-only statement on a pooled connection with the DB-API.

    For the few hot paths where the ORM's overhead is most of the cost (the
    validators behind every 304). A single statement reads one consistent
    snapshot without a BEGIN; the connection goes straight back to the pool.
    """
    connection = get_engine(app).raw_connection()
    try:
        cursor = connection.cursor()
        try:
            return cursor.execute(sql, params).fetchone()
        finally:
            cursor.close()
    finally:
        connection.close()


def copy_to_file(target: Path, app: Flask | None = None) -> None:
    """Copy the live database into the new file ``target`` in one snapshot."""
    # SQLite's online backup API, from a pooled connection that is already set
    # up (busy timeout, WAL). pages=-1 copies everything in one step, so the
    # copy is one consistent snapshot instead of restarting each time a writer
    # commits, and the site keeps serving meanwhile.
    create_private_file(target)  # password hashes and drafts, like the original
    live = get_engine(app).raw_connection()
    try:
        # Only an invalidated connection has no driver connection.
        assert live.driver_connection is not None
        with closing(sqlite3.connect(target)) as copy:
            live.driver_connection.backup(copy, pages=-1)
            # One self-contained file: no -wal or -shm beside it.
            copy.execute("PRAGMA journal_mode = DELETE")
    finally:
        live.close()


def copy_from_file(source: Path, app: Flask | None = None) -> None:
    """Replace the live database's content with the database file ``source``."""
    # The backup API writes into the live database in one transaction: other
    # connections, in this process or in Apache's, see either the old content
    # or the new, and wait on the busy timeout meanwhile.
    live = get_engine(app).raw_connection()
    try:
        assert live.driver_connection is not None  # as in copy_to_file
        with open_file_read_only(source) as copy:
            copy.backup(live.driver_connection, pages=-1)
    finally:
        live.close()


def open_file_read_only(path: Path) -> closing[sqlite3.Connection]:
    """Open a stand-alone database file (a backup) read-only; close on exit."""
    # Not the site's database, so not the engine: a copy must never be
    # changed, and mode=ro guarantees it. sqlite3's own with-block only
    # commits; closing() is what is wanted here.
    uri = f"{path.resolve().as_uri()}?mode=ro"
    return closing(sqlite3.connect(uri, uri=True))


def _remove_session(_exc: BaseException | None = None) -> None:
    # Closing the session rolls back whatever a failed request left open and
    # returns its connection to the pool; the thread's next request starts clean.
    session.remove()


def _checkpoint(engine: Engine, logger: logging.Logger) -> None:
    """Copy the WAL into the database and truncate it, unless readers hold it."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        # Give readers a moment to finish, but never hold a thread for long:
        # the next large write tries again.
        cursor.execute(f"PRAGMA busy_timeout = {CHECKPOINT_WAIT_MS}")
        try:
            busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        finally:
            cursor.execute("PRAGMA busy_timeout = 30000")
        if busy:
            logger.info("WAL checkpoint deferred: readers were still busy")
    except sqlite3.Error:
        logger.exception("WAL checkpoint failed")
    finally:
        connection.close()


def _checkpoint_large_wal(response):
    """Schedule a WAL checkpoint when a write request left the WAL large."""
    # SQLite checkpoints by itself after commits, but only as far as the
    # oldest reader allows, and restarts the WAL only when no reader uses it.
    # Under a steady stream of readers the WAL therefore keeps growing. A
    # TRUNCATE checkpoint waits for those readers to move on; running it after
    # the response is sent keeps that wait off the author's request.
    if request.method in READ_ONLY_METHODS:
        return response
    engine = get_engine()
    path = sqlite_path(str(engine.url))
    if path is None:
        return response
    try:
        size = os.stat(f"{path}-wal").st_size
    except OSError:
        return response
    if size > JOURNAL_SIZE_LIMIT:
        logger = current_app.logger
        response.call_on_close(lambda: _checkpoint(engine, logger))
    return response


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
    app.after_request(_checkpoint_large_wal)
    app.cli.add_command(init_db_command)


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create the database schema; existing data is kept."""
    init_db()
    click.echo(f"Initialized the database at {current_app.config['DATABASE_URL']}.")
