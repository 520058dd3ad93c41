"""``flask --app homepage doctor``: check a deployment before Apache finds the fault.

Each check prints one verdict (OK, WARN or FAIL), what it found and, when something
is wrong, how to fix it. The command exits with status 1 when any check fails.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from werkzeug.sansio.utils import host_is_trusted

from ..core import keys, preflight
from ..core.images import upload_folder
from ..core.models import Post, SiteSecret
from ..core.schema import current_revision, head_revision, schema_is_current
from ..core.zone import zone_problem
from ..db import PROJECT_ROOT, get_engine, journal_mode, session, sqlite_path

OK, WARN, FAIL = "OK", "WARN", "FAIL"
_COLOURS = {OK: "green", WARN: "yellow", FAIL: "red"}

#: Keys copied from tutorials and templates, compared without case or punctuation.
PLACEHOLDER_KEYS = frozenset(
    {
        "",
        "changeme",
        "changethis",
        "default",
        "dev",
        "development",
        "mysecretkey",
        "password",
        "replaceme",
        "secret",
        "secretkey",
        "test",
        "testsecret",
        "yoursecretkey",
    }
)
#: 32 characters: the length of ``secrets.token_hex(16)``, 128 random bits.
MIN_KEY_LENGTH = 32
#: Debian's Apache runs with systemd's PrivateTmp: it sees its own /tmp and
#: /var/tmp, so a database there is not the one the command line sees.
PRIVATE_TMP = (Path("/tmp"), Path("/var/tmp"))


@dataclass
class Verdict:
    """The outcome of one check."""

    status: str
    check: str
    message: str
    fix: str = ""


# -- what a user may do with a path ------------------------------------------


def current_user() -> str:
    """Return the name of the user this process runs as."""
    return pwd.getpwuid(os.geteuid()).pw_name


def _access_as(user: str, path: Path, mode: str) -> bool:
    """Tell whether ``user`` may read (r), write (w) or search (x) ``path``."""
    if user == current_user():
        flags = {"r": os.R_OK, "w": os.W_OK, "x": os.X_OK}[mode]
        return os.access(path, flags)
    entry = pwd.getpwnam(user)
    if os.geteuid() == 0:
        # Ask the kernel as that user: it honours ACLs, read-only mounts and
        # every folder on the way, which mode bits alone would miss.
        result = subprocess.run(
            ["test", f"-{mode}", str(path)],
            user=entry.pw_uid,
            group=entry.pw_gid,
            extra_groups=os.getgrouplist(user, entry.pw_gid),
            check=False,
        )
        return result.returncode == 0
    return _mode_bits_allow(entry, path, mode)


def _mode_bits_allow(entry: pwd.struct_passwd, path: Path, mode: str) -> bool:
    """Judge access by ownership and mode bits (when we cannot become the user)."""
    groups = set(os.getgrouplist(entry.pw_name, entry.pw_gid))
    shift = {"r": 2, "w": 1, "x": 0}

    def allowed(target: Path, want: str) -> bool:
        try:
            info = target.stat()
        except OSError:
            return False
        if entry.pw_uid == 0:
            return True
        if info.st_uid == entry.pw_uid:
            bits = info.st_mode >> 6
        elif info.st_gid in groups:
            bits = info.st_mode >> 3
        else:
            bits = info.st_mode
        return bool(bits & (1 << shift[want]))

    folders = list(reversed(path.absolute().parents))
    return all(allowed(folder, "x") for folder in folders) and allowed(path, mode)


def _owner(path: Path) -> str:
    try:
        uid = path.stat().st_uid
        return pwd.getpwuid(uid).pw_name
    except (OSError, KeyError):
        return "?"


# -- the checks ----------------------------------------------------------------


def check_database_path(url: str) -> Verdict:
    """Check that the database is a SQLite file named by an absolute path."""
    path = sqlite_path(url)
    fix = (
        "set DATABASE_URL = 'sqlite:////srv/homepage/blog.db' (four slashes: an "
        "absolute path), or a postgresql+psycopg:// URL, in instance/config.py"
    )
    if path is None:
        return Verdict(
            FAIL,
            "database path",
            f"{url!r} is neither a SQLite file nor PostgreSQL.",
            fix,
        )
    if not path.is_absolute():
        return Verdict(
            FAIL,
            "database path",
            f"{path} is relative, so it would depend on the working directory, "
            "which is / under Apache.",
            fix,
        )
    if any(path.is_relative_to(tmp) for tmp in PRIVATE_TMP):
        return Verdict(
            WARN,
            "database path",
            f"{path} is in a temporary folder; Debian's Apache has a private "
            "/tmp and /var/tmp, so it would not see the same file.",
            "move the database to a folder such as /srv/homepage or /var/lib/homepage",
        )
    return Verdict(OK, "database path", f"{path} is an absolute path.")


def check_database_folder(path: Path, user: str) -> Verdict:
    """Check that ``user`` can write the database, its folder and its WAL files."""
    folder = path.parent
    chown = f"sudo chown {user}: {folder}"
    if not folder.is_dir():
        return Verdict(
            FAIL,
            "database folder",
            f"{folder} does not exist (SQLite: 'unable to open database file').",
            f"sudo install -d -o {user} -g {user} {folder}",
        )
    if not (_access_as(user, folder, "w") and _access_as(user, folder, "x")):
        return Verdict(
            FAIL,
            "database folder",
            f"{user} cannot write {folder}, where SQLite creates {path.name}-wal "
            f"and {path.name}-shm beside the database (SQLite: 'unable to open "
            "database file' or 'attempt to write a readonly database'; a folder "
            "on the way may also be closed to that user).",
            chown,
        )
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        file = folder / name
        if file.exists() and not _access_as(user, file, "w"):
            return Verdict(
                FAIL,
                "database folder",
                f"{user} cannot write {file} (owned by {_owner(file)}), so every "
                "save fails with 'attempt to write a readonly database'. This "
                "happens when a command ran as root created it.",
                f"sudo chown {user}: {folder}/{path.name}*",
            )
    return Verdict(
        OK, "database folder", f"{user} can write {folder} and the files in it."
    )


def _cause(error: SQLAlchemyError) -> BaseException:
    """Return the driver's error behind ``error``, or ``error`` if it has none."""
    # Only DBAPIError wraps a driver error; other SQLAlchemy errors have no orig.
    if isinstance(error, DBAPIError) and error.orig is not None:
        return error.orig
    return error


