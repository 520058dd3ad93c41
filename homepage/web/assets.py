"""Versioned static URLs, so that browsers may keep static files for a year."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache

from flask import Flask
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


def init_app(app: Flask) -> None:
    """Add ``?v=<hash of the content>`` to every URL of a static file."""

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
