"""Styled error pages."""

from __future__ import annotations

from flask import Flask, current_app, render_template
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DatabaseError, DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from ..db import session

#: Seconds a reader or crawler is asked to wait after a 503.
RETRY_AFTER = 60


def handle_http_error(error: HTTPException):
    """Render an HTTP error with the site's layout."""
    return render_template("errors/error.html", error=error), error.code


def handle_csrf_error(error: CSRFError):
    """Explain a refused form: the page was stale or not from this site."""
    return render_template("errors/error.html", error=error), 400


def handle_server_error(error: InternalServerError):
    """Roll back the failed transaction, then render the 500 page."""
    session.rollback()
    return render_template("errors/error.html", error=error), 500


#: PostgreSQL's SQLSTATE codes for a schema that lacks a table or a column,
#: which it reports as a programming error where SQLite reports an operational
#: one: a database not yet upgraded, not a mistaken query.
_SCHEMA_BEHIND = frozenset({"42P01", "42703"})


def database_unavailable(error: Exception) -> bool:
    """Tell whether ``error`` says the database cannot be used, not a query is wrong.

    An unreadable, missing, corrupt or locked SQLite file, a PostgreSQL
    server that is down, refuses connections or lost one, or a schema that
    lacks a table, raises an operational error or a bare database error; a
    broken constraint or a malformed statement raises one of the more precise
    subclasses, which are bugs and stay 500s.
    """
    if isinstance(error, DBAPIError):
        if getattr(error.orig, "sqlstate", None) in _SCHEMA_BEHIND:
            return True
    return isinstance(error, OperationalError) or type(error) is DatabaseError


def handle_database_error(error: Exception):
    """Roll back, log the cause, and render the 503 page."""
    if not database_unavailable(error):
        # Flask's own handling: logged with its traceback, then the 500 page.
        raise error
    session.rollback()
    current_app.logger.error("The database cannot be used: %s", error, exc_info=error)
    page = render_template("errors/error.html", error=ServiceUnavailable())
    return page, 503, {"Retry-After": str(RETRY_AFTER)}


def init_app(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(InternalServerError, handle_server_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(DatabaseError, handle_database_error)
