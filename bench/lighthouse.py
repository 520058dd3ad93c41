"""Score the blog with Lighthouse: the index, a post with code and photos, the editor.

Run from the project root after ``make install`` (needs Node and npm, and
Debian's Chromium)::

    .venv/bin/python bench/lighthouse.py

It installs Lighthouse 12.2.3 from npm into a cache folder the first time (13
needs Node 22; Debian 12 has Node 18 or 20), serves a small seeded blog under
mod_wsgi-express on 127.0.0.1, logs in for the editor, and runs Lighthouse's
mobile and desktop presets on each page with ``CHROME_PATH=/usr/bin/chromium``.
It prints the four category scores per page and preset; docs/performance.md
keeps them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# The project root, for the package and the test suite's server helper.
sys.path.insert(0, str(BENCH.parent))

from homepage import create_app  # noqa: E402
from homepage.core import images  # noqa: E402
from homepage.core.authors import create_author  # noqa: E402
from homepage.core.models import PUBLISHED, Post  # noqa: E402
from homepage.core.posts import PostFields, check_post, save  # noqa: E402
from homepage.core.schema import init_db  # noqa: E402
from homepage.db import get_engine, write_transaction  # noqa: E402
from tests.browser.photos import phone_photo  # noqa: E402
from tests.modwsgi import (  # noqa: E402
    PROJECT_ROOT,
    ModWsgiServer,
    give_to_server,
    log_in,
    make_data_dir,
)

LIGHTHOUSE_VERSION = "12.2.3"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "lighthouse password"
SECRET_KEY = "lighthouse-key-" + "k" * 50
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")

CODE_POST = """\
How the blog keeps SQLite fast under Apache's threads and processes.

## The connection

```python
engine = create_engine(
    "sqlite:///blog.db",
    connect_args={"timeout": 30, "check_same_thread": False},
)
```

## Writing

Every save takes the write lock for a few milliseconds:

```python
with write_transaction():
    save(post, fields, author)
```

Readers never wait for it: SQLite in WAL mode lets them read the last
committed state while the writer works.
"""


def lighthouse_bin(folder: Path) -> Path:
    """Return Lighthouse's command, installing it with npm into ``folder`` once."""
    command = folder / "node_modules" / ".bin" / "lighthouse"
    if not command.exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--prefix",
                str(folder),
                "--no-audit",
                "--no-fund",
                "--save-exact",
                f"lighthouse@{LIGHTHOUSE_VERSION}",
            ],
            check=True,
        )
    return command


def seed(database: Path, uploads: Path) -> dict[str, str]:
    """Create the blog: an author, a post with code, a post with three photos.

    :return: the paths of the pages to score, by name.
    """
    app = create_app(
        {
            "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": f"sqlite:///{database}",
            "UPLOAD_FOLDER": str(uploads),
        }
    )
    with app.app_context():
        init_db()
        author = create_author("alice", PASSWORD)
        pictures = []
        for number in range(3):
            image = images.store(
                phone_photo(number),
                f"photo-{number}.jpg",
                author,
                alt=f"Hills at dusk, view {number + 1}",
            )
            images.commit_upload(image)
            pictures.append(f"![Hills at dusk, view {number + 1}](/media/{image.name})")
        posts = {
            "code": ("Keeping SQLite fast", CODE_POST),
            "photos": (
                "A walk in the hills",
                "Three views from the ridge, an hour before sunset.\n\n"
                + "\n\n".join(pictures)
                + "\n\n```\nroute: 14 km, 620 m up\n```\n",
            ),
        }
        post_ids = {}
        for name, (title, body) in posts.items():
            fields = PostFields(title=title, body=body, tags="notes", status=PUBLISHED)
            assert not check_post(fields), title
            with write_transaction():
                post = save(Post(author=author), fields, author)
            post_ids[name] = (post.id, post.slug)
    get_engine(app).dispose()
    return {
        "index": "/",
        "photo post": f"/posts/{post_ids['photos'][1]}",
        "editor": f"/admin/posts/{post_ids['photos'][0]}/edit",
    }


def score(
    command: Path, url: str, preset: str, headers: dict[str, str]
) -> tuple[dict[str, int], list[str]]:
    """Run Lighthouse once.

    :return: the four category scores out of 100, and the audits that cost
        points (those with a weight in a category and a score below 1).
    """
    arguments = [
        str(command),
        url,
        "--output=json",
        "--output-path=stdout",
        "--quiet",
        f"--only-categories={','.join(CATEGORIES)}",
        # As root, Chromium refuses to start inside its sandbox.
        "--chrome-flags=--headless=new --no-sandbox",
    ]
    if preset == "desktop":
        arguments.append("--preset=desktop")
    if headers:
        arguments.append(f"--extra-headers={json.dumps(headers)}")
    report = subprocess.run(
        arguments,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "CHROME_PATH": CHROMIUM},
    ).stdout
    result = json.loads(report)
    if result["finalDisplayedUrl"] != url:
        # The editor without a valid session cookie is the login form.
        raise RuntimeError(f"{url} ended at {result['finalDisplayedUrl']}")
    categories = result["categories"]
    weighed = {
        ref["id"]
        for name in CATEGORIES
        for ref in categories[name]["auditRefs"]
        if ref["weight"]
    }
    missed = sorted(
        f"{audit_id} ({audit['score']:.2f})"
        for audit_id, audit in result["audits"].items()
        if audit_id in weighed and audit["score"] is not None and audit["score"] < 1
    )
    scores = {name: round(categories[name]["score"] * 100) for name in CATEGORIES}
    return scores, missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--lighthouse-dir",
        type=Path,
        default=Path.home() / ".cache" / "homepage-lighthouse",
        help="where npm installs Lighthouse (default: %(default)s)",
    )
    args = parser.parse_args()
    command = lighthouse_bin(args.lighthouse_dir)

    data = make_data_dir("homepage-lighthouse-")
    database = data / "blog.db"
    uploads = data / "uploads"
    pages = seed(database, uploads)
    give_to_server(data)
    server = ModWsgiServer(
        PROJECT_ROOT / "homepage.wsgi",
        data,
        processes=2,
        threads=8,
        env={
            "FLASK_DATABASE_URL": f"sqlite:///{database}",
            "FLASK_SECRET_KEY": SECRET_KEY,
            "FLASK_UPLOAD_FOLDER": str(uploads),
            "HOMEPAGE_INSTANCE_PATH": str(data / "instance"),
        },
    )
    try:
        server.start()
        http, _token = log_in(server.url, "alice", PASSWORD)
        cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
        print(f"Lighthouse {LIGHTHOUSE_VERSION}, Chromium at {CHROMIUM}")
        print(f"{'page':<12} {'preset':<8} " + " ".join(f"{c:>14}" for c in CATEGORIES))
        for name, path in pages.items():
            headers = {"Cookie": cookie} if name == "editor" else {}
            for preset in ("mobile", "desktop"):
                scores, missed = score(command, server.url + path, preset, headers)
                print(
                    f"{name:<12} {preset:<8} "
                    + " ".join(f"{scores[c]:>14}" for c in CATEGORIES),
                    flush=True,
                )
                if missed:
                    print(f"{'':<22}missed: {', '.join(missed)}", flush=True)
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
