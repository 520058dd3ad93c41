"""Logging authors in and out, and guarding the admin pages."""

from __future__ import annotations

import secrets
from math import ceil

from flask import (
    Blueprint,
    Flask,
    Request,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import (
    session as cookie,
)
from flask_login import LoginManager, current_user, login_user, logout_user
from sqlalchemy import delete, select
from sqlalchemy.orm import joinedload

from ..core.authors import find_author, password_matches
from ..core.models import Author, LoginSession, token_hash, utcnow
from ..db import session, write_transaction
from . import throttle
from .forms import LoginForm, safe_next

bp = Blueprint("auth", __name__)

#: Flask-Login, on top of this module's server-side sessions: the cookie names
#: a session row, and logging out or changing the password deletes rows, so
#: Flask-Login's own session keys and remember-me cookie are not used.
login_manager = LoginManager()
login_manager.session_protection = None


def start_session(author: Author) -> None:
    """Log ``author`` in on this browser with a new server-side session.

    Whatever session the browser had before ends on the server too, so a copy
    of its old cookie is worth nothing.
    """
    now = utcnow()
    token = secrets.token_urlsafe(32)
    _delete_session(cookie.get("sid"))
    # Expired sessions are useless; sweeping them here keeps the table small.
    session.execute(delete(LoginSession).where(LoginSession.expires_at <= now))
    session.add(
        LoginSession(
            author_id=author.id,
            token_hash=token_hash(token),
            created_at=now,
            expires_at=now + current_app.permanent_session_lifetime,
        )
    )
    # A new cookie on login, so a session planted before login (session
    # fixation) is worth nothing.
    cookie.clear()
    cookie.permanent = True
    cookie["author_id"] = author.id
    cookie["sid"] = token
    # Tell Flask-Login for the rest of this request; later requests find the
    # author through load_author() and the server-side session.
    login_user(author)


def end_session() -> None:
    """Log this browser out; its cookie stops working even if kept elsewhere."""
    _delete_session(cookie.get("sid"))
    logout_user()
    cookie.clear()


def _delete_session(token) -> None:
    """Delete the server-side session that the cookie's ``token`` names."""
    if isinstance(token, str):
        session.execute(
            delete(LoginSession).where(LoginSession.token_hash == token_hash(token))
        )


def _author_from_cookie() -> Author | None:
    """Return the author whose live session the cookie names, or None."""
    author_id = cookie.get("author_id")
    token = cookie.get("sid")
    if not isinstance(token, str) or not isinstance(author_id, int):
        return None
    # The signed cookie alone is not enough: its session must still exist on
    # the server, so logging out or changing the password really ends it.
    login = session.scalars(
        select(LoginSession)
        .where(
            LoginSession.token_hash == token_hash(token),
            LoginSession.expires_at > utcnow(),
        )
        .options(joinedload(LoginSession.author))
    ).first()
    if login is None or login.author_id != author_id:
        # Drop the dead cookie so pages stop offering the admin links.
        cookie.clear()
        return None
    return login.author


@login_manager.request_loader
def load_author(_request: Request) -> Author | None:
    """Find the author whose live server-side session the cookie names."""
    return _author_from_cookie()


def current_author() -> Author | None:
    """Return the logged-in author (Flask-Login's ``current_user``), or None."""
    # The object behind the proxy: it goes into relationships and queries.
    author = current_user._get_current_object()
    return author if author.is_authenticated else None


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log an author in."""
    if request.method == "GET" and current_author() is not None:
        next_url = safe_next(request.args.get("next"))
        return redirect(next_url or url_for("admin.posts.index"))
    # Made after that look-up, which clears a dead session's cookie and with
    # it the CSRF token that the form would otherwise carry. A GET brings the
    # page to return to in its query string; the form carries it on.
    form = LoginForm(next=request.args.get("next"))
    next_url = form.next.data
    if request.method == "GET":
        return render_template("admin/login.html", form=form)
    if not form.validate():
        # An empty or over-long field is no guess worth counting or hashing.
        return _render_wrong(form)
    username = form.username.data
    password = form.password.data
    address = throttle.client_address()
    known_device = throttle.is_known_device(username)
    # The attempt is counted as a failure before the password is checked and
    # forgiven once it proves right. Counting in a write transaction makes
    # concurrent guesses queue and each see the ones before it, so the count
    # is exact; the costly hash runs after it, outside the lock, so a flood of
    # logins never keeps the database's writers waiting.
    with write_transaction():
        wait = throttle.retry_after(username, address, known_device)
        if not wait:
            throttle.record_failure(username, address)
    if wait:
        page = render_template(
            "admin/login.html",
            form=form,
            error=f"Too many failed attempts. Wait {_duration(wait)} and try again.",
        )
        return page, 429, {"Retry-After": str(wait)}
    author = find_author(username)
    if password_matches(author, password):
        assert author is not None  # no password matches a missing author
        with write_transaction():
            author = session.get(Author, author.id)
            if author is not None:
                throttle.forget(username, address)
                start_session(author)
        if author is not None:
            response = redirect(next_url or url_for("admin.posts.index"))
            throttle.remember_device(response, author.username)
            return response
    return _render_wrong(form)


def _render_wrong(form: LoginForm):
    """Refuse a login without telling whether the name or the password was wrong."""
    page = render_template(
        "admin/login.html", form=form, error="Wrong user name or password."
    )
    return page, 400


def _duration(seconds: int) -> str:
    """Say how long to wait, in words."""
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{ceil(seconds / 60)} minutes"


@bp.post("/logout")
def logout():
    """Log the author out, ending the session on the server too."""
    with write_transaction():
        end_session()
    return redirect(url_for("blog.index"))


def init_app(app: Flask) -> None:
    """Let Flask-Login find the logged-in author through the server-side session."""
    # No context processor: reader pages must not look the author up.
    login_manager.init_app(app, add_context_processor=False)
