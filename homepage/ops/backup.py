"""Backing up the database and the uploaded images, and restoring a backup.

A backup is a folder::

    blog.db          SQLite: a copy made with SQLite's online backup API
    blog.dump        PostgreSQL: an archive made by pg_dump (custom format)
    uploads/NAME     every image the copied database knows about
    manifest.json    the size and SHA-256 of each file above, and which
                     database (``kind``) the backup holds

SQLite's backup API copies the database in one step inside a read transaction,
so the copy is consistent while the site keeps serving (in WAL mode readers
never block writers, and writers never block it). Files are written under a
temporary name and renamed when verified, so a folder with a manifest is
always a complete, checked backup. A backup holds password hashes, drafts and
login sessions: its folder is 0700 and its files 0600, the serving user's alone.

A restore checks a backup before it touches the site: the manifest's shape,
every checksum, the database's integrity, and then whether the database fits
this version's models. That last check runs on a scratch copy, upgraded the
way ``init-db`` upgrades, and it is that checked copy which replaces the live
database.

On PostgreSQL the same steps use its own tools (``pgtools.py``): pg_dump's
snapshot in place of the backup API, ``pg_restore --list`` in place of the
integrity check, and a scratch database in place of the scratch copy; the
checked scratch database, dumped again, replaces the site's tables in one
transaction (``pg_restore --clean --single-transaction``), so a restore that
fails halfway leaves the site as it was. A backup restores only onto the kind
of database it was made from; ``copy-db`` moves a blog between the two.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import Table, delete, inspect, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ..core import content, images
from ..core.models import Image, ImageVariant, LoginSession, SiteState
from ..core.schema import init_db
from ..db import (
    Base,
    connect_file,
    create_private_file,
    get_engine,
    make_engine,
    session,
    sqlite_path,
    standalone_session,
)
from . import pgtools

MANIFEST = "manifest.json"
DATABASE = "blog.db"
UPLOADS = "uploads"
FORMAT = 1

#: The kinds of database a backup holds (SQLAlchemy's dialect names), the
#: file each is stored in, and the format of that file. A manifest without a
#: kind comes from before PostgreSQL: a SQLite backup.
SQLITE = "sqlite"
POSTGRESQL = "postgresql"
DATABASE_FILES = {SQLITE: DATABASE, POSTGRESQL: "blog.dump"}
DATABASE_FORMATS = {SQLITE: "sqlite", POSTGRESQL: "pg_dump custom"}
KIND_NAMES = {SQLITE: "SQLite", POSTGRESQL: "PostgreSQL"}

#: A manifest lists each image in about 150 bytes: this allows some 400,000
#: images while keeping a hostile file from filling memory before parsing.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024

_SHA256 = re.compile(r"[0-9a-f]{64}")


class BackupError(click.ClickException):
    """A backup that cannot be written or trusted; the message says why."""


def site_kind() -> str:
    """Return the kind of the site's database: SQLITE or POSTGRESQL."""
    kind = get_engine().dialect.name
    if kind == SQLITE:
        live_database()
    elif kind != POSTGRESQL:
        raise BackupError(f"backups need SQLite or PostgreSQL, not {kind}")
    return kind


def live_database() -> Path:
    """Return the site's database file."""
    path = sqlite_path(current_app.config["DATABASE_URL"])
    if path is None:
        raise BackupError("backups need a SQLite database file")
    return path


def data_folder() -> Path:
    """Return the folder where the site's data lives, for backups and scratch copies.

    SQLite: beside the database file. PostgreSQL has no such file: beside
    the uploaded images, which the serving user writes too.
    """
    if site_kind() == SQLITE:
        return live_database().parent
    return images.upload_folder().parent


def sha256(path: Path) -> str:
    """Return the SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _live_image_names() -> list[str]:
    """Return the names of the image files the site's database knows about now."""
    with get_engine().connect() as connection:
        names = list(connection.scalars(select(Image.name)))
        names += connection.scalars(select(ImageVariant.name))
    return [name for name in names if images.FILE_NAME.fullmatch(name)]


