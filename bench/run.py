"""Benchmark the blog under mod_wsgi-express against a hello-world ceiling.

Run from the project root after ``make install`` (needs wrk)::

    .venv/bin/python bench/run.py

With the fixed configuration of docs/performance.md (2 processes x 8 threads,
``wrk -t2 -c32 -d10s``, 1,000 posts) it serves bench/hello.wsgi and then the blog
with the same mod_wsgi-express options, measures each page with wrk, and prints
requests per second, latency percentiles and each page's ratio to the ceiling;
then a mixed run in which authors save posts while wrk reads ``/``. Everything
listens on 127.0.0.1 only.

``--database postgresql`` also starts a private PostgreSQL cluster (the test
suite's, tests/postgres.py), fills it with the same posts, measures the same
pages on it after SQLite's, and prints both side by side::

    .venv/bin/python bench/run.py --database postgresql [--page-cache-off]

On a shared machine, ``--rounds 3`` measures every page three times, the
servers in turn (all of them are up at once, and each page is measured on
SQLite and PostgreSQL one right after the other), and prints each page's
median round beside the median hello world; PG/SQLite is then the median of
the rounds' ratios, with their range.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import requests

BENCH = Path(__file__).resolve().parent
# The project root, for the test suite's helper that starts mod_wsgi-express.
sys.path.insert(0, str(BENCH.parent))

from blogdata import PASSWORD, SECRET_KEY, fill, fill_url  # noqa: E402

from tests import postgres  # noqa: E402
from tests.modwsgi import (  # noqa: E402
    PROJECT_ROOT,
    ModWsgiServer,
    give_to_server,
    log_in,
    make_data_dir,
)

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass
class Result:
    """What wrk measured for one URL."""

    name: str
    requests_per_second: float
    p50: float
    p90: float
    p99: float
    errors: int

    def row(self, ceiling: float | None) -> str:
        ratio = f"{self.requests_per_second / ceiling:5.2f}x" if ceiling else "     "
        return (
            f"{self.name:<28} {self.requests_per_second:9.0f} {self.p50:8.2f} "
            f"{self.p90:8.2f} {self.p99:8.2f} {self.errors:7d}  {ratio}"
        )


HEADER = (
    f"{'page':<28} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
    f"{'errors':>7}  ratio"
)


def _milliseconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def wrk(name: str, url: str, args, headers: dict[str, str] | None = None) -> Result:
    """Run wrk against ``url`` and parse its report."""
    command = [
        "wrk",
        f"-t{args.wrk_threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--latency",
    ]
    for key, value in (headers or {}).items():
        command += ["-H", f"{key}: {value}"]
    report = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True
    ).stdout
    if args.verbose:
        print(report)
    percentiles = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)\s*$", report, re.MULTILINE))
    if len(percentiles) != 3:
        raise RuntimeError(f"cannot read wrk's report:\n{report}")
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report
    )
    bad_status = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    errors = sum(map(int, socket_errors.groups())) if socket_errors else 0
    errors += int(bad_status.group(1)) if bad_status else 0
    return Result(
        name,
        float(re.search(r"Requests/sec:\s+([\d.]+)", report).group(1)),
        _milliseconds(percentiles["50"]),
        _milliseconds(percentiles["90"]),
        _milliseconds(percentiles["99"]),
        errors,
    )


def resident_kib(pid: int) -> int:
    """Return the resident memory of process ``pid`` in KiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def warm_up(url: str) -> None:
    """Let every daemon thread compile templates and fill its pool first."""
    subprocess.run(["wrk", "-t2", "-c32", "-d2s", url], capture_output=True, check=True)


def serve(script: Path, root: Path, args, env=None) -> ModWsgiServer:
    root.mkdir(parents=True, exist_ok=True)
    server = ModWsgiServer(
        script,
        root,
        processes=args.processes,
        threads=args.threads,
        env=env,
        extra_args=[
            # Keep-alive as long as a run, as a browser keeps its connection.
            "--keep-alive-timeout",
            str(args.duration + 5),
            # mod_wsgi-express allows 1.5 x threads client connections; beyond
            # that Apache closes idle keep-alive connections under wrk's feet,
            # which wrk counts as read errors.
            "--max-clients",
            str(max(64, 2 * args.connections)),
            "--include-file",
            str(BENCH / "apache-bench.conf"),
        ],
    )
    server.start()
    return server


class Authors:
    """Authors who save new posts over and over while a wrk run reads."""

    def __init__(self, url: str, count: int) -> None:
        self.url = url
        self.count = count
        self.saved = 0
        self.failed = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _write(self, index: int) -> None:
        http, token = log_in(self.url, "alice", PASSWORD)
        number = 0
        while not self._stop.is_set():
            number += 1
            try:
                response = http.post(
                    f"{self.url}/admin/posts/new",
                    data={
                        "title": f"Mixed run {index}.{number}",
                        "body": "Written during the benchmark.\n\nA second paragraph.",
                        "tags": "benchmark, topic-1",
                        "status": "published",
                        "action": "save",
                        "csrf_token": token,
                    },
                    allow_redirects=False,
                    timeout=60,
                )
                ok = response.status_code == 302
            except requests.RequestException:
                ok = False
            with self._lock:
                if ok:
                    self.saved += 1
                else:
                    self.failed += 1

    def __enter__(self) -> Authors:
        for index in range(self.count):
            thread = threading.Thread(target=self._write, args=(index,))
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


