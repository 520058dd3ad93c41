"""Measure what a page costs when the page cache does not hold it, by blog size.

Run from the project root::

    .venv/bin/python bench/uncached.py                         # 1,000 posts
    .venv/bin/python bench/uncached.py --posts 1000 100000     # and the growth

For each size, fills a database whose posts are all already published (10
minutes apart, ending yesterday; see blogdata.py), then serves each page through
the WSGI app in one thread with the page cache off (``PAGE_CACHE_ENTRIES=0``) and
no conditional headers, so every request renders. Prints the median time and the
size of each page, its ratio to a hello-world Flask app measured in the same run,
and, with several sizes, the growth from the first size to the last.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from blogdata import SECRET_KEY, TAGS, TAGS_PER_POST, fill  # noqa: E402
from flask import Flask  # noqa: E402
from sqlalchemy import select  # noqa: E402

from homepage import create_app  # noqa: E402
from homepage.core.models import Post  # noqa: E402
from homepage.db import session  # noqa: E402
from homepage.reader import queries  # noqa: E402


def pages(app: Flask, posts: int) -> dict[str, str]:
    """Return the pages to measure, by label: the hot ones and the long tail."""
    client = app.test_client()
    middle = f"/posts/post-number-{posts // 2}"
    # A deep page: the one an "Older posts" link leads to, followed from the
    # page that holds the post nine tenths of the way down.
    deep_post = posts // 10
    return {
        "/": "/",
        "/ deep": follow_older(client, f"/posts/post-number-{deep_post}", "/"),
        "a post page": middle,
        "a tag page": "/tags/topic-7",
        "a tag page, deep": follow_older(
            client, f"/posts/post-number-{deep_post}", "/tags/topic-7"
        ),
        "/tags": "/tags",
        "/archive": "/archive",
        "a month of the archive": "/archive/" + month_of(client, middle),
        "/sitemap.xml": "/sitemap.xml",
        "a sitemap file": first_sitemap_file(client),
        "/feed.atom": "/feed.atom",
        "search: no post has the word": "/search?q=zebra",
        "search: about 10% of posts": "/search?q=post+number+1",
        "search: nearly every post": "/search?q=apache",
    }


def follow_older(client, post_path: str, listing: str) -> str:
    """Return the address of ``listing``'s stretch that starts at ``post_path``.

    Following the site's own "Older posts" links would take thousands of
    requests; the cursor of the post (or, on a site that numbers its pages,
    the page number of its position) leads there at once.
    """
    app = client.application
    number = int(post_path.rsplit("-", 1)[1])
    if not hasattr(queries, "Cursor"):
        newer = app.config["BENCH_POSTS"] - 1 - number
        if listing != "/":
            # A tag holds about TAGS_PER_POST / TAGS of the posts.
            newer = newer * TAGS_PER_POST // TAGS
        return f"{listing}?page={newer // app.config['POSTS_PER_PAGE'] + 1}"
    with app.app_context():
        post = session.scalars(
            select(Post).where(Post.slug == post_path.rsplit("/", 1)[1])
        ).one()
        return f"{listing}?before={queries.Cursor.of(post)}"


def month_of(client, post_path: str) -> str:
    """Return "YYYY/MM" of the post at ``post_path``."""
    page = client.get(post_path).get_data(as_text=True)
    stamp = page.split('datetime="', 1)[1][:7]
    return stamp.replace("-", "/")


def first_sitemap_file(client) -> str:
    """Return the first sitemap file the sitemap index names, or the sitemap."""
    index = client.get("/sitemap.xml").get_data(as_text=True)
    if "<sitemapindex" not in index:
        return "/sitemap.xml"
    location = index.split("<loc>", 1)[1].split("</loc>", 1)[0]
    return "/" + location.split("://", 1)[1].split("/", 1)[1]


def timed(get: Callable[[], bytes], runs: int) -> tuple[float, int]:
    """Return the median milliseconds of ``runs`` calls and the body's size."""
    size = len(get())  # warm up: templates compiled, connections open
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        get()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), size


def hello_world() -> Flask:
    """Return the baseline: a Flask app whose one view returns a string."""
    app = Flask("hello")
    app.add_url_rule("/", "hello", lambda: "Hello, world!")
    return app


def measure(
    posts: int, runs: int, folder: Path, only: list[str] | None = None
) -> dict[str, tuple[float, int, str]]:
    """Fill a blog of ``posts`` posts and time each page (or those ``only`` names).

    Returns, by label, the median milliseconds, the size in bytes and the path.
    """
    database = folder / f"blog-{posts}.db"
    fill(database, posts, spread="past")
    app = create_app(
        {
            "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": f"sqlite:///{database}",
            "UPLOAD_FOLDER": str(folder / "uploads"),
            "PAGE_CACHE_ENTRIES": 0,
            "BENCH_POSTS": posts,
        }
    )
    client = app.test_client()
    results = {}
    for label, path in pages(app, posts).items():
        if only and not any(word in label for word in only):
            continue

        def get(path=path) -> bytes:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            return response.get_data()

        results[label] = (*timed(get, runs), path)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, nargs="+", default=[1000])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--only", nargs="+", help="measure the pages whose label has one of these"
    )
    args = parser.parse_args()
    hello = hello_world().test_client()
    baseline, _ = timed(lambda: hello.get("/").get_data(), args.runs * 10)
    print(f"hello world through the same test client: {baseline:.3f} ms\n")
    with tempfile.TemporaryDirectory() as folder:
        sizes = {
            posts: measure(posts, args.runs, Path(folder), args.only)
            for posts in args.posts
        }
    first, last = args.posts[0], args.posts[-1]
    header = "| page (uncached) |" + "".join(
        f" {posts:,} posts |" for posts in args.posts
    )
    if len(args.posts) > 1:
        header += " growth |"
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for label in sizes[first]:
        row = f"| {label} |"
        for posts in args.posts:
            ms, size, _path = sizes[posts][label]
            row += f" {ms:.1f} ms ({ms / baseline:.0f}× hello), {size / 1000:,.0f} KB |"
        if len(args.posts) > 1:
            row += f" {sizes[last][label][0] / sizes[first][label][0]:.1f}× |"
        print(row)
    print()
    for label, (_ms, _size, path) in sizes[last].items():
        print(f"  {label}: {path}")


if __name__ == "__main__":
    main()