def _image_names(database: Path) -> list[str]:
    """Return the names of the image files a database copy knows about: the
    images and their variants (smaller widths, WebP, AVIF)."""
    with connect_file(database, read_only=True) as conn:
        rows = conn.execute("SELECT name FROM images ORDER BY name").fetchall()
        has_variants = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
            ("image_variants",),
        ).fetchone()
        if has_variants:
            rows += conn.execute(
                "SELECT name FROM image_variants ORDER BY name"
            ).fetchall()
    return [name for (name,) in rows if images.FILE_NAME.fullmatch(name)]


def backup_folder() -> Path:
    """Return the folder that holds backups named by the time they were made."""
    configured = current_app.config.get("BACKUP_FOLDER")
    return Path(configured) if configured else data_folder() / "backups"


def new_backup_path(folder: Path, prefix: str = "") -> Path:
    """Return a path in ``folder`` named after the current time, not yet taken."""
    # To the second, so that several backups a day each get their own folder.
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    target = folder / f"{prefix}{stamp}"
    number = 1
    while target.exists():
        number += 1
        target = folder / f"{prefix}{stamp}-{number}"
    return target


def _make_private_folder(folder: Path) -> None:
    """Create ``folder`` (and missing parents) for the current user alone."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(
            f"cannot create {exc.filename or folder}: {exc.strerror}. Run the "
            "command as the serving user (runuser -u www-data -- ...) and give "
            "it a folder that user may write."
        ) from exc


def _close_to_others(folder: Path) -> None:
    """Make a backup's folders 0700 and files 0600: the owner's alone."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)


def write_backup(target: Path) -> dict:
    """Write a verified backup folder at ``target``; return its manifest."""
    kind = site_kind()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target} already exists; choose a new folder")
    _make_private_folder(target.parent)
    staging = target.with_name(f".{target.name}.partial-{secrets.token_hex(4)}")
    try:
        staging.mkdir(mode=0o700)
    except OSError as exc:
        raise BackupError(f"cannot write in {target.parent}: {exc.strerror}") from exc
    try:
        # Before anything is written into it: the umask may have left it open.
        staging.chmod(0o700)
        database = DATABASE_FILES[kind]
        if kind == SQLITE:
            copy_to_file(staging / database)
            names = _image_names(staging / database)
        else:
            # pg_dump's snapshot cannot be read here: the images known before
            # it and after it include every one it holds.
            names = _live_image_names()
            pgtools.dump(get_engine(), staging / database)
            names = sorted(set(names) | set(_live_image_names()))
        (staging / UPLOADS).mkdir()
        missing = []
        for name in names:
            try:
                # This host's copy, cached from the database if need be.
                cached = images.cached_file(name)
                if cached is None:
                    raise FileNotFoundError(name)
                shutil.copyfile(cached, staging / UPLOADS / name)
            except FileNotFoundError:
                # Deleted after the snapshot; its post no longer shows it.
                missing.append(name)
        files = {}
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                relative = path.relative_to(staging).as_posix()
                files[relative] = {"size": path.stat().st_size, "sha256": sha256(path)}
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "kind": kind,
            "database": database,
            "database_format": DATABASE_FORMATS[kind],
            "files": files,
            "missing_images": missing,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        _close_to_others(staging)
        verify(staging)
        if target.exists():
            target.rmdir()
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


# -- copies of database files -------------------------------------------------


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
        with connect_file(target) as copy:
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
        with connect_file(source, read_only=True) as copy:
            copy.backup(live.driver_connection, pages=-1)
    finally:
        live.close()


def copy_file(source: Path, target: Path) -> None:
    """Copy the stand-alone database file ``source`` into the new file ``target``."""
    with connect_file(source, read_only=True) as copy, connect_file(target) as out:
        copy.backup(out)


def make_self_contained(path: Path) -> None:
    """Switch a stand-alone database file back to a rollback journal (no -wal)."""
    with connect_file(path) as connection:
        connection.execute("PRAGMA journal_mode = DELETE")


