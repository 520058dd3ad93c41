"""The author's account: changing the password, and several authors."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from homepage.core.authors import create_author
from homepage.core.models import AUTHOR, EDITOR, OWNER, Author
from homepage.db import session

from .authors_support import add_author, everything, role_of
from .support import PASSWORD, AuthActions

# Threaded servers, Hypothesis or many requests per test: too slow for make
# test-fast, which runs the quick part of the suite in under 30 s.
pytestmark = pytest.mark.slow

NEW_PASSWORD = "a much better passphrase"


def change(auth, current=PASSWORD, new=NEW_PASSWORD, confirm=None):
    """Submit the password form."""
    return auth.post_form(
        "/admin/account/password",
        current_password=current,
        new_password=new,
        confirm_password=new if confirm is None else confirm,
    )


def test_the_account_page_needs_a_login(client):
    response = client.get("/admin/account/")
    assert response.status_code == 302
    assert "/admin/login" in response.headers["Location"]


def test_the_account_page_names_the_author_and_the_others(app, client, auth):
    with app.app_context():
        create_author("bob", "bob's long password")
    auth.login()
    page = client.get("/admin/account/").get_data(as_text=True)
    assert "You are logged in as <strong>alice</strong>" in page
    assert "alice (you)" in page and "<li>bob</li>" in page
    assert 'id="current_password"' in page and 'for="current_password"' in page


def test_changing_the_password(app, client, auth):
    auth.login()
    response = change(auth)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/account/"
    page = client.get("/admin/account/").get_data(as_text=True)
    assert "Your password has been changed" in page
    auth.logout()
    assert auth.login(password=PASSWORD).status_code == 400
    assert auth.login(password=NEW_PASSWORD).status_code == 302


def test_changing_the_password_logs_out_every_other_browser(app, client, auth):
    other = app.test_client()
    AuthActions(other).login()
    auth.login()
    assert change(auth).status_code == 302
    assert other.get("/admin/").status_code == 302
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"current": "not my password"}, "current_password", "not your current"),
        ({"current": ""}, "current_password", "not your current"),
        ({"new": "short"}, "new_password", "at least 8 characters"),
        ({"new": "x" * 1025}, "new_password", "at most 1024 characters"),
        ({"confirm": "a different one"}, "confirm_password", "passwords differ"),
    ],
)
def test_a_refused_change_keeps_the_old_password(
    app, client, auth, fields, field, message
):
    auth.login()
    response = change(auth, **fields)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'<span class="error" id="{field}-error">' in html
    assert message in html
    assert f'id="{field}"' in html and 'aria-invalid="true"' in html
    auth.logout()
    assert auth.login(password=PASSWORD).status_code == 302


def test_guessing_the_current_password_is_throttled(app, client, auth):
    auth.login()
    for _ in range(5):
        assert change(auth, current="a guess").status_code == 400
    response = change(auth)
    assert response.status_code == 429
    assert "Too many wrong passwords" in response.get_data(as_text=True)
    # The guesses count as failed logins from this address, not elsewhere.
    auth.logout()
    assert auth.login().status_code == 429
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert AuthActions(elsewhere).login().status_code == 302


def test_each_post_shows_its_author(app, client, auth):
    # An editor sees every post, so the list names each one's author.
    with app.app_context():
        create_author("bob", "bob's long password", EDITOR)
    auth.login()
    auth.create_post("By Alice")
    auth.logout()
    auth.login("bob", "bob's long password")
    auth.create_post("By Bob")
    listing = client.get("/admin/").get_data(as_text=True)
    assert '<th scope="col">Author</th>' in listing
    assert listing.count("<td>alice</td>") == 1
    assert listing.count("<td>bob</td>") == 1
    assert "by bob" in client.get("/posts/by-bob").get_data(as_text=True)
    assert "by alice" in client.get("/posts/by-alice").get_data(as_text=True)


# -- the owner manages the authors --------------------------------------------


def set_role(auth, author_id: int, role: str):
    """Submit the role form of the author ``author_id``."""
    return auth.post_form(f"/admin/account/authors/{author_id}/role", role=role)


def add(auth, username: str = "carol", role: str = EDITOR, password: str = ""):
    """Submit the add-author form."""
    return auth.post_form(
        "/admin/account/authors",
        author_username=username,
        author_role=role,
        author_password=password,
    )


def names(app) -> list[str]:
    with app.app_context():
        return list(session.scalars(select(Author.username).order_by(Author.id)))


def test_the_owner_changes_a_role_on_the_account_page(app, client, auth, bob):
    auth.login()
    page = client.get("/admin/account/").get_data(as_text=True)
    assert "You are logged in as <strong>alice</strong>, an owner" in page
    assert '<label for="role-2" class="visually-hidden">Role of bob</label>' in page
    assert '<option value="author" selected>' in page
    response = set_role(auth, 2, EDITOR)
    assert response.status_code == 302
    assert "bob is now editor." in client.get("/admin/account/").get_data(as_text=True)
    assert role_of(app, "bob") == EDITOR
    # The new role counts from bob's next request on.
    auth.create_post("Alice writes", status="draft")
    auth.login_as(bob)
    assert "Alice writes" in client.get("/admin/").get_data(as_text=True)


def test_the_last_owner_cannot_be_demoted_on_the_page(app, auth, bob):
    auth.login()
    before = everything(app)
    response = set_role(auth, 1, AUTHOR)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert '<span class="error" id="role-1-error">alice is the only owner' in html
    assert re.search(
        r"id=\"role-1\" name=\"role\"\s*aria-describedby=\"role-1-error\"", html
    )
    assert everything(app) == before
    # With a second owner she may step down, and then manages no one.
    assert set_role(auth, 2, OWNER).status_code == 302
    assert set_role(auth, 1, EDITOR).status_code == 302
    assert role_of(app, "alice") == EDITOR
    assert set_role(auth, 2, AUTHOR).status_code == 403


@pytest.mark.parametrize("role", ["", "admin", "Owner", "x" * 10_000])
def test_an_unknown_role_is_refused(app, auth, bob, role):
    auth.login()
    before = everything(app)
    response = set_role(auth, 2, role)
    assert response.status_code == 400
    assert "Choose owner, editor or author." in response.get_data(as_text=True)
    assert everything(app) == before


def test_the_role_of_a_missing_author_is_404(auth):
    auth.login()
    assert set_role(auth, 99, EDITOR).status_code == 404


@pytest.mark.parametrize("role", [AUTHOR, EDITOR])
def test_only_the_owner_sees_and_uses_the_author_forms(app, client, auth, role):
    auth.login_as(add_author(app, "dana", role))
    page = client.get("/admin/account/").get_data(as_text=True)
    assert "<li>alice</li>" in page and "dana (you)" in page
    assert "Change role" not in page and "Add an author" not in page
    before = everything(app)
    assert set_role(auth, 2, OWNER).status_code == 403
    assert set_role(auth, 1, AUTHOR).status_code == 403
    assert set_role(auth, 99, OWNER).status_code == 403
    assert add(auth, "mallory", OWNER, "a long password").status_code == 403
    assert everything(app) == before


def test_the_owner_adds_an_author_with_a_password_shown_once(app, client, auth):
    auth.login()
    response = add(auth, "carol", EDITOR)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Added carol as editor." in html
    password = re.search(r"Their password is <code>([^<]+)</code>", html).group(1)
    assert password not in client.get("/admin/account/").get_data(as_text=True)
    assert role_of(app, "carol") == EDITOR
    auth.logout()
    assert auth.login("carol", password).status_code == 302


def test_the_owner_adds_an_author_with_a_typed_password(app, client, auth):
    auth.login()
    response = add(auth, "  carol ", AUTHOR, "carol's own password")
    assert response.status_code == 302
    page = client.get("/admin/account/").get_data(as_text=True)
    assert "Added carol as author." in page
    assert "Their password is" not in page
    auth.logout()
    assert auth.login("carol", "carol's own password").status_code == 302


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"username": "  "}, "author_username", "Use 1 to 80 characters."),
        ({"username": "c" * 81}, "author_username", "Use 1 to 80 characters."),
        ({"username": "alice"}, "author_username", "Another author has this name."),
        ({"role": "root"}, "author_role", "Choose owner, editor or author."),
        ({"password": "short"}, "author_password", "Use at least 8 characters."),
        ({"password": "p" * 1025}, "author_password", "Use at most 1024 characters."),
    ],
)
def test_a_refused_new_author_is_not_added(app, auth, fields, field, message):
    auth.login()
    response = add(auth, **fields)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'<span class="error" id="{field}-error">{message}' in html
    described = re.search(f'id="{field}"[^>]*aria-describedby="([^"]*)"', html)
    assert f"{field}-error" in described.group(1).split()
    assert names(app) == ["alice"]
