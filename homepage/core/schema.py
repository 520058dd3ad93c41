"""The schema: creating it, migrating it with Alembic, checking it.

Upgrading homepage must not cost anyone their posts, so ``init-db`` (which
``first-run`` and ``make run`` call too) runs the Alembic revisions the
database lacks (``migrations/versions/``). A database made before homepage
used Alembic has no ``alembic_version`` table: it is brought to the baseline's
shape by the old add-only upgrade, then stamped with the baseline revision.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import Flask, current_app
from sqlalchemy import Connection, MetaData, inspect, or_, select, text, true, update
from sqlalchemy.engine import Dialect, Engine

from ..db import WRITE_LOCK, Base, get_engine, make_engine, make_private, sqlite_path
from . import content, counts, images, keys, markdown, models, posts, search

#: Alembic's environment and revisions, inside the package so that an
#: installed copy has them; no alembic.ini is read.
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

#: The revision that creates the schema as it was when homepage adopted
#: Alembic: what a database from before then is stamped with.
BASELINE = "0001"

#: PostgreSQL's advisory lock that serializes migrations across hosts (any
#: constant the site uses for nothing else; these are "homepage" in ASCII).
MIGRATION_LOCK_KEY = 0x686F6D6570616765


#: The full-text index: an FTS5 virtual table that the baseline revision makes
#: with raw SQL, and the shadow tables SQLite makes for it; on PostgreSQL a
#: table of that name with a generated tsvector (revision 0002). The models do
#: not describe them (SQLAlchemy cannot describe FTS5), so autogenerate would
#: offer to drop them.
SEARCH_TABLES = frozenset(
    {
        "post_search",
        "post_search_config",
        "post_search_content",
        "post_search_data",
        "post_search_docsize",
        "post_search_idx",
    }
)


def include_object(_object, name, type_, _reflected, _compare_to) -> bool:
    """Leave the search index out of autogenerate's comparison."""
    return not (type_ == "table" and name in SEARCH_TABLES)


class MigrationError(RuntimeError):
    """The database cannot be migrated (a revision this code does not know)."""


@dataclass(frozen=True)
class Revision:
    """One revision of the schema, as ``db history`` lists it."""

    id: str
    down: str | None
    message: str
    is_current: bool
    is_head: bool


def alembic_config(connection: Connection | None = None) -> Config:
    """Return Alembic's configuration, made in code, for ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # A module name may not start with a digit (mypy checks the revisions).
    config.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
    # env.py runs the revisions on this connection, inside its transaction.
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """Return the newest revision of the schema this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "migrations/versions holds no revision"
    return head


def current_revision(engine: Engine) -> str | None:
    """Return the database's revision, or None if Alembic never stamped it."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def revision_history(engine: Engine) -> list[Revision]:
    """List every revision the code knows, newest first."""
    current = current_revision(engine)
    script = ScriptDirectory.from_config(alembic_config())
    heads = set(script.get_heads())
    return [
        Revision(
            id=revision.revision,
            down=str(revision.down_revision) if revision.down_revision else None,
            message=revision.doc,
            is_current=revision.revision == current,
            is_head=revision.revision in heads,
        )
        for revision in script.walk_revisions()
    ]


@contextmanager
def migration_lock(engine: Engine) -> Iterator[Connection]:
    """Yield a connection in a transaction that only one migration holds at a time.

    SQLite: the transaction begins with ``BEGIN IMMEDIATE``, which takes the
    database's write lock before the version is read, so a second process
    starting at the same moment waits on the busy timeout, then reads the
    version the first one committed and has nothing left to do. DDL is
    transactional in SQLite, so a failed revision leaves nothing behind. (A
    lock file would also need the database's folder writable and would not
    reach a second host; the database's own lock needs neither.)
    PostgreSQL: a transaction-scoped advisory lock does the same across hosts.
    Foreign keys are off while SQLite migrates, as its documentation asks for
    batch mode's table copies (dropping the old table would otherwise cascade
    to the rows that refer to it); :func:`_check_foreign_keys` checks them
    after a migration, before the commit.
    """
    with engine.connect() as connection:
        connection.execution_options(**{WRITE_LOCK: True})
        is_sqlite = connection.dialect.name == "sqlite"
        # Straight to the driver: inside a transaction SQLite ignores this
        # pragma, and anything through SQLAlchemy would begin one first.
        raw = connection.connection.dbapi_connection
        assert raw is not None
        if is_sqlite:
            raw.execute("PRAGMA foreign_keys = OFF")
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"),
                        {"key": MIGRATION_LOCK_KEY},
                    )
                yield connection
        finally:
            if is_sqlite:
                raw.execute("PRAGMA foreign_keys = ON")


def _check_foreign_keys(connection: Connection) -> None:
    """Refuse to commit a migration that left rows pointing at nothing."""
    if connection.dialect.name != "sqlite":
        return  # PostgreSQL checks them on every statement
    if broken := connection.exec_driver_sql("PRAGMA foreign_key_check").all():
        raise MigrationError(
            f"the migration broke {len(broken)} foreign keys, first in "
            f"{broken[0][0]}; nothing was changed"
        )


def _refuse_unknown(current: str | None) -> None:
    """Refuse a database whose revision this code does not know."""
    if current is None:
        return
    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(current)
    except CommandError:
        raise MigrationError(
            f"the database is at revision {current}, which this version of "
            "homepage does not know: a newer version migrated it. Run that "
            "version, or restore a backup made before the migration."
        ) from None


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision``, first adopting one from before Alembic.

    :raise MigrationError: the database or ``revision`` is unknown to this code.
    """
    with migration_lock(engine) as connection:
        config = alembic_config(connection)
        before = MigrationContext.configure(connection).get_current_revision()
        _refuse_unknown(before)
        if predates_alembic(connection):
            adopt(connection, config)
        try:
            command.upgrade(config, revision)
        except CommandError as error:
            raise MigrationError(str(error)) from None
        if MigrationContext.configure(connection).get_current_revision() != before:
            _check_foreign_keys(connection)


