"""Time saving a new post through the app in one thread, without a server.

    .venv/bin/python bench/save_cost.py [PROJECT_ROOT] [--saves N]

PROJECT_ROOT (default: this checkout) lets the same script time another
checkout of homepage, e.g. a `git worktree` of an older commit, in the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

PASSWORD = "correct horse battery"


def main() -> None:
    """Log in once, save new posts, and print the cost of one save."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", nargs="?", default=Path(__file__).parent.parent)
    parser.add_argument("--saves", type=int, default=200)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.root).resolve()))
    from homepage import create_app
    from homepage.core.authors import create_author
    from homepage.core.schema import init_db

    folder = Path(tempfile.mkdtemp())
    app = create_app(
        {
            "SECRET_KEY": "bench",
            "DATABASE_URL": f"sqlite:///{folder / 'blog.db'}",
            "UPLOAD_FOLDER": str(folder / "uploads"),
            "WTF_CSRF_ENABLED": False,
        }
    )
    with app.app_context():
        init_db()
        create_author("alice", PASSWORD)
    client = app.test_client()
    login = {"username": "alice", "password": PASSWORD}
    assert client.post("/admin/login", data=login).status_code == 302
    start = time.perf_counter()
    for number in range(args.saves):
        response = client.post(
            "/admin/posts/new",
            data={
                "title": f"Saved {number}",
                "body": "Written during the benchmark.\n\nA second paragraph.",
                "tags": "benchmark, topic-1",
                "status": "published",
                "action": "save",
            },
        )
        assert response.status_code == 302, response.status_code
    seconds = time.perf_counter() - start
    print(f"{args.root}: {args.saves} saves, {seconds / args.saves * 1000:.2f} ms each")


if __name__ == "__main__":
    main()
