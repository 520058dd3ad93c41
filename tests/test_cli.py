"""The site owner sets up the database and authors from the command line."""

from __future__ import annotations

from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from homepage.db import get_engine, session
from homepage.models import Author, Post


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
    assert set(authors(app)) == {"alice"}


def test_first_run_creates_one_author_once(tmp_path, auth):
    from homepage import create_app

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}",
        }
    )
    runner = app.test_cli_runner()
    result = runner.invoke(args=["first-run"])
    assert result.exit_code == 0, result.output
    assert "user name: admin" in result.output
    password = result.output.split("password:")[1].split()[0]
    assert check_password_hash(authors(app)["admin"], password)
    again = runner.invoke(args=["first-run"])
    assert "already exists" in again.output
    assert "password:" not in again.output
    assert list(authors(app)) == ["admin"]


def test_cli_commands_return_their_connections(app, runner):
    runner.invoke(args=["add-author", "erin", "--password-stdin"], input="password1\n")
    runner.invoke(args=["init-db"])
    assert get_engine(app).pool.checkedout() == 0


def test_init_db_upgrades_an_older_database(app, runner, auth):
    auth.login()
    auth.create_post("From the old days")
    # Before posts had a kind, no index could include it.
    with get_engine(app).begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_posts_kind_status_published_at")
        conn.exec_driver_sql("ALTER TABLE posts DROP COLUMN kind")
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        post = session.scalars(select(Post)).one()
        assert (post.title, post.kind) == ("From the old days", "post")
    assert app.test_client().get("/posts/from-the-old-days").status_code == 200
