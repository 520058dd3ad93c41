"""The key that signs cookies, shared by every host of the site.

A configured ``SECRET_KEY`` wins. Without one, the key lives in the database
(``site_secrets``), created once by whichever process first needs it, so that
every process of every host signs alike and a login made through one host is
valid on all. One rule for SQLite and PostgreSQL alike.

A database not yet migrated has no table for it; until it is, the key of
before is used: ``instance/secret_key``, created on first start. When the
database's key is first created, it is that file's key if the host has one,
so an upgraded site keeps its logins.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from sqlalchemy import insert, inspect, select
from sqlalchemy.engine import Connection, Engine

from ..db import sqlite_path
from .models import SiteSecret

#: The row of ``site_secrets`` that holds the key.
SIGNING_KEY = "signing_key"


def signing_key(engine: Engine, key_file: Path) -> str:
    """Return the database's signing key, creating it on first start.

    :param key_file: the host's own key file, used until the database is
        migrated, and adopted as the database's key when it first gets one.
    """
    path = sqlite_path(str(engine.url))
    if path is not None and not path.exists():
        # Not created yet: opening it would leave an empty file behind.
        return load_or_create_key_file(key_file)
    # One transaction that holds the write lock (SQLite's BEGIN IMMEDIATE,
    # PostgreSQL's writer lock: every transaction outside a request takes
    # it), so of two hosts starting at once one creates the key and the
    # other reads it; the primary key would refuse a second one anyway.
    with engine.begin() as connection:
        if not inspect(connection).has_table(SiteSecret.__tablename__):
            return load_or_create_key_file(key_file)
        key = shared_key(connection)
        if key is None:
            key = _read(key_file) or secrets.token_hex(32)
            connection.execute(insert(SiteSecret).values(name=SIGNING_KEY, value=key))
        return key


def adopt_key_file(connection: Connection, key_file: Path) -> None:
    """Make the host's key file the database's key, if the database has none.

    Run by ``init-db``: a process started before the database was migrated
    signs with that file, and goes on signing alike with every other.
    """
    if shared_key(connection) is None and (key := _read(key_file)):
        connection.execute(insert(SiteSecret).values(name=SIGNING_KEY, value=key))


def shared_key(connection: Connection) -> str | None:
    """Return the signing key kept in the database, or None if it has none."""
    return connection.scalar(
        select(SiteSecret.value).where(SiteSecret.name == SIGNING_KEY)
    )


def _read(path: Path) -> str | None:
    """Return the key in ``path``, or None if there is no such file."""
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def load_or_create_key_file(path: Path) -> str:
    """Return the key stored at ``path``, creating a random one on first start."""
    if key := _read(path):
        return key
    # The instance folder holds the settings and often the database: closed
    # to other local users.
    path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        # O_EXCL: when several mod_wsgi processes start at once, exactly one
        # writes the key and the others read it, so all sign cookies alike.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_when_written(path)
    with os.fdopen(fd, "w") as file:
        file.write(key + "\n")
    return key


def _read_when_written(path: Path) -> str:
    # The winner may not have written yet; its write is a single small call.
    for _ in range(100):
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.01)
    raise RuntimeError(f"{path} exists but is empty; delete it and restart")
