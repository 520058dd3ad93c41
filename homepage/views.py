"""Template helpers shared by every blueprint."""

from __future__ import annotations

from datetime import datetime

from flask import Flask
from flask import session as cookie


def format_date(value: datetime) -> str:
    """Format a date for readers, e.g. "5 March 2026"."""
    return f"{value.day} {value:%B %Y}"


def init_app(app: Flask) -> None:
    """Register filters and globals."""
    app.add_template_filter(format_date, "date")

    @app.context_processor
    def site():
        """Give every template the site's name and the login state."""
        return {
            "site_title": app.config["SITE_TITLE"],
            "site_description": app.config["SITE_DESCRIPTION"],
            "logged_in": "author_id" in cookie,
        }
