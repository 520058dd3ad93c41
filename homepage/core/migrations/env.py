"""Alembic's environment: run the revisions on the connection schema.py hands over.

:func:`homepage.core.schema.upgrade_database` opens the connection, takes the
lock that keeps two processes from migrating at once, and passes it in
``config.attributes``; this file only runs the revisions on it.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from homepage.core import models  # noqa: F401 - registers the tables
from homepage.core.schema import include_object
from homepage.db import Base


def run_migrations(connection: Connection) -> None:
    """Run the requested revisions inside the caller's transaction."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=include_object,
        # SQLite alters little in place; batch mode copies a table to change
        # it. PostgreSQL alters in place.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("homepage migrates a live database only (no --sql).")
run_migrations(context.config.attributes["connection"])
