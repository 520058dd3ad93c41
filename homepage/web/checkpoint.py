"""Keep the WAL small: checkpoint it after a write request that left it large.

SQLite checkpoints by itself after commits, but only as far as the oldest
reader allows, and restarts the WAL only when no reader uses it. Under a steady
stream of readers the WAL therefore keeps growing; this module trims it.
"""

from __future__ import annotations

import logging
import os
import sqlite3

from flask import Flask, current_app, request
from sqlalchemy.engine import Engine

from ..db import JOURNAL_SIZE_LIMIT, READ_ONLY_METHODS, get_engine, sqlite_path

#: How long a checkpoint waits for readers to finish, in milliseconds.
CHECKPOINT_WAIT_MS = 500


def _checkpoint(engine: Engine, logger: logging.Logger) -> None:
    """Copy the WAL into the database and truncate it, unless readers hold it."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        # Give readers a moment to finish, but never hold a thread for long:
        # the next large write tries again.
        cursor.execute(f"PRAGMA busy_timeout = {CHECKPOINT_WAIT_MS}")
        try:
            busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        finally:
            cursor.execute("PRAGMA busy_timeout = 30000")
        if busy:
            logger.info("WAL checkpoint deferred: readers were still busy")
    except sqlite3.Error:
        logger.exception("WAL checkpoint failed")
    finally:
        connection.close()


def _checkpoint_large_wal(response):
    """Schedule a WAL checkpoint when a write request left the WAL large."""
    # SQLite checkpoints by itself after commits, but only as far as the
    # oldest reader allows, and restarts the WAL only when no reader uses it.
    # Under a steady stream of readers the WAL therefore keeps growing. A
    # TRUNCATE checkpoint waits for those readers to move on; running it after
    # the response is sent keeps that wait off the author's request.
    if request.method in READ_ONLY_METHODS:
        return response
    engine = get_engine()
    path = sqlite_path(str(engine.url))
    if path is None:
        return response
    try:
        size = os.stat(f"{path}-wal").st_size
    except OSError:
        return response
    if size > JOURNAL_SIZE_LIMIT:
        logger = current_app.logger
        response.call_on_close(lambda: _checkpoint(engine, logger))
    return response


def init_app(app: Flask) -> None:
    """Check the WAL's size after every write request."""
    app.after_request(_checkpoint_large_wal)
