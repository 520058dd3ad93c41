"""Versioned static URLs, so that browsers may keep static files for a year,
and the icon browsers ask for at ``/favicon.ico``."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache

from flask import Flask, Response, current_app, send_from_directory
from werkzeug.security import safe_join


@lru_cache(maxsize=256)
def _digest(path: str, _mtime_ns: int, _size: int) -> str:
    # The modification time and size are part of the cache key, so an edited
    # file is hashed again and gets a new URL.
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()[:12]


def file_version(folder: str, filename: str) -> str | None:
    """Return a short hash of a static file's content, or None if it is missing."""
    path = safe_join(folder, filename)
    if path is None:
        return None
    try:
        info = os.stat(path)
    except OSError:
        return None
    return _digest(path, info.st_mtime_ns, info.st_size)


#: How long browsers keep the icon at /favicon.ico, whose address is fixed.
ICON_MAX_AGE = 7 * 24 * 3600


def favicon() -> Response:
    """Serve the site's icon where browsers look for it without being told."""
    # Pages link static/favicon.svg; browsers (and crawlers) still ask for
    # /favicon.ico, and a 404 on every page is noise in every log and console.
    folder = current_app.static_folder
    assert folder is not None  # create_app sets the project's static folder
    response = send_from_directory(
        folder, "favicon.ico", mimetype="image/x-icon", max_age=ICON_MAX_AGE
    )
    response.cache_control.public = True
    return response


def init_app(app: Flask) -> None:
    """Add ``?v=<content hash>`` to every URL of a static file; serve the icon."""
    app.add_url_rule("/favicon.ico", "favicon", favicon)

    # Apache serves /static/ with a one-year lifetime when the URL carries a
    # version (deploy/apache-homepage.conf). A changed file gets a new URL, so
    # readers never keep an old stylesheet after an upgrade.
    @app.url_defaults
    def version_static_urls(endpoint: str, values: dict) -> None:
        if endpoint != "static" or "v" in values or not app.static_folder:
            return
        version = file_version(app.static_folder, values.get("filename", ""))
        if version:
            values["v"] = version
