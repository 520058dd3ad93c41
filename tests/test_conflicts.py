"""Two authors edit one post: a stale save is caught, shown, merged; nothing is lost."""

from __future__ import annotations

import html
import io

import pytest
from flask import Flask
from sqlalchemy import func, select

from homepage.admin import forms
from homepage.core.authors import create_author
from homepage.core.models import EDITOR, Image, Post, Revision
from homepage.db import get_engine, session

from .support import PASSWORD, AuthActions, version_from, write_elsewhere
from .test_images import picture

# Threaded servers, Hypothesis or many requests per test: too slow for make
# test-fast, which runs the quick part of the suite in under 30 s.
pytestmark = pytest.mark.slow

EDIT = "/admin/posts/1/edit"


@pytest.fixture
def alice(app: Flask, auth: AuthActions) -> AuthActions:
    """Alice, logged in, with one published post, "Hello"."""
    auth.login()
    assert auth.create_post("Hello", tags="first").status_code == 302
    return auth


@pytest.fixture
def bob(app: Flask) -> AuthActions:
    """An editor, who may edit alice's posts, logged in from another browser."""
    with app.app_context():
        create_author("bob", PASSWORD, EDITOR)
    bob = AuthActions(app.test_client())
    assert bob.login("bob").status_code == 302
    return bob


def open_form(author: AuthActions, path: str = EDIT) -> str:
    """Open the edit form; return the version it carries."""
    return version_from(author._client.get(path).get_data(as_text=True))


def save(author: AuthActions, version: str, path: str = EDIT, **fields):
    """Submit the post form, opened at ``version``, with ``fields`` typed in."""
    data = {
        "title": "Hello",
        "body": "The body of Hello.",
        "summary": "",
        "tags": "first",
        "status": "published",
        "action": "save",
        "version": version,
        **fields,
    }
    return author.post_form(path, **data)


def stored(app: Flask) -> tuple:
    """Return what the database holds of post 1, and its kept versions' bodies."""
    with app.app_context():
        post = session.get(Post, 1)
        kept = session.scalars(
            select(Revision.body).where(Revision.post_id == 1).order_by(Revision.number)
        ).all()
        if post is None:
            return None, kept
        tags = ", ".join(tag.name for tag in post.tags)
        return (post.title, post.body, tags, post.version), kept


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_a_stale_save_gets_a_conflict_page_that_keeps_its_text(app, alice, bob):
    started = open_form(bob)
    alices = save(
        alice,
        open_form(alice),
        title="Hello again",
        body="The body of Hello.\n\nA paragraph by Alice.",
        tags="first, second",
    )
    assert alices.status_code == 302
    before = stored(app)

    response = save(bob, started, body="Bob's rewrite of the body.", summary="Bob's")
    assert response.status_code == 409
    page = text(response)
    # The alert says who saved, and that nothing was saved.
    assert '<div class="error-summary" role="alert">' in page
    assert "The post was not saved: alice saved it after you opened it" in page
    # Bob's text is in the form, every field of it.
    assert ">Bob's rewrite of the body.</textarea>" in page
    assert ">Bob's</textarea>" in page
    assert 'name="title" value="Hello"' in page
    # What Alice changed since Bob opened the post, marked without colour too.
    assert '<ins class="diff-add">+A paragraph by Alice.</ins>' in page
    assert '<del class="diff-remove">-Hello</del>' in page
    assert '<ins class="diff-add">+Hello again</ins>' in page
    assert '<ins class="diff-add">+first, second</ins>' in page
    # The current text, to merge from, is on the page outside the form.
    assert "readonly>The body of Hello.\n\nA paragraph by Alice.</textarea>" in page
    # The form now carries the version Bob has seen, so merging can finish.
    assert before[0][3] == 2
    assert version_from(page) == "2"
    # Nothing changed in the database: Alice's text is the post.
    assert stored(app) == before


def test_saving_the_conflict_page_keeps_both_texts(app, alice, bob):
    started = open_form(bob)
    save(alice, open_form(alice), body="Alice's text.")
    conflict = save(bob, started, body="Bob's text.")
    assert conflict.status_code == 409

    # Bob merges by hand and saves the form the conflict page shows.
    merged = save(bob, version_from(text(conflict)), body="Alice's text. Bob's text.")
    assert merged.status_code == 302
    current, kept = stored(app)
    assert current[1] == "Alice's text. Bob's text."
    assert kept == ["The body of Hello.", "Alice's text."]


def test_a_form_opened_after_the_last_save_saves(app, alice, bob):
    assert open_form(alice) == "1"
    assert save(alice, "1", body="First edit.").status_code == 302
    # Each save is a new version; a form opened since saves without a conflict.
    assert save(bob, open_form(bob), body="Second edit.").status_code == 302
    assert save(alice, open_form(alice), body="Third edit.").status_code == 302
    current, kept = stored(app)
    assert (current[1], current[3]) == ("Third edit.", 4)
    assert kept == ["The body of Hello.", "First edit.", "Second edit."]


def test_a_save_that_changes_nothing_leaves_other_forms_valid(app, alice, bob):
    started = open_form(bob)
    assert save(alice, open_form(alice)).status_code == 302
    assert stored(app)[0][3] == 1
    assert save(bob, started, body="Bob's edit.").status_code == 302
    assert stored(app)[0][1] == "Bob's edit."


def test_a_save_between_validation_and_the_lock_is_a_conflict(app, alice, monkeypatch):
    started = open_form(alice)
    validate = forms.PostForm.validate

    def validate_while_someone_saves(form, extra_validators=None):
        valid = validate(form, extra_validators)
        # Another author's save commits while this request renders Markdown.
        write_elsewhere(
            app, "UPDATE posts SET body = 'Theirs.', version = 2 WHERE id = 1"
        )
        return valid

    monkeypatch.setattr(forms.PostForm, "validate", validate_while_someone_saves)
    response = save(alice, started, body="Mine.")
    assert response.status_code == 409
    assert ">Mine.</textarea>" in text(response)
    assert stored(app)[0][1] == "Theirs."


