"""The author writes, previews, edits and deletes posts through the admin form."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage
from sqlalchemy import func, select

from homepage.admin import forms
from homepage.core.models import EDITOR, Post, Tag
from homepage.db import session

from .authors_support import add_author, everything
from .support import write_elsewhere

# Threaded servers, Hypothesis or many requests per test: too slow for make
# test-fast, which runs the quick part of the suite in under 30 s.
pytestmark = pytest.mark.slow


def count(app, model) -> int:
    with app.app_context():
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def get_post(app, **criteria) -> Post | None:
    with app.app_context():
        query = select(Post).filter_by(**criteria)
        post = session.scalars(query).first()
        if post is not None:
            post.tags  # noqa: B018 - load the tags before the session closes
        return post


@pytest.fixture
def logged_in(auth):
    auth.login()
    return auth


def test_admin_lists_every_post_with_status(client, logged_in):
    logged_in.create_post("A draft", status="draft")
    logged_in.create_post("Out there", status="published")
    html = client.get("/admin/").get_data(as_text=True)
    assert html.index("Out there") < html.index("A draft")
    assert "status-draft" in html and "status-published" in html
    assert html.count("/edit") == 2
    assert html.count("/delete") == 2
    assert client.get("/admin/").headers["Cache-Control"] == "no-store"


def test_new_post_form_has_every_field_labelled(client, logged_in):
    html = client.get("/admin/posts/new").get_data(as_text=True)
    for field in ("title", "slug", "body", "summary", "tags"):
        assert f'<label for="{field}">' in html
        assert f'name="{field}"' in html
    assert 'name="action" value="draft">Save draft</button>' in html
    assert 'name="action" value="publish" id="publish">Publish</button>' in html
    assert 'name="action" value="preview"' in html


def test_create_post(app, client, logged_in):
    response = logged_in.create_post(
        "First post", tags="Python, Flask, python", summary="Short."
    )
    assert response.status_code == 302
    post = get_post(app, slug="first-post")
    assert response.headers["Location"] == f"/admin/posts/{post.id}/edit"
    assert post.title == "First post"
    assert post.status == "published"
    assert post.summary == "Short."
    assert [tag.name for tag in post.tags] == ["flask", "python"]
    assert (
        'Published “First post”. <a href="/posts/first-post">View post</a>'
        in client.get(response.headers["Location"]).text
    )


def test_slugs_are_unique_and_ascii(app, logged_in):
    logged_in.create_post("Same title")
    logged_in.create_post("Same title")
    logged_in.create_post("Привет, мир")
    logged_in.create_post("日本語のタイトル")
    logged_in.create_post("🎉🎉")
    with app.app_context():
        slugs = set(session.scalars(select(Post.slug)))
    assert {"same-title", "same-title-2"} <= slugs
    assert "privet-mir" in slugs
    assert "post" in slugs
    assert all(slug.isascii() and slug for slug in slugs)
    assert len(slugs) == 5


def test_author_chosen_slug_is_used(app, logged_in):
    logged_in.create_post("Chosen", slug="my-own-slug")
    assert get_post(app, slug="my-own-slug").title == "Chosen"


def test_preview_renders_without_saving(app, client, logged_in):
    response = logged_in.create_post(
        "Previewed", body="Some **bold** text.", action="preview"
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Preview (not saved)" in html
    assert "<strong>bold</strong>" in html
    assert "Some **bold** text.</textarea>" in html
    assert count(app, Post) == 0


def test_edit_post(app, client, logged_in):
    logged_in.create_post("Before", tags="old")
    post = get_post(app, slug="before")
    form = client.get(f"/admin/posts/{post.id}/edit").get_data(as_text=True)
    assert 'value="Before"' in form and 'value="old"' in form
    response = logged_in.post_form(
        f"/admin/posts/{post.id}/edit",
        title="After",
        slug="before",
        body="New body",
        tags="new",
        status="draft",
        action="save",
    )
    assert response.status_code == 302
    post = get_post(app, id=post.id)
    assert (post.title, post.body, post.status) == ("After", "New body", "draft")
    assert [tag.name for tag in post.tags] == ["new"]
    # The tag no post uses any more is gone.
    with app.app_context():
        assert list(session.scalars(select(Tag.name))) == ["new"]


def test_edit_keeps_the_slug_when_left_empty(app, logged_in):
    logged_in.create_post("Keep my slug")
    post = get_post(app, slug="keep-my-slug")
    logged_in.post_form(
        f"/admin/posts/{post.id}/edit",
        title="A new title",
        slug="",
        body="b",
        status="published",
        action="save",
    )
    assert get_post(app, id=post.id).slug == "keep-my-slug"


def test_delete_post(app, client, logged_in):
    logged_in.create_post("Doomed", tags="gone")
    post = get_post(app, slug="doomed")
    # GET asks for confirmation; POST moves it to the trash; purging it
    # there deletes it for good.
    assert client.get(f"/admin/posts/{post.id}/delete").status_code == 200
    response = logged_in.post_form(f"/admin/posts/{post.id}/delete")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    assert client.get("/posts/doomed").status_code == 404
    response = logged_in.post_form(f"/admin/posts/{post.id}/purge")
    assert response.status_code == 302
    assert count(app, Post) == 0
    assert count(app, Tag) == 0
    assert client.get("/posts/doomed").status_code == 404


def test_editing_or_deleting_a_missing_post_is_404(client, logged_in):
    assert client.get("/admin/posts/42/edit").status_code == 404
    assert logged_in.post_form("/admin/posts/42/delete").status_code == 404


TOO_LONG = "x" * 1_000_001


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"title": ""}, "title", "Give the post a title."),
        ({"title": "   "}, "title", "Give the post a title."),
        ({"title": "t" * 201}, "title", "Keep the title under"),
        ({"body": ""}, "body", "Write something in the body."),
        ({"body": TOO_LONG}, "body", "The body is too long"),
        ({"status": "archived"}, "status", "Choose draft or published."),
        ({"status": ""}, "status", "Choose draft or published."),
        ({"slug": "Not A Slug"}, "slug", "Use lower-case letters"),
        ({"slug": "ünïcode"}, "slug", "Use lower-case letters"),
        ({"slug": "taken"}, "slug", "Another post already uses this slug."),
        ({"tags": "a/b"}, "tags", "Tags cannot contain"),
        ({"tags": "t" * 65}, "tags", "Keep each tag under"),
    ],
)
def test_invalid_input_is_refused_and_kept(app, logged_in, fields, field, message):
    logged_in.create_post("Existing", slug="taken")
    before = count(app, Post), count(app, Tag)
    data = {"title": "My title", "body": "My body text", "tags": "mytag"}
    data.update(fields)
    response = logged_in.create_post(**data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'<span class="error" id="{field}-error">{message}' in html
    assert f'id="{field}"' in html
    if field != "status":
        assert f'aria-describedby="{field}-error" aria-invalid="true"' in html or (
            f'-hint {field}-error" aria-invalid="true"' in html
        )
    # What the author typed is still in the form.
    if field != "body":
        assert "My body text</textarea>" in html
    if field != "title":
        assert f'value="{data["title"]}"' in html
    assert (count(app, Post), count(app, Tag)) == before


def test_a_failed_edit_changes_nothing(app, logged_in):
    logged_in.create_post("Stable", tags="kept")
    post = get_post(app, slug="stable")
    response = logged_in.post_form(
        f"/admin/posts/{post.id}/edit",
        title="",
        body="changed",
        tags="other",
        status="published",
        action="save",
    )
    assert response.status_code == 400
    after = get_post(app, id=post.id)
    assert (after.title, after.body) == ("Stable", "The body of Stable.")
    assert [tag.name for tag in after.tags] == ["kept"]


def test_oversized_request_is_refused_with_a_page(app, logged_in):
    response = logged_in.create_post("Huge", body="x" * (17 * 1024 * 1024))
    assert response.status_code == 413
    assert "larger than this site accepts" in response.get_data(as_text=True)
    assert count(app, Post) == 0


def test_title_and_tags_are_escaped(app, logged_in):
    logged_in.create_post(
        "<script>alert(1)</script>", tags="<img src=x onerror=alert(1)>"
    )
    reader = app.test_client()
    html = reader.get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_enter_in_a_field_saves_the_post(client, logged_in):
    # Browsers submit a form with its first submit button when Enter is
    # pressed in a text field; that must save, not Preview, Publish or Upload.
    html = client.get("/admin/posts/new").get_data(as_text=True)
    form = html[html.index('<form class="form"') :]
    form = form[: form.index("</form>")]
    first_button = form[form.index('<button type="submit"') :].split(">", 1)[0]
    assert 'value="draft"' in first_button


# -- several authors ----------------------------------------------------------


def png() -> bytes:
    """Return a small real PNG."""
    buffer = io.BytesIO()
    PILImage.new("RGB", (4, 3), (30, 120, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def save_form(title: str = "Alice writes", **fields) -> dict:
    """Return the post form's fields for a save of post 1."""
    return {
        "title": title,
        "body": f"The body of {title}.",
        "tags": "",
        "status": "draft",
        "action": "save",
        **fields,
    }


