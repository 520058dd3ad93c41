"""Profile where a page's time goes, without Apache: the WSGI app in one thread.

Run from the project root::

    .venv/bin/python bench/profile_pages.py            # / and a post page
    .venv/bin/python bench/profile_pages.py /archive --requests 50

Fills a temporary database like bench/run.py (1,000 posts), then for each path
serves it through Flask's test client under cProfile and prints the time per
request, the share of the big parts (SQL in SQLite, the ORM, Jinja, Flask and
Werkzeug) and the functions that cost the most themselves.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
from blogdata import SECRET_KEY, fill  # noqa: E402
from flask import Flask  # noqa: E402

from homepage import create_app  # noqa: E402

#: Where a function's own time is counted, by the file it lives in.
PARTS = (
    ("sqlite3 (SQL execution)", ("{method 'execute' of 'sqlite3", "sqlite3.Cursor")),
    ("sqlalchemy (ORM, Core)", ("sqlalchemy",)),
    ("jinja2 + markupsafe", ("jinja2", "markupsafe", "<template>", "templates/")),
    ("flask + werkzeug", ("flask", "werkzeug")),
    ("homepage", ("homepage/",)),
)


#: Framework steps worth naming, by the cumulative time of the function.
STEPS = (
    ("whole request (Flask's wsgi_app)", "flask/app.py", "wsgi_app"),
    ("rendering (render_template)", "flask/templating.py", "render_template"),
    ("  of which url_for", "flask/app.py", "url_for"),
    ("ending the session (session.remove)", "sqlalchemy/orm/scoping.py", "remove"),
    ("opening the cookie session", "flask/sessions.py", "open_session"),
)


def part_of(function: tuple[str, int, str]) -> str:
    filename, _line, name = function
    where = f"{filename} {name}"
    for part, needles in PARTS:
        if any(needle in where for needle in needles):
            return part
    return "other (stdlib, builtins)"


def profile(client, path: str, requests: int) -> None:
    """Serve ``path`` ``requests`` times under cProfile and report."""
    for _ in range(20):
        assert client.get(path).status_code == 200, path
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(requests):
        client.get(path)
    profiler.disable()
    elapsed = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    total = sum(row[2] for row in stats.stats.values())
    parts: dict[str, float] = {}
    for function, (_cc, _nc, own, _cum, _callers) in stats.stats.items():
        parts[part_of(function)] = parts.get(part_of(function), 0.0) + own
    calls = sum(row[1] for row in stats.stats.values()) / requests
    print(f"\n== {path}: {elapsed / requests * 1000:.2f} ms a request under cProfile, "
          f"{calls:.0f} function calls a request")  # fmt: skip
    print("   own time by library:")
    for part, seconds in sorted(parts.items(), key=lambda item: -item[1]):
        print(f"   {seconds / total:6.1%}  {part}")
    print("   cumulative time of framework steps, per request:")
    for label, filename, name in STEPS:
        spent = sum(
            row[3]
            for (file, _line, function), row in stats.stats.items()
            if file.endswith(filename) and function == name
        )
        print(f"   {spent / requests * 1000:7.3f} ms  {label}")
    print("   the app's own functions, by cumulative time per request:")
    ours = sorted(
        (
            (row[3] / requests * 1000, row[1] / requests, f"{Path(file).name}:{name}")
            for (file, _line, name), row in stats.stats.items()
            if "/homepage/" in file
        ),
        reverse=True,
    )
    for spent, calls, name in ours[:10]:
        print(f"   {spent:7.3f} ms  {calls:5.1f}x  {name}")
    print("   -- own time, top 15 --")
    stats.sort_stats("tottime").print_stats(15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--posts", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "blog.db"
        slugs = fill(database, args.posts)
        paths = args.paths or ["/", f"/posts/{slugs[len(slugs) // 2]}"]
        # The page cache off: this profiles rendering, what a cache miss costs.
        app = create_app(
            {
                "SECRET_KEY": SECRET_KEY,
                "DATABASE_URL": f"sqlite:///{database}",
                "PAGE_CACHE_ENTRIES": 0,
            }
        )
        hello = Flask("hello")
        hello.get("/")(lambda: "Hello, World!")
        clients = {"hello world": (hello.test_client(), "/")}
        clients.update({path: (app.test_client(), path) for path in paths})
        # This process's CPU time, not the clock's, and the median of rounds
        # that take turns: on a shared machine the clock also counts the time
        # other work had the CPU, which moves figures by half or more.
        rounds: dict[str, list[float]] = {label: [] for label in clients}
        for client, path in clients.values():
            for _ in range(20):
                client.get(path)
        for _ in range(args.rounds):
            for label, (client, path) in clients.items():
                started = time.process_time()
                for _ in range(args.requests // args.rounds):
                    client.get(path)
                spent = time.process_time() - started
                rounds[label].append(spent / (args.requests // args.rounds) * 1000)
        ceiling = statistics.median(rounds["hello world"])
        for label, spent in rounds.items():
            cost = statistics.median(spent)
            print(f"{label}: {cost:.3f} ms of CPU a request (no profiler), "
                  f"{cost / ceiling:.1f}x hello world")  # fmt: skip
        client = app.test_client()
        for path in paths:
            profile(client, path, args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