def check_journal_mode(path: Path, user: str) -> Verdict:
    """Check that SQLite runs the database in WAL mode."""
    if not path.exists():
        return _missing_database("journal mode", path, user)
    try:
        mode = journal_mode()
    except SQLAlchemyError as error:
        return Verdict(FAIL, "journal mode", f"cannot open {path}: {_cause(error)}.")
    if mode.lower() != "wal":
        return Verdict(
            FAIL,
            "journal mode",
            f"the database uses journal_mode={mode}, not WAL: readers would block "
            "writers and saves would fail with 'database is locked'. SQLite refuses "
            "WAL on some network file systems and read-only media.",
            "keep the database on a local disk the serving user can write",
        )
    return Verdict(OK, "journal mode", "WAL: readers and the writer do not block.")


def check_database_server(url: str) -> Verdict:
    """Check that the PostgreSQL server answers, and say which one it is."""
    where = make_url(url).render_as_string(hide_password=True)
    try:
        with get_engine().connect() as connection:
            version = connection.exec_driver_sql("SHOW server_version").scalar()
    except SQLAlchemyError as error:
        return Verdict(
            FAIL,
            "database server",
            # libpq's messages run over several lines.
            f"cannot connect to {where}: {' '.join(str(_cause(error)).split())}.",
            "start the server, create the database and its role, or correct "
            "DATABASE_URL in instance/config.py",
        )
    return Verdict(OK, "database server", f"PostgreSQL {version} answers at {where}.")


