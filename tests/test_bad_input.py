"""Hostile and arbitrary input: nothing executable reaches a page, nothing crashes."""

from __future__ import annotations

import re
from urllib.parse import quote
from xml.etree import ElementTree

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape
from sqlalchemy import select, text

from homepage.core.models import Post
from homepage.db import get_engine, session

from .payloads import XSS_PAYLOADS, executable_parts
from .support import csrf_from

# Threaded servers, Hypothesis or many requests per test: too slow for make
# test-fast, which runs the quick part of the suite in under 30 s.
pytestmark = pytest.mark.slow

#: The tables a form may change; login throttling's bookkeeping is left out on
#: purpose, since a failed login must be recorded.
CONTENT_TABLES = ("authors", "posts", "tags", "post_tags", "revisions", "images")

FUZZ = settings(
    max_examples=60,
    deadline=None,
    # The app and database are made once per test function; every example
    # either leaves them unchanged or adds independent rows, so sharing is safe.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def snapshot(app: Flask) -> dict[str, list[tuple]]:
    """Return every row of every content table."""
    with get_engine(app).connect() as conn:
        return {
            # Sorted here: only SQLite has a rowid to order by.
            table: sorted(conn.execute(text(f"SELECT * FROM {table}")).all(), key=repr)
            for table in CONTENT_TABLES
        }


def as_tag(payload: str) -> str:
    """Return the payload as a tag the form accepts (no / ? # or commas)."""
    return re.sub(r"[/?#,]", "", payload)[:60] or "tag"


# -- the checker itself ---------------------------------------------------------


@pytest.mark.parametrize(
    "html",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        '<a href=" JaVa&#x09;script:alert(1)">x</a>',
        '<a href="data:text/html,x">x</a>',
        "<svg><g/></svg>",
        '<iframe srcdoc="x"></iframe>',
        '<p style="color:red">x</p>',
        '<meta http-equiv="Refresh" content="0">',
        '<script type="module" src="https://evil.example/x.js"></script>',
        '<script src="/static/editor.js?v=1&x=//evil"></script>',
        '<script type="module">alert(1)</script>',
    ],
)
def test_checker_finds_executable_html(html):
    assert executable_parts(f"<p>before</p>{html}<p>after</p>")


def test_checker_allows_json_ld_and_plain_markup():
    page = (
        '<script type="application/ld+json">{"@type": "BlogPosting"}</script>'
        '<a href="/posts/x">x</a><img src="https://example.com/a.png" alt="">'
        "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
        '<script type="module" src="/static/editor.js?v=0123abcd"></script>'
    )
    assert executable_parts(page) == []


# -- XSS through every field ------------------------------------------------------


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_xss_in_post_fields_reaches_no_page(app, client, auth, payload):
    auth.login()
    created = auth.create_post(
        title=payload,
        body=f"Intro.\n\n{payload}\n\nMore {payload} text.",
        summary=payload,
        tags=f"{as_tag(payload)}, safe",
    )
    assert created.status_code == 302
    with app.app_context():
        post = session.scalars(select(Post)).one()
        post_id, slug = post.id, post.slug
        tags = [tag.name for tag in post.tags]
    # A second save keeps a revision, so its comparison page can be checked too.
    edited = auth.post_form(
        f"/admin/posts/{post_id}/edit",
        title=payload + " 2",
        body=f"{payload}\n\nchanged",
        summary=payload,
        tags=", ".join(tags),
        status="published",
        action="save",
    )
    assert edited.status_code == 302
    paths = [
        "/",
        "/archive",
        f"/posts/{slug}",
        *(f"/tags/{quote(tag)}" for tag in tags),
        "/admin/",
        f"/admin/posts/{post_id}/edit",
        f"/admin/posts/{post_id}/revisions/1",
        "/admin/images/",
    ]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        assert executable_parts(response.get_data(as_text=True)) == [], path


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_xss_in_rejected_input_is_shown_harmlessly(client, auth, payload):
    auth.login()
    # A bad slug, an over-long title and a bad status: the form comes back with
    # every value in it.
    response = auth.post_form(
        "/admin/posts/new",
        title=payload * 50,
        slug=payload,
        body=payload,
        summary=payload,
        tags=payload,
        status=payload,
        action="save",
    )
    assert response.status_code == 400
    assert executable_parts(response.get_data(as_text=True)) == []
    preview = auth.post_form(
        "/admin/posts/new", title=payload, body=payload, action="preview"
    )
    assert executable_parts(preview.get_data(as_text=True)) == []


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_xss_in_login_and_urls_is_shown_harmlessly(client, auth, payload):
    login_page = client.get("/admin/login", query_string={"next": payload})
    assert executable_parts(login_page.get_data(as_text=True)) == []
    token = csrf_from(login_page.get_data(as_text=True))
    refused = client.post(
        "/admin/login",
        data={"username": payload, "password": payload, "next": payload,
              "csrf_token": token},
    )  # fmt: skip
    assert refused.status_code in {400, 429}
    assert executable_parts(refused.get_data(as_text=True)) == []
    for path in (f"/posts/{quote(payload)}", f"/tags/{quote(payload, safe='')}"):
        missing = client.get(path)
        assert missing.status_code == 404
        assert executable_parts(missing.get_data(as_text=True)) == []


