"""Copying the site's database into another: moving a blog to or from PostgreSQL.

``flask --app homepage copy-db --to URL`` makes the target's schema with the
migrations, then copies every table in dependency order, in batches, keeping
primary keys, and compares what it wrote with what it read before it commits.
The same code runs in both directions: every value passes through the
models' column types, which store and read them the same way on either
database. What is derived from the posts (the search index, the counts) is
made again on the target by the functions ``init-db`` uses, not copied.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import Table, func, inspect, select, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from ..core import counts, search
from ..core.schema import (
    SEARCH_TABLES,
    MigrationError,
    current_revision,
    downgrade_database,
    head_revision,
    upgrade_database,
)
from ..db import Base, get_engine, make_engine

#: Rows read and written at a time: memory stays bounded whatever the blog's size.
BATCH = 1000

#: Tables made from the others, rebuilt on the target rather than copied.
DERIVED = frozenset({"post_counts"}) | SEARCH_TABLES


class CopyError(click.ClickException):
    """A copy that cannot be made or trusted; the message says why."""


@dataclass(frozen=True)
class Copied:
    """One table as copied: its rows and the checksum of their values."""

    table: str
    rows: int
    checksum: str


def copied_tables() -> list[Table]:
    """Return the tables a copy carries, each after the tables it refers to."""
    return [table for table in Base.metadata.sorted_tables if table.name not in DERIVED]


def shown(engine: Engine) -> str:
    """Return an engine's URL fit for a message: without its password."""
    return engine.url.render_as_string(hide_password=True)


def open_database(url: str) -> Engine:
    """Return an engine on the database ``url`` names, checked by connecting.

    :raise CopyError: the URL is not one homepage can use, or the database
        cannot be reached.
    """
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database:
            # The CLI takes a path relative to where it runs; the engine
            # wants it absolute (see db.init_app).
            parsed = parsed.set(database=str(Path(parsed.database).resolve()))
        engine = make_engine(
            parsed.render_as_string(hide_password=False), pool_size=1, max_overflow=0
        )
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise CopyError(
            f"{url!r} is not a database URL homepage can use (for example "
            "sqlite:////srv/blog/blog.db or postgresql+psycopg://user@host/blog)"
        ) from exc
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        engine.dispose()
        raise CopyError(f"cannot open {shown(engine)}: {_reason(exc)}") from exc
    return engine


def _reason(exc: Exception) -> str:
    """Return what the database said, without SQLAlchemy's statement dump."""
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def filled_tables(engine: Engine) -> list[str]:
    """Return the names of the site's tables that hold rows in ``engine``'s database."""
    with engine.connect() as connection:
        present = set(inspect(connection).get_table_names())
        return [
            table.name
            for table in Base.metadata.sorted_tables
            if table.name in present
            and connection.scalar(select(func.count()).select_from(table))
        ]


def copy_database(source: Engine, target: Engine, *, replace: bool) -> list[Copied]:
    """Copy every table of ``source`` into ``target``; return what was copied.

    :param replace: empty a target that holds rows first.
    :raise CopyError: the source is not at the newest revision, the target
        holds rows (without ``replace``), or the copy differs from the source.
    """
    revision, head = current_revision(source), head_revision()
    if revision != head:
        raise CopyError(
            f"{shown(source)} is at revision {revision or 'none'}, not {head}: "
            "run flask db upgrade on it first"
        )
    filled = filled_tables(target)
    if filled and not replace:
        raise CopyError(
            f"{shown(target)} is not empty: {', '.join(filled)} hold rows. "
            "Copy into a new, empty database, or pass --replace to delete "
            "everything it holds first."
        )
    try:
        if replace:
            # The migrations know everything they made, on either database
            # (the search index included): undoing them all empties it.
            upgrade_database(target)
            downgrade_database(target, "base")
        upgrade_database(target)
    except MigrationError as exc:
        raise CopyError(f"{shown(target)}: {exc}") from exc
    with source.connect() as reading, target.connect() as writing:
        if reading.dialect.name == "postgresql":
            # One snapshot for every table, not one per statement.
            reading = reading.execution_options(isolation_level="REPEATABLE READ")
        # One transaction on each side. On the source it begins like every
        # transaction of a command, with the writer's lock (db.py): the site
        # cannot acknowledge a write that the copy would then miss.
        with reading.begin(), writing.begin():
            copied = [_copy_table(reading, writing, table) for table in copied_tables()]
            differing = _differences(writing, copied)
            if differing:
                # Raising rolls the target's transaction back: nothing stays.
                raise CopyError(
                    "the copy differs from the source in "
                    f"{', '.join(differing)}; nothing was kept"
                )
            search.create_index(writing)
            counts.recount(writing)
            _reset_sequences(writing)
    return copied