def check_schema(database: Path | str, user: str) -> Verdict:
    """Check that the database is at the code's revision, with every table."""
    if isinstance(database, Path) and not database.exists():
        return _missing_database("schema", database, user)
    try:
        revision, head = current_revision(get_engine()), head_revision()
        current = schema_is_current()
    except SQLAlchemyError as error:
        return Verdict(FAIL, "schema", f"cannot read {database}: {_cause(error)}.")
    if revision != head:
        found = (
            f"revision {revision}"
            if revision
            else "no revision (made before homepage used Alembic)"
        )
        return Verdict(
            FAIL,
            "schema",
            f"the database is behind the code: it has {found}, the code needs {head}.",
            f"back it up, then run `runuser -u {user} -- .venv/bin/flask --app "
            "homepage db upgrade`, which migrates it and keeps the data",
        )
    if not current:
        return Verdict(
            FAIL,
            "schema",
            "tables, columns or indexes are missing (a new version of the code?).",
            f"run `runuser -u {user} -- .venv/bin/flask --app homepage init-db`, which "
            "adds what is missing and keeps the data",
        )
    return Verdict(
        OK, "schema", f"at revision {head}; every table, column and index exists."
    )


def check_upload_folder(folder: Path, user: str) -> Verdict:
    """Check that ``user`` can store uploaded images in ``folder``."""
    fix = (
        f"set UPLOAD_FOLDER to a folder {user} owns (e.g. next to the database) "
        f"in instance/config.py, or: sudo install -d -o {user} -g {user} {folder}"
    )
    # The app creates the folder on the first upload, so a missing one is fine
    # as long as the closest existing folder above it can be written.
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not (_access_as(user, existing, "w") and _access_as(user, existing, "x")):
        return Verdict(
            FAIL,
            "upload folder",
            f"{user} cannot write {existing}, so uploading an image would fail "
            "with 'Permission denied'.",
            fix,
        )
    if existing != folder:
        message = f"{folder} does not exist yet; {user} can create it."
    else:
        message = f"{user} can store images in {folder}."
    return Verdict(OK, "upload folder", message)


def _missing_database(check: str, path: Path, user: str) -> Verdict:
    return Verdict(
        FAIL,
        check,
        f"{path} does not exist yet.",
        f"create it as the serving user: runuser -u {user} -- .venv/bin/flask "
        "--app homepage init-db",
    )


def shared_key(app: Flask) -> str | None:
    """Return the signing key the database keeps for every host, if it has one."""
    try:
        with get_engine(app).connect() as connection:
            if not inspect(connection).has_table(SiteSecret.__tablename__):
                return None
            return keys.shared_key(connection)
    except SQLAlchemyError:
        return None  # the database's own check says why


def check_secret_key(app: Flask, user: str, shared: str | None = None) -> Verdict:
    """Check that the key that signs logins is random, long, readable and shared.

    :param shared: the key the database keeps for every host (core/keys.py).
    """
    key = app.config.get("SECRET_KEY") or ""
    key = key.decode(errors="replace") if isinstance(key, bytes) else str(key)
    fix = (
        "remove SECRET_KEY from the configuration so that the app keeps a random "
        "one in the database, or set SECRET_KEY to the output of "
        "python3 -c 'import secrets; print(secrets.token_hex(32))'"
    )
    normalized = "".join(char for char in key.lower() if char.isalnum())
    if normalized in PLACEHOLDER_KEYS:
        return Verdict(
            FAIL,
            "secret key",
            "SECRET_KEY is a well-known placeholder: anyone could forge a login.",
            fix,
        )
    if len(key) < MIN_KEY_LENGTH or len(set(key)) < 8:
        return Verdict(
            FAIL,
            "secret key",
            f"SECRET_KEY is too short or too regular (use {MIN_KEY_LENGTH} or more "
            "random characters).",
            fix,
        )
    if shared is not None and shared == key:
        return Verdict(
            OK, "secret key", "random, kept in the database: every host signs with it."
        )
    key_file = Path(app.instance_path) / "secret_key"
    if key_file.exists() and key_file.read_text().strip() == key:
        if not _access_as(user, key_file, "r"):
            return Verdict(
                FAIL,
                "secret key",
                f"{user} cannot read {key_file} (owned by {_owner(key_file)}, mode "
                f"{stat.filemode(key_file.stat().st_mode)}): every daemon would "
                "fail to start.",
                f"sudo chown {user}: {key_file}",
            )
        return Verdict(OK, "secret key", f"random, kept in {key_file}.")
    return Verdict(
        OK,
        "secret key",
        f"set in the configuration, {len(key)} characters; every host of the site "
        "must set the same.",
    )


