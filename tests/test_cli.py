"""The site owner sets up the database and authors from the command line."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from sqlalchemy import event, func, select
from werkzeug.security import check_password_hash

from homepage.core.models import AUTHOR, EDITOR, OWNER, Author, Post
from homepage.db import get_engine, session, sqlite_path
from homepage.ops import cli

from .authors_support import OTHER_PASSWORD, add_author, everything, role_of


def authors(app) -> dict[str, str]:
    with app.app_context():
        return {a.username: a.password_hash for a in session.scalars(select(Author))}


def test_init_db_is_idempotent_and_keeps_data(app, runner, auth):
    auth.login()
    auth.create_post("Survivor")
    for _ in range(2):
        result = runner.invoke(args=["init-db"])
        assert result.exit_code == 0
        assert "Initialized the database" in result.output
    with app.app_context():
        assert session.execute(select(func.count(Post.id))).scalar_one() == 1


def test_add_author_prompts_for_the_password_twice(app, runner):
    result = runner.invoke(
        args=["add-author", "bob"], input="s3cret-pass\ns3cret-pass\n"
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("Password") == 1
    assert "Repeat for confirmation" in result.output
    assert check_password_hash(authors(app)["bob"], "s3cret-pass")


def test_add_author_refuses_mismatched_passwords(app, runner):
    result = runner.invoke(
        args=["add-author", "bob"], input="s3cret-pass\nother-pass\n"
    )
    assert result.exit_code != 0
    assert "bob" not in authors(app)


def test_add_author_reads_the_password_from_stdin(app, runner, client, auth):
    result = runner.invoke(
        args=["add-author", "carol", "--password-stdin"], input="from-a-script\n"
    )
    assert result.exit_code == 0, result.output
    assert auth.login("carol", "from-a-script").status_code == 302


def test_add_author_refuses_duplicates_and_short_passwords(app, runner):
    result = runner.invoke(
        args=["add-author", "alice", "--password-stdin"], input="long enough\n"
    )
    assert result.exit_code == 2
    assert "already exists" in result.output
    result = runner.invoke(
        args=["add-author", "dave", "--password-stdin"], input="short\n"
    )
    assert result.exit_code == 2
    assert "at least 8 characters" in result.output
    # The login form refuses longer passwords unhashed: none may be given.
    result = runner.invoke(
        args=["add-author", "erin", "--password-stdin"], input="x" * 1025 + "\n"
    )
    assert result.exit_code == 2
    assert "at most 1024 characters" in result.output
    assert set(authors(app)) == {"alice"}


def test_first_run_creates_one_author_once(make_app, auth):
    app = make_app("fresh.db", create=False)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["first-run"])
    assert result.exit_code == 0, result.output
    assert "user name: admin" in result.output
    password = result.output.split("password:")[1].split()[0]
    assert check_password_hash(authors(app)["admin"], password)
    assert role_of(app, "admin") == OWNER
    again = runner.invoke(args=["first-run"])
    assert "already exists" in again.output
    assert "password:" not in again.output
    assert list(authors(app)) == ["admin"]


def test_cli_commands_return_their_connections(app, runner):
    runner.invoke(args=["add-author", "erin", "--password-stdin"], input="password1\n")
    runner.invoke(args=["init-db"])
    assert get_engine(app).pool.checkedout() == 0


@pytest.mark.sqlite  # a database from before Alembic: adopted on SQLite only
def test_init_db_upgrades_an_older_database(app, runner, auth):
    auth.login()
    auth.create_post("From the old days")
    # Before posts had a kind, no index could include it.
    with get_engine(app).begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_posts_kind_status_published_at")
        conn.exec_driver_sql("DROP INDEX ix_posts_status_id")
        conn.exec_driver_sql("ALTER TABLE posts DROP COLUMN kind")
        # A database from before homepage used Alembic has no version table.
        conn.exec_driver_sql("DROP TABLE alembic_version")
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        post = session.scalars(select(Post)).one()
        assert (post.title, post.kind) == ("From the old days", "post")
    assert app.test_client().get("/posts/from-the-old-days").status_code == 200


# -- roles ---------------------------------------------------------------------


def add_with_role(runner, name: str, *options: str):
    """Run add-author with the password on standard input."""
    return runner.invoke(
        args=["add-author", name, "--password-stdin", *options],
        input=f"{OTHER_PASSWORD}\n",
    )


def test_add_author_gives_the_role_asked_for(app, runner):
    result = add_with_role(runner, "erin", "--role", "editor")
    assert result.exit_code == 0, result.output
    assert "Created editor 'erin'." in result.output
    assert add_with_role(runner, "bob").exit_code == 0
    assert (role_of(app, "erin"), role_of(app, "bob")) == (EDITOR, AUTHOR)
    refused = add_with_role(runner, "mallory", "--role", "admin")
    assert refused.exit_code == 2
    assert "'admin' is not one of 'owner', 'editor', 'author'" in refused.output
    assert "mallory" not in authors(app)


def test_the_first_author_of_a_site_owns_it(make_app):
    app = make_app("fresh.db", create=False)
    result = add_with_role(app.test_cli_runner(), "solo")
    assert result.exit_code == 0, result.output
    assert "The site had no owner, so this author owns it." in result.output
    assert role_of(app, "solo") == OWNER


def test_set_role_changes_an_authors_role(app, runner, client, auth, bob):
    result = runner.invoke(args=["set-role", "bob", "editor"])
    assert result.exit_code == 0, result.output
    assert "bob is now editor." in result.output
    assert role_of(app, "bob") == EDITOR
    auth.login()
    auth.create_post("Alice writes", status="draft")
    auth.login_as(bob)
    assert "Alice writes" in client.get("/admin/").get_data(as_text=True)


@pytest.mark.parametrize("role", [EDITOR, AUTHOR])
def test_set_role_refuses_to_remove_the_last_owner(app, runner, bob, role):
    before = everything(app)
    result = runner.invoke(args=["set-role", "alice", role])
    assert result.exit_code == 1
    assert "alice is the only owner; make another author owner first." in (
        result.output
    )
    assert everything(app) == before
    assert runner.invoke(args=["set-role", "bob", "owner"]).exit_code == 0
    assert runner.invoke(args=["set-role", "alice", role]).exit_code == 0
    assert role_of(app, "alice") == role


def test_set_role_refuses_unknown_authors_and_roles(app, runner):
    before = everything(app)
    result = runner.invoke(args=["set-role", "nobody", "editor"])
    assert result.exit_code == 1
    assert "There is no author called 'nobody'." in result.output
    assert runner.invoke(args=["set-role", "alice", "root"]).exit_code == 2
    assert everything(app) == before


def as_before_roles(app) -> None:
    """Rebuild the tables without the columns roles added, as older versions had."""
    get_engine(app).dispose()
    path = sqlite_path(app.config["DATABASE_URL"])
    # A plain connection: foreign keys stay off while tables are swapped.
    with closing(sqlite3.connect(path)) as conn:
        for table, column in [
            ("authors", "role"),
            ("posts", "updated_by_id"),
            ("revisions", "saved_by_id"),
        ]:
            (ddl,) = conn.execute(
                "SELECT sql FROM sqlite_master WHERE name = ?", (table,)
            ).fetchone()
            # The DDL names one column or constraint per line.
            lines = ddl.strip().splitlines()
            body = [line.strip().rstrip(",") for line in lines[1:-1]]
            body = [line for line in body if line and column not in line]
            conn.execute("CREATE TABLE old (\n" + ",\n".join(body) + "\n)")
            kept = [row[1] for row in conn.execute("PRAGMA table_info(old)")]
            names = ", ".join(kept)
            conn.execute(f"INSERT INTO old ({names}) SELECT {names} FROM {table}")
            conn.execute(f"DROP TABLE {table}")
            conn.execute(f"ALTER TABLE old RENAME TO {table}")
        # A database from before homepage used Alembic has no version table.
        conn.execute("DROP TABLE alembic_version")
        conn.commit()


@pytest.mark.sqlite  # a database from before Alembic: adopted on SQLite only
def test_an_upgraded_database_keeps_its_oldest_author_as_owner(
    app, client, runner, auth
):
    add_author(app, "bob")
    add_author(app, "carol")
    auth.login()
    auth.create_post("Before roles", body="First words.")
    assert (
        auth.post_form(
            "/admin/posts/1/edit",
            title="Before roles",
            body="Second words.",
            status="published",
            action="save",
        ).status_code
        == 302
    )
    auth.logout()
    as_before_roles(app)
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert [role_of(app, name) for name in ("alice", "bob", "carol")] == [
        OWNER,
        AUTHOR,
        AUTHOR,
    ]
    # The owner still manages the others, and old versions are still listed.
    auth.login()
    assert (
        auth.post_form("/admin/account/authors/2/role", role="editor").status_code
        == 302
    )
    assert role_of(app, "bob") == EDITOR
    page = client.get("/admin/posts/1/edit").get_data(as_text=True)
    assert "<td>1</td>" in page and "<td>—</td>" in page
    # Running it again promotes no one else.
    assert runner.invoke(args=["init-db"]).exit_code == 0
    assert role_of(app, "carol") == AUTHOR


def stored_html(app) -> dict[str, str]:
    """Return each post's stored body HTML by title."""
    with app.app_context():
        return {p.title: p.body_html for p in session.scalars(select(Post))}


