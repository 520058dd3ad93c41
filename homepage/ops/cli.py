"""Command-line tools for the site owner: authors, their roles and first run."""

from __future__ import annotations

import secrets
import sys

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from ..core.authors import AuthorError, create_author, find_author, set_password
from ..core.models import AUTHOR, OWNER, ROLES, Author, LastOwner, set_role
from ..core.schema import (
    MigrationError,
    current_revision,
    downgrade_database,
    head_revision,
    init_db,
    process_images,
    rerender_posts,
    revision_history,
    schema_is_current,
    upgrade_database,
)
from ..db import database_unavailable, get_engine, session


def ready_database() -> None:
    """Migrate the database (init_db), or stop with the reason it cannot be."""
    try:
        init_db()
    except MigrationError as error:
        raise click.ClickException(str(error)) from None


def add_author(username: str, password: str, role: str) -> Author:
    """Create an author, turning a refusal into the command's usage error."""
    try:
        return create_author(username, password, role)
    except AuthorError as refused:
        raise click.BadParameter(refused.message, param_hint=refused.field) from None


@click.command("add-author")
@with_appcontext
@click.argument("name")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input.",
)
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default=AUTHOR,
    show_default=True,
    help="owner: everything and the authors; editor: every post and image; "
    "author: their own posts and images.",
)
def add_author_command(name: str, password_stdin: bool, role: str) -> None:
    """Create an author who can log in at /admin/login."""
    ready_database()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    author = add_author(name, password, role)
    click.echo(f"Created {author.role} {author.username!r}.")
    if author.role != role:
        click.echo("The site had no owner, so this author owns it.")


@click.command("set-role")
@with_appcontext
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
def set_role_command(name: str, role: str) -> None:
    """Make the author NAME an owner, editor or author."""
    ready_database()
    author = find_author(name.strip())
    if author is None:
        session.rollback()
        raise click.ClickException(f"There is no author called {name.strip()!r}.")
    try:
        set_role(session, author, role)
    except LastOwner as refused:
        session.rollback()
        raise click.ClickException(str(refused)) from None
    session.commit()
    click.echo(f"{author.username} is now {role}.")


@click.command("set-password")
@with_appcontext
@click.argument("name")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input.",
)
def set_password_command(name: str, password_stdin: bool) -> None:
    """Set the password of the author NAME (one an import created has none)."""
    ready_database()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    author = find_author(name.strip())
    if author is None:
        session.rollback()
        raise click.ClickException(f"There is no author called {name.strip()!r}.")
    try:
        set_password(author, password)
    except AuthorError as refused:
        session.rollback()
        raise click.BadParameter(refused.message, param_hint=refused.field) from None
    session.commit()
    click.echo(f"{author.username} can now log in with the new password.")


@click.command("first-run")
@with_appcontext
@click.option("--username", default="admin", show_default=True)
def first_run_command(username: str) -> None:
    """Create the schema and, if no author exists, an owner with a random password."""
    ready_database()
    if session.execute(select(func.count(Author.id))).scalar_one():
        click.echo("An author already exists; log in at /admin/login.")
        return
    password = secrets.token_urlsafe(12)
    add_author(username, password, OWNER)
    click.echo("Created the site's owner. Note these down; they are shown once:")
    click.echo(f"    user name: {username}")
    click.echo(f"    password:  {password}")


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create the database schema; existing data is kept."""
    ready_database()
    click.echo(f"Initialized the database at {current_app.config['DATABASE_URL']}.")


@click.group("db")
def db_command() -> None:
    """Migrate the database's schema with Alembic: upgrade, downgrade, current."""


def _describe(revision: str | None) -> str:
    """Name a revision, or say what a database without one is."""
    return revision or "none (empty, or made before homepage used Alembic)"