def _safe_relative(name: str, database: str) -> bool:
    """Tell whether a manifest entry names a file a backup may contain."""
    if name == database:
        return True
    folder, _, file = name.partition("/")
    return folder == UPLOADS and bool(images.FILE_NAME.fullmatch(file))


def read_manifest(folder: Path) -> dict:
    """Read a backup's manifest and check that it has every field, well typed."""
    path = folder / MANIFEST
    try:
        with path.open("rb") as file:
            data = file.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError as exc:
        raise BackupError(f"{folder} has no {MANIFEST}; it is not a backup") from exc
    except OSError as exc:
        raise BackupError(f"{path} cannot be read: {exc.strerror}") from exc
    if len(data) > MAX_MANIFEST_BYTES:
        raise BackupError(f"{path} is too large to be a manifest")
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError) as exc:
        # Invalid UTF-8 is a ValueError too. json's decoder gives up on deep
        # nesting at the interpreter's recursion limit, a thousand levels or
        # so, which costs nothing worth bounding further.
        raise BackupError(f"{path} is damaged") from exc
    if not isinstance(manifest, dict) or not _is_int(manifest.get("format")):
        raise BackupError(f"{path} is damaged: it has no format number")
    if manifest["format"] != FORMAT:
        raise BackupError(f"{folder} is not a backup this version can read")
    created_at = manifest.get("created_at")
    if not isinstance(created_at, str) or not _is_date(created_at):
        raise BackupError(f"{path} is damaged: 'created_at' is not a date")
    kind = manifest.setdefault("kind", SQLITE)
    if not isinstance(kind, str) or kind not in DATABASE_FILES:
        raise BackupError(f"{path} is damaged: 'kind' is not a database homepage uses")
    database = DATABASE_FILES[kind]
    if manifest.get("database") != database:
        raise BackupError(f"{path} is damaged: 'database' is not {database!r}")
    files = manifest.get("files")
    if not isinstance(files, dict) or database not in files:
        raise BackupError(f"{path} lists no database")
    for name, expected in files.items():
        # A manifest is data from disk: it must not point outside the folder.
        if not _safe_relative(name, database):
            raise BackupError(f"{path} lists an unexpected file {name!r}")
        if not (
            isinstance(expected, dict)
            and _is_int(expected.get("size"))
            and isinstance(expected.get("sha256"), str)
            and _SHA256.fullmatch(expected["sha256"])
        ):
            raise BackupError(f"{path} is damaged: no size and SHA-256 for {name!r}")
    missing = manifest.get("missing_images")
    if not isinstance(missing, list) or not all(isinstance(n, str) for n in missing):
        raise BackupError(f"{path} is damaged: 'missing_images' is not a list")
    return manifest


def _is_int(value: object) -> bool:
    """Tell whether a JSON value is a whole number (JSON's true is not 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_date(text: str) -> bool:
    """Tell whether ``text`` is an ISO 8601 date and time."""
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def refuse_other_kind(manifest: dict, folder: Path) -> None:
    """Refuse to restore a backup of another kind of database than the site's."""
    kind, site = manifest["kind"], site_kind()
    if kind != site:
        raise BackupError(
            f"{folder} is a backup of a {KIND_NAMES[kind]} database and this "
            f"site runs on {KIND_NAMES[site]}: restore it onto a {KIND_NAMES[kind]} "
            "site, then move the blog with copy-db"
        )


def verify(folder: Path) -> dict:
    """Check a backup folder's manifest, checksums and database; return the manifest.

    SQLite: the database passes its integrity check. PostgreSQL: pg_restore
    reads the archive's table of contents (whether it loads and fits is
    checked on a scratch database, by :func:`checked_database`).
    """
    manifest = read_manifest(folder)
    for name, expected in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            raise BackupError(f"{path} is missing")
        if (
            path.stat().st_size != expected["size"]
            or sha256(path) != expected["sha256"]
        ):
            raise BackupError(f"{path} does not match its checksum")
    if manifest["kind"] == POSTGRESQL:
        archive = folder / manifest["database"]
        pgtools.program("pg_restore")  # missing: its own message, not "damaged"
        try:
            pgtools.list_archive(archive)
        except pgtools.ToolError as exc:
            raise BackupError(f"{archive} is not a readable archive: {exc}") from exc
        return manifest
    try:
        with connect_file(folder / DATABASE, read_only=True) as conn:
            result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{folder / DATABASE} is not a database: {exc}") from exc
    if result != ["ok"]:
        raise BackupError(f"{folder / DATABASE} failed its integrity check: {result}")
    if not {"posts", "authors", "images"} <= tables:
        raise BackupError(f"{folder / DATABASE} is not this blog's database")
    return manifest