def test_rerender_renders_the_posts_an_older_renderer_stored(app, runner, auth):
    auth.login()
    auth.create_post("Old", body="## Part\n\n```python\nx = 1\n```")
    auth.create_post("New", body="Fresh.")
    with get_engine(app).begin() as connection:
        connection.exec_driver_sql(
            "UPDATE posts SET body_html = '<h2>Part</h2>', renderer = 3 "
            "WHERE title = 'Old'"
        )
    result = runner.invoke(args=["rerender"])
    assert result.exit_code == 0, result.output
    assert result.output == "Rendered 1 post again.\n"
    assert '<h2 id="h-part">Part</h2>' in stored_html(app)["Old"]
    page = app.test_client().get("/posts/old").text
    assert '<span class="n">x</span>' in page
    # Nothing is stale any more.
    assert runner.invoke(args=["rerender"]).output == "Rendered 0 posts again.\n"


def test_rerender_all_renders_every_post_and_its_search_text(app, runner, auth):
    auth.login()
    auth.create_post("One", body="Uno.")
    auth.create_post("Two", body="Dos $x^2$.")
    with get_engine(app).begin() as connection:
        connection.exec_driver_sql("UPDATE posts SET body_html = '<p>Lost.</p>'")
        # As a bulk edit (an import, a fix in SQL) might leave the text.
        connection.exec_driver_sql(
            "UPDATE posts SET body = 'Nuevo $x^2$.' WHERE title = 'Two'"
        )
    result = runner.invoke(args=["rerender", "--all"])
    assert result.exit_code == 0, result.output
    assert result.output == "Rendered 2 posts again.\n"
    html = stored_html(app)
    assert html["One"].strip() == "<p>Uno.</p>"
    assert "<p>Nuevo <math" in html["Two"]
    client = app.test_client()
    assert "/posts/two" in client.get("/search?q=nuevo").text
    assert "/posts/two" not in client.get("/search?q=dos").text


def test_rerender_commits_a_batch_at_a_time(app, runner, auth, monkeypatch):
    # Writers wait for one batch at most, never for the whole blog.
    auth.login()
    for number in range(5):
        auth.create_post(f"Post {number}", body=f"Text {number}.")
    monkeypatch.setattr(cli, "RERENDER_BATCH", 2)
    commits = []

    def count(connection) -> None:
        commits.append(connection)

    engine = get_engine(app)
    event.listen(engine, "commit", count)
    try:
        result = runner.invoke(args=["rerender", "--all"])
    finally:
        event.remove(engine, "commit", count)

    assert result.output == "Rendered 5 posts again.\n"
    assert len(commits) >= 3
    assert all(
        html.strip() == f"<p>Text {title[5:]}.</p>"
        for title, html in stored_html(app).items()
    )


def test_rerender_on_a_database_without_a_schema_asks_for_init_db(make_app):
    app = make_app(create=False)
    result = app.test_cli_runner().invoke(args=["rerender"])
    assert result.exit_code == 1
    assert "run flask --app homepage init-db first" in result.output
    assert "Traceback" not in result.output