def check_file_modes(app: Flask, database: Path | None) -> Verdict:
    """Check that other local users cannot read the site's private files."""
    instance = Path(app.instance_path)
    files = [instance / "config.py", instance / "secret_key"]
    if database is not None:
        files = [database, Path(f"{database}-wal"), Path(f"{database}-shm"), *files]
    open_files = [path for path in files if _open_to_others(path)]
    if open_files:
        names = " ".join(str(path) for path in open_files)
        return Verdict(
            FAIL,
            "file modes",
            f"every local user can read {names}: password hashes, drafts or the "
            "key that signs logins.",
            f"chmod o= {names}",
        )
    open_folders = [
        path for path in (instance, upload_folder()) if _open_to_others(path)
    ]
    if open_folders:
        names = " ".join(str(path) for path in open_folders)
        return Verdict(
            WARN,
            "file modes",
            f"every local user can look into {names} (uploaded images of drafts, "
            "backups, the names of the files).",
            f"chmod o= {names}",
        )
    return Verdict(
        OK,
        "file modes",
        "the database, settings, key and uploads are closed to other users.",
    )


def check_root_runs_only_root_files(app: Flask, user: str) -> Verdict | None:
    """Check that ``user`` cannot change the code and settings root runs.

    Every ``flask`` command executes ``instance/config.py`` and the code in the
    virtualenv; run by root, anything the serving user wrote there would run
    as root. Returns nothing when all is well.
    """
    if user == "root":
        return None
    instance = Path(app.instance_path)
    places = [instance / "config.py", instance, PROJECT_ROOT, PROJECT_ROOT / "homepage"]
    places += [Path(sys.prefix), Path(sys.prefix) / "bin"]
    writable = [
        place for place in places if place.exists() and _access_as(user, place, "w")
    ]
    if not writable:
        return None
    names = " ".join(str(place) for place in writable)
    return Verdict(
        FAIL,
        "file modes",
        f"{user} can change {names}: code or settings that a flask command run "
        "by root would execute, so that user could become root.",
        f"chown -R root: {names} && chmod -R go-w {names}; keep the database, "
        "uploads and backups in a data folder of their own",
    )


def _open_to_others(path: Path) -> bool:
    """Tell whether users outside the owner and group have any access to ``path``."""
    try:
        return bool(path.stat().st_mode & 0o007)
    except OSError:
        return False


