"""Count the CPU instructions a page costs, against hello world, with valgrind.

Run from the project root (needs Debian's valgrind)::

    .venv/bin/python bench/instructions.py            # / and a post page
    .venv/bin/python bench/instructions.py / /tags/tag-3

Timings on a shared 2-CPU machine move by a quarter from run to run, too much
to see a change of 10 %. Instructions do not depend on what else runs, so
this counts them: each path is served through the WSGI app in one thread, the
page cache off (what a cache miss costs), under ``valgrind --tool=callgrind``,
once with 20 requests and once with 120; the difference over 100 is the cost
of one request, start-up and warm-up cancelled out. Hello world (a bare Flask
app) is counted the same way, and each page is printed as a ratio of it. It is
slow (about a minute per count) but gives the same figure every time.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
from blogdata import SECRET_KEY, fill  # noqa: E402
from flask import Flask  # noqa: E402

from homepage import create_app  # noqa: E402

FEW, MANY = 20, 120
HELLO = "hello world"


def serve(database: str, path: str, requests: int) -> None:
    """Serve ``path`` ``requests`` times after a warm-up (run under valgrind)."""
    if path == HELLO:
        app = Flask("hello")
        app.get("/")(lambda: "Hello, World!")
        path = "/"
    else:
        app = create_app(
            {
                "SECRET_KEY": SECRET_KEY,
                "DATABASE_URL": f"sqlite:///{database}",
                "PAGE_CACHE_ENTRIES": 0,
                "UPLOAD_FOLDER": str(Path(database).parent / "uploads"),
            }
        )
    client = app.test_client()
    for _ in range(30):
        status = client.get(path).status_code
        if status != 200:
            raise SystemExit(f"{path} answered {status}")
    for _ in range(requests):
        client.get(path)


def instructions(database: Path, path: str, requests: int) -> int:
    """Return the instructions a whole run of ``serve`` took under callgrind."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--serve",
        str(database),
        path,
        str(requests),
    ]
    # The same hash seed in every run, so that dict and set layouts match.
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(
        command, capture_output=True, text=True, env=environment, check=True
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"valgrind said:\n{done.stderr}")
    return int(found.group(1))


def per_request(database: Path, path: str) -> float:
    """Return the instructions of one request of ``path``."""
    return (instructions(database, path, MANY) - instructions(database, path, FEW)) / (
        MANY - FEW
    )


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--posts", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "blog.db"
        slugs = fill(database, args.posts)
        paths = args.paths or ["/", f"/posts/{slugs[len(slugs) // 2]}"]
        hello = per_request(database, HELLO)
        print(f"{HELLO}: {hello / 1e6:.2f} M instructions a request, 1.00x")
        for path in paths:
            cost = per_request(database, path)
            print(
                f"{path}: {cost / 1e6:.2f} M instructions a request, "
                f"{cost / hello:.2f}x hello world"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
