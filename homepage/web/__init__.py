"""What every HTTP answer shares: security headers, error pages, asset URLs."""

from __future__ import annotations

from flask import Flask

from . import assets, checkpoint, errors, links


def init_app(app: Flask) -> None:
    """Add the error pages, asset URLs, remembered links and the WAL checkpoint."""
    checkpoint.init_app(app)
    assets.init_app(app)
    errors.init_app(app)
    links.init_app(app)
