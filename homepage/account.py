"""The author's account: changing the password."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.security import check_password_hash

from . import throttle
from .auth import (
    current_author,
    end_all_sessions,
    hash_password,
    login_required,
    start_session,
)
from .cli import MIN_PASSWORD
from .db import session, write_transaction
from .models import Author

bp = Blueprint("account", __name__, url_prefix="/admin/account")

#: Longer passwords only cost hashing time; nobody types more.
MAX_PASSWORD = 1024


def _render(errors: dict[str, str] | None = None, status: int = 200):
    """Render the account page with ``errors`` next to their fields."""
    authors = session.scalars(select(Author).order_by(Author.username)).all()
    return render_template(
        "account/index.html",
        author=current_author(),
        authors=authors,
        errors=errors or {},
        min_password=MIN_PASSWORD,
    ), status


@bp.get("/")
@login_required
def index():
    """Show the account page with the password form."""
    return _render()


@bp.post("/password")
@login_required
def change_password():
    """Change the logged-in author's password and log out everywhere else."""
    author = current_author()
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
        errors = {"current_password": "Too many wrong passwords; try again later."}
        return _render(errors, 429)
    # Both hashes run outside the write lock.
    errors: dict[str, str] = {}
    right = check_password_hash(author.password_hash, current)
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
    return redirect(url_for("account.index"))
