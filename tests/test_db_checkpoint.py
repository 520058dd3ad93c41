"""The WAL is checkpointed and truncated after a write that left it large."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask

from homepage.db import JOURNAL_SIZE_LIMIT, sqlite_path

# Threaded servers, Hypothesis or many requests per test: too slow for make
# test-fast, which runs the quick part of the suite in under 30 s.
pytestmark = [pytest.mark.slow, pytest.mark.sqlite]  # SQLite's WAL

# Three saves of this body put more than JOURNAL_SIZE_LIMIT into the WAL.
# Paragraphs, as a long post has them: one 900 KB paragraph is refused.
BIG_BODY = ("word " * 1_000 + "\n\n") * 180


@contextmanager
def pinned_snapshot(app: Flask) -> Iterator[None]:
    """Hold a read transaction open on the database, as a slow reader would."""
    reader = sqlite3.connect(sqlite_path(app.config["DATABASE_URL"]))
    reader.isolation_level = None
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM posts").fetchall()
        yield
        reader.execute("COMMIT")
    finally:
        reader.close()


def save_big_posts(auth) -> None:
    """Save three posts whose bodies together outgrow JOURNAL_SIZE_LIMIT."""
    for number in range(3):
        with auth.create_post(f"Big {number}", body=BIG_BODY) as response:
            assert response.status_code == 302


def wal_size(app: Flask) -> int:
    path = sqlite_path(app.config["DATABASE_URL"])
    return Path(f"{path}-wal").stat().st_size


def test_wal_grows_while_a_reader_holds_a_snapshot_then_is_truncated(app, auth):
    """A long reader pins the WAL; the first save after it ends truncates it."""
    auth.login()
    with pinned_snapshot(app):
        save_big_posts(auth)
        # The reader's snapshot kept SQLite (and the checkpoint after each
        # save) from resetting the WAL.
        assert wal_size(app) > JOURNAL_SIZE_LIMIT

    with auth.create_post("Small", body="A short one.") as response:
        assert response.status_code == 302
    assert wal_size(app) == 0


def test_small_writes_leave_the_wal_to_sqlite(app, auth):
    """Ordinary saves do not checkpoint on every request."""
    auth.login()
    with auth.create_post("Small", body="A short one.") as response:
        assert response.status_code == 302
    assert 0 < wal_size(app) <= JOURNAL_SIZE_LIMIT


def test_readers_never_trigger_a_checkpoint(app, auth, client):
    """A GET after a large WAL leaves it as it is; only writers checkpoint."""
    auth.login()
    with pinned_snapshot(app):
        save_big_posts(auth)
    size = wal_size(app)

    with client.get("/") as response:
        assert response.status_code == 200
    assert wal_size(app) == size