@db_command.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade_command(revision: str) -> None:
    """Migrate the database to REVISION (default: the newest); keep every row.

    At the newest revision, finish as init-db does (the search index, posts
    rendered again, counts, images).
    """
    engine = get_engine()
    before = current_revision(engine)
    try:
        upgrade_database(engine, revision)
    except MigrationError as error:
        raise click.ClickException(str(error)) from None
    after = current_revision(engine)
    if after == head_revision():
        ready_database()
    if after == before:
        click.echo(f"The database is already at revision {_describe(after)}.")
    else:
        click.echo(f"Upgraded the database from {_describe(before)} to {after}.")


@db_command.command("downgrade")
@click.argument("revision")
@click.confirmation_option(
    "--yes",
    prompt="Tables and columns newer than that revision are dropped with their "
    "data. Make a backup first. Go on?",
    help="Do not ask for confirmation.",
)
@with_appcontext
def db_downgrade_command(revision: str) -> None:
    """Migrate the database back to REVISION ("base": nothing), dropping newer data."""
    engine = get_engine()
    before = current_revision(engine)
    try:
        downgrade_database(engine, revision)
    except MigrationError as error:
        raise click.ClickException(str(error)) from None
    after = current_revision(engine)
    click.echo(
        f"Downgraded the database from {_describe(before)} to {_describe(after)}."
    )


@db_command.command("current")
@with_appcontext
def db_current_command() -> None:
    """Show the database's revision and whether the code has a newer one."""
    current, head = current_revision(get_engine()), head_revision()
    known = {revision.id for revision in revision_history(get_engine())}
    if current == head:
        click.echo(f"{current} (head): the database is up to date.")
    elif current is not None and current not in known:
        click.echo(
            f"{current}: unknown to this code, which goes up to {head} "
            "(a newer version migrated the database)."
        )
    else:
        click.echo(
            f"{_describe(current)}: behind the code's {head}; "
            "run flask --app homepage db upgrade."
        )


@db_command.command("history")
@with_appcontext
def db_history_command() -> None:
    """List the schema's revisions, newest first."""
    for revision in revision_history(get_engine()):
        marks = [
            mark
            for mark, shown in (
                ("head", revision.is_head),
                ("current", revision.is_current),
            )
            if shown
        ]
        label = f" ({', '.join(marks)})" if marks else ""
        click.echo(
            f"{revision.down or 'base'} -> {revision.id}{label}: {revision.message}"
        )


#: How many posts `rerender` renders in one write transaction.
RERENDER_BATCH = 20


@click.command("rerender")
@with_appcontext
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Render every post, not only those an older version of homepage stored.",
)
def rerender_command(every: bool) -> None:
    """Render the posts' Markdown to HTML again and store it."""
    # Not init_db(), which would render the stale posts itself and leave
    # nothing to count here. A batch a transaction, so that authors and
    # readers wait at most for a batch, not for the whole blog.
    count, after = 0, 0
    try:
        while True:
            with get_engine().begin() as connection:
                ids = rerender_posts(
                    connection, every=every, after=after, limit=RERENDER_BATCH
                )
            if not ids:
                break
            count, after = count + len(ids), ids[-1]
    except DBAPIError as error:
        if not database_unavailable(error):
            raise
        raise click.ClickException(
            f"The database is not ready ({' '.join(str(error.orig).split())}); "
            "run flask --app homepage init-db first."
        ) from None
    click.echo(f"Rendered {count} post{'' if count == 1 else 's'} again.")


@click.command("process-images")
@with_appcontext
@click.option(
    "--all",
    "again",
    is_flag=True,
    help="Make the variants of every image anew, not only of those that lack them.",
)
def process_images_command(again: bool) -> None:
    """Make the smaller widths and WebP/AVIF copies of stored images.

    Then render again the posts that show them. ``init-db`` does the same
    for the images that lack them.
    """
    if not schema_is_current():
        raise click.ClickException("the database is older than the code: run init-db")
    count = process_images(again=again)
    click.echo(f"Processed {count} image{'' if count == 1 else 's'}.")
