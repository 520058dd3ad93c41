"""What every HTTP answer shares: security headers, error pages, asset URLs."""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter, Map

from ..core.models import MAX_ID
from . import assets, checkpoint, cookies, errors, links, nul


class IdConverter(IntegerConverter):
    """A whole number in a URL, at most :data:`MAX_ID`: larger ones are a 404."""

    def __init__(
        self,
        map: Map,  # noqa: A002 - werkzeug's name for it
        fixed_digits: int = 0,
        min: int | None = None,  # noqa: A002
        max: int | None = None,  # noqa: A002
        signed: bool = False,
    ) -> None:
        limit = MAX_ID if max is None else (max if max < MAX_ID else MAX_ID)
        super().__init__(map, fixed_digits, min, limit, signed)


def init_app(app: Flask) -> None:
    """Add the error pages, asset URLs, remembered links, lazy cookie sessions,
    the NUL guard and the WAL checkpoint."""
    # Before the blueprints add their rules, so that every <int:...> is one.
    app.url_map.converters["int"] = IdConverter
    checkpoint.init_app(app)
    cookies.init_app(app)
    assets.init_app(app)
    errors.init_app(app)
    nul.init_app(app)
    links.init_app(app)