def check_trusted_hosts(app: Flask) -> Verdict:
    """Check that requests cannot choose the host name that pages link to."""
    hosts = app.config.get("TRUSTED_HOSTS") or []
    hosts = [hosts] if isinstance(hosts, str) else list(hosts)
    site_url = app.config.get("SITE_URL")
    if not hosts and not site_url:
        return Verdict(
            WARN,
            "trusted hosts",
            "neither TRUSTED_HOSTS nor SITE_URL is set: the site answers to any "
            "host name, and canonical links, feeds and the sitemap name whatever "
            "host each request claims.",
            "set SITE_URL = 'https://blog.example.org' and TRUSTED_HOSTS = "
            "['blog.example.org'] in instance/config.py",
        )
    site_host = urlsplit(site_url).hostname if site_url else None
    if hosts and site_host and not host_is_trusted(site_host, hosts):
        return Verdict(
            FAIL,
            "trusted hosts",
            f"SITE_URL names {site_host}, which TRUSTED_HOSTS lacks: every request "
            "to the site's own address would be refused with 400.",
            f"add {site_host!r} to TRUSTED_HOSTS in instance/config.py",
        )
    if hosts:
        return Verdict(
            OK,
            "trusted hosts",
            f"the site answers only to {', '.join(hosts)}; other host names get 400.",
        )
    return Verdict(
        OK,
        "trusted hosts",
        f"links name {site_url} (SITE_URL); TRUSTED_HOSTS would also refuse "
        "other host names.",
    )


def check_pool_size(app: Flask, threads: int) -> Verdict:
    """Check that each process has a pooled connection for each of its threads."""
    size = app.config["DATABASE_POOL_SIZE"]
    if size < threads:
        return Verdict(
            FAIL,
            "pool size",
            f"DATABASE_POOL_SIZE is {size} but each process runs {threads} threads; "
            "the others would queue for a connection and time out under load.",
            f"set DATABASE_POOL_SIZE = {threads} in instance/config.py, or lower "
            "threads= in WSGIDaemonProcess",
        )
    return Verdict(
        OK, "pool size", f"{size} connections for {threads} threads per process."
    )


def check_connections(app: Flask, processes: int) -> Verdict:
    """Check that this host's pools fit in PostgreSQL's connection limit.

    Each process has its own pool, shared by its threads: at most
    DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW connections each.
    """
    pool = app.config["DATABASE_POOL_SIZE"]
    overflow = app.config["DATABASE_MAX_OVERFLOW"]
    try:
        with get_engine(app).connect() as connection:
            limit, reserved = (
                int(str(connection.exec_driver_sql(f"SHOW {setting}").scalar()))
                for setting in ("max_connections", "superuser_reserved_connections")
            )
    except SQLAlchemyError as error:
        return Verdict(FAIL, "connections", f"cannot ask PostgreSQL: {error}")
    available = limit - reserved
    host = processes * (pool + overflow)
    counted = (
        f"{processes} processes × (DATABASE_POOL_SIZE {pool} + "
        f"DATABASE_MAX_OVERFLOW {overflow}) = {host} connections"
    )
    if host > available:
        return Verdict(
            WARN,
            "connections",
            f"this host alone may open {counted}, and PostgreSQL accepts "
            f"{available} (max_connections {limit} less {reserved} kept for "
            "superusers): under load requests would fail to connect.",
            "lower DATABASE_MAX_OVERFLOW or DATABASE_POOL_SIZE (not below "
            "threads=) or processes=, or raise max_connections in postgresql.conf",
        )
    return Verdict(
        OK,
        "connections",
        f"this host may open {counted} of the {available} PostgreSQL accepts: "
        f"room for {available // max(host, 1)} hosts like it.",
    )


def check_timezone(app: Flask) -> Verdict:
    """Check that SITE_TIMEZONE names a time zone this system knows."""
    name = app.config.get("SITE_TIMEZONE")
    if problem := zone_problem(name):
        return Verdict(
            FAIL,
            "time zone",
            problem,
            "set SITE_TIMEZONE = 'Europe/Berlin' (say) in instance/config.py",
        )
    return Verdict(
        OK,
        "time zone",
        f"readers see dates, and authors type them, in {name}; stored in UTC.",
    )


