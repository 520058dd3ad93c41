"""The admin area: one blueprint at /admin that lets only logged-in authors in.

Every admin page is a nested blueprint of it, so a new page is behind the
login without anyone remembering a decorator; the login and logout pages are
the only way in and out.
"""

from __future__ import annotations

from flask import Blueprint, Flask, redirect, request, url_for
from flask_wtf.csrf import CSRFError

from ..core import autosave
from ..db import write_transaction
from ..web.errors import handle_csrf_error
from . import account, auth, editor, images, posts, revisions, wordpress
from .auth import current_author
from .forms import StaleDraftForm

#: The admin pages anyone may open.
OPEN_ENDPOINTS = frozenset({"admin.auth.login", "admin.auth.logout"})
#: The views that save the post form: a form sent there after the login
#: expired is kept, not dropped.
POST_FORMS = frozenset({"admin.posts.create", "admin.posts.edit"})


def require_login():
    """Send a visitor who is not logged in to the login page, then back."""
    if request.endpoint in OPEN_ENDPOINTS or current_author() is not None:
        return None
    # After a refused POST the author lands on the page that holds the form,
    # not on a URL that only accepts POST; a post form's text comes along.
    if request.method == "GET":
        target = request.full_path.rstrip("?")
    elif (kept := keep_post_form()) is not None:
        target = kept
    else:
        target = url_for("admin.posts.index")
    return redirect(url_for("admin.auth.login", next=target))


def is_same_origin() -> bool:
    """Tell whether the browser says the request comes from this site's own page.

    Browsers send Origin with every POST (Referer where they do not), and no
    other site can set either, so a form another site makes a browser send
    fails this check.
    """
    own = request.host_url.rstrip("/")
    if origin := request.headers.get("Origin"):
        return origin == own
    referrer = request.headers.get("Referer", "")
    return referrer == own or referrer.startswith(own + "/")


def keep_post_form() -> str | None:
    """Keep the post form of this request; return the form's address to come back to.

    None when this is no post form from this site, or too large to keep:
    then nothing is kept.
    """
    if request.endpoint not in POST_FORMS or not is_same_origin():
        return None
    form = StaleDraftForm()
    values = form.kept_fields()
    if autosave.fields_problem(values):
        return None
    values["version"] = form.version.data
    values["status"] = form.status.data
    post_id = (request.view_args or {}).get("post_id")
    with write_transaction():
        token = autosave.keep_pending(post_id, values)
    if post_id is None:
        return url_for("admin.posts.create", pending=token)
    return url_for("admin.posts.edit", post_id=post_id, pending=token)


def refuse_stale_form(error: CSRFError):
    """Keep a post form whose CSRF token died with its login; refuse any other.

    The token of a form opened before the login expired belongs to the old
    session. The text is kept on the server (the same-origin check stands in
    for the token) and the author comes back to it after logging in, where
    nothing is saved until they press Save on a fresh form.
    """
    kept = keep_post_form()
    if kept is None:
        return handle_csrf_error(error)
    if current_author() is not None:
        return redirect(kept)
    return redirect(url_for("admin.auth.login", next=kept))


def blueprint() -> Blueprint:
    """Return the admin area with every admin page nested in it."""
    # Made per app: a blueprint records what it registers, and tests build
    # many apps.
    area = Blueprint("admin", __name__, url_prefix="/admin")
    area.before_request(require_login)
    area.register_error_handler(CSRFError, refuse_stale_form)
    for child in (
        auth.bp,
        posts.bp,
        editor.bp,
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
