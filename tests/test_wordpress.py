"""Moving in from WordPress: import-wordpress, the admin's import page, old addresses.

The exports in tests/wordpress/ are written as WordPress writes them: a 1.2
file over http with every status, pages with parents, attachments, a menu
item, comments, block-editor and classic content, shortcodes, CDATA and
non-Latin titles; a 1.1 file over https with entities instead of CDATA; and
hostile or foreign files.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from PIL import Image as PILImage
from sqlalchemy import event, func, select
from sqlalchemy.orm import selectinload

from homepage.core import wordpress
from homepage.core.models import Author, Image, Post, Tag, WordPressPost
from homepage.db import get_engine, session

from .authors_support import add_author
from .image_files import TRACES, photo
from .support import PASSWORD

EXPORTS = Path(__file__).parent / "wordpress"
SITE = EXPORTS / "site.xml"


def import_file(runner, path: Path, *options: str):
    """Run import-wordpress on ``path``; return the result."""
    return runner.invoke(args=["import-wordpress", str(path), *options])


def posts_by_slug(app: Flask) -> dict[str, Post]:
    """Return every post, tags and author loaded, by slug."""
    with app.app_context():
        rows = session.scalars(
            select(Post).options(selectinload(Post.tags), selectinload(Post.author))
        ).all()
        session.expunge_all()
        return {post.slug: post for post in rows}


def totals(app: Flask) -> dict[str, int]:
    """Count the rows an import adds."""
    with app.app_context():
        return {
            model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (Post, Author, Image, Tag, WordPressPost)
        }


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    """Return a copy of wp-content/uploads with the photos site.xml shows."""
    folder = tmp_path / "wp-uploads"
    (folder / "2015" / "01").mkdir(parents=True)
    # The original carries a GPS position that must not survive the import.
    (folder / "2015" / "01" / "lake.jpg").write_bytes(photo((120, 80)))
    # WordPress's resized copies, which posts show instead of the original.
    for size in ("300x200", "1024x683"):
        small = io.BytesIO()
        PILImage.new("RGB", (30, 20), (0, 120, 0)).save(small, "JPEG")
        (folder / "2015" / "01" / f"lake-{size}.jpg").write_bytes(small.getvalue())
    boats = io.BytesIO()
    PILImage.new("RGB", (8, 6), (0, 0, 200)).save(boats, "PNG")
    (folder / "2015" / "01" / "boats.png").write_bytes(boats.getvalue())
    return folder


@pytest.fixture
def imported(app, runner, uploads):
    """Import site.xml with its uploads; return the command's output."""
    result = import_file(runner, SITE, "--uploads", str(uploads))
    assert result.exit_code == 0, result.output
    return result.output


# -- what becomes of the export --------------------------------------------------------


def test_the_report_counts_each_type_and_says_what_was_skipped(imported):
    assert (
        "Imported 6 posts and 2 pages (3 drafts, 1 scheduled), 2 authors, "
        "2 tags and 2 images" in imported
    )
    assert "nav_menu_item items: menus are not imported" in imported
    assert "1 product items: not a post or page" in imported
    assert "2 comments: this blog has no comments" in imported
    assert "attachment 'Lost file' (id 13): its file is not in the uploads" in imported
    assert "'Thrown away' (id 34): it was in WordPress's trash" in imported
    assert "post 'Dawn at the lake & the boats' (id 10): /posts/dawn-at-the-lake" in (
        imported
    )


def test_posts_and_pages_keep_titles_slugs_dates_statuses_and_tags(app, imported):
    posts = posts_by_slug(app)
    dawn = posts["dawn-at-the-lake"]
    assert dawn.title == "Dawn at the lake & the boats"
    assert (dawn.kind, dawn.status) == ("post", "published")
    # wp:post_date_gmt, not the local wp:post_date an hour later.
    assert dawn.published_at == datetime(2015, 1, 27, 7, 30, tzinfo=UTC)
    assert dawn.summary == "A morning by the lake."
    assert dawn.author.username == "marie"
    # Categories and tags alike; WordPress's default category is left out.
    assert [tag.name for tag in dawn.tags] == ["kyoto", "travel notes"]
    kyoto = posts["jing-du-nozhao"]
    assert kyoto.title == "京都の朝"
    assert kyoto.author.username == "kenji"
    assert [tag.name for tag in kyoto.tags] == ["kyoto"]
    assert posts["coming-soon"].status == "published"
    assert posts["coming-soon"].published_at == datetime(2099, 1, 1, 9, tzinfo=UTC)
    for slug in ("waiting-for-review", "just-for-me", "ellenika-ena-proskhedio"):
        assert posts[slug].status == "draft"
        assert posts[slug].published_at is None
    # A child page keeps its own slug: pages here have no parents.
    assert (posts["contact"].kind, posts["about"].kind) == ("page", "page")
    assert {"thrown-away", "thrown-away-trashed", "one", "home"}.isdisjoint(posts)


