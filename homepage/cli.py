"""Command-line tools for the site owner: authors and first run."""

from __future__ import annotations

import secrets
import sys

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import func, select

from .auth import hash_password
from .db import init_db, session
from .doctor import doctor_command
from .models import Author

MIN_PASSWORD = 8


def create_author(username: str, password: str) -> Author:
    """Add an author, checking the name and password first."""
    username = username.strip()
    if not username or len(username) > 80:
        raise click.BadParameter("use 1 to 80 characters", param_hint="NAME")
    if len(password) < MIN_PASSWORD:
        raise click.BadParameter(
            f"use at least {MIN_PASSWORD} characters", param_hint="password"
        )
    # Hashed before the first query, which takes the write lock.
    password_hash = hash_password(password)
    if session.scalars(select(Author).where(Author.username == username)).first():
        raise click.BadParameter(f"{username!r} already exists", param_hint="NAME")
    author = Author(username=username, password_hash=password_hash)
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
def add_author_command(name: str, password_stdin: bool) -> None:
    """Create an author who can log in at /admin/login."""
    init_db()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    create_author(name, password)
    click.echo(f"Created author {name.strip()!r}.")


@click.command("first-run")
@with_appcontext
@click.option("--username", default="admin", show_default=True)
def first_run_command(username: str) -> None:
    """Create the schema and, if no author exists, one with a random password."""
    init_db()
    if session.execute(select(func.count(Author.id))).scalar_one():
        click.echo("An author already exists; log in at /admin/login.")
        return
    password = secrets.token_urlsafe(12)
    create_author(username, password)
    click.echo("Created the first author. Note these down; they are shown once:")
    click.echo(f"    user name: {username}")
    click.echo(f"    password:  {password}")


def init_app(app: Flask) -> None:
    """Register the commands."""
    app.cli.add_command(add_author_command)
    app.cli.add_command(first_run_command)
    app.cli.add_command(doctor_command)