@contextmanager
def scratch_folder() -> Iterator[Path]:
    """Make a temporary folder beside the live database; remove it afterwards."""
    # Beside the database rather than in /tmp: that file system has room for
    # a copy of the database, and a small /tmp (often in memory) may not.
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=data_folder()) as folder:
        yield Path(folder)


def checked_database(folder: Path, manifest: dict, scratch: Path) -> Path:
    """Check that a backup's database fits this version; return the checked file.

    The file, in ``scratch``, is what :func:`replace_site` puts in place: a
    SQLite database file, or a PostgreSQL archive.

    :raise BackupError: the database does not fit this version's models.
    """
    if manifest["kind"] == SQLITE:
        return checked_copy(folder, scratch)
    return checked_archive(folder / manifest["database"], scratch)


def checked_archive(archive: Path, scratch: Path) -> Path:
    """Load a PostgreSQL archive into a scratch database, upgrade and check it; dump it.

    The scratch database gets what ``init-db`` would add and must pass the
    checks :func:`checked_copy` makes; then the sessions it holds are
    deleted and its content version put past the site's (see
    :func:`replace_site`), so that the archive dumped from it is the site's
    next state exactly, ready to replace the site's tables in one step.

    :raise BackupError: the archive does not load or does not fit.
    """
    checked = scratch / DATABASE_FILES[POSTGRESQL]
    unfit = f"{archive} does not fit this version of homepage"
    live = get_engine()
    with live.connect() as connection:
        live_version = connection.scalar(select(SiteState.version)) or 0
        triggers = set(_triggers(connection))
    with pgtools.scratch_database(live) as engine:
        try:
            pgtools.restore(engine, archive)
        except pgtools.ToolError as exc:
            raise BackupError(
                f"{archive} does not load into a scratch database: {exc}"
            ) from exc
        try:
            init_db(engine=engine)
            problems = _schema_problems(engine, allowed_triggers=triggers)
            problems = problems or _unreadable_rows(engine)
        except RuntimeError as exc:
            raise BackupError(f"{unfit}: {exc}") from exc
        except SQLAlchemyError as exc:
            raise BackupError(f"{unfit}: {_reason(exc)}") from exc
        if problems:
            raise BackupError(f"{unfit}: {'; '.join(problems)}")
        with engine.begin() as connection:
            connection.execute(delete(LoginSession))
            content.content_changed(connection, after=live_version)
        pgtools.dump(engine, checked)
    return checked


def checked_copy(folder: Path, scratch: Path) -> Path:
    """Copy a backup's database into ``scratch``, upgrade it and check that it fits.

    The copy gets what ``init-db`` would add (tables, columns and indexes
    newer than the backup) and a search index rebuilt from its posts. Then
    every table and column of the models must be there, and every row of
    every model must load; otherwise the restore is refused, naming what is
    wrong, before anything of the site is touched.

    :raise BackupError: the database does not fit this version's models.
    """
    copy = scratch / DATABASE
    copy_file(folder / DATABASE, copy)
    unfit = f"{folder / DATABASE} does not fit this version of homepage"
    engine = make_engine(f"sqlite:///{copy}", pool_size=1, max_overflow=0)
    try:
        try:
            with engine.begin() as connection:
                # Derived from the posts: rebuilt rather than trusted, so a
                # table of that name that is not the index cannot break search.
                connection.exec_driver_sql("DROP TABLE IF EXISTS post_search")
            init_db(engine=engine)
            problems = _schema_problems(engine) or _unreadable_rows(engine)
        except RuntimeError as exc:
            # upgrade_schema cannot add a required column without a default.
            raise BackupError(f"{unfit}: {exc}") from exc
        except SQLAlchemyError as exc:
            raise BackupError(f"{unfit}: {_reason(exc)}") from exc
        if problems:
            raise BackupError(f"{unfit}: {'; '.join(problems)}")
    finally:
        engine.dispose()
    # One self-contained file again, which copy_from_file opens read-only.
    make_self_contained(copy)
    return copy