def test_a_draft_without_a_utc_date_is_dated_in_the_site_time_zone(make_app, tmp_path):
    app = make_app(SITE_TIMEZONE="Europe/Athens")
    result = import_file(app.test_cli_runner(), SITE)
    assert "dated from its local time, read in Europe/Athens" in result.output
    greek = posts_by_slug(app)["ellenika-ena-proskhedio"]
    # 14:00 in Athens in May (UTC+3) is 11:00 UTC.
    assert greek.created_at == datetime(2023, 5, 1, 11, tzinfo=UTC)


def test_scheduled_posts_wait_and_drafts_stay_hidden(client, imported):
    assert client.get("/posts/dawn-at-the-lake").status_code == 200
    assert client.get("/pages/contact").status_code == 200
    for slug in ("coming-soon", "waiting-for-review", "just-for-me"):
        assert client.get(f"/posts/{slug}").status_code == 404


def test_authors_are_created_without_a_password_until_one_is_set(
    app, client, auth, runner, imported
):
    assert "author 'marie': no password yet" in imported
    for password in ("", "!", PASSWORD, "marie"):
        response = auth.login("marie", password)
        assert response.status_code != 302
    result = runner.invoke(
        args=["set-password", "marie", "--password-stdin"],
        input="a brand new password\n",
    )
    assert result.exit_code == 0, result.output
    assert auth.login("marie", "a brand new password").status_code == 302


def test_a_weak_password_is_refused_and_the_author_still_has_none(
    auth, runner, imported
):
    result = runner.invoke(
        args=["set-password", "marie", "--password-stdin"], input="short\n"
    )
    assert result.exit_code != 0
    assert "at least 8 characters" in result.output
    assert auth.login("marie", "short").status_code != 302


def test_set_password_names_an_author_who_does_not_exist(runner):
    result = runner.invoke(
        args=["set-password", "nobody", "--password-stdin"],
        input="a brand new password\n",
    )
    assert result.exit_code == 1
    assert "There is no author called 'nobody'." in result.output


# -- content ---------------------------------------------------------------------------


def words(text: str) -> list[str]:
    """Return the words of ``text`` (letters and digits, any script)."""
    return re.findall(r"\w+", text)


def source_words(content: str) -> list[str]:
    """Return the words a WordPress content shows its readers."""
    content = wordpress.strip_block_comments(content)
    # The shortcodes' own brackets and attributes are markup, not text.
    content = re.sub(r"\[/?(?:caption|gallery)[^\]]*\]", " ", content)
    return words(BeautifulSoup(content, "html.parser").get_text(" "))


@pytest.mark.parametrize(
    ("export", "path", "wordpress_id"),
    [
        (SITE, "/posts/dawn-at-the-lake", 10),
        (SITE, "/posts/jing-du-nozhao", 20),
        (SITE, "/pages/about", 40),
        (EXPORTS / "https-1.1.xml", "/posts/cats-and-mice", 5),
    ],
)
def test_every_word_of_the_source_text_is_in_the_rendered_post(
    app, client, runner, uploads, export, path, wordpress_id
):
    result = import_file(runner, export, "--uploads", str(uploads))
    assert result.exit_code == 0, result.output
    with app.app_context():
        item = next(
            item
            for item in wordpress.read_export(export.read_bytes()).items
            if item.wordpress_id == wordpress_id
        )
    page = client.get(path)
    assert page.status_code == 200
    article = BeautifulSoup(page.get_data(as_text=True), "html.parser").main
    assert article is not None
    shown = set(words(article.get_text(" ")))
    expected = source_words(item.content)
    assert expected and [word for word in expected if word not in shown] == []


def test_block_comments_and_shortcodes_become_clean_markdown(app, imported):
    posts = posts_by_slug(app)
    dawn, kyoto = posts["dawn-at-the-lake"], posts["jing-du-nozhao"]
    for post in (dawn, kyoto):
        assert "<!--" not in post.body
        assert "[caption" not in post.body and "[gallery" not in post.body
        assert "<p>" not in post.body
    # The caption's text is under its image, and describes it.
    assert re.search(r"!\[Mist rising over the lake\]\(/media/\w+\.jpg\)", dawn.body)
    assert "*Mist rising over the lake*" in dawn.body
    assert "<figcaption>Mist rising over the lake</figcaption>" not in dawn.body_html
    assert "<em>Mist rising over the lake</em>" in dawn.body_html
    # The gallery shows both of its attachments, titled.
    assert re.search(r"!\[Lake at dawn\]\(/media/\w+\.jpg\)", dawn.body)
    assert re.search(r"!\[Boats\]\(/media/\w+\.png\)", dawn.body)
    assert "### Temples" in kyoto.body
    assert "- Kinkaku-ji\n- Ginkaku-ji" in kyoto.body
    assert "*Same lake, other season*" in kyoto.body