@dataclass
class BlogRun:
    """What one blog's runs measured, on one database."""

    results: list[Result]
    authors: Authors
    tracebacks: list
    memory: list[int]
    #: Every round of each page, in the order the pages were measured.
    rounds: dict[str, list[Result]]


@dataclass
class Blog:
    """A blog served on one database, and the pages measured on it."""

    server: ModWsgiServer
    pages: dict[str, tuple[str, dict[str, str] | None]]
    rounds: dict[str, list[Result]]


def start_blog(url: str, slugs: list[str], data: Path, name: str, args) -> Blog:
    """Serve the blog on the database at ``url`` and warm its pages up."""
    blog = serve(
        args.blog_script.resolve(),
        data / name,
        args,
        env={
            "FLASK_DATABASE_URL": url,
            "FLASK_SECRET_KEY": SECRET_KEY,
            "HOMEPAGE_INSTANCE_PATH": str(data / f"instance-{name}"),
            **({"FLASK_PAGE_CACHE_ENTRIES": "0"} if args.page_cache_off else {}),
            **(
                {"FLASK_FRAGMENT_CACHE_ENTRIES": "0"} if args.fragment_cache_off else {}
            ),
        },
    )
    try:
        paths = {
            "/": "/",
            "post page": f"/posts/{slugs[len(slugs) // 2]}",
            "tag page": "/tags/topic-7",
            "archive": "/archive",
        }
        if requests.get(blog.url + "/feed.atom", timeout=30).status_code == 200:
            paths["feed"] = "/feed.atom"
        for path in paths.values():
            warm_up(blog.url + path)
        pages: dict[str, tuple[str, dict[str, str] | None]] = {
            name: (path, None) for name, path in paths.items()
        }
        etag = requests.get(blog.url + "/", timeout=30).headers.get("ETag")
        if etag:
            pages["/ with If-None-Match (304)"] = ("/", {"If-None-Match": etag})
    except BaseException:
        blog.stop()
        raise
    return Blog(blog, pages, {name: [] for name in pages})


def measure_round(blogs: list[Blog], number: int, args) -> None:
    """Measure each page once more, on every blog in turn.

    The blogs take each page one after the other, so a slower moment of a
    shared machine falls on both sides of a comparison; which goes first
    alternates from one round to the next.
    """
    order = blogs if number % 2 == 0 else blogs[::-1]
    for name in blogs[0].pages:
        for blog in order:
            path, headers = blog.pages[name]
            blog.rounds[name].append(wrk(name, blog.server.url + path, args, headers))


def finish_blog(blog: Blog, args) -> BlogRun:
    """Measure ``/`` while authors save, then stop the blog."""
    try:
        with Authors(blog.server.url, args.authors) as authors:
            mixed = wrk("/ while authors save", blog.server.url + "/", args)
        mixed.errors += authors.failed
        results = [median(rounds) for rounds in blog.rounds.values()]
        tracebacks = blog.server.python_tracebacks()
        memory = [resident_kib(pid) for pid in blog.server.daemon_pids()]
    finally:
        blog.server.stop()
    return BlogRun([*results, mixed], authors, tracebacks, memory, blog.rounds)


