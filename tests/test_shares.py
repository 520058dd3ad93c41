"""Share a draft: a secret, revocable link that shows a post before it is out."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from homepage.core import shares
from homepage.core.models import Post, ShareLink
from homepage.db import session

from .support import csrf_from

LINK = re.compile(r"http://localhost(/shared/[A-Za-z0-9_-]{43})")


@pytest.fixture
def draft(auth) -> int:
    """Log alice in and give her a draft with a distinctive body."""
    auth.login()
    auth.create_post(
        "Secret plans", status="draft", action="draft", body="A hidden **draft** body."
    )
    return 1


def make_link(client, post_id: int = 1) -> str:
    """Make a share link from the editor; return its path, shown once."""
    page = client.get(f"/admin/posts/{post_id}/edit").get_data(as_text=True)
    response = client.post(
        f"/admin/posts/{post_id}/shares",
        data={"csrf_token": csrf_from(page)},
        follow_redirects=True,
    )
    match = LINK.search(response.get_data(as_text=True))
    assert match, "the editor shows no share link"
    return match.group(1)


def test_a_share_link_shows_the_draft_to_anyone(app, client, draft):
    path = make_link(client)

    reader = app.test_client()
    response = reader.get(path)

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h1>Secret plans</h1>" in page
    assert "<strong>draft</strong>" in page
    assert '<meta name="robots" content="noindex, nofollow">' in page
    assert response.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "ETag" not in response.headers


def test_the_database_keeps_only_a_hash_of_the_token(app, client, draft):
    path = make_link(client)
    token = path.rsplit("/", 1)[1]

    with app.app_context():
        link = session.scalars(select(ShareLink)).one()
        assert link.token_hash == shares.token_hash(token)
        assert token not in link.token_hash


def test_the_page_cache_never_keeps_a_shared_page(app, client, draft):
    path = make_link(client)
    reader = app.test_client()
    reader.get(path)
    # Revoking ends it at once: a cached copy would still show the draft.
    page = client.get("/admin/posts/1/edit").get_data(as_text=True)
    revoke = re.search(r'action="(/admin/posts/1/shares/\d+/revoke)"', page).group(1)
    client.post(revoke, data={"csrf_token": csrf_from(page)})

    assert reader.get(path).status_code == 404
    assert app.test_client().get(path).status_code == 404


def test_revoking_one_link_leaves_the_others(app, client, draft):
    first = make_link(client)
    second = make_link(client)
    page = client.get("/admin/posts/1/edit").get_data(as_text=True)
    revoke = re.findall(r'action="(/admin/posts/1/shares/\d+/revoke)"', page)[0]

    response = client.post(revoke, data={"csrf_token": csrf_from(page)})

    assert response.status_code == 302
    reader = app.test_client()
    assert reader.get(first).status_code == 404
    assert reader.get(second).status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/shared/" + "A" * 43, "/shared/short", "/shared/" + "é" * 43, "/shared/"],
)
def test_unknown_links_are_404(client, path):
    assert client.get(path).status_code == 404


def test_a_shared_draft_stays_out_of_feeds_sitemap_and_search(app, client, draft):
    make_link(client)
    reader = app.test_client()

    for path in (
        "/",
        "/feed.atom",
        "/sitemap.xml",
        "/sitemaps/posts-1.xml",
        "/archive",
    ):
        assert "Secret plans" not in reader.get(path).get_data(as_text=True), path
    assert "Secret plans" not in reader.get("/search?q=hidden").get_data(as_text=True)
    assert reader.get("/posts/secret-plans").status_code == 404


def test_a_published_post_link_leads_to_its_address(client, auth, draft):
    path = make_link(client)
    auth.post_form(
        "/admin/posts/1/edit", title="Secret plans", body="Out.", action="publish"
    )

    response = client.get(path)

    assert response.status_code == 302
    assert response.headers["Location"] == "/posts/secret-plans"


def test_a_scheduled_post_can_be_shared(app, client, auth):
    auth.login()
    auth.create_post("Next year", action="publish", published_at="2099-01-01T09:00")
    path = make_link(client)

    page = app.test_client().get(path).get_data(as_text=True)

    assert "<h1>Next year</h1>" in page
    assert "A scheduled post" in page


def test_a_post_in_the_trash_is_shared_by_no_link(app, client, draft):
    path = make_link(client)
    page = client.get("/admin/posts/1/delete").get_data(as_text=True)
    client.post("/admin/posts/1/delete", data={"csrf_token": csrf_from(page)})

    assert app.test_client().get(path).status_code == 404


def test_only_who_may_edit_the_post_makes_or_revokes_links(
    app, client, auth, draft, bob
):
    make_link(client)
    auth.login_as(bob)
    token = csrf_from(client.get("/admin/posts/new").get_data(as_text=True))

    assert (
        client.post("/admin/posts/1/shares", data={"csrf_token": token}).status_code
        == 403
    )
    with app.app_context():
        link_id = session.scalars(select(ShareLink.id)).one()
    revoke = client.post(
        f"/admin/posts/1/shares/{link_id}/revoke", data={"csrf_token": token}
    )
    assert revoke.status_code == 403
    with app.app_context():
        assert session.scalar(select(func.count()).select_from(ShareLink)) == 1


def test_making_a_link_needs_the_csrf_token(app, client, draft):
    assert client.post("/admin/posts/1/shares").status_code == 400
    with app.app_context():
        assert session.scalar(select(func.count()).select_from(ShareLink)) == 0


def test_purging_the_post_deletes_its_links(app, client, draft):
    make_link(client)
    page = client.get("/admin/posts/1/delete").get_data(as_text=True)
    client.post("/admin/posts/1/delete", data={"csrf_token": csrf_from(page)})
    client.post("/admin/posts/1/purge", data={"csrf_token": csrf_from(page)})

    with app.app_context():
        assert session.get(Post, 1) is None
        assert session.scalar(select(func.count()).select_from(ShareLink)) == 0


def test_links_per_post_are_bounded(app, client, draft, monkeypatch):
    monkeypatch.setattr("homepage.core.shares.MAX_LINKS_PER_POST", 2)
    make_link(client)
    make_link(client)

    page = client.get("/admin/posts/1/edit").get_data(as_text=True)
    response = client.post(
        "/admin/posts/1/shares",
        data={"csrf_token": csrf_from(page)},
        follow_redirects=True,
    )

    assert "revoke one first" in response.get_data(as_text=True)
    with app.app_context():
        assert session.scalar(select(func.count()).select_from(ShareLink)) == 2
