"""Helpers for tests with several authors: adding them, and what they left behind."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import inspect, select, text

from homepage.core.authors import create_author
from homepage.core.models import AUTHOR, Author
from homepage.db import get_engine, session

#: The password of every author a test adds besides alice.
OTHER_PASSWORD = "another long password"


def add_author(app: Flask, name: str, role: str = AUTHOR) -> str:
    """Add an author with ``role`` and OTHER_PASSWORD; return the name."""
    with app.app_context():
        create_author(name, OTHER_PASSWORD, role)
    return name


def role_of(app: Flask, name: str) -> str:
    """Return the stored role of the author ``name``."""
    with app.app_context():
        return session.scalars(select(Author.role).where(Author.username == name)).one()


def everything(app: Flask) -> dict:
    """Return every row of the blog's tables and the files in the upload folder.

    Two snapshots are equal when a request changed nothing an author or a
    reader could tell; the login tables, which logging in itself changes,
    are left out.
    """
    ignored = {"login_sessions", "login_failures"}
    engine = get_engine(app)
    rows = {}
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            if table in ignored or table.startswith("post_search"):
                continue
            rows[table] = sorted(
                map(tuple, conn.execute(text(f'SELECT * FROM "{table}"'))), key=repr
            )
    uploads = Path(app.config["UPLOAD_FOLDER"])
    files = sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []
    return {"rows": rows, "files": files}