def downgrade_database(engine: Engine, revision: str) -> None:
    """Migrate the database back to ``revision``, dropping what later ones made.

    :raise MigrationError: the database or ``revision`` is unknown to this code.
    """
    with migration_lock(engine) as connection:
        _refuse_unknown(MigrationContext.configure(connection).get_current_revision())
        try:
            command.downgrade(alembic_config(connection), revision)
        except CommandError as error:
            raise MigrationError(str(error)) from None
        _check_foreign_keys(connection)


def predates_alembic(connection: Connection) -> bool:
    """Tell whether the database holds the site's tables but no Alembic version."""
    tables = set(inspect(connection).get_table_names())
    return "alembic_version" not in tables and bool(tables & set(Base.metadata.tables))


def baseline_tables() -> MetaData:
    """Return the tables as the baseline revision makes them, read back from SQLite.

    Databases from before Alembic are SQLite files, and are brought to this
    shape, not the models' (which later revisions change), before they are
    stamped with the baseline.
    """
    scratch = make_engine("sqlite://")
    try:
        upgrade_database(scratch, BASELINE)
        tables = MetaData()
        tables.reflect(
            scratch,
            only=lambda name, _: name not in SEARCH_TABLES | {"alembic_version"},
        )
    finally:
        scratch.dispose()
    return tables


def adopt(connection: Connection, config: Config) -> None:
    """Bring a database from before Alembic to the baseline, and stamp it so.

    The add-only upgrade that served before Alembic makes the tables,
    columns and indexes it lacks. A column added in place keeps the default
    SQLite needed to fill the rows already there, and one with a default
    may be left nullable, so each table that gained one is then copied into
    the baseline's exact definition (batch mode). Then the baseline's
    revision is recorded without running it.
    """
    baseline = baseline_tables()
    added = upgrade_schema(connection, baseline)
    operations = Operations(MigrationContext.configure(connection))
    for name in sorted({column.partition(".")[0] for column in added if "." in column}):
        with operations.batch_alter_table(
            name, copy_from=baseline.tables[name], recreate="always"
        ):
            pass
    command.stamp(config, BASELINE)


def init_db(app: Flask | None = None, engine: Engine | None = None) -> None:
    """Migrate the database to the newest revision; never lose a row.

    :param engine: a database other than the app's, such as a backup's copy.
    """
    own_database = engine is None
    engine = engine or get_engine(app)
    upgrade_database(engine)
    if (path := sqlite_path(str(engine.url))) is not None:
        make_private(path)  # a file an older version created readable by all
    # What the revisions do not make: the site's state row, and the
    # full-text index filled for posts written before it existed (a backup's
    # copy has its index dropped, to be rebuilt here).
    with engine.begin() as connection:
        # A database from before roles has only plain authors: keep an owner.
        models.ensure_owner(connection)
        content.create_state(connection)
        # The index first, so that a post rendered again is indexed again.
        search.create_index(connection)
        rerender_posts(connection)
        # Counted afresh: cheap next to an upgrade, and it also covers a
        # database written by an older version or by bulk statements.
        counts.recount(connection)
        if own_database:
            keys.adopt_key_file(
                connection, Path((app or current_app).instance_path) / "secret_key"
            )
    # Images stored before uploads were stripped of their metadata; only the
    # site's own database names the files in its upload folder.
    if own_database:
        images.strip_stored_images(app)
        process_images(app)


