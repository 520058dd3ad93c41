"""Styled error pages."""

from __future__ import annotations

from flask import Flask, current_app, render_template
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DatabaseError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from ..db import database_unavailable, session

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
