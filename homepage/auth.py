"""Logging authors in and out, and guarding the admin pages."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import (
    session as cookie,
)
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from .db import session
from .models import Author

bp = Blueprint("auth", __name__, url_prefix="/admin")

# Checked when the user name is unknown, so that a failed login takes as long
# for a missing user as for a wrong password and does not reveal which it was.
_DUMMY_HASH = generate_password_hash("not a password")


def hash_password(password: str) -> str:
    """Hash a password with Werkzeug's default (scrypt)."""
    return generate_password_hash(password)


def safe_next(target: str | None) -> str | None:
    """Return ``target`` if it is a path on this site, else None.

    Only a path like ``/admin/posts/new`` is allowed: no scheme, no host, and no
    ``//`` or backslash that browsers would read as another host.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(char) < 32 or ord(char) == 127 for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def current_author() -> Author | None:
    """Return the logged-in author, loading it once per request."""
    if "author" not in g:
        author_id = cookie.get("author_id")
        g.author = session.get(Author, author_id) if author_id else None
    return g.author


def login_required(view):
    """Redirect to the login page unless an author is logged in."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if current_author() is None:
            # After a refused POST the author lands on the page that holds the
            # form, not on a URL that only accepts POST.
            if request.method == "GET":
                target = request.full_path.rstrip("?")
            else:
                target = url_for("admin.index")
            return redirect(url_for("auth.login", next=target))
        return view(*args, **kwargs)

    return wrapped


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log an author in."""
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_author() is not None:
            return redirect(next_url or url_for("admin.index"))
        return render_template("auth/login.html", next=next_url, username="")
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    author = session.scalars(select(Author).where(Author.username == username)).first()
    if author is None:
        check_password_hash(_DUMMY_HASH, password)
    elif check_password_hash(author.password_hash, password):
        # A new session on login, so a session id planted before login
        # (session fixation) is worth nothing.
        cookie.clear()
        cookie["author_id"] = author.id
        return redirect(next_url or url_for("admin.index"))
    return (
        render_template(
            "auth/login.html",
            next=next_url,
            username=username,
            error="Wrong user name or password.",
        ),
        400,
    )


@bp.post("/logout")
def logout():
    """Log the author out."""
    cookie.clear()
    return redirect(url_for("blog.index"))