def _reason(exc: Exception) -> str:
    """Return what the database said, without SQLAlchemy's statement dump."""
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]


def _triggers(connection: Connection) -> list[str]:
    """Return the names of the triggers the database's own tables have."""
    if connection.dialect.name == SQLITE:
        found = connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
        )
    else:
        # Foreign keys are internal triggers in PostgreSQL: not listed.
        found = connection.exec_driver_sql(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname"
        )
    return list(found.scalars())


def _schema_problems(
    engine: Engine, allowed_triggers: frozenset[str] | set[str] = frozenset()
) -> list[str]:
    """List what an upgraded copy lacks of the models, or has that they forbid."""
    inspector = inspect(engine)
    problems = []
    for table in Base.metadata.sorted_tables:
        if not inspector.has_table(table.name):
            problems.append(f"the table {table.name} is missing")
            continue
        found = {column["name"]: column for column in inspector.get_columns(table.name)}
        problems += [
            f"the column {table.name}.{column.name} is missing"
            for column in table.columns
            if column.name not in found
        ]
        # A column this version does not know is harmless unless every insert
        # would have to fill it.
        problems += [
            f"the column {table.name}.{name} is required but unknown here"
            for name, column in found.items()
            if name not in table.columns
            and not column["nullable"]
            and column["default"] is None
        ]
        key = inspector.get_pk_constraint(table.name)["constrained_columns"]
        if key != [column.name for column in table.primary_key]:
            problems.append(f"the table {table.name} has the wrong primary key")
    # A trigger the site's own database lacks (on SQLite homepage makes
    # none) would run on the site's writes.
    with engine.connect() as connection:
        problems += [
            f"the trigger {name} is not homepage's"
            for name in _triggers(connection)
            if name not in allowed_triggers
        ]
    return problems


def _unreadable_rows(engine: Engine) -> list[str]:
    """Load every row of every model from an upgraded copy; list what fails."""
    problems = []
    mapped = set()
    with standalone_session(engine) as scratch:
        for mapper in Base.registry.mappers:
            table = mapper.local_table
            assert isinstance(table, Table)  # each model maps one whole table
            mapped.add(table.name)
            query = select(mapper.class_).execution_options(yield_per=500)
            problems += _read_all(lambda q=query: scratch.scalars(q), table.name)
        for table in Base.metadata.sorted_tables:
            if table.name not in mapped:
                query = select(table).execution_options(yield_per=500)
                problems += _read_all(lambda q=query: scratch.execute(q), table.name)
    return problems


def _read_all(run, name: str) -> list[str]:
    """Run a query to its last row; return a problem if any row fails to load."""
    try:
        for _row in run():
            pass
    # Any failure (a text where a date belongs, a missing key) means pages
    # would fail on this row; what it is matters only for the message.
    except Exception as exc:
        return [f"the rows of {name} cannot be read: {_reason(exc)}"]
    return []


def restore_backup(source: Path) -> dict:
    """Replace the site's database and images with a verified backup."""
    refuse_other_kind(read_manifest(source), source)
    manifest = verify(source)
    with scratch_folder() as scratch:
        replace_site(source, manifest, checked_database(source, manifest, scratch))
    return manifest