def process_images(app: Flask | None = None, *, again: bool = False) -> int:
    """Make the variants of stored images, then render the posts that show them.

    First the files uploaded before the database held them go into it, and
    files of images deleted through another host leave this host's upload
    folder (its cache). Returns how many images were processed. See
    images.make_stored_variants.
    """
    images.store_files_in_database(app)
    images.prune_cache(app)
    names = images.make_stored_variants(app, again=again)
    if names:
        with get_engine(app).begin() as connection:
            rerender_posts(connection, showing=names)
    return len(names)


def rerender_posts(
    connection: Connection,
    every: bool = False,
    showing: list[str] | None = None,
    *,
    after: int = 0,
    limit: int | None = None,
) -> list[int]:
    """Render again the posts an older renderer stored; return their ids.

    A newer renderer may write other HTML for the same Markdown (the headings'
    levels, say); stored posts follow it once, here, rather than on a save
    that may never come. The search index, which holds their text, follows.

    :param every: render every post again, whichever renderer stored it.
    :param showing: render instead the posts whose text shows one of these
        library images (their variants changed), whatever their renderer.
    :param after: only posts with a greater id, in the order of their ids;
        with ``limit``, a batch of them.
    """
    post = models.Post
    if showing is not None:
        which = or_(
            *(
                column.contains(f"{images.MEDIA_PATH}{name}", autoescape=True)
                for name in showing
                for column in (post.body, post.summary)
            )
        )
    elif every:
        which = true()
    else:
        which = post.renderer < markdown.RENDERER_VERSION
    stale = connection.execute(
        select(post.id, post.title, post.body, post.summary)
        .where(which, post.id > after)
        .order_by(post.id)
        .limit(limit)
    ).all()
    for row in stale:
        body_html, summary_html = posts.render_text(row.body, row.summary, connection)
        search.index_post(connection, row.id, row.title, summary_html, body_html)
        connection.execute(
            update(post)
            .where(post.id == row.id)
            .values(
                body_html=body_html,
                summary_html=summary_html,
                renderer=markdown.RENDERER_VERSION,
            )
        )
    if stale:
        content.content_changed(connection)
    return [row.id for row in stale]


def upgrade_schema(conn: Connection, tables: MetaData) -> list[str]:
    """Add the tables, columns and indexes of ``tables`` that the database lacks.

    The upgrade from before Alembic, kept to adopt such databases: SQLite can
    add a column to a table in place, given a constant default for the rows
    already there (the models' own, when ``tables`` has none). Nothing is
    dropped. Returns what it added: tables, ``table.column`` and indexes.
    """
    added = []
    # Inspect through the same connection: another one would queue behind
    # this transaction's write lock.
    inspector = inspect(conn)
    for table in tables.sorted_tables:
        if not inspector.has_table(table.name):
            table.create(conn)
            added.append(table.name)
            continue
        columns = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in columns:
                conn.exec_driver_sql(
                    f"ALTER TABLE {table.name} "
                    f"ADD COLUMN {_column_ddl(conn.dialect, column)}"
                )
                added.append(f"{table.name}.{column.name}")
        indexes = {
            index["name"]: index["column_names"]
            for index in inspector.get_indexes(table.name)
        }
        for index in table.indexes:
            if index.name not in indexes:
                index.create(conn)
                added.append(str(index.name))
            elif indexes[index.name] != [column.name for column in index.columns]:
                # An index the models now define on other columns: it holds
                # no data of its own, so it is made again.
                conn.exec_driver_sql(f"DROP INDEX {index.name}")
                index.create(conn)
                added.append(str(index.name))
    return added


def _column_ddl(dialect: Dialect, column) -> str:
    """Return the DDL of ``column`` for ALTER TABLE ADD COLUMN."""
    ddl = f"{column.name} {column.type.compile(dialect=dialect)}"
    # A table read back from a database has no Python-side defaults: the
    # model's column says what older rows get.
    model = Base.metadata.tables.get(column.table.name)
    if column.default is None and model is not None and column.name in model.c:
        column = model.c[column.name]
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
    """Tell whether the database is at the newest revision, with all the models have."""
    engine = get_engine(app)
    if current_revision(engine) != head_revision():
        return False
    inspector = inspect(engine)
    for table in Base.metadata.sorted_tables:
        if not inspector.has_table(table.name):
            return False
        columns = {column["name"] for column in inspector.get_columns(table.name)}
        if not {column.name for column in table.columns} <= columns:
            return False
        indexes = {
            index["name"]: index["column_names"]
            for index in inspector.get_indexes(table.name)
        }
        for index in table.indexes:
            if indexes.get(index.name) != [column.name for column in index.columns]:
                return False
    return True
