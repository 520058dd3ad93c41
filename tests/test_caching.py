"""HTTP caching: validators that change exactly when the page does, and cheap 304s."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from flask import template_rendered
from sqlalchemy import select, update

from homepage.core.models import Author, Post, SiteState, utcnow
from homepage.db import get_engine, session
from homepage.reader.caching import REQUEST_START_KEY

from .reader_support import edit_post
from .support import recorded_queries

# Threaded servers, Hypothesis or many requests per test: too slow for make
# test-fast, which runs the quick part of the suite in under 30 s.
pytestmark = pytest.mark.slow

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
    "/feed.rss",
    "/tags/news/feed.rss",
    "/feed.json",
    "/tags/news/feed.json",
    "/sitemap.xml",
    "/sitemaps/lists.xml",
    "/sitemaps/posts-1.xml",
    "/sitemaps/tags-1.xml",
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
    etags = {
        etag_of(blog, path)
        for path in ["/", "/?before=29990101000000000000-1", "/archive", "/tags"]
    }
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
    rendered: list[str] = []

    def note(sender, template, context, **extra):
        rendered.append(template.name)

    template_rendered.connect(note, app)
    try:
        with recorded_queries(get_engine(app)) as statements:
            response = blog.get("/posts/hello", headers={"If-None-Match": etag})
            for_the_304 = list(statements)
            rendered_for_the_304 = list(rendered)
            # Another address (a query string) is a page not rendered before.
            full = blog.get("/posts/hello?from=feed")
    finally:
        template_rendered.disconnect(note, app)
    assert response.status_code == 304
    assert len(for_the_304) == 1
    assert "FROM site_state" in for_the_304[0]
    assert rendered_for_the_304 == []
    # The same request without a validator does the real work.
    assert full.status_code == 200
    assert len(statements) > 2
    assert rendered == ["reader/post.html"]


# -- the page cache: a rendered page is reused until its ETag changes ------------


def rendering(app, action) -> list[str]:
    """Return the templates rendered while ``action`` runs."""
    rendered: list[str] = []

    def note(sender, template, context, **extra):
        rendered.append(template.name)

    template_rendered.connect(note, app)
    try:
        action()
    finally:
        template_rendered.disconnect(note, app)
    return rendered


def test_a_page_seen_before_is_served_without_rendering(blog, app):
    first = blog.get("/posts/hello")
    again = []
    assert rendering(app, lambda: again.append(blog.get("/posts/hello"))) == []
    (second,) = again
    assert second.status_code == 200
    assert second.get_data() == first.get_data()
    assert second.headers["ETag"] == first.headers["ETag"]
    assert second.headers["Content-Security-Policy"]
    assert "Set-Cookie" not in second.headers


def test_a_cached_page_changes_as_soon_as_the_author_saves(blog, auth, app):
    assert "Hello" in blog.get("/").get_data(as_text=True)
    assert "Hello" in blog.get("/posts/hello").get_data(as_text=True)
    auth.login()
    save(auth, app, "hello", title="Hello again", body="A brand new body.")
    auth.logout()
    reader = app.test_client()
    assert "Hello again" in reader.get("/").get_data(as_text=True)
    page = reader.get("/posts/hello").get_data(as_text=True)
    assert "Hello again" in page and "A brand new body." in page


#: How mod_wsgi 6 and mod_wsgi 5 write when Apache received a request.
STAMPS = {
    "mod_wsgi 6": lambda moment: moment,
    "mod_wsgi 5": lambda moment: str(int(moment * 1_000_000)),
}


@pytest.mark.parametrize("stamp", STAMPS.values(), ids=STAMPS.keys())
def test_a_request_that_came_before_a_save_may_share_an_older_read(
    blog, auth, app, stamp
):
    reader = app.test_client()
    came = time.time()
    assert "Hello again" not in reader.get("/", environ_base=apache(stamp(came))).text
    auth.login()
    save(auth, app, "hello", title="Hello again")
    auth.logout()

    # Apache received this one before the save was made (it waited in the
    # queue): the state read for the first request began after it came,
    # so it serves it, with no statement of its own.
    with recorded_queries(get_engine(app)) as statements:
        queued = reader.get("/", environ_base=apache(stamp(came)))
    assert statements == []
    assert queued.status_code == 200
    assert "Hello again" not in queued.text
    # Anything received after the save shows it.
    for moment in (time.time(), None):
        page = reader.get("/", environ_base=apache(stamp(moment) if moment else None))
        assert "Hello again" in page.text


def test_a_request_stamp_that_cannot_be_read_means_now(blog, auth, app):
    reader = app.test_client()
    assert "Hello again" not in reader.get("/", environ_base=apache("1.5e9")).text
    auth.login()
    save(auth, app, "hello", title="Hello again")
    auth.logout()
    assert "Hello again" in reader.get("/", environ_base=apache("1.5e9")).text


def apache(stamp) -> dict:
    """Return the part of the WSGI environ where mod_wsgi says when a request came."""
    return {} if stamp is None else {REQUEST_START_KEY: stamp}


def test_a_cached_page_shows_a_scheduled_post_once_it_is_due(blog, auth, app):
    auth.login()
    auth.create_post("Tomorrow", published_at="2999-01-01T00:00")
    auth.logout()
    reader = app.test_client()
    assert "Tomorrow" not in reader.get("/").get_data(as_text=True)
    # Time passes: the post's moment arrives (a bulk UPDATE, like the clock,
    # is no edit and bumps no version).
    with app.app_context():
        session.execute(
            update(Post).where(Post.slug == "tomorrow").values(published_at=utcnow())
        )
        session.commit()
    assert "Tomorrow" in reader.get("/").get_data(as_text=True)


def test_an_authors_pages_are_rendered_for_them(blog, auth, app):
    blog.get("/")  # cached for anonymous readers
    auth.login()
    assert rendering(app, lambda: blog.get("/")) == ["reader/index.html"]
    assert "Log out" in blog.get("/").get_data(as_text=True)


def test_the_page_cache_can_be_turned_off(make_app):
    app = make_app("nocache.db", owner=False, PAGE_CACHE_ENTRIES=0)
    client = app.test_client()
    client.get("/")
    assert rendering(app, lambda: client.get("/")) == ["reader/index.html"]


def test_the_page_cache_drops_the_least_recently_used_pages():
    from homepage.reader.caching import PageCache

    cache = PageCache(max_entries=2, max_bytes=10, max_page_bytes=6)
    cache.put("a", 200, [], b"aaaa")
    cache.put("b", 200, [], b"bbbb")
    assert cache.get("a") is not None  # "a" is now the most recent
    cache.put("c", 200, [], b"cc")
    assert (cache.get("a"), cache.get("b")) == ((200, [], b"aaaa"), None)
    cache.put("huge", 200, [], b"x" * 7)
    assert cache.get("huge") is None
    # a was read last, so c is the oldest: 12 bytes with d drops c.
    cache.put("d", 200, [], b"dddddd")
    assert cache.get("c") is None
    assert len(cache) == 2 and cache.get("a") and cache.get("d")


# -- the address: one request's Host or scheme never reaches another reader -----

FORGED = {"Host": "evil.example"}
#: Pages that carry absolute URLs: canonical and feed links, OpenGraph, JSON-LD.
ABSOLUTE_URL_PAGES = [
    "/",
    "/posts/hello",
    "/pages/about",
    "/tags/news",
    "/feed.atom",
    "/feed.rss",
    "/feed.json",
    "/tags/news/feed.rss",
    "/tags/news/feed.json",
    "/sitemap.xml",
    "/sitemaps/posts-1.xml",
    "/robots.txt",
]


@pytest.mark.parametrize("path", ABSOLUTE_URL_PAGES)
def test_a_forged_host_never_reaches_another_readers_page(blog, app, path):
    attacker, reader = app.test_client(), app.test_client()
    for _ in range(3):
        forged = attacker.get(path, headers=FORGED)
        assert forged.status_code == 200
        assert "http://evil.example/" in forged.get_data(as_text=True)

    page = reader.get(path).get_data(as_text=True)
    assert "evil.example" not in page
    assert "http://localhost/" in page


def test_the_canonical_link_follows_each_readers_host(blog, app):
    app.test_client().get("/posts/hello", headers=FORGED)
    page = app.test_client().get("/posts/hello").get_data(as_text=True)
    assert '<link rel="canonical" href="http://localhost/posts/hello">' in page
    assert '<meta property="og:url" content="http://localhost/posts/hello">' in page


def test_without_site_url_validators_differ_by_host_and_scheme(blog):
    etag = etag_of(blog, "/posts/hello")
    forged = blog.get("/posts/hello", headers=FORGED)
    https = blog.get("/posts/hello", base_url="https://localhost")
    assert len({etag, forged.headers["ETag"], https.headers["ETag"]}) == 3
    assert "https://localhost/posts/hello" in https.get_data(as_text=True)

    # A validator issued on one host or scheme is no 304 on another.
    for headers in ({"If-None-Match": etag}, {"If-None-Match": etag, **FORGED}):
        response = blog.get("/posts/hello", headers=headers)
        assert response.status_code == (304 if "Host" not in headers else 200)
    again = blog.get(
        "/posts/hello", base_url="https://localhost", headers={"If-None-Match": etag}
    )
    assert again.status_code == 200
    assert "https://localhost/posts/hello" in again.get_data(as_text=True)


def test_with_site_url_every_host_gets_the_pages_of_site_url(blog, app):
    app.config["SITE_URL"] = "https://blog.example.org"
    forged = blog.get("/posts/hello", headers=FORGED)
    normal = blog.get("/posts/hello")
    assert forged.headers["ETag"] == normal.headers["ETag"]
    for response in (forged, normal):
        page = response.get_data(as_text=True)
        assert "evil.example" not in page and "localhost" not in page
        assert '<link rel="canonical" href="https://blog.example.org/posts/hello">' in (
            page
        )


def test_behind_a_proxy_the_visitors_scheme_keys_the_page(make_app):
    app = make_app("proxied.db", owner=False, PROXY_FIX_X_FOR=1)
    client = app.test_client()
    https = client.get("/", headers={"X-Forwarded-Proto": "https"})
    http = client.get("/", headers={"X-Forwarded-Proto": "http"})
    assert '<link rel="canonical" href="https://localhost/">' in https.get_data(
        as_text=True
    )
    assert '<link rel="canonical" href="http://localhost/">' in http.get_data(
        as_text=True
    )
    assert https.headers["ETag"] != http.headers["ETag"]


# -- conditional requests are answered only for pages that exist ----------------

FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"
MISSING = ["/nonexistent", "/posts/missing", "/pages/missing", "/tags/missing"]


@pytest.mark.parametrize("path", MISSING)
def test_if_none_match_star_gets_no_304_for_a_missing_page(blog, path):
    response = blog.get(path, headers={"If-None-Match": "*"})
    assert response.status_code == 404
    assert "There is no page at this address" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", MISSING)
def test_a_future_if_modified_since_gets_no_304_for_a_missing_page(blog, path):
    response = blog.get(path, headers={"If-Modified-Since": FUTURE})
    assert response.status_code == 404


@pytest.mark.parametrize("path", MISSING)
def test_an_author_gets_no_304_for_a_missing_page(blog, auth, path):
    auth.login()
    for headers in ({"If-None-Match": "*"}, {"If-Modified-Since": FUTURE}):
        assert blog.get(path, headers=headers).status_code == 404


@pytest.mark.parametrize(
    "headers", [{"If-None-Match": "*"}, {"If-Modified-Since": FUTURE}]
)
def test_conditionals_still_get_a_304_for_a_page_that_exists(blog, auth, headers):
    # Not rendered before: the view shows the post exists, then the 304.
    first = blog.get("/posts/hello", headers=headers)
    assert first.status_code == 304
    assert first.headers["ETag"] == etag_of(blog, "/posts/hello")
    # Now in the page cache: answered before Flask runs.
    assert blog.get("/posts/hello", headers=headers).status_code == 304
    auth.login()
    assert blog.get("/posts/hello", headers=headers).status_code == 304
