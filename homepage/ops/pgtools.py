"""PostgreSQL's own tools for backups: pg_dump, pg_restore and scratch databases.

The programs are found in the folder the ``POSTGRESQL_BIN`` setting names, or
else on ``PATH``, or else in Debian's ``/usr/lib/postgresql/VERSION/bin``
(newest first). They reach the database through libpq's environment
variables, made from the site's ``DATABASE_URL``: the password never appears
on a command line, where every local user could read it in ``ps``.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from ..db import make_engine

#: Where Debian installs each major version's programs.
DEBIAN_BINARIES = Path("/usr/lib/postgresql")

#: libpq's connection keywords (as SQLAlchemy's psycopg dialect passes them,
#: the URL's query included) and the environment variables that carry them.
#: https://www.postgresql.org/docs/current/libpq-envars.html
_ENVIRONMENT = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "sslmode": "PGSSLMODE",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcrl": "PGSSLCRL",
    "requiressl": "PGREQUIRESSL",
    "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "channel_binding": "PGCHANNELBINDING",
}

#: Arguments the engine adds that are not connection keywords.
_NOT_KEYWORDS = frozenset({"context"})


class ToolError(click.ClickException):
    """A PostgreSQL program is missing or failed; the message says why."""


def program(name: str) -> Path:
    """Return the path of the PostgreSQL program ``name`` (pg_dump, pg_restore).

    :raise ToolError: it is in none of the places looked at.
    """
    configured = current_app.config.get("POSTGRESQL_BIN")
    if configured:
        folders = [Path(configured)]
    else:
        found = shutil.which(name)
        if found:
            return Path(found)
        folders = sorted(
            DEBIAN_BINARIES.glob("*/bin"),
            key=lambda folder: _version(folder.parent.name),
            reverse=True,
        )
    for folder in folders:
        if os.access(folder / name, os.X_OK):
            return folder / name
    where = str(configured) if configured else f"PATH or {DEBIAN_BINARIES}/*/bin"
    raise ToolError(
        f"{name} was not found in {where}. Install PostgreSQL's client programs "
        "(Debian: apt install postgresql-client), or name their folder in the "
        "POSTGRESQL_BIN setting."
    )


def _version(name: str) -> tuple[int, ...]:
    """Order Debian's version folders (9.6, 15) numerically; others last."""
    if not re.fullmatch(r"\d+(\.\d+)*", name):
        return ()
    return tuple(int(part) for part in name.split("."))


def environment(engine: Engine) -> dict[str, str]:
    """Return the environment that points libpq's programs at ``engine``'s database.

    :raise ToolError: the URL holds a setting libpq has no variable for.
    """
    _args, keywords = engine.dialect.create_connect_args(engine.url)
    # On top of this process's own: libpq reads the same variables for the
    # site's connections, and what the URL says overrides them, as it does
    # there. The programs reach the database the engine does.
    variables = dict(os.environ)
    for keyword, value in keywords.items():
        if keyword in _NOT_KEYWORDS or value is None:
            continue
        if keyword not in _ENVIRONMENT:
            raise ToolError(
                f"DATABASE_URL sets {keyword!r}, which pg_dump and pg_restore "
                "cannot be given safely; set it in ~/.pg_service.conf instead."
            )
        variables[_ENVIRONMENT[keyword]] = str(value)
    return variables


def run(engine: Engine | None, name: str, *arguments: str | Path) -> str:
    """Run the PostgreSQL program ``name`` on ``engine``'s database; return its output.

    Without ``engine``, the program reaches no database (``pg_restore --list``).

    :raise ToolError: the program is missing or fails (its message is kept).
    """
    command = [str(program(name)), *(str(argument) for argument in arguments)]
    try:
        done = subprocess.run(
            command,
            env=environment(engine) if engine is not None else None,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except OSError as exc:
        raise ToolError(f"{command[0]} cannot be run: {exc.strerror}") from exc
    if done.returncode != 0:
        said = done.stderr.strip() or f"exit status {done.returncode}"
        raise ToolError(f"{name} failed: {said}")
    return done.stdout


def dump(engine: Engine, target: Path) -> None:
    """Write ``engine``'s database to the file ``target`` in pg_dump's custom format.

    pg_dump reads in one REPEATABLE READ transaction: a consistent snapshot
    while the site keeps serving, with no lock that stops writers. Owners and
    grants are left out, so the archive restores under any role.
    """
    run(
        engine,
        "pg_dump",
        "--format=custom",
        "--no-owner",
        "--no-privileges",
        f"--file={target}",
    )


def list_archive(archive: Path) -> str:
    """Read a custom-format archive's table of contents; return it.

    :raise ToolError: the file is not an archive pg_restore can read.
    """
    return run(None, "pg_restore", "--list", archive)


def restore(engine: Engine, archive: Path, *, clean: bool = False) -> None:
    """Load a custom-format archive into ``engine``'s database in one transaction.

    :param clean: drop each of the archive's objects first (replacing a
        database that already holds them).
    """
    options = ["--clean", "--if-exists"] if clean else []
    run(
        engine,
        "pg_restore",
        *options,
        "--single-transaction",
        "--exit-on-error",
        "--no-owner",
        "--no-privileges",
        f"--dbname={engine.url.database}",
        archive,
    )


@contextmanager
def scratch_database(engine: Engine) -> Iterator[Engine]:
    """Create an empty database beside ``engine``'s; yield an engine on it; drop it.

    :raise ToolError: the role may not create databases.
    """
    # Within PostgreSQL's 63 bytes, however long the site's own name is.
    name = f"{str(engine.url.database)[:40]}_scratch_{secrets.token_hex(4)}"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as admin:
        try:
            admin.execute(text(f'CREATE DATABASE "{name}"'))
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", exc)).splitlines()[0]
            raise ToolError(
                "a backup is checked in a scratch database before it replaces "
                f"the site's, and this role cannot create one: {reason}. Grant "
                "it CREATEDB (ALTER ROLE ... CREATEDB)."
            ) from exc
    scratch = make_engine(
        make_url(engine.url).set(database=name).render_as_string(hide_password=False),
        pool_size=1,
        max_overflow=0,
    )
    try:
        yield scratch
    finally:
        scratch.dispose()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as admin:
            admin.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
