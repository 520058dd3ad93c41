"""The author's account: changing the password; for the owner, the authors."""

from __future__ import annotations

import secrets

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from ..core.authors import (
    MIN_PASSWORD,
    end_all_sessions,
    find_author,
    hash_password,
    password_matches,
    username_problem,
)
from ..core.models import AUTHOR, EDITOR, OWNER, ROLES, Author, LastOwner, set_role
from ..db import session, write_transaction
from . import throttle
from .auth import current_author, start_session

bp = Blueprint("account", __name__, url_prefix="/account")

#: Longer passwords only cost hashing time; nobody types more.
MAX_PASSWORD = 1024


#: What each role may do, as the owner's forms explain it.
ROLE_HINTS = {
    OWNER: "everything, including the authors and their roles",
    EDITOR: "every post, page and image",
    AUTHOR: "their own posts, pages and images",
}

_ROLE_CHOICE = f"Choose {', '.join(ROLES[:-1])} or {ROLES[-1]}."


def _render(
    errors: dict[str, str] | None = None,
    status: int = 200,
    new_author: dict[str, str] | None = None,
    created: dict[str, str] | None = None,
):
    """Render the account page with ``errors`` next to their fields.

    :param new_author: the add-author form's input, shown again after an error.
    :param created: the name, role and generated password of an author just added.
    """
    authors = session.scalars(select(Author).order_by(Author.username)).all()
    return render_template(
        "admin/account.html",
        author=current_author(),
        authors=authors,
        errors=errors or {},
        min_password=MIN_PASSWORD,
        roles=ROLE_HINTS,
        new_author=new_author or {"username": "", "role": AUTHOR},
        created=created,
    ), status


def require_owner() -> Author:
    """Return the logged-in author if they own the site.

    :raise 403: when they do not.
    """
    author = current_author()
    if author is None or not author.is_owner:
        abort(403)
    return author


def get_author(author_id: int) -> Author:
    """Return the author with ``author_id`` for the owner to manage.

    :raise 403: when the logged-in author is not an owner.
    :raise 404: when there is no such author.
    """
    require_owner()
    author = session.get(Author, author_id)
    if author is None:
        abort(404)
    return author


@bp.get("/")
def index():
    """Show the account page with the password form."""
    return _render()


@bp.post("/password")
def change_password():
    """Change the logged-in author's password and log out everywhere else."""
    author = current_author()
    assert author is not None  # the admin area's login gate let the request in
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    confirm = request.form.get("confirm_password", "")
    address = throttle.client_address()
    # The current password is asked for so that a borrowed, still logged-in
    # browser cannot take the account over; guessing it is throttled like
    # logging in: counted first, under the lock, and forgiven when right.
    with write_transaction():
        wait = throttle.retry_after(author.username, address, known_device=True)
        attempt = None if wait else throttle.record_failure(author.username, address)
    if attempt is None:
        return _render(
            {"current_password": "Too many wrong passwords; try again later."}, 429
        )
    # Both hashes run outside the write lock.
    errors: dict[str, str] = {}
    right = password_matches(author, current)
    if not right:
        errors["current_password"] = "This is not your current password."
    if len(new) < MIN_PASSWORD:
        errors["new_password"] = f"Use at least {MIN_PASSWORD} characters."
    elif len(new) > MAX_PASSWORD:
        errors["new_password"] = f"Use at most {MAX_PASSWORD} characters."
    elif new != confirm:
        errors["confirm_password"] = "The two new passwords differ."
    new_hash = None if errors else hash_password(new)
    if right:
        with write_transaction():
            throttle.withdraw(attempt.id)
            author = session.get(Author, author.id)
            if new_hash is not None and author is not None:
                author.password_hash = new_hash
                # Whoever else knew the old password may be logged in; end
                # every session, then start a fresh one for this browser.
                end_all_sessions(author)
                start_session(author)
    if errors:
        return _render(errors, 400)
    flash("Your password has been changed. Other browsers have been logged out.")
    return redirect(url_for("admin.account.index"))


@bp.post("/authors/<int:author_id>/role")
def change_role(author_id: int):
    """Give an author another role; the site always keeps one owner."""
    other = get_author(author_id)
    role = request.form.get("role", "")
    field = f"role-{author_id}"
    if role not in ROLES:
        return _render({field: _ROLE_CHOICE}, 400)
    try:
        with write_transaction():
            # Again under the lock: the roles may have changed meanwhile.
            other = get_author(author_id)
            set_role(session, other, role)
    except LastOwner as refused:
        return _render({field: str(refused)}, 400)
    flash(f"{other.username} is now {role}.")
    return redirect(url_for("admin.account.index"))


@bp.post("/authors")
def add_author():
    """Add an author with a typed password, or one generated and shown once."""
    require_owner()
    username = request.form.get("author_username", "").strip()
    password = request.form.get("author_password", "")
    role = request.form.get("author_role", "")
    kept = {"username": username, "role": role}
    errors: dict[str, str] = {}
    if problem := username_problem(username):
        errors["author_username"] = f"{problem.capitalize()}."
    if role not in ROLES:
        errors["author_role"] = _ROLE_CHOICE
    generated = not password
    if generated:
        password = secrets.token_urlsafe(12)
    elif len(password) < MIN_PASSWORD:
        errors["author_password"] = f"Use at least {MIN_PASSWORD} characters."
    elif len(password) > MAX_PASSWORD:
        errors["author_password"] = f"Use at most {MAX_PASSWORD} characters."
    if errors:
        return _render(errors, 400, kept)
    # Hashed before the write lock, as every password is.
    password_hash = hash_password(password)
    with write_transaction():
        require_owner()
        taken = find_author(username) is not None
        if not taken:
            session.add(
                Author(username=username, password_hash=password_hash, role=role)
            )
    if taken:
        return _render({"author_username": "Another author has this name."}, 400, kept)
    if generated:
        # Shown on this response rather than after a redirect, so the password
        # never travels in the (signed, not encrypted) session cookie; admin
        # pages are never cached.
        created = {"username": username, "role": role, "password": password}
        return _render(created=created)
    flash(f"Added {username} as {role}.")
    return redirect(url_for("admin.account.index"))
