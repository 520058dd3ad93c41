"""Reader pages beyond the list of posts: pages, old slugs, scheduling, and more."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from homepage.core.models import Post, SlugRedirect, Tag, utcnow
from homepage.db import get_engine, session

from .reader_support import (
    edit_post,
    set_published_at,
)

# Threaded servers, Hypothesis or many requests per test: too slow for make
# test-fast, which runs the quick part of the suite in under 30 s.
pytestmark = pytest.mark.slow


def post_id(app, slug: str) -> int:
    with app.app_context():
        return session.scalar(select(Post.id).where(Post.slug == slug))


def future(hours: int = 1) -> str:
    return (utcnow() + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M")


# -- standalone pages -------------------------------------------------------


def test_a_page_has_its_own_address_and_a_link_in_the_menu(client, auth):
    auth.login()
    auth.create_post("About me", slug="about", body="I write here.", kind="page")
    auth.create_post("A post", body="Post body.")
    auth.logout()

    page = client.get("/pages/about")
    assert page.status_code == 200
    assert "I write here." in page.get_data(as_text=True)
    home = client.get("/").get_data(as_text=True)
    assert '<a href="/pages/about">About me</a>' in home


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/archive",
        "/feed.atom",
        "/feed.rss",
        "/feed.json",
        "/tags",
        "/tags/me",
        "/sitemaps/posts-1.xml",
    ],
)
def test_a_page_stays_out_of_post_lists(client, auth, path):
    auth.login()
    auth.create_post("About me", slug="about", body="Who.", kind="page", tags="me")
    auth.create_post("Tagged post", tags="me, other")
    auth.logout()

    text = client.get(path).get_data(as_text=True)
    assert "/posts/about" not in text
    if path != "/sitemaps/posts-1.xml":
        # The menu links to the page, but no list shows it as a post.
        assert text.count("/pages/about") <= 1


def test_tags_of_pages_alone_do_not_make_a_tag_page(client, auth):
    auth.login()
    auth.create_post("About me", slug="about", kind="page", tags="lonely")
    auth.logout()
    assert client.get("/tags/lonely").status_code == 404
    assert "lonely" not in client.get("/tags").get_data(as_text=True)


def test_a_post_asked_for_as_a_page_is_redirected_and_back(client, auth):
    auth.login()
    auth.create_post("About", slug="about", kind="page")
    auth.create_post("News", slug="news")
    auth.logout()
    assert client.get("/posts/about").headers["Location"] == "/pages/about"
    assert client.get("/pages/news").headers["Location"] == "/posts/news"
    assert client.get("/posts/about").status_code == 301


def test_a_draft_page_is_neither_shown_nor_in_the_menu(client, auth):
    auth.login()
    auth.create_post("Secret page", slug="secret", kind="page", status="draft")
    auth.logout()
    assert client.get("/pages/secret").status_code == 404
    assert "Secret page" not in client.get("/").get_data(as_text=True)


def menu_queries(app, client, paths: list[str]) -> tuple[int, list[str]]:
    """Serve ``paths``; return how often the menu was read, and the pages."""
    reads = 0

    def record(_conn, _cursor, statement, *_args) -> None:
        nonlocal reads
        # The menu's query: pages, oldest first.
        # (Any placeholder: "?" in SQLite, "%(kind_1)s" in PostgreSQL.)
        if "posts.kind = " in statement and statement.rstrip().endswith(
            "ORDER BY posts.published_at, posts.id"
        ):
            reads += 1

    engine = get_engine(app)
    event.listen(engine, "before_cursor_execute", record)
    try:
        pages = [client.get(path).get_data(as_text=True) for path in paths]
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return reads, pages


def test_the_menu_is_read_once_until_the_content_changes(app, client, auth):
    auth.login()
    auth.create_post("About me", slug="about", kind="page")
    auth.create_post("A post", tags="news")
    auth.logout()
    paths = ["/", "/posts/a-post", "/tags/news", "/archive", "/tags"]
    reads, pages = menu_queries(app, client, paths)
    assert reads == 1
    assert all('href="/pages/about"' in page for page in pages)
    auth.login()
    auth.create_post("Contact", slug="contact", kind="page")
    auth.logout()
    reads, pages = menu_queries(app, client, paths)
    assert reads == 1
    assert all('href="/pages/contact"' in page for page in pages)


def test_the_form_refuses_an_unknown_kind(client, auth, app):
    auth.login()
    response = auth.create_post("Odd", kind="poem")
    assert response.status_code == 400
    assert "Choose post or page." in response.get_data(as_text=True)
    with app.app_context():
        assert session.scalar(select(func.count(Post.id))) == 0


# -- permanent links --------------------------------------------------------


def test_an_old_slug_answers_301_to_the_new_one(client, auth, app):
    auth.login()
    auth.create_post("First title", slug="first")
    assert edit_post(auth, app, "first", slug="second").status_code == 302
    auth.logout()

    response = client.get("/posts/first")
    assert response.status_code == 301
    assert response.headers["Location"] == "/posts/second"
    assert client.get("/posts/second").status_code == 200


def test_a_chain_of_renames_collapses_into_one_hop(client, auth, app):
    auth.login()
    auth.create_post("Title", slug="one")
    edit_post(auth, app, "one", slug="two")
    edit_post(auth, app, "two", slug="three")
    auth.logout()

    for old in ("one", "two"):
        response = client.get(f"/posts/{old}")
        assert (response.status_code, response.headers["Location"]) == (
            301,
            "/posts/three",
        )


def test_going_back_to_an_old_slug_drops_its_redirect(client, auth, app):
    auth.login()
    auth.create_post("Title", slug="one")
    edit_post(auth, app, "one", slug="two")
    edit_post(auth, app, "two", slug="one")
    auth.logout()

    assert client.get("/posts/one").status_code == 200
    assert client.get("/posts/two").headers["Location"] == "/posts/one"
    with app.app_context():
        assert session.scalars(select(SlugRedirect.slug)).all() == ["two"]


def test_a_new_post_that_takes_an_old_slug_wins_it(client, auth, app):
    auth.login()
    auth.create_post("Old post", slug="taken")
    edit_post(auth, app, "taken", slug="moved")
    auth.create_post("New post", slug="taken", body="The newcomer.")
    auth.logout()

    response = client.get("/posts/taken")
    assert response.status_code == 200
    assert "The newcomer." in response.get_data(as_text=True)
    assert client.get("/posts/moved").status_code == 200


def test_old_slugs_of_deleted_or_unpublished_posts_are_404(client, auth, app):
    auth.login()
    auth.create_post("Gone", slug="gone")
    edit_post(auth, app, "gone", slug="gone-2")
    auth.create_post("Hidden", slug="hidden")
    edit_post(auth, app, "hidden", slug="hidden-2", status="draft")
    gone = post_id(app, "gone-2")
    auth.post_form(f"/admin/posts/{gone}/delete")
    # In the trash, its old address leads nowhere either.
    assert app.test_client().get("/posts/gone").status_code == 404
    auth.post_form(f"/admin/posts/{gone}/purge")
    auth.logout()

    assert client.get("/posts/gone").status_code == 404
    assert client.get("/posts/hidden").status_code == 404
    with app.app_context():
        # Deleting the post for good deleted its old slugs with it.
        assert session.scalar(select(func.count()).select_from(SlugRedirect)) == 1


# -- scheduling -------------------------------------------------------------


def test_a_scheduled_post_is_invisible_until_its_time_then_appears(client, auth, app):
    auth.login()
    auth.create_post("From the future", slug="soon", tags="later", body="Zyzzyva.")
    edit_post(auth, app, "soon", published_at=future())
    auth.logout()
    # What each page shows of the post once it is due.
    traces = {
        "/": "/posts/soon",
        "/posts/soon": "Zyzzyva.",
        "/archive": "/posts/soon",
        "/tags": 'href="/tags/later"',
        "/tags/later": "/posts/soon",
        "/feed.atom": "/posts/soon",
        "/tags/later/feed.atom": "/posts/soon",
        "/feed.rss": "/posts/soon",
        "/tags/later/feed.rss": "/posts/soon",
        "/feed.json": "/posts/soon",
        "/tags/later/feed.json": "/posts/soon",
        # The sitemap index names this file only once the post is due.
        "/sitemap.xml": "/sitemaps/posts-1.xml",
        "/sitemaps/posts-1.xml": "/posts/soon",
        "/search?q=zyzzyva": "/posts/soon",
    }
    for path, trace in traces.items():
        response = client.get(path)
        assert trace not in response.get_data(as_text=True), path
        assert "From the future" not in response.get_data(as_text=True), path

    set_published_at(app, "soon", utcnow() - timedelta(seconds=1))

    for path, trace in traces.items():
        response = client.get(path)
        assert response.status_code == 200, path
        assert trace in response.get_data(as_text=True), path


def test_the_author_sees_a_scheduled_post_marked_as_such(client, auth):
    auth.login()
    auth.create_post("Later", published_at=future(48))
    text = client.get("/admin/").get_data(as_text=True)
    assert "scheduled" in text


@pytest.mark.parametrize(
    "value", ["tomorrow", "2026-02-30T10:00", "2026-01-01", "2026-01-01T25:00", "1"]
)
def test_a_bad_publish_date_is_refused_with_a_message(client, auth, app, value):
    auth.login()
    response = auth.create_post("Dated", published_at=value)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "Enter a date and time in UTC" in text
    assert f'value="{value}"' in text
    with app.app_context():
        assert session.scalar(select(func.count(Post.id))) == 0


def test_a_publish_date_in_the_past_backdates_the_post(client, auth, app):
    auth.login()
    auth.create_post("Old news", published_at="2020-05-17T08:30")
    auth.logout()
    with app.app_context():
        post = session.scalars(select(Post)).one()
        assert post.published_at.isoformat() == "2020-05-17T08:30:00+00:00"
    assert "17 May 2020" in client.get("/posts/old-news").get_data(as_text=True)


def test_saving_the_form_unchanged_keeps_the_exact_publish_date(client, auth, app):
    auth.login()
    auth.create_post("Precise")
    with app.app_context():
        before = session.scalars(select(Post)).one().published_at
    form = client.get(f"/admin/posts/{post_id(app, 'precise')}/edit")
    shown = before.strftime("%Y-%m-%dT%H:%M")
    assert f'value="{shown}"' in form.get_data(as_text=True)
    edit_post(auth, app, "precise", published_at=shown)
    with app.app_context():
        assert session.scalars(select(Post)).one().published_at == before


# -- previous and next, reading time ----------------------------------------


def test_a_post_links_to_its_neighbours_in_time(client, auth, app):
    auth.login()
    auth.create_post("Oldest", published_at="2024-01-01T10:00")
    auth.create_post("Middle", published_at="2024-02-01T10:00")
    auth.create_post("Newest", published_at="2024-03-01T10:00")
    auth.create_post("Draft between", published_at="2024-02-15T10:00", status="draft")
    auth.create_post("Scheduled", published_at=future())
    auth.create_post("A page", kind="page", published_at="2024-02-20T10:00")
    auth.logout()

    middle = client.get("/posts/middle").get_data(as_text=True)
    assert 'rel="prev" href="/posts/oldest"' in middle
    assert 'rel="next" href="/posts/newest"' in middle
    newest = client.get("/posts/newest").get_data(as_text=True)
    assert 'rel="prev" href="/posts/middle"' in newest
    assert 'rel="next"' not in newest
    oldest = client.get("/posts/oldest").get_data(as_text=True)
    assert 'rel="prev"' not in oldest


def test_posts_on_the_same_date_still_have_an_order(client, auth, app):
    auth.login()
    auth.create_post("Twin one", published_at="2024-01-01T10:00")
    auth.create_post("Twin two", published_at="2024-01-01T10:00")
    auth.logout()
    one = client.get("/posts/twin-one").get_data(as_text=True)
    two = client.get("/posts/twin-two").get_data(as_text=True)
    assert 'rel="next" href="/posts/twin-two"' in one
    assert 'rel="prev" href="/posts/twin-one"' in two


@pytest.mark.parametrize(("words", "minutes"), [(5, 1), (460, 2), (2300, 10)])
def test_a_post_tells_its_reading_time(client, auth, words, minutes):
    auth.login()
    auth.create_post("Long read", body=" ".join(["word"] * words))
    auth.logout()
    text = client.get("/posts/long-read").get_data(as_text=True)
    assert f"{minutes} min read" in text


def test_a_longer_edit_tells_a_longer_reading_time(client, auth, app):
    # Each process works a post's reading time out once per version of it.
    auth.login()
    auth.create_post("Growing", body="A few words.")
    assert "1 min read" in client.get("/posts/growing").get_data(as_text=True)

    edit_post(auth, app, "growing", body=" ".join(["word"] * 2300))

    assert "10 min read" in client.get("/posts/growing").get_data(as_text=True)


# -- tags index and archive -------------------------------------------------


def test_the_tags_index_counts_visible_posts(client, auth, app):
    auth.login()
    auth.create_post("One", tags="python, web")
    auth.create_post("Two", tags="python")
    auth.create_post("Draft", tags="python, secret", status="draft")
    auth.logout()

    response = client.get("/tags")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    python = '<a href="/tags/python">python</a> <span class="count">2 posts</span>'
    assert python in text
    assert '<a href="/tags/web">web</a> <span class="count">1 post</span>' in text
    assert "secret" not in text
    with app.app_context():
        assert "secret" in session.scalars(select(Tag.name)).all()


def test_the_tags_index_without_tags(client):
    response = client.get("/tags")
    assert response.status_code == 200
    assert "No tags yet." in response.get_data(as_text=True)


def test_the_archive_by_year_and_month(client, auth):
    auth.login()
    auth.create_post("March post", published_at="2024-03-05T10:00")
    auth.create_post("New year post", published_at="2025-01-01T00:00")
    auth.create_post("Old year post", published_at="2024-12-31T23:59")
    auth.logout()

    year = client.get("/archive/2024").get_data(as_text=True)
    assert "March post" in year and "Old year post" in year
    assert "New year post" not in year
    month = client.get("/archive/2024/3").get_data(as_text=True)
    assert "Archive: March 2024" in month
    assert "March post" in month and "Old year post" not in month
    december = client.get("/archive/2024/12").get_data(as_text=True)
    assert "Old year post" in december and "New year post" not in december
    full = client.get("/archive").get_data(as_text=True)
    assert 'href="/archive/2024"' in full
    assert 'href="/archive/2024/3"' in full


@pytest.mark.parametrize(
    "path",
    [
        "/archive/2023",
        "/archive/2024/4",
        "/archive/2024/13",
        "/archive/2024/0",
        "/archive/0",
        "/archive/99999",
        "/archive/2024/march",
        "/archive/twenty",
        "/archive/2024/3/1",
    ],
)
def test_empty_or_impossible_archive_periods_are_404(client, auth, path):
    auth.login()
    auth.create_post("March post", published_at="2024-03-05T10:00")
    auth.create_post("Draft", published_at="2023-03-05T10:00", status="draft")
    auth.logout()
    response = client.get(path)
    assert response.status_code == 404
    assert "There is no page at this address" in response.get_data(as_text=True)


# -- unpublishing -----------------------------------------------------------

#: Every reader page that lists posts, with how a post shows in it.
LISTINGS = [
    "/",
    "/tags/secret",
    "/archive",
    "/feed.atom",
    "/tags/secret/feed.atom",
    "/feed.rss",
    "/tags/secret/feed.rss",
    "/feed.json",
    "/tags/secret/feed.json",
    "/search?q=withdrawn",
    # The sitemap file of the first ids, which the sitemap index names.
    "/sitemaps/posts-1.xml",
]


def test_a_post_set_back_to_draft_leaves_every_listing(client, auth, app):
    """A post that was live keeps its date when unpublished; no page may show it."""
    auth.login()
    auth.create_post("Withdrawn post", slug="withdrawn", tags="secret, kept")
    auth.create_post("Staying post", slug="staying", tags="secret, kept")
    auth.logout()
    for path in LISTINGS:
        assert "withdrawn" in client.get(path).get_data(as_text=True).lower(), path
    auth.login()
    assert edit_post(auth, app, "withdrawn", status="draft").status_code == 302
    auth.logout()
    with app.app_context():
        withdrawn = session.scalars(select(Post).where(Post.slug == "withdrawn")).one()
        assert withdrawn.published_at is not None
    assert client.get("/posts/withdrawn").status_code == 404
    for path in LISTINGS:
        page = client.get(path)
        text = page.get_data(as_text=True).lower()
        assert "withdrawn post" not in text and "/posts/withdrawn" not in text, path
    assert "staying post" in client.get("/").get_data(as_text=True).lower()
