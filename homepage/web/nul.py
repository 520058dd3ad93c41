"""Refuse the NUL character in any text a request brings.

PostgreSQL cannot store or even compare text holding U+0000: a username, slug
or search word with one made its driver raise, a 500. No page, form field or
address needs the character, so it is refused at the door, on both databases,
before any handler looks the text up.
"""

from __future__ import annotations

from flask import Flask, abort, request
from werkzeug.datastructures import MultiDict

#: What a refused request is told.
MESSAGE = "Text cannot contain the NUL character (U+0000)."


def refuse_nul() -> None:
    """Answer 404 for an address with NUL, 400 for a query or form field with it."""
    if "\x00" in request.path:
        abort(404)
    # The raw query string is checked first, so most requests never parse it.
    if b"%00" in request.query_string and _holds_nul(request.args):
        abort(400, description=MESSAGE)
    if request.method == "POST" and _holds_nul(request.form):
        abort(400, description=MESSAGE)


def _holds_nul(fields: MultiDict[str, str]) -> bool:
    """Return whether any name or value of a form or query holds NUL."""
    pairs = fields.items(multi=True)
    return any("\x00" in name or "\x00" in value for name, value in pairs)


def init_app(app: Flask) -> None:
    """Check every request before its view."""
    app.before_request(refuse_nul)
