"""The author's account: changing the password, and several authors."""

from __future__ import annotations

import pytest

from homepage.cli import create_author

from .conftest import PASSWORD, AuthActions

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
    assert f'<p class="error" id="{field}-error">' in html
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
    with app.app_context():
        create_author("bob", "bob's long password")
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