def _differences(writing: Connection, copied: list[Copied]) -> list[str]:
    """Compare each table as written with what was read; describe what differs."""
    differing = []
    for done in copied:
        rows, checksum = _summarise(writing, Base.metadata.tables[done.table])
        if rows != done.rows:
            differing.append(f"{done.table} ({done.rows} rows read, {rows} written)")
        elif checksum != done.checksum:
            differing.append(f"{done.table} (checksums differ)")
    return differing


def _rows(connection: Connection, table: Table) -> Iterable[Sequence]:
    """Yield the rows of ``table`` in batches, in primary key order."""
    query = select(table).order_by(*table.primary_key.columns)
    # An option of the statement: set on the connection, it would stay for
    # every statement after (a DELETE cannot use a server-side cursor).
    result = connection.execute(query.execution_options(yield_per=BATCH))
    yield from result.partitions()


def _copy_table(reading: Connection, writing: Connection, table: Table) -> Copied:
    """Copy one table's rows; return their count and checksum as read."""
    keys = [column.key for column in table.columns]
    rows = 0
    total = 0
    try:
        for batch in _rows(reading, table):
            writing.execute(
                table.insert(), [dict(zip(keys, row, strict=True)) for row in batch]
            )
            rows += len(batch)
            total += sum(_row_digest(row) for row in batch)
    except SQLAlchemyError as exc:
        raise CopyError(
            f"copying {table.name} failed: {_reason(exc)}; nothing was kept"
        ) from exc
    return Copied(table.name, rows, _checksum(total))


def _summarise(connection: Connection, table: Table) -> tuple[int, str]:
    """Return the count and checksum of a table's rows as the database holds them."""
    rows = 0
    total = 0
    for batch in _rows(connection, table):
        rows += len(batch)
        total += sum(_row_digest(row) for row in batch)
    return rows, _checksum(total)


def _checksum(total: int) -> str:
    # A sum of each row's SHA-256 rather than one digest over the rows in
    # key order: text keys (slugs) sort differently under PostgreSQL's
    # collation than SQLite's byte order, and a sum needs no order. It still
    # changes with any row changed, lost or repeated.
    return f"{total % (1 << 256):064x}"


def _row_digest(row: Sequence) -> int:
    """Return the SHA-256 of a row's values, written the same for either database."""
    values = json.dumps([_normalised(value) for value in row], ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(values.encode()).digest(), "big")


def _normalised(value: object) -> object:
    """Return a value as JSON can write it, the same whichever database it came from."""
    if isinstance(value, datetime):
        # Aware or naive, as the column type reads it; in UTC either way.
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value  # bool, int, str, None: JSON tells them apart already


def _reset_sequences(connection: Connection) -> None:
    """Make PostgreSQL's sequences give ids after the copied rows' greatest."""
    # Rows were inserted with their ids, which does not advance a sequence;
    # SQLite takes the next id from the table itself.
    if connection.dialect.name != "postgresql":
        return
    for table in copied_tables():
        column = table.autoincrement_column
        if column is None:
            continue
        connection.execute(
            text(
                "SELECT setval(pg_get_serial_sequence(:table, :column), "
                f"coalesce(max({column.name}), 0) + 1, false) FROM {table.name}"
            ),
            {"table": table.name, "column": column.name},
        )


@click.command("copy-db")
@with_appcontext
@click.option(
    "--to",
    "target_url",
    required=True,
    help="The database to copy into, e.g. postgresql+psycopg://user@host/blog.",
)
@click.option(
    "--from",
    "source_url",
    help="The database to copy from; by default the site's DATABASE_URL.",
)
@click.option(
    "--replace", is_flag=True, help="Delete everything the target holds first."
)
def copy_db_command(target_url: str, source_url: str | None, replace: bool) -> None:
    """Copy the site's database into another one (SQLite or PostgreSQL).

    Stop the site, or keep it from writing, while it runs: the copy reads
    one snapshot, and what is written after it is not copied.
    """
    source = open_database(source_url) if source_url else get_engine()
    try:
        target = open_database(target_url)
        try:
            if shown(source) == shown(target):
                raise CopyError("the source and the target are the same database")
            copied = copy_database(source, target, replace=replace)
        finally:
            target.dispose()
    finally:
        if source_url:
            source.dispose()
    for done in copied:
        click.echo(f"{done.table}: {done.rows} rows")
    rows = sum(done.rows for done in copied)
    click.echo(
        f"Copied {rows} rows in {len(copied)} tables to {shown(target)}; every "
        "table's row count and checksum match the source. The search index "
        "and the counts were made afresh."
    )
