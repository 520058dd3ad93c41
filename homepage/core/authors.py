"""Authors: who may write, how their passwords are kept, and their sessions."""

from __future__ import annotations

from sqlalchemy import delete, select
from werkzeug.security import check_password_hash, generate_password_hash

from ..db import session
from .models import AUTHOR, OWNER, ROLES, Author, LoginSession

MIN_PASSWORD = 8
#: Longer passwords only cost hashing time; nobody types more. The login form
#: refuses longer ones before hashing, so no author may be given one.
MAX_PASSWORD = 1024
MAX_USERNAME = 80

#: The password hash of an author who has none yet (one an import created):
#: no password matches it, since it is not a hash Werkzeug can read, so the
#: author cannot log in until the owner sets a password.
NO_PASSWORD = "!"

# Checked when the user name is unknown, so that a failed login takes as long
# for a missing user as for a wrong password and does not reveal which it was.
_DUMMY_HASH = generate_password_hash("not a password")


class AuthorError(ValueError):
    """An author cannot be created as asked; ``field`` names what is wrong."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def hash_password(password: str) -> str:
    """Hash a password with Werkzeug's default (scrypt)."""
    return generate_password_hash(password)


def password_matches(author: Author | None, password: str) -> bool:
    """Tell whether ``password`` is the author's, taking as long when none exists."""
    if author is None:
        check_password_hash(_DUMMY_HASH, password)
        return False
    return check_password_hash(author.password_hash, password)


def username_problem(username: str) -> str | None:
    """Return why ``username`` (stripped) cannot name an author, or None."""
    if not username or len(username) > MAX_USERNAME:
        return f"use 1 to {MAX_USERNAME} characters"
    return None


def password_problem(password: str) -> str | None:
    """Return why ``password`` is too weak to keep, or None."""
    if len(password) < MIN_PASSWORD:
        return f"use at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"use at most {MAX_PASSWORD} characters"
    return None


def find_author(username: str) -> Author | None:
    """Return the author called ``username``, or None."""
    return session.scalars(select(Author).where(Author.username == username)).first()


def has_owner() -> bool:
    """Tell whether any author is an owner."""
    return (
        session.execute(select(Author.id).where(Author.role == OWNER).limit(1)).first()
        is not None
    )


def create_author(username: str, password: str, role: str = AUTHOR) -> Author:
    """Add an author and commit, checking the name and password first.

    The first author of a site without an owner becomes its owner whatever
    ``role`` asks for, so that someone can always manage the others.

    :raise AuthorError: when the name, password or role is refused.
    """
    username = username.strip()
    if problem := username_problem(username):
        raise AuthorError(problem, "NAME")
    if problem := password_problem(password):
        raise AuthorError(problem, "password")
    if role not in ROLES:
        raise AuthorError(f"use one of {', '.join(ROLES)}", "role")
    # Hashed before the first query, which takes the write lock.
    password_hash = hash_password(password)
    if find_author(username):
        raise AuthorError(f"{username!r} already exists", "NAME")
    if not has_owner():
        role = OWNER
    author = Author(username=username, password_hash=password_hash, role=role)
    session.add(author)
    session.commit()
    return author


def add_author_without_password(username: str) -> Author:
    """Add an author who cannot log in until a password is set; do not commit.

    For an importer, inside its write transaction: the author's posts keep
    their byline, and nobody can log in as them meanwhile.

    :raise AuthorError: when the name is refused or taken.
    """
    username = username.strip()
    if problem := username_problem(username):
        raise AuthorError(problem, "NAME")
    if find_author(username):
        raise AuthorError(f"{username!r} already exists", "NAME")
    author = Author(username=username, password_hash=NO_PASSWORD, role=AUTHOR)
    session.add(author)
    return author


def set_password(author: Author, password: str) -> None:
    """Give ``author`` a new password and end their sessions; do not commit.

    :raise AuthorError: when the password is too weak or too long.
    """
    if problem := password_problem(password):
        raise AuthorError(problem, "password")
    author.password_hash = hash_password(password)
    end_all_sessions(author)


def end_all_sessions(author: Author) -> None:
    """Log ``author`` out everywhere."""
    session.execute(delete(LoginSession).where(LoginSession.author_id == author.id))