def test_classic_content_gets_wordpress_paragraphs_and_keeps_code(app, imported):
    dawn = posts_by_slug(app)["dawn-at-the-lake"].body_html
    paragraphs = re.findall(r"<p>(.*?)</p>", dawn, re.DOTALL)
    # Blank lines make paragraphs; a single line break stays a line break.
    assert paragraphs[0] == (
        "We walked to the shore before sunrise. The water was still<br>\n"
        "and the air smelled of pine."
    )
    assert any(p.startswith("Then the fishermen arrived") for p in paragraphs)
    # A blank line inside <pre> is code, not a new paragraph.
    assert "first line of code\n\nafter a blank line" in dawn
    assert "The end, and a snake_case_word." in dawn


def test_autop_makes_paragraphs_of_blank_lines_only_outside_blocks():
    text = "One\ntwo\n\n<blockquote>Quoted</blockquote>\n\n<pre>a\n\nb</pre>\nThree"
    assert wordpress.autop(text) == (
        "<p>One<br>\ntwo</p>\n\n<blockquote>Quoted</blockquote>\n\n"
        "<pre>a\n\nb</pre>\n\n<p>Three</p>"
    )


def test_block_comments_go_and_other_comments_stay():
    text = (
        '<!-- wp:heading {"level":3} -->\n<h3>Title</h3>\n<!-- /wp:heading -->\n'
        "<!--more-->"
    )
    assert wordpress.strip_block_comments(text) == "\n<h3>Title</h3>\n\n<!--more-->"


def test_unclosed_shortcodes_and_comments_are_kept_as_text():
    text = "[caption]no end <!-- wp:paragraph no end"
    assert wordpress.expand_captions(text) == text
    assert wordpress.strip_block_comments(text) == text


# -- images ----------------------------------------------------------------------------


def test_images_go_through_the_upload_pipeline_and_links_are_rewritten(
    app, tmp_path, imported
):
    with app.app_context():
        names = session.scalars(select(Image.name)).all()
        assert len(names) == 2
        assert all(session.scalars(select(Image.metadata_stripped)).all()), (
            "every imported image is stripped of its metadata"
        )
    for name in names:
        data = (tmp_path / "uploads" / name).read_bytes()
        assert [trace for trace in TRACES if trace in data] == []
    posts = posts_by_slug(app)
    lake = next(name for name in names if name.endswith(".jpg"))
    # lake-300x200.jpg and lake-1024x683.jpg are the resized copies of
    # lake.jpg: both posts show the one original.
    assert posts["dawn-at-the-lake"].body.count(f"/media/{lake}") == 3
    assert f"/media/{lake}" in posts["jing-du-nozhao"].body
    assert "old.example.com" not in posts["dawn-at-the-lake"].body


def test_imported_images_are_served(app, client, imported):
    with app.app_context():
        name = session.scalars(select(Image.name)).first()
    # Closed, as the file is served from disk.
    with client.get(f"/media/{name}") as response:
        assert response.status_code == 200


def test_without_uploads_remote_images_are_kept_and_listed(app, runner):
    result = import_file(runner, SITE)
    assert result.exit_code == 0, result.output
    lake = "http://old.example.com/wp-content/uploads/2015/01/lake-300x200.jpg"
    assert f"remote    {lake}" in result.output
    assert "remote    https://cdn.example.net/far/away.jpg" in result.output
    assert "3 attachments: without --uploads" in result.output
    assert f"]({lake})" in posts_by_slug(app)["dawn-at-the-lake"].body
    assert totals(app)["Image"] == 0


def test_an_uploads_path_cannot_leave_the_uploads_folder(tmp_path, uploads):
    (tmp_path / "secret.jpg").write_bytes(photo())
    store = wordpress._Images(uploads, None, wordpress.Report())
    assert store.source_of("http://x/wp-content/uploads/../secret.jpg") is None
    assert store.source_of("http://x/wp-content/uploads/2015/01/lake.jpg") == (
        "2015/01/lake.jpg"
    )


