"""Export and import of Markdown with front matter: this blog, Jekyll, Hugo, Pelican."""

from __future__ import annotations

import io
import signal
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from flask import Flask
from PIL import Image as PILImage
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from homepage.core.authors import create_author
from homepage.core.models import Image, ImageVariant, Post
from homepage.db import session

# Threaded servers, Hypothesis or many requests per test: too slow for make
# test-fast, which runs the quick part of the suite in under 30 s.
pytestmark = pytest.mark.slow


def png() -> bytes:
    """Return a small PNG."""
    buffer = io.BytesIO()
    PILImage.new("RGB", (2, 2), (0, 90, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def make_zip(path: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``files`` into a zip at ``path``."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return path


def all_posts(app: Flask) -> list[dict]:
    """Return every post as a dict of what export and import carry."""
    with app.app_context():
        rows = session.scalars(
            select(Post).options(selectinload(Post.tags)).order_by(Post.slug)
        ).all()
        return [
            {
                "title": post.title,
                "slug": post.slug,
                "body": post.body,
                "summary": post.summary,
                "tags": [tag.name for tag in post.tags],
                "status": post.status,
                "date": post.display_date,
                "author": post.author.username,
            }
            for post in rows
        ]


@pytest.fixture
def other_site(make_app, tmp_path: Path) -> Flask:
    """Return a second, empty blog with the author "alice"."""
    return make_app("other.db", UPLOAD_FOLDER=str(tmp_path / "other-uploads"))


def test_export_writes_each_post_with_front_matter(app, runner, auth, tmp_path):
    auth.login()
    auth.create_post(
        "Ünïcode: a title", body="# Body\n\nText.", summary="Short.", tags="b, a"
    )
    auth.create_post("A draft", status="draft")
    result = runner.invoke(args=["export", str(tmp_path / "site.zip")])
    assert result.exit_code == 0, result.output
    assert "Exported 2 posts and 0 images" in result.output
    with zipfile.ZipFile(tmp_path / "site.zip") as archive:
        assert sorted(archive.namelist()) == [
            "posts/a-draft.md",
            "posts/unicode-a-title.md",
        ]
        text = archive.read("posts/unicode-a-title.md").decode()
    assert text.startswith("---\n")
    front, body = text[4:].split("\n---\n\n", 1)
    meta = yaml.safe_load(front)
    assert meta["title"] == "Ünïcode: a title"
    assert meta["slug"] == "unicode-a-title"
    assert meta["tags"] == ["a", "b"]
    assert meta["status"] == "published"
    assert meta["summary"] == "Short."
    assert meta["author"] == "alice"
    assert datetime.fromisoformat(meta["date"]).tzinfo is not None
    assert body == "# Body\n\nText."


def test_export_refuses_to_overwrite_without_force(runner, tmp_path):
    (tmp_path / "site.zip").write_text("precious")
    result = runner.invoke(args=["export", str(tmp_path / "site.zip")])
    assert result.exit_code != 0
    assert (tmp_path / "site.zip").read_text() == "precious"
    assert (
        runner.invoke(args=["export", "--force", str(tmp_path / "site.zip")]).exit_code
        == 0
    )


def test_export_then_import_moves_a_whole_blog(app, runner, auth, tmp_path, other_site):
    auth.login()
    image = auth.post_form("/admin/images/", image=(io.BytesIO(png()), "a.png"))
    assert image.status_code == 302
    with app.app_context():
        name = session.scalars(select(Image.name)).one()
    auth.create_post(
        "With an image",
        body=f"Look:\r\n\r\n![blue](/media/{name})\r\n",
        summary="A *summary*.",
        tags="photos, travel",
    )
    auth.create_post("Only a draft", body="---\nnot front matter\n---", status="draft")
    runner.invoke(args=["export", str(tmp_path / "site.zip")])

    result = other_site.test_cli_runner().invoke(
        args=["import", str(tmp_path / "site.zip")]
    )
    assert result.exit_code == 0, result.output
    assert "Imported 2 posts and 1 images; skipped 0, failed 0." in result.output
    assert all_posts(other_site) == all_posts(app)
    # The image came along and is served under the same address.
    assert (tmp_path / "other-uploads" / name).read_bytes() == png()
    reader = other_site.test_client()
    page = reader.get("/posts/with-an-image").get_data(as_text=True)
    assert f'<img src="/media/{name}" alt="blue" ' in page
    # Its variants were made again on this site, and the post shows them.
    with other_site.app_context():
        variants = session.scalars(select(ImageVariant.name)).all()
    assert variants and all(f"/media/{variant} " in page for variant in variants)
    for variant in variants:
        with reader.get(f"/media/{variant}") as served:
            assert served.status_code == 200
    with reader.get(f"/media/{name}") as served:
        assert served.status_code == 200


JEKYLL = """---
layout: post
title:  "Welcome to Jekyll!"
date:   2015-11-10 21:30:00 +0100
categories: jekyll update
tags: [intro]
excerpt: The first post.
---

You’ll find this post in your `_posts` directory.
"""

JEKYLL_WITHOUT_DATE = """---
title: Untitled date
---
Body text.
"""

HUGO_TOML = """+++
title = "Hugo in TOML"
date = 2021-03-04T05:06:07Z
draft = true
tags = ["go", "static sites"]
slug = "hugo-toml"
description = "Front matter in TOML."
+++

Hugo body.
"""

HUGO_YAML = """---
title: "A page bundle"
date: 2022-01-02
tags: ["bundle"]
---
Bundle body.
"""

PELICAN = """Title: My super title
Date: 2010-12-03 10:20
Modified: 2010-12-05 19:30
Category: Python
Tags: pelican, publishing
Slug: my-super-post
Authors: Alexis Metaireau
Summary: Short version for index and feeds

This is the content of my super blog post.
"""

PLAIN = """# Just a heading

And a paragraph, with no front matter at all.
"""


def test_import_reads_jekyll_hugo_and_pelican(app, runner, tmp_path):
    source = make_zip(
        tmp_path / "mixed.zip",
        {
            "_posts/2015-11-10-welcome-to-jekyll.markdown": JEKYLL,
            "_posts/2019-05-06-untitled-date.md": JEKYLL_WITHOUT_DATE,
            "content/posts/hugo.md": HUGO_TOML,
            "content/posts/bundle/index.md": HUGO_YAML,
            "content/pelican.md": PELICAN,
            "notes/plain.md": PLAIN,
            "assets/style.css": "body {}",
            "__MACOSX/._plain.md": b"\x00\x05\x16\x07",
        },
    )
    result = runner.invoke(args=["import", str(source)])
    assert result.exit_code == 0, result.output
    assert "Imported 6 posts and 0 images; skipped 0, failed 0." in result.output
    posts = {post["slug"]: post for post in all_posts(app)}
    assert set(posts) == {
        "welcome-to-jekyll",
        "untitled-date",
        "hugo-toml",
        "bundle",
        "my-super-post",
        "plain",
    }
    jekyll = posts["welcome-to-jekyll"]
    assert jekyll["title"] == "Welcome to Jekyll!"
    assert jekyll["date"] == datetime(2015, 11, 10, 20, 30, tzinfo=UTC)
    assert jekyll["tags"] == ["intro", "jekyll", "update"]
    assert jekyll["summary"] == "The first post."
    assert jekyll["body"].startswith("You’ll find this post")
    assert posts["untitled-date"]["date"] == datetime(2019, 5, 6, tzinfo=UTC)
    hugo = posts["hugo-toml"]
    assert (hugo["title"], hugo["status"]) == ("Hugo in TOML", "draft")
    assert hugo["tags"] == ["go", "static sites"]
    assert hugo["summary"] == "Front matter in TOML."
    assert posts["bundle"]["title"] == "A page bundle"
    pelican = posts["my-super-post"]
    assert pelican["title"] == "My super title"
    assert pelican["tags"] == ["pelican", "publishing", "python"]
    assert pelican["date"] == datetime(2010, 12, 3, 10, 20, tzinfo=UTC)
    assert pelican["summary"] == "Short version for index and feeds"
    assert pelican["body"] == "This is the content of my super blog post.\n"
    plain = posts["plain"]
    assert plain["title"] == "Just a heading"
    assert plain["body"].startswith("And a paragraph")
    # Imported posts belong to the only author, and readers see the published.
    assert {post["author"] for post in posts.values()} == {"alice"}
    assert app.test_client().get("/posts/my-super-post").status_code == 200
    assert app.test_client().get("/posts/hugo-toml").status_code == 404


def test_import_reads_a_folder_too(app, runner, tmp_path):
    folder = tmp_path / "_posts"
    folder.mkdir()
    (folder / "2015-11-10-welcome-to-jekyll.md").write_text(JEKYLL)
    result = runner.invoke(args=["import", str(folder)])
    assert result.exit_code == 0, result.output
    assert [post["slug"] for post in all_posts(app)] == ["welcome-to-jekyll"]


def test_import_skips_taken_slugs_and_says_so(app, runner, auth, tmp_path):
    auth.login()
    auth.create_post("Mine", slug="my-super-post", body="Already here.")
    source = make_zip(tmp_path / "p.zip", {"pelican.md": PELICAN})
    result = runner.invoke(args=["import", str(source)])
    assert result.exit_code == 0
    assert "skipped   pelican.md: a post with the slug 'my-super-post' exists" in (
        result.output
    )
    assert "Imported 0 posts" in result.output
    assert [post["body"] for post in all_posts(app)] == ["Already here."]


def test_import_can_rename_taken_slugs(app, runner, auth, tmp_path):
    auth.login()
    auth.create_post("Mine", slug="my-super-post")
    source = make_zip(
        tmp_path / "p.zip", {"a/pelican.md": PELICAN, "b/pelican.md": PELICAN}
    )
    result = runner.invoke(args=["import", "--rename-duplicates", str(source)])
    assert result.exit_code == 0, result.output
    assert (
        "/posts/my-super-post-2 (renamed: 'my-super-post' was taken)" in result.output
    )
    assert "/posts/my-super-post-3 (renamed" in result.output
    assert [post["slug"] for post in all_posts(app)] == [
        "my-super-post",
        "my-super-post-2",
        "my-super-post-3",
    ]


def test_import_reports_bad_files_and_keeps_the_good_ones(app, runner, tmp_path):
    app.config["MAX_BODY_BYTES"] = 1000
    source = make_zip(
        tmp_path / "bad.zip",
        {
            "good.md": PELICAN,
            "broken-yaml.md": "---\ntitle: [unclosed\n---\nBody",
            "unterminated.md": "---\ntitle: Never closed\nBody",
            "list-front-matter.md": "---\n- a\n- b\n---\nBody",
            "latin1.md": "Title: Caf\xe9\n\nBody".encode("latin-1"),
            "empty-body.md": "---\ntitle: Nothing\n---\n",
            "too-big.md": "Title: Big\n\n" + "x" * 70_000,
            "bad-date.md": "---\ntitle: When\ndate: next tuesday\n---\nBody",
            # PostgreSQL cannot store it: the whole import failed there.
            "nul.md": "---\ntitle: Nul\n---\nA \x00 in the body",
            "../../escape.md": PELICAN,
            "media/0123456789abcdef0123456789abcdef.png": b"not a png",
        },
    )
    result = runner.invoke(args=["import", str(source)])
    assert result.exit_code == 0, result.output
    assert "Imported 1 posts and 0 images; skipped 0, failed 9." in result.output
    for name, reason in [
        ("broken-yaml.md", "front matter is not valid"),
        ("unterminated.md", "never ends"),
        ("list-front-matter.md", "not a set of fields"),
        ("latin1.md", "not UTF-8"),
        ("empty-body.md", "Write something in the body."),
        ("too-big.md", "too large"),
        ("bad-date.md", "is not a date"),
        ("nul.md", "NUL character"),
        ("media/0123456789abcdef0123456789abcdef.png", "not an image"),
    ]:
        assert f"failed    {name}: " in result.output
        assert reason in result.output.split(f"failed    {name}: ")[1].splitlines()[0]
    # A member named with ../ is never a path on disk; it is not even read.
    assert "escape" not in result.output
    assert not (tmp_path.parent / "escape.md").exists()
    assert [post["slug"] for post in all_posts(app)] == ["my-super-post"]
    assert not list((tmp_path / "uploads").glob("*"))


def test_import_needs_an_author_when_there_are_several(app, runner, tmp_path):
    with app.app_context():
        create_author("bob", "bob's long password")
    source = make_zip(tmp_path / "p.zip", {"pelican.md": PELICAN})
    refused = runner.invoke(args=["import", str(source)])
    assert refused.exit_code != 0
    assert "--author" in refused.output
    result = runner.invoke(args=["import", "--author", "bob", str(source)])
    assert result.exit_code == 0, result.output
    assert [post["author"] for post in all_posts(app)] == ["bob"]


def test_import_refuses_what_is_not_a_zip(runner, tmp_path):
    (tmp_path / "notes.zip").write_text("not a zip")
    result = runner.invoke(args=["import", str(tmp_path / "notes.zip")])
    assert result.exit_code != 0
    assert "neither a zip nor a folder" in result.output


def test_imported_posts_are_sanitized_like_typed_ones(app, runner, tmp_path):
    source = make_zip(
        tmp_path / "x.zip",
        {
            "x.md": "---\ntitle: '<script>alert(1)</script>'\n---\n"
            "<img src=x onerror=alert(1)>"
        },
    )
    assert runner.invoke(args=["import", str(source)]).exit_code == 0
    page = app.test_client().get("/posts/x").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "onerror" not in page


class OverBudget(BaseException):
    """Raised when a block uses far more CPU than linear parsing could."""


@contextmanager
def cpu_budget(seconds: float) -> Iterator[None]:
    """Stop the block with OverBudget once it has used ``seconds`` of CPU.

    Not a measurement: the budget is a hundred times what these imports need,
    and only turns a quadratic or exponential run into a failure instead of
    a hang. It counts CPU time, so a busy machine does not trip it. A
    BaseException, so that no ``except Exception`` in the import reports it
    as one bad file.
    """

    def stop(_signum, _frame):
        raise OverBudget(f"used more than {seconds} s of CPU")

    previous = signal.signal(signal.SIGPROF, stop)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


#: The classic alias bomb: 277 bytes whose aliases expand to 9**7 (4.8 million)
#: strings. Each level more multiplies time and memory by nine.
BILLION_LAUGHS = """---
a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
tags: *g
---
Body.
"""


def yaml_post(front: str) -> str:
    """Return a post with the YAML front matter ``front`` and a title."""
    return f"---\ntitle: Hostile\n{front}\n---\nBody.\n"


def toml_post(front: str) -> str:
    """Return a post with the TOML front matter ``front`` and a title."""
    return f"+++\ntitle = 'Hostile'\n{front}\n+++\nBody.\n"


#: Files that once took the import down or held it for seconds, and why each
#: is refused now.
HOSTILE = {
    "billion-laughs": (BILLION_LAUGHS, "YAML aliases (*name) are not accepted"),
    "year-one-east-of-utc": (
        yaml_post("date: 0001-01-01T00:00:00+01:00"),
        "the date 0001-01-01 00:00:00+01:00 is out of range",
    ),
    "year-one-as-text": (
        yaml_post("date: '0001-01-01T00:00:00+01:00'"),
        "the date 0001-01-01T00:00:00+01:00 is out of range",
    ),
    "february-30": (yaml_post("date: 2019-02-30"), "day is out of range for month"),
    "yaml-nested-10000-deep": (
        yaml_post("x: " + "[" * 10_000 + "]" * 10_000),
        "nests deeper than 32 levels",
    ),
    "yaml-blocks-nested-150-deep": (
        yaml_post("".join(" " * level + "a:\n" for level in range(150)) + "b: 1"),
        "nests deeper than 32 levels",
    ),
    "toml-nested-10000-deep": (
        toml_post("x = " + "[" * 10_000 + "]" * 10_000),
        "nests deeper than 32 levels",
    ),
    "toml-brackets-hidden-behind-strings": (
        toml_post("x = " + '["]", ' * 4_000 + "]" * 4_000),
        "nests deeper than 32 levels",
    ),
    "toml-dotted-key-10000-deep": (
        toml_post(".".join(["a"] * 10_000) + " = 1"),
        "nests deeper than 32 levels",
    ),
    "toml-table-5000-deep": (
        toml_post("[" + ".".join(['"a"'] * 5_000) + "]"),
        "nests deeper than 32 levels",
    ),
    "number-of-5000-digits": (
        yaml_post("x: " + "9" * 5_000),
        "Exceeds the limit",
    ),
    "front-matter-of-60-kb": (
        yaml_post("x: [" + "1, " * 20_000 + "1]"),
        "the front matter is longer than 32,768 characters",
    ),
}


@pytest.mark.parametrize(("text", "reason"), HOSTILE.values(), ids=HOSTILE)
def test_import_reports_a_hostile_file_and_imports_the_good_one(
    app, runner, tmp_path, text, reason
):
    source = make_zip(tmp_path / "x.zip", {"good.md": PELICAN, "bad.md": text})
    with cpu_budget(10):
        result = runner.invoke(args=["import", str(source)])
    assert result.exit_code == 0, result.output
    assert "Imported 1 posts and 0 images; skipped 0, failed 1." in result.output
    assert "imported  good.md: /posts/my-super-post" in result.output
    [line] = [line for line in result.output.splitlines() if "bad.md" in line]
    assert line.startswith("failed    bad.md: ")
    assert reason in line
    assert [post["slug"] for post in all_posts(app)] == ["my-super-post"]
    assert app.test_client().get("/posts/my-super-post").status_code == 200


def test_import_gives_every_hostile_file_its_own_line(app, runner, tmp_path):
    files = {f"{name}.md": text for name, (text, _reason) in HOSTILE.items()}
    source = make_zip(tmp_path / "x.zip", {"good.md": PELICAN, **files})
    with cpu_budget(20):
        result = runner.invoke(args=["import", str(source)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[-1] == (
        f"Imported 1 posts and 0 images; skipped 0, failed {len(HOSTILE)}."
    )
    # One line per file and one to sum up: no message spans lines.
    assert len(lines) == len(files) + 2
    for name, (_text, reason) in HOSTILE.items():
        [line] = [line for line in lines if line.startswith(f"failed    {name}.md: ")]
        assert reason in line


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("heading.md", "# A" + " " * 40_000 + "title\n\nBody.\n"),
        ("pelican.md", "Title: A" + " " * 40_000 + "title\n\nBody.\n"),
        (
            "yaml.md",
            "---\ntitle: A" + " " * 20_000 + "title\n---" + " " * 40_000 + "\nBody.",
        ),
        ("continued.md", "Title: A\n" + " title\n" * 100_000 + "\nBody.\n"),
    ],
    ids=["heading", "pelican-header", "yaml-delimiters", "pelican-continuations"],
)
def test_import_reads_long_runs_of_spaces_in_linear_time(
    app, runner, tmp_path, name, text
):
    source = make_zip(tmp_path / "x.zip", {name: text})
    with cpu_budget(10):
        result = runner.invoke(args=["import", str(source)])
    assert result.exit_code == 0, result.output
    assert "Imported 1 posts" in result.output
    [post] = all_posts(app)
    assert post["title"].startswith("A title")