def median(rounds: list[Result]) -> Result:
    """Return the round of median throughput, with the errors of all rounds."""
    ordered = sorted(rounds, key=lambda result: result.requests_per_second)
    middle = ordered[len(ordered) // 2]
    return Result(
        middle.name,
        middle.requests_per_second,
        middle.p50,
        middle.p90,
        middle.p99,
        sum(result.errors for result in rounds),
    )


def report(run: BlogRun, ceiling: Result, args) -> None:
    """Print one blog's figures, each page beside the ceiling."""
    print(HEADER)
    print(ceiling.row(None))
    for result in run.results:
        print(result.row(ceiling.requests_per_second))
    print(
        f"mixed run: {run.authors.saved} posts saved by {args.authors} authors "
        f"({run.authors.saved / args.duration:.1f}/s), "
        f"{run.authors.failed} saves failed"
    )
    print(
        "resident memory of each daemon process after the runs: "
        + ", ".join(f"{kib / 1024:.0f} MiB" for kib in run.memory)
    )
    if run.tracebacks:
        print(f"{len(run.tracebacks)} Python tracebacks in the error log")


def paired_ratios(sqlite: BlogRun, other: BlogRun, name: str) -> list[float]:
    """Return each round's PostgreSQL / SQLite ratio for the page ``name``, sorted."""
    return sorted(
        pg.requests_per_second / lite.requests_per_second
        for lite, pg in zip(sqlite.rounds[name], other.rounds[name], strict=True)
    )


def compare(sqlite: BlogRun, other: BlogRun, ceiling: Result, args) -> None:
    """Print each page's figures on SQLite and PostgreSQL side by side.

    PG/SQLite is the median of the rounds' ratios, each between the two
    runs of a page made one after the other, with their lowest and highest.
    """
    top = ceiling.requests_per_second
    print(
        f"{'page':<28} {'SQLite req/s':>12} {'ratio':>6} {'p99 ms':>7}"
        f" {'PostgreSQL req/s':>16} {'ratio':>6} {'p99 ms':>7} {'PG/SQLite':>9}"
        f" {'rounds':>11}"
    )
    print(f"{ceiling.name:<28} {top:12.0f}")
    for lite, pg in zip(sqlite.results, other.results, strict=True):
        if lite.name in sqlite.rounds:
            ratios = paired_ratios(sqlite, other, lite.name)
            ratio = statistics.median(ratios)
            spread = f"{ratios[0]:.2f}-{ratios[-1]:.2f}"
        else:  # the mixed run, once per blog
            ratio, spread = pg.requests_per_second / lite.requests_per_second, ""
        print(
            f"{lite.name:<28} {lite.requests_per_second:12.0f}"
            f" {lite.requests_per_second / top:5.2f}x {lite.p99:7.2f}"
            f" {pg.requests_per_second:16.0f} {pg.requests_per_second / top:5.2f}x"
            f" {pg.p99:7.2f} {ratio:8.2f}x {spread:>11}"
        )
    for name, run in (("SQLite", sqlite), ("PostgreSQL", other)):
        print(
            f"{name}: mixed run {run.authors.saved} posts saved "
            f"({run.authors.saved / args.duration:.1f}/s), "
            f"{run.authors.failed} failed; daemons "
            + ", ".join(f"{kib / 1024:.0f} MiB" for kib in run.memory)
            + (f"; {len(run.tracebacks)} Python tracebacks" if run.tracebacks else "")
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every page this many times, the servers in turn, and print "
        "the median round: steadier figures on a shared machine",
    )
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument(
        "--spread",
        choices=("past", "hours"),
        default="past",
        help="past: every post already published (10 minutes apart); "
        "hours: 20 hours apart from 2023, most in the future past ~1,700 posts",
    )
    parser.add_argument(
        "--page-cache-off",
        action="store_true",
        help="render every page (PAGE_CACHE_ENTRIES=0): what a cache miss costs",
    )
    parser.add_argument(
        "--fragment-cache-off",
        action="store_true",
        help="render every post summary too (FRAGMENT_CACHE_ENTRIES=0): a miss "
        "on a list whose posts no page has shown yet, as deep in a crawl",
    )
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="postgresql: measure the same pages on a private PostgreSQL cluster "
        "too, after SQLite, and print both side by side",
    )
    parser.add_argument("--authors", type=int, default=2, help="in the mixed run")
    parser.add_argument("--verbose", action="store_true", help="print wrk's reports")
    parser.add_argument(
        "--blog-script",
        type=Path,
        default=PROJECT_ROOT / "homepage.wsgi",
        help="the WSGI file of the blog (to compare a variant)",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: sudo apt-get install wrk")
    if args.database == "postgresql" and not postgres.available():
        sys.exit(f"PostgreSQL's server programs are not in {postgres.BIN}")

    data = make_data_dir("homepage-bench-")
    print(
        f"{args.processes} processes x {args.threads} threads, wrk -t{args.wrk_threads}"
        f" -c{args.connections} -d{args.duration}s, {args.posts} posts;"
        f" {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    try:
        slugs = fill(data / "blog.db", args.posts, spread=args.spread)
        give_to_server(data)
        with contextlib.ExitStack() as stack:
            hello = serve(BENCH / "hello.wsgi", data / "hello", args)
            stack.callback(hello.stop)
            warm_up(hello.url + "/")
            blogs = [
                start_blog(f"sqlite:///{data / 'blog.db'}", slugs, data, "blog", args)
            ]
            stack.callback(blogs[0].server.stop)
            if args.database == "postgresql":
                cluster = stack.enter_context(postgres.running_cluster())
                url = cluster.create_database("bench")
                fill_url(url, args.posts, spread=args.spread)
                blogs.append(start_blog(url, slugs, data, "blog-pg", args))
                stack.callback(blogs[1].server.stop)
            # Every server is up at once and each round measures each page on
            # them all in turn, so a slower minute of a shared machine costs
            # each its share.
            ceilings = []
            for number in range(args.rounds):
                ceilings.append(wrk("hello world (ceiling)", hello.url + "/", args))
                measure_round(blogs, number, args)
            ceiling = median(ceilings)
            runs = [finish_blog(blog, args) for blog in blogs]
    finally:
        shutil.rmtree(data, ignore_errors=True)
    sqlite = runs[0]

    if args.database == "postgresql":
        compare(sqlite, runs[1], ceiling, args)
    else:
        report(sqlite, ceiling, args)
    return (
        1
        if any(
            run.tracebacks or any(result.errors for result in run.results)
            for run in runs
        )
        else 0
    )


if __name__ == "__main__":
    sys.exit(main())
