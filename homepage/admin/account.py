"""The author's account: changing the password; for the owner, the authors."""

from __future__ import annotations

import secrets

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    url_for,
)
from sqlalchemy import select

from ..core.authors import (
    MIN_PASSWORD,
    end_all_sessions,
    find_author,
    hash_password,
    password_matches,
)
from ..core.models import AUTHOR, EDITOR, OWNER, Author, LastOwner, set_role
from ..db import session, write_transaction
from . import throttle
from .auth import current_author, start_session
from .forms import AddAuthorForm, PasswordForm, RoleForm

bp = Blueprint("account", __name__, url_prefix="/account")

#: What each role may do, as the owner's forms explain it.
ROLE_HINTS = {
    OWNER: "everything, including the authors and their roles",
    EDITOR: "every post, page and image",
    AUTHOR: "their own posts, pages and images",
}


def _render(
    status: int = 200,
    *,
    password_form: PasswordForm | None = None,
    author_form: AddAuthorForm | None = None,
    role_form: tuple[int, RoleForm] | None = None,
    created: dict[str, str] | None = None,
):
    """Render the account page with each form's errors next to its fields.

    :param role_form: the id of the author whose role was refused, and the form.
    :param created: the name, role and generated password of an author just added.
    """
    authors = session.scalars(select(Author).order_by(Author.username)).all()
    return render_template(
        "admin/account.html",
        author=current_author(),
        authors=authors,
        password_form=password_form or PasswordForm(blank=True),
        author_form=author_form or AddAuthorForm(blank=True),
        role_form=role_form,
        min_password=MIN_PASSWORD,
        roles=ROLE_HINTS,
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
    form = PasswordForm()
    address = throttle.client_address()
    # The current password is asked for so that a borrowed, still logged-in
    # browser cannot take the account over; guessing it is throttled like
    # logging in: counted first, under the lock, and forgiven when right.
    with write_transaction():
        wait = throttle.retry_after(author.username, address, known_device=True)
        attempt = None if wait else throttle.record_failure(author.username, address)
    if attempt is None:
        form.refuse("current_password", "Too many wrong passwords; try again later.")
        return _render(429, password_form=form)
    # Lengths and equality first: the new password is bounded before
    # anything hashes it. Both hashes run outside the write lock.
    valid = form.validate()
    right = password_matches(author, form.current_password.data)
    if not right:
        form.refuse("current_password", "This is not your current password.")
        valid = False
    new_hash = hash_password(form.new_password.data) if valid else None
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
    if not valid:
        return _render(400, password_form=form)
    flash("Your password has been changed. Other browsers have been logged out.")
    return redirect(url_for("admin.account.index"))


@bp.post("/authors/<int:author_id>/role")
def change_role(author_id: int):
    """Give an author another role; the site always keeps one owner."""
    other = get_author(author_id)
    form = RoleForm()
    if not form.validate():
        return _render(400, role_form=(author_id, form))
    role = form.role.data
    try:
        with write_transaction():
            # Again under the lock: the roles may have changed meanwhile.
            other = get_author(author_id)
            set_role(session, other, role)
    except LastOwner as refused:
        form.refuse("role", str(refused))
        return _render(400, role_form=(author_id, form))
    flash(f"{other.username} is now {role}.")
    return redirect(url_for("admin.account.index"))


@bp.post("/authors")
def add_author():
    """Add an author with a typed password, or one generated and shown once."""
    require_owner()
    form = AddAuthorForm()
    if not form.validate():
        return _render(400, author_form=form)
    username = form.author_username.data
    role = form.author_role.data
    password = form.author_password.data
    generated = not password
    if generated:
        password = secrets.token_urlsafe(12)
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
        form.refuse("author_username", "Another author has this name.")
        return _render(400, author_form=form)
    if generated:
        # Shown on this response rather than after a redirect, so the password
        # never travels in the (signed, not encrypted) session cookie; admin
        # pages are never cached.
        created = {"username": username, "role": role, "password": password}
        return _render(created=created)
    flash(f"Added {username} as {role}.")
    return redirect(url_for("admin.account.index"))
