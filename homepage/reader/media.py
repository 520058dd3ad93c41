"""The uploaded images, served to every reader."""

from __future__ import annotations

from flask import Blueprint, abort, send_from_directory

from ..core.images import CONTENT_TYPES, cached_file

bp = Blueprint("media", __name__)


@bp.get("/media/<name>")
def serve(name: str):
    """Serve an uploaded image or one of its variants.

    From this host's upload folder, which :func:`cached_file` fills from the
    database when another host stored the image.
    """
    path = cached_file(name)
    if path is None:
        abort(404)
    extension = name.rsplit(".", 1)[1]
    response = send_from_directory(
        path.parent,
        path.name,
        mimetype=CONTENT_TYPES[extension],
        max_age=365 * 24 * 3600,
    )
    # A name is never reused for other content, so caches may keep it forever.
    response.cache_control.public = True
    response.cache_control.immutable = True
    # Even if a browser were talked into treating it as a document, nothing
    # in it could run.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; img-src 'self'; sandbox"
    )
    return response