def run_checks(
    app: Flask, user: str, threads: int, processes: int = 2
) -> Iterator[Verdict]:
    """Run every check in order and yield its verdict."""
    url = app.config["DATABASE_URL"]
    path = sqlite_path(url)
    shared = None
    if get_engine(app).dialect.name == "postgresql":
        # A server, not a file: no path, folder or journal to look at.
        yield (path_verdict := check_database_server(url))
        if path_verdict.status != FAIL:
            yield check_schema(make_url(url).database or url, user)
        get_engine(app).dispose()
        path = None
    else:
        yield (path_verdict := check_database_path(url))
    if path_verdict.status != FAIL and path is not None:
        # The folder is looked at before anything opens the database, which
        # would create the -wal and -shm files as the user running the doctor.
        yield check_database_folder(path, user)
        try:
            yield check_journal_mode(path, user)
            yield (schema := check_schema(path, user))
            if schema.status != FAIL:
                shared = shared_key(app)
        finally:
            # Close this process's connections; as the last user of the file,
            # SQLite removes the -wal and -shm it may have created.
            get_engine(app).dispose()
    yield check_upload_folder(upload_folder(), user)
    yield check_root_runs_only_root_files(app, user) or check_file_modes(
        app, path if path_verdict.status != FAIL else None
    )
    if path is None:
        shared = shared_key(app)
    yield check_secret_key(app, user, shared)
    yield check_trusted_hosts(app)
    yield check_timezone(app)
    yield check_pool_size(app, threads)
    if get_engine(app).dialect.name == "postgresql":
        yield check_connections(app, processes)


def _check_user(_ctx, _param, value: str | None) -> str:
    user = value or current_user()
    try:
        pwd.getpwnam(user)
    except KeyError:
        raise click.BadParameter(f"there is no user named {user!r}") from None
    return user


@click.command("doctor")
@click.option(
    "--user",
    callback=_check_user,
    help="The user the server runs as, e.g. www-data. Default: you.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=15,
    show_default=True,
    help="Threads per server process (WSGIDaemonProcess threads=).",
)
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Server processes of this host (WSGIDaemonProcess processes=).",
)
@click.option(
    "--content",
    is_flag=True,
    help="Check every post instead, as the editor's preflight does.",
)
@with_appcontext
def doctor_command(user: str, threads: int, processes: int, content: bool) -> None:
    """Check that this installation is ready to be served, and say how to fix it."""
    if content:
        check_content()
        return
    # current_app is a LocalProxy, which Flask's annotations call a Flask.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    verdicts = list(run_checks(app, user, threads, processes))
    width = max(len(verdict.check) for verdict in verdicts)
    for verdict in verdicts:
        status = click.style(f"{verdict.status:<4}", fg=_COLOURS[verdict.status])
        click.echo(f"{status}  {verdict.check:<{width}}  {verdict.message}")
        if verdict.fix:
            click.echo(f"      {'':<{width}}  fix: {verdict.fix}")
    failed = sum(verdict.status == FAIL for verdict in verdicts)
    if user == "root":
        click.echo(
            "Note: checked as root, who may write anything; pass --user www-data "
            "to check as Apache's user."
        )
    if failed:
        click.echo(f"{failed} of {len(verdicts)} checks failed.")
        raise SystemExit(1)
    click.echo(f"All {len(verdicts)} checks passed.")


def check_content() -> None:
    """Run the editor's preflight over every post not in the trash; print each finding.

    Exits with status 1 when any post has a problem (an error: an image
    without a description, a broken link), so a script can stop on it;
    advice alone (a long paragraph, no summary) leaves the status 0.
    """
    query = (
        select(Post)
        .where(Post.deleted_at.is_(None))
        .order_by(Post.id)
        .execution_options(yield_per=200)
    )
    checked = problems = advice = 0
    for post in session.scalars(query):
        checked += 1
        for finding in preflight.check_post(post):
            label = "FAIL" if finding.is_error else "WARN"
            colour = _COLOURS[FAIL if finding.is_error else WARN]
            click.echo(
                f"{click.style(label, fg=colour)}  {post.kind} {post.slug} "
                f"({post.status}): {finding.message}"
            )
            if finding.is_error:
                problems += 1
            else:
                advice += 1
    click.echo(f"Checked {checked} posts: {problems} problems, {advice} advice.")
    if problems:
        raise SystemExit(1)