@pytest.fixture
def alices_work(app, auth):
    """Let alice write a draft (post 1) with one earlier version and upload an
    image (image 1), then log out."""
    auth.login()
    assert auth.create_post("Alice writes", status="draft").status_code == 302
    changed = save_form(body="Her second thought.")
    assert auth.post_form("/admin/posts/1/edit", **changed).status_code == 302
    uploaded = auth.post_form("/admin/images/", image=(io.BytesIO(png()), "a.png"))
    assert uploaded.status_code == 302
    auth.logout()


def test_an_author_lists_only_their_own_posts(client, auth, alices_work, bob):
    auth.login_as(bob)
    auth.create_post("Bob writes")
    listing = client.get("/admin/").get_data(as_text=True)
    assert "Bob writes" in listing
    assert "Alice writes" not in listing
    assert "/admin/posts/1/" not in listing
    # Everything listed is his, so no column names its author.
    assert '<th scope="col">Author</th>' not in listing


#: Every way into another author's post or image, as (method, path, fields).
OTHERS_WORK = {
    "edit form": ("get", "/admin/posts/1/edit", None),
    "save": ("post", "/admin/posts/1/edit", save_form(body="Bob was here.")),
    "publish": ("post", "/admin/posts/1/edit", save_form(status="published")),
    "preview": ("post", "/admin/posts/1/edit", save_form(action="preview")),
    "delete": ("post", "/admin/posts/1/delete", {}),
    "version": ("get", "/admin/posts/1/revisions/1", None),
    "restore": ("post", "/admin/posts/1/revisions/1/restore", {}),
    "upload into post": ("post", "/admin/posts/1/image", "an image"),
    "delete image": ("post", "/admin/images/1/delete", {}),
}


