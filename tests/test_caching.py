"""HTTP caching: validators that change exactly when the page does, and cheap 304s."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import template_rendered
from sqlalchemy import event, select, update

from homepage.db import get_engine, session
from homepage.models import Author, Post, SiteState, utcnow

from .reader_support import cheap_password_hashes, edit_post  # noqa: F401

READER_PAGES = [
    "/",
    "/posts/hello",
    "/pages/about",
    "/tags",
    "/tags/news",
    "/archive",
    "/archive/2024",
    "/archive/2024/3",
    "/search?q=hello",
    "/feed.atom",
    "/tags/news/feed.atom",
    "/sitemap.xml",
    "/robots.txt",
]


@pytest.fixture
def blog(client, auth):
    """A blog with one post, one page and one draft, seen by an anonymous reader."""
    auth.login()
    auth.create_post("Hello", tags="news", published_at="2024-03-05T10:00")
    auth.create_post("About", kind="page")
    auth.create_post("Draft", status="draft")
    auth.logout()
    return client


def etag_of(client, path: str = "/") -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.headers["ETag"]


def version(app) -> int:
    with app.app_context():
        return session.scalar(select(SiteState.version))


def save(auth, app, slug: str, **fields):
    """Save the edit form of the post at ``slug``, changing ``fields``."""
    response = edit_post(auth, app, slug, **fields)
    assert response.status_code == 302
    return response


@pytest.mark.parametrize("path", READER_PAGES)
def test_reader_pages_send_validators_and_answer_304(blog, path):
    response = blog.get(path)
    assert response.status_code == 200
    assert response.headers["ETag"].startswith('"')
    assert response.headers["Last-Modified"].endswith(" GMT")
    assert response.headers["Cache-Control"] == "no-cache"
    assert "Cookie" in response.headers["Vary"]

    again = blog.get(path, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == response.headers["ETag"]
    assert again.headers["Cache-Control"] == "no-cache"

    since = blog.get(
        path, headers={"If-Modified-Since": response.headers["Last-Modified"]}
    )
    assert since.status_code == 304


def test_a_stale_validator_gets_the_full_page(blog):
    response = blog.get("/", headers={"If-None-Match": '"something-else"'})
    assert response.status_code == 200
    assert "Hello" in response.get_data(as_text=True)
    old = blog.get("/", headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert old.status_code == 200


def test_each_address_has_its_own_validator(blog):
    etags = {etag_of(blog, path) for path in ["/", "/?page=1", "/archive", "/tags"]}
    assert len(etags) == 4


def test_editing_a_visible_post_changes_the_validators(blog, auth, app):
    before = {path: etag_of(blog, path) for path in ["/", "/posts/hello", "/tags"]}
    auth.login()
    save(auth, app, "hello", body="A new body.")
    auth.logout()
    for path, etag in before.items():
        response = blog.get(path, headers={"If-None-Match": etag})
        assert response.status_code == 200, path
        assert response.headers["ETag"] != etag
    assert "A new body." in blog.get("/posts/hello").get_data(as_text=True)


def test_deleting_a_post_changes_the_validators(blog, auth, app):
    etag = etag_of(blog)
    with app.app_context():
        post_id = session.scalar(select(Post.id).where(Post.slug == "hello"))
    auth.login()
    auth.post_form(f"/admin/posts/{post_id}/delete")
    auth.logout()
    response = blog.get("/", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert "/posts/hello" not in response.get_data(as_text=True)


def test_saving_without_changes_keeps_the_validators(blog, auth, app):
    etag = etag_of(blog)
    before = version(app)
    auth.login()
    save(auth, app, "hello")
    auth.logout()
    assert version(app) == before
    assert blog.get("/", headers={"If-None-Match": etag}).status_code == 304


def test_drafts_and_scheduled_posts_do_not_change_the_validators(blog, auth, app):
    etag = etag_of(blog)
    before = version(app)
    auth.login()
    save(auth, app, "draft", body="Still a draft, rewritten.")
    auth.create_post("Another draft", status="draft")
    later = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    auth.create_post("Scheduled", published_at=later)
    auth.logout()
    assert version(app) == before
    assert blog.get("/", headers={"If-None-Match": etag}).status_code == 304


def test_publishing_a_draft_changes_the_validators(blog, auth, app):
    etag = etag_of(blog)
    auth.login()
    save(auth, app, "draft", status="published")
    auth.logout()
    response = blog.get("/", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert "/posts/draft" in response.get_data(as_text=True)


def test_a_scheduled_post_coming_due_changes_the_validators(blog, auth, app):
    later = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    auth.login()
    auth.create_post("Scheduled", published_at=later)
    auth.logout()
    # As if the code was deployed and the last post written an hour ago.
    an_hour_ago = utcnow() - timedelta(hours=1)
    app.extensions["homepage.caching"]["code_time"] = an_hour_ago
    with app.app_context():
        session.execute(update(SiteState).values(changed_at=an_hour_ago))
        session.execute(
            update(Post).where(Post.slug == "about").values(published_at=an_hour_ago)
        )
        session.commit()
    first = blog.get("/")
    assert "/posts/scheduled" not in first.get_data(as_text=True)
    assert first.last_modified == an_hour_ago.replace(microsecond=0)

    # Time passes: nothing is written, the post's moment simply arrives.
    due = utcnow() - timedelta(seconds=1)
    with app.app_context():
        session.execute(
            update(Post).where(Post.slug == "scheduled").values(published_at=due)
        )
        session.commit()

    response = blog.get(
        "/",
        headers={
            "If-None-Match": first.headers["ETag"],
            "If-Modified-Since": first.headers["Last-Modified"],
        },
    )
    assert response.status_code == 200
    assert "/posts/scheduled" in response.get_data(as_text=True)
    assert response.headers["ETag"] != first.headers["ETag"]
    assert response.last_modified == due.replace(microsecond=0)
    since = blog.get("/", headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status_code == 200
    now_current = blog.get("/", headers={"If-None-Match": response.headers["ETag"]})
    assert now_current.status_code == 304


def test_renaming_the_author_changes_the_validators(blog, app):
    etag = etag_of(blog, "/posts/hello")
    with app.app_context():
        session.scalars(select(Author)).one().username = "alicia"
        session.commit()
    response = blog.get("/posts/hello", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert "by alicia" in response.get_data(as_text=True)


def test_an_author_gets_private_validators_of_their_own(blog, auth):
    anonymous = etag_of(blog)
    auth.login()
    response = blog.get("/")
    assert response.headers["ETag"] != anonymous
    assert response.headers["Cache-Control"] in (
        "no-cache, private",
        "private, no-cache",
    )
    assert blog.get("/", headers={"If-None-Match": anonymous}).status_code == 200
    assert (
        blog.get("/", headers={"If-None-Match": response.headers["ETag"]}).status_code
        == 304
    )
    # A new login means a new CSRF token in the page's log-out form.
    auth.logout()
    auth.login()
    assert blog.get("/").headers["ETag"] != response.headers["ETag"]


def test_a_reader_with_a_session_cookie_gets_304s_too(blog):
    # Visiting the login page leaves a session cookie holding a CSRF token.
    blog.get("/admin/login")
    assert blog.get_cookie("session") is not None
    response = blog.get("/tags")
    again = blog.get("/tags", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert again.headers["Cache-Control"] == "no-cache"


def test_if_modified_since_alone_is_answered_only_for_reader_pages(blog):
    future = "Fri, 01 Jan 2100 00:00:00 GMT"
    assert blog.get("/tags", headers={"If-Modified-Since": future}).status_code == 304
    login = blog.get("/admin/login", headers={"If-Modified-Since": future})
    assert login.status_code == 200
    nowhere = blog.get("/no/such/page", headers={"If-Modified-Since": future})
    assert nowhere.status_code == 404


@pytest.mark.parametrize("path", ["/admin/", "/admin/posts/new", "/admin/login"])
def test_admin_pages_are_never_cached(blog, auth, path):
    auth.login()
    response = blog.get(path)
    assert "ETag" not in response.headers
    assert "no-store" in response.headers.get("Cache-Control", "no-store")


def test_errors_and_redirects_carry_no_validators(blog):
    assert "ETag" not in blog.get("/posts/nothing").headers
    assert "ETag" not in blog.get("/posts/about").headers


def test_a_304_costs_one_query_and_no_rendering(blog, app):
    etag = etag_of(blog, "/posts/hello")
    statements: list[str] = []
    rendered: list[str] = []

    # SQLite's own trace sees every statement, whichever layer sends it.
    def trace(dbapi_connection, record, proxy):
        dbapi_connection.set_trace_callback(statements.append)

    def untrace(dbapi_connection, record):
        dbapi_connection.set_trace_callback(None)

    def note(sender, template, context, **extra):
        rendered.append(template.name)

    engine = get_engine(app)
    event.listen(engine, "checkout", trace)
    event.listen(engine, "checkin", untrace)
    template_rendered.connect(note, app)
    try:
        response = blog.get("/posts/hello", headers={"If-None-Match": etag})
        for_the_304 = [sql for sql in statements if _is_query(sql)]
        rendered_for_the_304 = list(rendered)
        full = blog.get("/posts/hello")
    finally:
        event.remove(engine, "checkout", trace)
        event.remove(engine, "checkin", untrace)
        template_rendered.disconnect(note, app)
    assert response.status_code == 304
    assert len(for_the_304) == 1
    assert "FROM site_state" in for_the_304[0]
    assert rendered_for_the_304 == []
    # The same request without a validator does the real work.
    assert full.status_code == 200
    assert len([sql for sql in statements if _is_query(sql)]) > 2
    assert rendered == ["blog/post.html"]


def _is_query(sql: str) -> bool:
    return sql.lstrip().upper().startswith("SELECT")