def replace_site(source: Path, manifest: dict, database: Path) -> None:
    """Put a verified backup's images and checked database (or archive) in place."""
    kind = site_kind()
    # The restored copy carries its own, older content version; numbering
    # must go on from the live one, or a cached page (or a reader's ETag)
    # from before the restore could match different content after it.
    live_version = session.scalar(select(SiteState.version)) or 0
    # Release the write lock (and on PostgreSQL every table lock) before the
    # backup API or pg_restore needs it.
    session.commit()
    folder = images.upload_folder()
    folder.mkdir(parents=True, exist_ok=True)
    # Images first: the restored database may point at them the moment it is
    # in place. Names are random and never reused, so copying over an
    # existing file writes the same bytes.
    for name in manifest["files"]:
        if name.startswith(UPLOADS + "/"):
            file = name.partition("/")[2]
            temporary = folder / f".{file}.restoring"
            shutil.copyfile(source / name, temporary)
            os.replace(temporary, folder / file)
    if kind == SQLITE:
        copy_from_file(database)
    else:
        # One transaction: the site's tables are dropped and made again from
        # the checked archive, or, if anything fails, left as they were.
        # Readers wait for the commit, a few seconds, rather than seeing
        # tables half restored.
        pgtools.restore(get_engine(), database, clean=True)
    # The copy was upgraded already; this only repeats what it did.
    init_db()
    # Sessions in the copy belong to another time (maybe other passwords):
    # everyone logs in again.
    session.execute(delete(LoginSession))
    content.content_changed(after=live_version)
    known = set(session.scalars(select(Image.name)))
    known |= set(session.scalars(select(ImageVariant.name)))
    session.commit()
    for path in folder.iterdir():
        if images.FILE_NAME.fullmatch(path.name) and path.name not in known:
            path.unlink(missing_ok=True)


def _checked(manifest: dict) -> str:
    """Say what writing a backup checked of its database."""
    if manifest["kind"] == POSTGRESQL:
        return "archive read back by pg_restore --list: ok"
    return "integrity check: ok"


def _verified(manifest: dict) -> str:
    """Say what a restore checked of a backup before it touched the site."""
    if manifest["kind"] == POSTGRESQL:
        database = (
            "the archive read by pg_restore --list and loaded into a scratch database"
        )
    else:
        database = "the database's integrity check"
    return (
        f"every checksum, {database}, upgraded to this version, with every "
        "table, column and row readable: ok"
    )


def _summary(manifest: dict) -> str:
    """Describe a manifest's contents in a few words."""
    # Images, not their variants.
    count = sum(
        1
        for name in manifest["files"]
        if name.startswith(UPLOADS + "/")
        and images.NAME.fullmatch(name[len(UPLOADS) + 1 :])
    )
    return f"the database and {count} image{'s' if count != 1 else ''}"


@click.command("backup")
@with_appcontext
@click.argument(
    "path", type=click.Path(path_type=Path, file_okay=False), required=False
)
def backup_command(path: Path | None) -> None:
    """Write a verified backup of the database and images to the folder PATH.

    Without PATH, to a new folder named after the time in BACKUP_FOLDER
    (default: backups/ beside the database).
    """
    path = path or new_backup_path(backup_folder())
    manifest = write_backup(path)
    for name in manifest["missing_images"]:
        click.echo(f"warning: {name} was deleted while backing up", err=True)
    click.echo(f"Backed up {_summary(manifest)} to {path}; {_checked(manifest)}.")


@click.command("restore")
@with_appcontext
@click.argument("path", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--no-safety-backup",
    is_flag=True,
    help="Do not back up the current site first.",
)
def restore_command(path: Path, yes: bool, no_safety_backup: bool) -> None:
    """Replace the site's database and images with the backup in PATH."""
    refuse_other_kind(read_manifest(path), path)
    manifest = verify(path)
    with scratch_folder() as scratch:
        # Checked before asking: an unfit backup is refused before anything,
        # the safety backup included, is written.
        database = checked_database(path, manifest, scratch)
        click.echo(f"Checked {path}: {_verified(manifest)}.")
        click.echo(f"{path} holds {_summary(manifest)} from {manifest['created_at']}.")
        if not yes:
            click.confirm("Replace the site's posts and images with it?", abort=True)
        if not no_safety_backup:
            safety = new_backup_path(backup_folder(), prefix="before-restore-")
            write_backup(safety)
            click.echo(f"Backed up the current site to {safety} first.")
        replace_site(path, manifest, database)
    click.echo(f"Restored {_summary(manifest)}. Everyone must log in again.")