# -- running twice, other files --------------------------------------------------------


def test_importing_twice_creates_no_duplicates(app, runner, uploads, imported):
    before = totals(app)
    assert before["Post"] == 8
    result = import_file(runner, SITE, "--uploads", str(uploads))
    assert result.exit_code == 0, result.output
    assert "Imported 0 posts and 0 pages" in result.output
    assert "'Dawn at the lake & the boats' (id 10): imported before" in result.output
    assert totals(app) == before


def test_a_taken_slug_gets_a_free_one_and_the_old_address_still_works(
    app, client, auth, runner
):
    auth.login()
    auth.create_post("About", slug="about", kind="page", body="Mine.")
    auth.logout()
    result = import_file(runner, SITE)
    assert "page 'About' (id 40): /pages/about-2" in result.output
    assert client.get("/about/").headers["Location"] == "/pages/about-2"


def test_the_https_namespace_and_wxr_1_1_with_entities(app, runner):
    result = import_file(runner, EXPORTS / "https-1.1.xml")
    assert result.exit_code == 0, result.output
    post = posts_by_slug(app)["cats-and-mice"]
    assert post.title == "Cats & mice \u2013 a chase"
    assert post.author.username == "tom"
    assert [tag.name for tag in post.tags] == ["chases"]
    assert "The cat ran & the mouse hid." in post.body
    assert "*everyone*" in post.body


def hostile_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Return files to refuse, each with the words of its refusal."""
    huge = tmp_path / "huge.xml"
    text = SITE.read_text()
    huge.write_text(
        text.replace("Pending words here.", "x" * 4_000_001), encoding="utf-8"
    )
    return {
        "billion laughs": (EXPORTS / "billion-laughs.xml", "declares a DTD"),
        "external entity": (EXPORTS / "external-entity.xml", "declares a DTD"),
        "not XML": (EXPORTS / "not-xml.xml", "not well-formed XML"),
        "not WXR": (EXPORTS / "not-wxr.xml", "not a WordPress export"),
        "huge element": (huge, "<encoded> is longer than 4,000,000 characters"),
    }


@pytest.mark.parametrize(
    "case", ["billion laughs", "external entity", "not XML", "not WXR", "huge element"]
)
def test_a_hostile_or_foreign_file_is_refused_and_changes_nothing(
    app, runner, tmp_path, case
):
    path, reason = hostile_files(tmp_path)[case]
    before = totals(app)
    result = import_file(runner, path)
    assert result.exit_code == 1
    assert reason in result.output
    assert "Nothing was changed." in result.output
    assert "Traceback" not in result.output
    assert totals(app) == before


def test_a_file_larger_than_the_limit_is_refused_unread(make_app):
    app = make_app(WXR_MAX_BYTES=1000)
    before = totals(app)
    result = import_file(app.test_cli_runner(), SITE)
    assert result.exit_code == 1
    assert "larger than 1,000 bytes. Nothing was changed." in result.output
    assert totals(app) == before


# -- old addresses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("/?p=10", "/posts/dawn-at-the-lake"),
        ("/?page_id=40", "/pages/about"),
        ("/?page_id=41", "/pages/contact"),
        ("/2015/01/27/dawn-at-the-lake/", "/posts/dawn-at-the-lake"),
        ("/2015/01/dawn-at-the-lake/", "/posts/dawn-at-the-lake"),
        ("/dawn-at-the-lake/", "/posts/dawn-at-the-lake"),
        ("/2016/04/02/%e4%ba%ac%e9%83%bd%e3%81%ae%e6%9c%9d/", "/posts/jing-du-nozhao"),
        ("/about/", "/pages/about"),
        ("/about/contact/", "/pages/contact"),
        ("/category/travel-notes/", "/tags/travel%20notes"),
        ("/tag/kyoto/", "/tags/kyoto"),
        ("/tag/kyoto/feed/", "/tags/kyoto/feed.atom"),
        ("/feed/", "/feed.atom"),
        ("/feed/rss2/", "/feed.atom"),
    ],
)
def test_wordpress_addresses_answer_with_permanent_redirects(
    client, imported, old, new
):
    response = client.get(old)
    assert response.status_code == 301
    assert response.headers["Location"] == new


@pytest.mark.parametrize(
    "old",
    [
        "/?p=30",
        "/?p=33",
        "/?p=999",
        "/?p=x",
        "/coming-soon/",
        "/no-such-post/",
        "/tag/x/",
    ],
)
def test_addresses_of_hidden_or_unknown_posts_are_not_found(client, imported, old):
    response = client.get(old)
    assert response.status_code == 404
    assert "Not Found" in response.get_data(as_text=True)


def test_an_old_address_follows_a_later_change_of_slug(app, client, auth, imported):
    auth.login()
    with app.app_context():
        post_id = session.scalar(select(Post.id).where(Post.slug == "about"))
    auth.post_form(
        f"/admin/posts/{post_id}/edit",
        title="About",
        slug="about-me",
        kind="page",
        body="I write about lakes and light.",
        status="published",
        action="save",
    )
    auth.logout()
    assert client.get("/?page_id=40").headers["Location"] == "/pages/about-me"
    assert client.get("/about/").headers["Location"] == "/pages/about-me"


def test_normal_pages_never_look_at_the_wordpress_tables(app, client, imported):
    statements: list[str] = []
    engine = get_engine(app)

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        for path in ("/", "/posts/dawn-at-the-lake", "/pages/about", "/tags/kyoto"):
            assert client.get(path).status_code == 200
        assert client.get("/posts/no-such-post").status_code == 404
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert statements
    assert [s for s in statements if "wordpress_" in s] == []


# -- the admin's import page -----------------------------------------------------------


def upload(auth, path: Path, name: str = "export.xml"):
    """Send ``path`` through the admin's import form."""
    return auth.post_form(
        "/admin/import/wordpress", export=(io.BytesIO(path.read_bytes()), name)
    )


