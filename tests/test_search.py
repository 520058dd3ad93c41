"""Searching the blog: ranked, highlighted, paginated, and safe for any query."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import event, func, select, text, update

from homepage.core import markdown, search
from homepage.core.models import Post, SiteState, utcnow, visible_at
from homepage.core.schema import init_db
from homepage.core.search import MAX_TERMS, fts_query
from homepage.db import get_engine, session

from .reader_support import add_posts, query_plan

# Threaded servers, Hypothesis or many requests per test: too slow for make
# test-fast, which runs the quick part of the suite in under 30 s.
pytestmark = pytest.mark.slow

_RESULT_LINK = re.compile(r'<h2><a href="(/(?:posts|pages)/[^"]+)">')


def result_links(response) -> list[str]:
    """Return the addresses of the results, in the order shown."""
    return _RESULT_LINK.findall(response.get_data(as_text=True))


def index_rows(app) -> list[tuple]:
    with app.app_context():
        return session.execute(
            text("SELECT rowid, title, tags FROM post_search ORDER BY rowid")
        ).all()


def test_search_finds_words_in_titles_summaries_bodies_and_tags(client, auth):
    auth.login()
    auth.create_post("Alpha in the title")
    auth.create_post("Second", body="Bravo is in the body.")
    auth.create_post("Third", summary="Charlie in the summary.")
    auth.create_post("Fourth", tags="delta")
    auth.logout()

    assert result_links(client.get("/search?q=alpha")) == ["/posts/alpha-in-the-title"]
    assert result_links(client.get("/search?q=bravo")) == ["/posts/second"]
    assert result_links(client.get("/search?q=charlie")) == ["/posts/third"]
    assert result_links(client.get("/search?q=delta")) == ["/posts/fourth"]


def test_every_word_must_match_and_stems_and_accents_are_forgiven(client, auth):
    auth.login()
    auth.create_post("Coffee", body="Running to the café every morning.")
    auth.create_post("Tea", body="Running late.")
    auth.logout()

    assert result_links(client.get("/search?q=run+cafe")) == ["/posts/coffee"]
    assert len(result_links(client.get("/search?q=RUNS"))) == 2


def test_a_title_match_ranks_above_a_body_match(client, auth):
    auth.login()
    auth.create_post("Body mention", body="Some words, then gardening, once.")
    auth.create_post("Gardening", body="All about plants.")
    auth.logout()

    links = result_links(client.get("/search?q=gardening"))
    assert links == ["/posts/gardening", "/posts/body-mention"]


def test_results_show_highlighted_snippets_with_the_text_escaped(client, auth):
    auth.login()
    auth.create_post(
        "Escaping <b>",
        body="Write `<script>alert(1)</script>` to test the needle, \ue000 or not.",
    )
    auth.logout()

    page = client.get("/search?q=needle").get_data(as_text=True)
    assert "<mark>needle</mark>" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    assert page.count("<mark>") == page.count("</mark>") == 1
    title = client.get("/search?q=escaping").get_data(as_text=True)
    assert "<mark>Escaping</mark> &lt;b&gt;" in title


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '"unbalanced',
        "*",
        "needle*",
        "NEAR(needle haystack)",
        "needle NEAR haystack",
        "-needle",
        "needle -haystack",
        "(",
        "((needle",
        "needle)",
        "title:needle",
        "AND",
        "needle OR",
        "NOT needle",
        "^needle",
        "needle + haystack",
        "{title body}: needle",
        "'",
        "\\",
        "%",
        "'; DROP TABLE posts; --",
        "иголка",
        "針",
        "إبرة",
        "🪡",
        "ｎｅｅｄｌｅ",
        "\ue000needle\ue001",
        "   ",
        "",
        "needle " * 200,
        "x" * 5000,
        # PostgreSQL's tsquery syntax: and, or, not, prefix, phrase, weights.
        "needle & haystack",
        "needle | haystack",
        "!needle",
        "!!",
        "needle:*",
        "ne:*",
        "needle <-> haystack",
        "needle <2> haystack",
        "needle:AB",
        "(needle | !haystack) & hay:*",
        "'needle'",
        "'needle haystack'",
        "''",
        "needle\\",
        "\\'needle",
        "needle & " * 50,
        " ".join(f"needle{n}" for n in range(50)),
        ("needle <-> !haystack:* | " * 10)[:200],
        "&|!:*<->()'\"\\" * 20,
    ],
)
def test_any_query_gives_results_or_an_empty_page(client, auth, app, query):
    auth.login()
    auth.create_post("Needle", body="A needle in a haystack. Иголка. 針.")
    auth.logout()

    response = client.get("/search", query_string={"q": query})
    assert response.status_code == 200
    assert "Search" in response.get_data(as_text=True)
    with app.app_context():
        assert session.scalar(select(func.count(Post.id))) == 1


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ('"needle"', True),
        ("NEAR(needle haystack)", True),
        ("needle -haystack", True),
        ("-haystack", True),
        ("needle -nothing", False),
        ("иголка", True),
        ("ｎｅｅｄｌｅ", True),
        ("needle)", True),
        ("needle & haystack", True),
        ("!haystack", True),
        ("needle | nothing", False),
        ("needle:*", True),
        ("need:*", False),
        ("haystack <-> needle", True),
        ("'needle' & 'barn'", True),
        ("needle\\ haystack", True),
    ],
)
def test_operators_are_searched_as_plain_words(client, auth, query, found):
    auth.login()
    auth.create_post("Needle", body="A needle in a haystack, near the barn. Иголка.")
    auth.logout()

    links = result_links(client.get("/search", query_string={"q": query}))
    assert (links == ["/posts/needle"]) is found


def test_fts_query_quotes_every_word():
    assert fts_query('say "hi" NEAR(x) a-b') == '"say" """hi""" "NEAR" "x" "a-b"'
    assert fts_query("* - ( ) : ^") == ""


@pytest.mark.parametrize(
    ("query", "terms"),
    [
        ("one two three four five six seven eight nine ten", 8),
        ("one-two-three-four-five-six-seven-eight-nine-ten", 1),
        ("a b c-d-e-f-g-h-i-j-k l", 3),
        ("!!! ??? " * 20 + "word", 1),
    ],
)
def test_a_query_keeps_at_most_max_terms_words(query, terms):
    match = fts_query(query)
    quoted = re.findall(r'"((?:[^"]|"")*)"', match)
    assert len(quoted) == terms
    assert sum(len(re.findall(r"[^\W_]+", word)) for word in quoted) <= MAX_TERMS
    assert quoted[0].split("-")[0] in query


def test_an_empty_query_shows_the_form(client):
    response = client.get("/search")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<label for="q">Words to look for</label>' in text
    assert "Type one or more words" in text


def test_no_match_says_so(client, auth):
    auth.login()
    auth.create_post("Something")
    auth.logout()
    response = client.get("/search?q=nothing+here")
    assert response.status_code == 200
    assert "No posts match “nothing here”." in response.get_data(as_text=True)


def test_results_are_paginated_keeping_the_query(client, auth, app):
    app.config["POSTS_PER_PAGE"] = 3
    auth.login()
    for number in range(7):
        auth.create_post(f"Common {number}")
    auth.logout()

    first = client.get("/search?q=common")
    assert "7 results for “common”" in first.get_data(as_text=True)
    assert len(result_links(first)) == 3
    assert 'href="/search?q=common&amp;page=2"' in first.get_data(as_text=True)
    last = client.get("/search?q=common&page=3")
    assert len(result_links(last)) == 1
    seen = {
        link
        for number in (1, 2, 3)
        for link in result_links(client.get(f"/search?q=common&page={number}"))
    }
    assert len(seen) == 7
    assert client.get("/search?q=common&page=4").status_code == 404
    assert client.get("/search?q=common&page=x").status_code == 404


def test_drafts_and_scheduled_posts_are_not_found_but_pages_are(client, auth):
    auth.login()
    auth.create_post("Visible unicorn")
    auth.create_post("Draft unicorn", status="draft")
    auth.create_post("Later unicorn", published_at="2999-01-01T00:00")
    auth.create_post("Unicorn page", slug="unicorns", kind="page")
    auth.logout()

    links = result_links(client.get("/search?q=unicorn"))
    assert sorted(links) == ["/pages/unicorns", "/posts/visible-unicorn"]


def test_the_index_follows_edits_and_deletes_in_the_same_transaction(client, auth, app):
    auth.login()
    auth.create_post("Original words", tags="first")
    with app.app_context():
        post_id = session.scalar(select(Post.id))
    assert index_rows(app) == [(post_id, "Original words", "first")]

    auth.post_form(
        f"/admin/posts/{post_id}/edit",
        title="Rewritten",
        slug="original-words",
        body="New body.",
        tags="second, third",
        status="published",
        action="save",
    )
    assert index_rows(app) == [(post_id, "Rewritten", "second third")]
    assert result_links(client.get("/search?q=original")) == []
    assert result_links(client.get("/search?q=third")) == ["/posts/original-words"]

    auth.post_form(f"/admin/posts/{post_id}/delete")
    # In the trash: no reader finds it, and purging it takes it from the index.
    assert result_links(client.get("/search?q=rewritten")) == []
    auth.post_form(f"/admin/posts/{post_id}/purge")
    assert index_rows(app) == []
    assert result_links(client.get("/search?q=rewritten")) == []


def test_a_save_that_fails_after_writing_leaves_the_index_alone(
    client, auth, app, monkeypatch
):
    auth.login()
    auth.create_post("Kept", tags="old")
    with app.app_context():
        version = session.scalar(select(SiteState.version))

    # Fail after the post, its index row and the version are flushed.
    def fail():
        raise RuntimeError("the disk is full")

    monkeypatch.setattr("homepage.core.posts.delete_orphan_tags", fail)
    with pytest.raises(RuntimeError):
        auth.post_form(
            "/admin/posts/1/edit",
            title="Lost",
            body="Lost body.",
            tags="new",
            status="published",
            action="save",
        )
    assert index_rows(app) == [(1, "Kept", "old")]
    with app.app_context():
        assert session.scalar(select(SiteState.version)) == version
        assert session.get(Post, 1).title == "Kept"


def test_a_refused_form_leaves_the_index_alone(client, auth, app):
    auth.login()
    auth.create_post("Kept")
    response = auth.post_form(
        "/admin/posts/1/edit", title="", body="x", status="published", action="save"
    )
    assert response.status_code == 400
    assert [row.title for row in index_rows(app)] == ["Kept"]


def test_init_db_builds_the_index_for_existing_posts_idempotently(
    client, auth, app, runner
):
    auth.login()
    auth.create_post("Older post")
    auth.create_post("Newer post")
    with app.app_context():
        # A database from before search existed: no index at all.
        session.execute(text("DROP TABLE post_search"))
        session.commit()

    for _ in range(2):
        # The test runner calls app.cli directly, which pushes no app context
        # for plain click commands the way `flask` does.
        with app.app_context():
            result = runner.invoke(args=["init-db"])
        assert result.exit_code == 0, result.output
        assert [row.title for row in index_rows(app)] == ["Older post", "Newer post"]
    assert len(result_links(client.get("/search?q=post"))) == 2


@pytest.mark.parametrize("path", ["/", "/archive", "/tags", "/search?q=x"])
def test_every_page_has_a_labelled_search_box(client, path):
    text = client.get(path).get_data(as_text=True)
    assert '<form class="site-search" role="search" method="get" action="/search">' in (
        text
    )
    assert '<label for="site-search" class="visually-hidden">Search posts</label>' in (
        text
    )


def bulk_blog(make_app, posts: int, **settings):
    """Return an app with ``posts`` posts from add_posts, all in the search index."""
    app = make_app(**settings)
    rows = add_posts(app, posts)
    with app.app_context():
        # Core inserts skip the flush hook that indexes posts; init-db
        # indexes the posts the index lacks, as after an import.
        init_db()
    return app, rows


def test_a_common_word_ranks_the_newest_matches_and_says_there_are_more(make_app):
    app, rows = bulk_blog(make_app, 40, SEARCH_MAX_RESULTS=5, POSTS_PER_PAGE=2)
    client = app.test_client()

    first = client.get("/search?q=bulk")
    text = first.get_data(as_text=True)
    assert "More than 5 results for “bulk”" in text
    assert "Page 1 of 3" in text
    shown = [
        link
        for number in (1, 2, 3)
        for link in result_links(client.get(f"/search?q=bulk&page={number}"))
    ]
    now = utcnow()
    newest = [
        f"/{row.kind}s/{row.slug}"
        for row in rows
        if visible_at(row.status, row.published_at, now, row.deleted_at)
    ][-5:]
    assert sorted(shown) == sorted(newest)
    assert client.get("/search?q=bulk&page=4").status_code == 404


def test_a_word_few_posts_have_is_counted_exactly(make_app):
    app, _ = bulk_blog(make_app, 40, SEARCH_MAX_RESULTS=5)
    client = app.test_client()
    # Titles are "Bulk N"; "7" is in one title and none of the bodies.
    text = client.get("/search?q=7").get_data(as_text=True)
    assert "1 result for “7”" in text
    assert "More than" not in text


@pytest.mark.sqlite
def test_search_results_come_from_the_index_first(app, auth):
    """The index drives the query, so a word no post has costs nothing."""
    auth.login()
    auth.create_post("Findable", body="A needle.")
    client = app.test_client()
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    engine = get_engine(app)
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get("/search?q=needle").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)

    searches = [s for s in seen if "MATCH" in s]
    assert len(searches) == 2, searches
    for statement in searches:
        plan = query_plan(app, statement)
        assert "SCAN posts" not in plan, plan
        assert "ix_posts" not in plan, plan
        if "JOIN posts" in statement:
            # Matches first, newest first; each looked up by its id.
            assert plan.index("post_search") < plan.index(
                "SEARCH posts USING INTEGER PRIMARY KEY"
            ), plan


def search_statements(app, path: str) -> tuple[str, list[tuple[str, dict]]]:
    """Return the page at ``path`` and the statements that matched the index."""
    seen: list[tuple[str, dict]] = []

    def record(_conn, _cursor, statement, parameters, *_args) -> None:
        if "@@" in statement:
            seen.append((statement, parameters))

    engine = get_engine(app)
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = app.test_client().get(path)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 200
    return response.text, seen


@pytest.mark.postgresql
def test_a_rare_word_is_looked_up_in_the_gin_index(make_app):
    app = make_app()
    rows = add_posts(app, 3000)
    # Bodies of a few hundred words, as posts have: reading them all is what
    # the index saves.
    paragraph = " ".join(["Words that many posts share, over and over."] * 40)
    with app.app_context():
        # Rendered already, so that init_db only indexes them.
        session.execute(
            update(Post).values(
                body=paragraph,
                body_html=f"<p>{paragraph}</p>",
                renderer=markdown.RENDERER_VERSION,
            )
        )
        session.execute(
            update(Post)
            .where(Post.id == rows[-2].id)
            .values(
                body=f"{paragraph} A quokka.", body_html=f"<p>{paragraph} A quokka.</p>"
            )
        )
        session.commit()
        init_db()
    with get_engine(app).begin() as connection:
        # As autovacuum would after a bulk load: the planner knows the tables.
        connection.exec_driver_sql("ANALYZE")

    page, statements = search_statements(app, "/search?q=quokka")
    assert "1 result for “quokka”" in page
    assert len(statements) == 1, statements
    with get_engine(app).connect() as connection:
        for statement, parameters in statements:
            plan = "\n".join(
                connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).scalars()
            )
            assert "ix_post_search_document" in plan, plan
            assert "Seq Scan on post_search" not in plan, plan


def test_a_long_body_of_distinct_words_is_saved_and_found(client, auth, app):
    # PostgreSQL keeps at most 1 MB in a tsvector, which a body of
    # MAX_BODY_BYTES made of distinct words would overflow.
    words = [f"w{number:06x}" for number in range(110_000)]
    body = "\n\n".join(
        " ".join(words[start : start + 1000]) for start in range(0, len(words), 1000)
    )
    assert len(body) < app.config["MAX_BODY_BYTES"]
    auth.login()
    assert auth.create_post("Long", body=body).status_code == 302
    auth.logout()

    assert result_links(client.get(f"/search?q={words[7]}")) == ["/posts/long"]
    assert result_links(client.get("/search?q=long")) == ["/posts/long"]


def test_short_common_words_are_searched_too(client, auth):
    auth.login()
    auth.create_post("The Who", body="A band.")
    auth.create_post("Another", body="Who is it?")
    auth.logout()

    assert result_links(client.get("/search?q=the+who")) == ["/posts/the-who"]


def test_searches_beyond_the_slots_are_turned_away_and_other_pages_served(
    make_app, monkeypatch
):
    app = make_app(SEARCH_CONCURRENCY=1)
    entered, release = threading.Event(), threading.Event()
    ranked = search.ranked

    def slow_ranked(*args, **kwargs):
        entered.set()
        assert release.wait(30)
        return ranked(*args, **kwargs)

    monkeypatch.setattr(search, "ranked", slow_ranked)
    answers = []
    first = threading.Thread(
        target=lambda: answers.append(app.test_client().get("/search?q=one"))
    )
    first.start()
    try:
        assert entered.wait(30)
        reader = app.test_client()
        busy = reader.get("/search?q=two")
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == "5"
        assert "Too many searches" in busy.get_data(as_text=True)
        # Other pages, and the search form itself, need no slot.
        assert reader.get("/").status_code == 200
        assert reader.get("/search").status_code == 200
    finally:
        release.set()
        first.join(30)
    assert answers[0].status_code == 200
    monkeypatch.setattr(search, "ranked", ranked)
    # A search that ends in a 404 gives its slot back too.
    assert reader.get("/search?q=two&page=9").status_code == 404
    assert reader.get("/search?q=two").status_code == 200
