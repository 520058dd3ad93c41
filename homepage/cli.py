"""Command-line tools for the site owner: authors, their roles and first run."""

from __future__ import annotations

import secrets
import sys

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import func, select

from .auth import hash_password
from .db import session
from .doctor import doctor_command
from .models import AUTHOR, OWNER, ROLES, Author, LastOwner, set_role
from .schema import init_db, init_db_command

MIN_PASSWORD = 8
MAX_USERNAME = 80


def username_problem(username: str) -> str | None:
    """Return why ``username`` (stripped) cannot name an author, or None."""
    if not username or len(username) > MAX_USERNAME:
        return f"use 1 to {MAX_USERNAME} characters"
    return None


def find_author(username: str) -> Author | None:
    """Return the author called ``username``, or None."""
    return session.scalars(select(Author).where(Author.username == username)).first()


def has_owner() -> bool:
    """Tell whether any author is an owner."""
    return (
        session.execute(select(Author.id).where(Author.role == OWNER).limit(1)).first()
        is not None
    )


def create_author(username: str, password: str, role: str = AUTHOR) -> Author:
    """Add an author, checking the name and password first.

    The first author of a site without an owner becomes its owner whatever
    ``role`` asks for, so that someone can always manage the others.
    """
    username = username.strip()
    if problem := username_problem(username):
        raise click.BadParameter(problem, param_hint="NAME")
    if len(password) < MIN_PASSWORD:
        raise click.BadParameter(
            f"use at least {MIN_PASSWORD} characters", param_hint="password"
        )
    if role not in ROLES:
        raise click.BadParameter(f"use one of {', '.join(ROLES)}", param_hint="role")
    # Hashed before the first query, which takes the write lock.
    password_hash = hash_password(password)
    if find_author(username):
        raise click.BadParameter(f"{username!r} already exists", param_hint="NAME")
    if not has_owner():
        role = OWNER
    author = Author(username=username, password_hash=password_hash, role=role)
    session.add(author)
    session.commit()
    return author


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
    init_db()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    author = create_author(name, password, role)
    click.echo(f"Created {author.role} {author.username!r}.")
    if author.role != role:
        click.echo("The site had no owner, so this author owns it.")


@click.command("set-role")
@with_appcontext
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
def set_role_command(name: str, role: str) -> None:
    """Make the author NAME an owner, editor or author."""
    init_db()
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


@click.command("first-run")
@with_appcontext
@click.option("--username", default="admin", show_default=True)
def first_run_command(username: str) -> None:
    """Create the schema and, if no author exists, an owner with a random password."""
    init_db()
    if session.execute(select(func.count(Author.id))).scalar_one():
        click.echo("An author already exists; log in at /admin/login.")
        return
    password = secrets.token_urlsafe(12)
    create_author(username, password, OWNER)
    click.echo("Created the site's owner. Note these down; they are shown once:")
    click.echo(f"    user name: {username}")
    click.echo(f"    password:  {password}")


def init_app(app: Flask) -> None:
    """Register the commands."""
    app.cli.add_command(init_db_command)
    app.cli.add_command(add_author_command)
    app.cli.add_command(set_role_command)
    app.cli.add_command(first_run_command)
    app.cli.add_command(doctor_command)