# -- arbitrary text in every form field --------------------------------------------

_text = st.text(max_size=300)


@pytest.fixture
def logged_in(app, client, auth):
    """Log in once and write one post, for fuzzing that runs many examples."""
    auth.login()
    assert auth.create_post("Existing", tags="old").status_code == 302
    return client


@FUZZ
@given(
    fields=st.fixed_dictionaries(
        {
            "title": _text,
            "slug": st.one_of(_text, st.from_regex(r"[a-z0-9-]{0,90}", fullmatch=True)),
            "body": _text,
            "summary": _text,
            "tags": _text,
            "status": st.one_of(st.sampled_from(["draft", "published"]), _text),
            "action": st.sampled_from(["save", "preview", "", "delete"]),
        }
    ),
    path=st.sampled_from(["/admin/posts/new", "/admin/posts/1/edit"]),
)
def test_post_form_never_fails_and_rejection_changes_nothing(
    app, logged_in, auth, fields, path
):
    before = snapshot(app)
    response = auth.post_form(path, **fields)
    assert response.status_code in {200, 302, 400}
    if response.status_code != 302:
        assert snapshot(app) == before
        assert "csrf_token" in response.get_data(as_text=True)


@FUZZ
@given(
    fields=st.fixed_dictionaries(
        {
            "current_password": _text,
            "new_password": _text,
            "confirm_password": _text,
        }
    )
)
def test_password_form_never_fails_and_rejection_changes_nothing(
    app, logged_in, auth, fields
):
    before = snapshot(app)
    response = auth.post_form("/admin/account/password", **fields)
    # The current password is never guessed, so every change is refused.
    assert response.status_code in {400, 429}
    assert snapshot(app) == before


@FUZZ
@given(username=_text, password=_text, next_url=_text)
def test_login_form_never_fails(app, client, username, password, next_url):
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    before = snapshot(app)
    response = client.post(
        "/admin/login",
        data={
            "username": username,
            "password": password,
            "next": next_url,
            "csrf_token": token,
        },
    )
    assert response.status_code in {400, 429}
    assert snapshot(app) == before


# -- arbitrary paths and query strings on every route -------------------------------

_segment = st.text(min_size=1, max_size=40)
_query = st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=4)


def _fill(rule: str, draw) -> str:
    """Replace each ``<converter:name>`` in a URL rule with drawn text."""

    def replace(match: re.Match) -> str:
        if match.group(1) == "int":
            value = draw(st.one_of(st.integers(-5, 10**12).map(str), _segment))
        else:
            value = draw(_segment)
        return quote(value, safe="/" if match.group(1) == "path" else "")

    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?\w+>", replace, rule)


def _get_anything(app, client, data) -> None:
    """GET a drawn route, or any path, with a drawn query string; never a 5xx."""
    rules = sorted(
        rule.rule for rule in app.url_map.iter_rules() if "GET" in rule.methods
    )
    choice = data.draw(st.sampled_from([*rules, None]), label="rule")
    if choice is None:
        path = "/" + quote(data.draw(st.text(max_size=60), label="path"), safe="/")
    else:
        path = _fill(choice, data.draw)
    query = data.draw(_query, label="query")
    # Closed, as a file served from disk (the icon, say) holds it open.
    with client.get(path, query_string=query) as response:
        assert response.status_code < 500, (path, query)


@FUZZ
@given(data=st.data())
def test_every_route_answers_readers_without_error(app, client, data):
    _get_anything(app, client, data)


@FUZZ
@given(data=st.data())
def test_every_route_answers_the_author_without_error(app, logged_in, data):
    _get_anything(app, logged_in, data)


