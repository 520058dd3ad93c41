"""The schema: creating it, upgrading an older database in place, checking it.

Upgrading homepage must not cost anyone their posts, so ``init-db`` (which
``first-run`` and ``make run`` call too) creates what is missing and upgrades
what is old, and never drops anything.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import Connection, inspect, or_, select, true, update
from sqlalchemy.engine import Engine

from ..db import Base, get_engine, make_private, sqlite_path
from . import content, counts, images, markdown, models, posts, search


def init_db(app: Flask | None = None, engine: Engine | None = None) -> None:
    """Create every table that does not exist yet; never drop anything.

    :param engine: a database other than the app's, such as a backup's copy.
    """
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
        content.create_state(connection)
        # The index first, so that a post rendered again is indexed again.
        search.create_index(connection)
        rerender_posts(connection)
        # Counted afresh: cheap next to an upgrade, and it also covers a
        # database written by an older version or by bulk statements.
        counts.recount(connection)
    # Images stored before uploads were stripped of their metadata; only the
    # site's own database names the files in its upload folder.
    if own_database:
        images.strip_stored_images(app)
        process_images(app)


def process_images(app: Flask | None = None, *, again: bool = False) -> int:
    """Make the variants of stored images, then render the posts that show them.

    Returns how many images were processed. See images.make_stored_variants.
    """
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


def upgrade_schema(engine: Engine) -> list[str]:
    """Add the columns and indexes that newer models have and the database lacks.

    Upgrading homepage must not cost anyone their posts, so ``init-db`` also
    upgrades: SQLite can add a column to a table in place, given a constant
    default for the rows already there, and ``create_all`` makes the indexes of
    new tables only. Nothing the models no longer name is dropped. Returns what
    it added.
    """
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
    inspector = inspect(get_engine(app))
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
