"""What every HTTP answer shares: security headers, error pages, asset URLs."""

from __future__ import annotations

from flask import Flask

from . import assets, checkpoint, errors


def init_app(app: Flask) -> None:
    """Add the error pages, asset URLs and the WAL checkpoint after writes."""
    checkpoint.init_app(app)
    assets.init_app(app)
    errors.init_app(app)
