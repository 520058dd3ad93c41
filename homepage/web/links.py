"""Addresses for pages: url_for's answers, remembered per process.

A list page links every post and tag it shows, about sixty addresses, and
Werkzeug builds each one anew (matching rules, quoting, the static files'
versions): a good part of rendering a page. An address only depends on the
endpoint, its values and the path the site is mounted at, so the answers are
kept and reused. Nothing from the request's Host header is part of an address
built this way (external URLs are not remembered), so nothing one request sent
can reach another's page.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, request, url_for

from .memo import Memo

EXTENSION_KEY = "homepage.links"
#: How many addresses a process remembers; past it, it starts again.
LIMIT = 4096


class Links:
    """The addresses one app has built, by mount path, endpoint and values."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.built: Memo[tuple, str] = Memo(limit)

    def url_for(self, endpoint: str, **values: Any) -> str:
        """Return url_for's address of ``endpoint``, built once per process."""
        try:
            # The values in the order the caller gave them: a template calls
            # the same way each time, and another order is only another key.
            key = (request.script_root, endpoint, *values.items())
            return self.built[key]
        except KeyError:
            pass
        except (TypeError, RuntimeError):  # an unhashable value; no request
            return url_for(endpoint, **values)
        address = url_for(endpoint, **values)
        # Relative endpoints depend on the current blueprint, _external and
        # its like on the request's host: neither is kept.
        if endpoint.startswith(".") or any(name.startswith("_") for name in values):
            return address
        return self.built.keep(key, address)


def link(endpoint: str, **values: Any) -> str:
    """Return the address of ``endpoint`` with ``values`` (url_for, remembered)."""
    links: Links | None = current_app.extensions.get(EXTENSION_KEY)
    if links is None:
        return url_for(endpoint, **values)
    return links.url_for(endpoint, **values)


def init_app(app: Flask) -> None:
    """Let templates build addresses through the process's memory of them."""
    # In debug mode files change under the running server (a static file's
    # version is part of its address), so every address is built anew.
    if app.debug:
        return
    links = Links()
    app.extensions[EXTENSION_KEY] = links
    app.jinja_env.globals["url_for"] = links.url_for
