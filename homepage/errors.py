"""Styled error pages."""

from __future__ import annotations

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from .db import session


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


def init_app(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(InternalServerError, handle_server_error)
    app.register_error_handler(HTTPException, handle_http_error)