@FUZZ
@given(data=st.data())
def test_every_form_answers_arbitrary_fields_without_error(app, logged_in, data):
    token = csrf_from(logged_in.get("/admin/posts/new").get_data(as_text=True))
    rules = sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        # Logging out would end the session the other examples need; it takes
        # no fields and is tested on its own.
        if "POST" in rule.methods and rule.endpoint != "admin.auth.logout"
    )
    path = _fill(data.draw(st.sampled_from(rules), label="rule"), data.draw)
    fields = data.draw(
        st.dictionaries(st.text(max_size=20), st.text(max_size=100), max_size=6),
        label="fields",
    )
    before = snapshot(app)
    response = logged_in.post(path, data={**fields, "csrf_token": token})
    assert response.status_code < 500, (path, fields)
    if response.status_code == 400:
        assert snapshot(app) == before


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_xss_reaches_no_search_result_or_feed(app, client, auth, payload):
    import feedparser

    auth.login()
    assert (
        auth.create_post(
            title=f"Findable {payload}",
            body=f"findable words {payload} and more",
            summary=payload,
            tags=f"{as_tag(payload)}, findable",
        ).status_code
        == 302
    )
    auth.logout()
    for query in (payload, f"findable {payload}", "findable"):
        response = client.get("/search", query_string={"q": query})
        assert response.status_code == 200, query
        assert executable_parts(response.get_data(as_text=True)) == [], query
    assert "<mark>" in client.get("/search?q=findable").get_data(as_text=True)
    atom = "{http://www.w3.org/2005/Atom}"
    for path in ("/feed.atom", "/tags/findable/feed.atom"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert not feedparser.parse(response.get_data()).bozo, path
        # Read the raw XML, not feedparser's result: feedparser sanitizes
        # HTML itself, and would hide what a less careful reader would run.
        root = ElementTree.fromstring(response.get_data())
        (entry,) = root.findall(f"{atom}entry")
        html_parts = [
            element.text or ""
            for element in entry.iter()
            if element.get("type") == "html"
        ]
        assert html_parts, path
        for part in html_parts:
            assert executable_parts(part) == [], (path, part)
    content = "{http://purl.org/rss/1.0/modules/content/}encoded"
    for path in ("/feed.rss", "/tags/findable/feed.rss"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert not feedparser.parse(response.get_data()).bozo, path
        (item,) = ElementTree.fromstring(response.get_data()).iter("item")
        # The summary is left out when nothing of it survives sanitizing.
        html_parts = [item.findtext(content), item.findtext("description") or ""]
        assert html_parts[0], path
        for part in html_parts:
            assert executable_parts(part) == [], (path, part)
    for path in ("/feed.json", "/tags/findable/feed.json"):
        response = client.get(path)
        assert response.status_code == 200, path
        (item,) = response.get_json(force=True)["items"]
        assert executable_parts(item["content_html"]) == [], path


# -- input that would cost too much is refused before any work -------------------


def refused_post(app, auth, **fields) -> str:
    """Submit a post with ``fields``, check it is refused and nothing changed."""
    before = snapshot(app)
    data = {"title": "Hostile", "body": "Fine.", "status": "published", **fields}
    response = auth.post_form("/admin/posts/new", action="save", **data)
    assert response.status_code == 400
    assert snapshot(app) == before
    return response.get_data(as_text=True)


@pytest.mark.parametrize("action", ["save", "preview"])
def test_a_hundred_thousand_tags_are_refused_unread(app, client, auth, action):
    auth.login()
    tags = ",".join(f"tag{number}" for number in range(100_000))
    before = snapshot(app)
    response = auth.post_form(
        "/admin/posts/new", title="Tagged", body="b", tags=tags, action=action
    )
    assert response.status_code == 400
    assert "Use at most 20 tags of at most 64 characters." in response.get_data(
        as_text=True
    )
    assert snapshot(app) == before


@pytest.mark.parametrize(
    "body, message",
    [
        ("![" * 500_000, "one block of text between blank lines has 1,000,000"),
        ("[](" + "x" * 19_990 + "\n\n", None),
        (("![" * 9_000 + "\n\n") * 6, "too much markdown punctuation"),
        ("> " * 5 + "x\n" + "x\n" * 100, "nested more than 4 deep"),
        ("- " * 6 + "x", "nested more than 4 deep"),
        ("x\n" * 5_001, "the text has 5,002 lines"),
        ((("[a](" + "b" * 60 + " " * 3) * 290 + "\n\n") * 45, "too many links"),
        ("$x$ " * 501, "1,002 dollar signs"),
        (
            ("A $5 tip. " + "x" * 19_000 + "\n\n") * 3,
            "dollar signs (math) are too long",
        ),
    ],
)
def test_markdown_that_would_render_slowly_is_refused(app, auth, body, message):
    auth.login()
    if message is None:
        # Within every bound: saved.
        response = auth.create_post("Fine", body=body)
        assert response.status_code == 302
        return
    page = refused_post(app, auth, body=body)
    assert message in page.lower().replace("\u2019", "'")


@pytest.mark.parametrize(
    "tag, message",
    [
        (".", 'A tag cannot be "." or "..".'),
        ("..", 'A tag cannot be "." or "..".'),
        ("bell\x07", "Tags cannot contain control characters."),
        ("esc\x1b[31m", "Tags cannot contain control characters."),
    ],
)
def test_tags_that_cannot_be_addresses_are_refused(app, client, auth, tag, message):
    auth.login()
    page = refused_post(app, auth, tags=f"fine, {tag}")
    assert escape(message) in page
    assert "fine" not in client.get("/tags").get_data(as_text=True)


# -- the NUL character ----------------------------------------------------------
# PostgreSQL can neither store nor compare text holding U+0000, so each of these
# was a 500 there; both databases now refuse it before any lookup.

NUL_REFUSED = "Text cannot contain the NUL character (U+0000)."


def test_a_login_with_nul_in_the_name_is_refused(app, client):
    before = snapshot(app)
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    response = client.post(
        "/admin/login",
        data={"username": "admin\x00", "password": "x", "csrf_token": token},
    )
    assert response.status_code == 400
    assert escape(NUL_REFUSED) in response.get_data(as_text=True)
    assert snapshot(app) == before


@pytest.mark.parametrize(
    "fields",
    [
        {"title": "Nul\x00title"},
        {"body": "A body with a \x00 in it."},
        {"tags": "fine, nul\x00byte"},
        {"slug": "nul\x00slug"},
        {"title\x00": "a field whose name holds NUL"},
    ],
)
def test_a_post_with_nul_in_a_field_is_refused_and_nothing_saved(
    app, client, auth, fields
):
    auth.login()
    page = refused_post(app, auth, **fields)
    assert escape(NUL_REFUSED) in page
    assert "fine" not in client.get("/tags").get_data(as_text=True)


def test_a_search_with_nul_is_refused(client, auth):
    auth.login()
    auth.create_post("Needle", body="A needle in a haystack.")
    response = client.get("/search", query_string={"q": "needle\x00haystack"})
    assert response.status_code == 400
    assert escape(NUL_REFUSED) in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "path", ["/posts/needle%00", "/tags/needle%00", "/archive/2024/01%00", "/%00"]
)
def test_an_address_with_nul_is_not_found(client, auth, path):
    auth.login()
    auth.create_post("Needle", tags="needle")
    auth.logout()
    assert client.get(path).status_code == 404


def test_a_long_real_post_is_accepted(app, client, auth):
    """The bounds leave room for the longest posts people write."""
    paragraph = (
        "Some *emphasis*, a [link](https://example.org/a/long/path) and "
        "`inline code` in a sentence of ordinary length. " * 12
    )
    code = "```python\n" + "def f(x):\n    return x * 2  # [a] _b_\n" * 150 + "```"
    quote_and_list = "> A quote\n>\n> - with a list\n>   - nested once\n"
    body = "\n\n".join([paragraph] * 150 + [code] * 5 + [quote_and_list] * 20)
    assert len(body.encode()) < app.config["MAX_BODY_BYTES"]
    auth.login()
    assert auth.create_post("Long read", body=body).status_code == 302
    assert "nested once" in client.get("/posts/long-read").get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [
        "/sitemaps/posts-429497.xml",  # ids from 2,147,480,001 up
        "/sitemaps/tags-1000000000.xml",
        "/admin/posts/2147483648/edit",
        "/admin/posts/99999999999999999999/revisions/1",
        "/admin/posts/1/revisions/2147483648",
    ],
)
def test_numbers_past_the_largest_id_are_404s(client, auth, path):
    # PostgreSQL's ids have 32 bits: such a number must not reach a query.
    auth.login()
    assert auth.create_post("Hello").status_code == 302
    assert client.get(path).status_code == 404