@pytest.mark.parametrize(
    ("method", "path", "fields"), OTHERS_WORK.values(), ids=OTHERS_WORK.keys()
)
def test_an_author_cannot_touch_another_authors_work(
    app, client, auth, alices_work, bob, method, path, fields
):
    auth.login_as(bob)
    before = everything(app)
    if method == "get":
        response = client.get(path)
    else:
        if fields == "an image":
            fields = {**save_form(), "image": (io.BytesIO(png()), "b.png")}
        response = auth.post_form(path, **fields)
    assert response.status_code == 403
    assert "Alice writes" not in response.get_data(as_text=True)
    assert everything(app) == before


def test_an_author_gets_404_for_what_does_not_exist(client, auth, bob):
    auth.login_as(bob)
    assert client.get("/admin/posts/99/edit").status_code == 404
    assert auth.post_form("/admin/posts/99/delete").status_code == 404
    assert auth.post_form("/admin/images/99/delete").status_code == 404


def test_an_author_works_on_their_own_posts(app, client, auth, bob):
    auth.login_as(bob)
    assert auth.create_post("Mine", status="draft").status_code == 302
    assert client.get("/admin/posts/1/edit").status_code == 200
    changed = save_form("Mine", body="Changed.", status="published")
    assert auth.post_form("/admin/posts/1/edit", **changed).status_code == 302
    assert client.get("/admin/posts/1/revisions/1").status_code == 200
    restored = auth.post_form("/admin/posts/1/revisions/1/restore")
    assert restored.status_code == 302
    into_post = {**changed, "image": (io.BytesIO(png()), "b.png")}
    assert auth.post_form("/admin/posts/1/image", **into_post).status_code == 200
    assert auth.post_form("/admin/posts/1/delete").status_code == 302
    assert auth.post_form("/admin/posts/1/restore").status_code == 302
    assert auth.post_form("/admin/posts/1/delete").status_code == 302
    assert auth.post_form("/admin/posts/1/purge").status_code == 302
    assert count(app, Post) == 0


def test_an_editor_edits_anyones_post_and_the_byline_stays(
    app, client, auth, alices_work
):
    auth.login_as(add_author(app, "erin", EDITOR))
    listing = client.get("/admin/").get_data(as_text=True)
    assert "Alice writes" in listing and "<td>alice</td>" in listing
    published = save_form(body="Tidied by the editor.", status="published")
    assert auth.post_form("/admin/posts/1/edit", **published).status_code == 302
    post = get_post(app, id=1)
    assert (post.author_id, post.body) == (1, "Tidied by the editor.")
    assert "by alice" in client.get("/posts/alice-writes").get_data(as_text=True)
    page = client.get("/admin/posts/1/edit").get_data(as_text=True)
    assert "The current text was saved by erin; the byline stays alice." in page


def test_a_role_taken_away_during_a_save_stops_it(app, auth, alices_work, monkeypatch):
    auth.login_as(add_author(app, "erin", EDITOR))
    validate = forms.PostForm.validate

    def demoted_while_rendering(form, extra_validators=None):
        # The owner's request, on its own connection, between erin's first
        # check and her write.
        write_elsewhere(
            app, "UPDATE authors SET role = 'author' WHERE username = 'erin'"
        )
        return validate(form, extra_validators)

    monkeypatch.setattr(forms.PostForm, "validate", demoted_while_rendering)
    response = auth.post_form("/admin/posts/1/edit", **save_form(body="Too late."))
    assert response.status_code == 403
    assert get_post(app, id=1).body == "Her second thought."
