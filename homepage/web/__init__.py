"""What every HTTP answer shares: security headers, error pages, asset URLs."""

from __future__ import annotations

from flask import Flask

from . import assets, checkpoint, cookies, errors, links


def init_app(app: Flask) -> None:
    """Add the error pages, asset URLs, remembered links, lazy cookie sessions
    and the WAL checkpoint."""
    checkpoint.init_app(app)
    cookies.init_app(app)
    assets.init_app(app)
    errors.init_app(app)
    links.init_app(app)
