"""The admin area: one blueprint at /admin that lets only logged-in authors in.

Every admin page is a nested blueprint of it, so a new page is behind the
login without anyone remembering a decorator; the login and logout pages are
the only way in and out.
"""

from __future__ import annotations

from flask import Blueprint, Flask, redirect, request, url_for

from . import account, auth, images, posts, revisions, wordpress
from .auth import current_author

#: The admin pages anyone may open.
OPEN_ENDPOINTS = frozenset({"admin.auth.login", "admin.auth.logout"})


def require_login():
    """Send a visitor who is not logged in to the login page, then back."""
    if request.endpoint in OPEN_ENDPOINTS or current_author() is not None:
        return None
    # After a refused POST the author lands on the page that holds the form,
    # not on a URL that only accepts POST.
    if request.method == "GET":
        target = request.full_path.rstrip("?")
    else:
        target = url_for("admin.posts.index")
    return redirect(url_for("admin.auth.login", next=target))


def blueprint() -> Blueprint:
    """Return the admin area with every admin page nested in it."""
    # Made per app: a blueprint records what it registers, and tests build
    # many apps.
    area = Blueprint("admin", __name__, url_prefix="/admin")
    area.before_request(require_login)
    for child in (
        auth.bp,
        posts.bp,
        revisions.bp,
        images.bp,
        account.bp,
        wordpress.bp,
    ):
        area.register_blueprint(child)
    return area


def init_app(app: Flask) -> None:
    """Add the login manager and the admin area."""
    auth.init_app(app)
    app.register_blueprint(blueprint())