@pytest.mark.parametrize("action", ["save", "preview"])
def test_a_post_deleted_meanwhile_keeps_the_typed_text(app, alice, bob, action):
    started = open_form(bob)
    # Deleted for good: moved to the trash, then purged from it.
    assert alice.post_form("/admin/posts/1/delete").status_code == 302
    assert alice.post_form("/admin/posts/1/purge").status_code == 302

    response = save(bob, started, body="Bob's words.", action=action)
    assert response.status_code == 409
    page = text(response)
    assert '<div class="error-summary" role="alert">' in page
    assert "This post was deleted while you were editing it." in page
    assert ">Bob's words.</textarea>" in page
    # Saving again creates it anew.
    assert 'action="/admin/posts/new"' in page
    assert stored(app) == (None, [])
    again = save(bob, "", path="/admin/posts/new", body="Bob's words.")
    assert again.status_code == 302
    with app.app_context():
        assert session.scalars(select(Post.body)).all() == ["Bob's words."]


def test_uploading_into_a_post_deleted_meanwhile_keeps_the_text(app, alice, bob):
    open_form(bob)
    alice.post_form("/admin/posts/1/delete")
    response = bob.post_form(
        "/admin/posts/1/image",
        title="Hello",
        body="Bob's words.",
        status="published",
        image=(io.BytesIO(picture()), "sea.png"),
    )
    assert response.status_code == 409
    page = text(response)
    assert "This post was deleted while you were editing it." in page
    assert ">Bob's words.</textarea>" in page
    with app.app_context():
        assert session.scalar(select(func.count(Image.id))) == 0


def test_a_post_deleted_between_validation_and_the_lock(app, alice, monkeypatch):
    started = open_form(alice)
    validate = forms.PostForm.validate

    def validate_while_someone_deletes(form, extra_validators=None):
        valid = validate(form, extra_validators)
        write_elsewhere(app, "DELETE FROM posts WHERE id = 1")
        return valid

    monkeypatch.setattr(forms.PostForm, "validate", validate_while_someone_deletes)
    response = save(alice, started, body="Mine.")
    assert response.status_code == 409
    page = text(response)
    assert "This post was deleted while you were editing it." in page
    assert ">Mine.</textarea>" in page
    assert stored(app) == (None, [])


def test_preview_and_upload_keep_the_version_the_form_started_from(app, alice, bob):
    started = open_form(bob)
    save(alice, open_form(alice), body="Alice's text.")
    preview = save(bob, started, body="Bob's text.", action="preview")
    assert preview.status_code == 200
    assert version_from(text(preview)) == started
    upload = bob.post_form(
        "/admin/posts/1/image",
        title="Hello",
        body="Bob's text.",
        status="published",
        version=started,
        image=(io.BytesIO(picture()), "sea.png"),
    )
    assert upload.status_code == 200
    assert version_from(text(upload)) == started
    assert save(bob, started, body="Bob's text.").status_code == 409


def test_restoring_a_version_makes_open_forms_stale(app, alice, bob):
    save(alice, open_form(alice), body="Second text.")
    started = open_form(bob)
    assert alice.post_form("/admin/posts/1/revisions/1/restore").status_code == 302
    response = save(bob, started, body="Bob's text.")
    assert response.status_code == 409
    assert '<ins class="diff-add">+The body of Hello.</ins>' in text(response)


@pytest.mark.parametrize(
    "version", ["", "abc", "0", "-1", "1.0", " 1", "1" * 40, "\u0661", None]
)
def test_a_form_without_a_valid_version_is_refused_and_kept(app, alice, version):
    data = {
        "csrf_token": alice.token(EDIT),
        "title": "Hello",
        "body": "My words.",
        "tags": "first",
        "status": "published",
        "action": "save",
    }
    if version is not None:
        data["version"] = version
    before = stored(app)
    # Sent as is: the helpers would add the version the form carries.
    response = alice._client.post(EDIT, data=data)
    assert response.status_code == 400
    page = text(response)
    assert '<div class="error-summary" role="alert">' in page
    assert "did not say which version of the post it was opened at" in page
    assert ">My words.</textarea>" in page
    # The post as it is now is shown, and the form now starts from it.
    assert "readonly>The body of Hello.</textarea>" in page
    assert version_from(page) == "1"
    assert stored(app) == before
    assert save(alice, "1", body="My words.").status_code == 302
    assert stored(app)[0][1] == "My words."


@pytest.mark.sqlite  # a database from before Alembic: adopted on SQLite only
def test_an_upgraded_database_numbers_old_posts_and_catches_conflicts(
    app, alice, bob, runner
):
    save(alice, open_form(alice), body="Second text.")
    # A database from before posts had versions.
    with get_engine(app).begin() as conn:
        conn.exec_driver_sql("ALTER TABLE posts DROP COLUMN version")
        conn.exec_driver_sql("ALTER TABLE revisions DROP COLUMN version")
        # A database from before homepage used Alembic has no version table.
        conn.exec_driver_sql("DROP TABLE alembic_version")
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert stored(app)[0][3] == 1

    started = open_form(bob)
    assert started == "1"
    assert save(alice, open_form(alice), body="Third text.").status_code == 302
    response = save(bob, started, body="Bob's text.")
    assert response.status_code == 409
    page = text(response)
    # The version kept before the upgrade is not taken for the one Bob opened.
    assert '<del class="diff-remove">-Second text.</del>' in page
    assert '<ins class="diff-add">+Third text.</ins>' in page