def test_the_owner_imports_an_export_from_the_admin(app, client, auth):
    auth.login()
    form = client.get("/admin/import/wordpress")
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.get_data(as_text=True)
    response = upload(auth, SITE)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Imported 6 posts and 2 pages (3 drafts, 1 scheduled)" in page
    assert "2 comments: this blog has no comments" in page
    assert "Images still on the old site" in page
    assert "https://cdn.example.net/far/away.jpg" in page
    assert totals(app)["Post"] == 8
    again = upload(auth, SITE).get_data(as_text=True)
    assert "Imported 0 posts and 0 pages" in again
    assert totals(app)["Post"] == 8


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("billion-laughs.xml", "declares a DTD"),
        ("external-entity.xml", "declares a DTD"),
        ("not-xml.xml", "not well-formed XML"),
        ("not-wxr.xml", "not a WordPress export"),
    ],
)
def test_the_admin_refuses_a_hostile_file_and_changes_nothing(app, auth, name, reason):
    auth.login()
    before = totals(app)
    response = upload(auth, EXPORTS / name)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert reason in page and "Nothing was changed." in page
    assert totals(app) == before


def test_the_admin_refuses_a_file_over_the_limit(app, auth):
    app.config["WXR_MAX_BYTES"] = 1000
    auth.login()
    response = upload(auth, SITE)
    assert response.status_code == 413
    assert "The file is too large" in response.get_data(as_text=True)
    assert totals(app)["Post"] == 0


def test_the_admin_import_needs_a_file_and_a_csrf_token(app, client, auth):
    auth.login()
    assert auth.post_form("/admin/import/wordpress").status_code == 400
    forged = client.post(
        "/admin/import/wordpress",
        data={"export": (io.BytesIO(SITE.read_bytes()), "export.xml")},
    )
    assert forged.status_code == 400
    assert totals(app)["Post"] == 0


@pytest.mark.parametrize("role", ["author", "editor"])
def test_only_the_owner_may_import(app, client, auth, role):
    add_author(app, "bob", role)
    auth.login_as("bob")
    assert client.get("/admin/import/wordpress").status_code == 403
    assert upload(auth, SITE).status_code == 403
    assert totals(app)["Post"] == 0


def test_visitors_are_sent_to_the_login(client):
    response = client.get("/admin/import/wordpress")
    assert response.status_code == 302
    assert "/admin/login" in response.headers["Location"]


@pytest.mark.sqlite  # a database from before Alembic is a SQLite file
def test_init_db_adds_the_wordpress_tables_to_an_older_database(app, client, runner):
    with get_engine(app).begin() as connection:
        for table in ("wordpress_posts", "wordpress_terms", "wordpress_images"):
            connection.exec_driver_sql(f"DROP TABLE {table}")
        # A database from before homepage used Alembic has no version table.
        connection.exec_driver_sql("DROP TABLE alembic_version")
    # Before init-db, a page not found is still the usual 404 page.
    missing = client.get("/no-such-post/")
    assert missing.status_code == 404
    assert "Not Found" in missing.get_data(as_text=True)
    assert runner.invoke(args=["init-db"]).exit_code == 0
    result = import_file(runner, SITE)
    assert result.exit_code == 0, result.output
    assert totals(app)["WordPressPost"] == 8
