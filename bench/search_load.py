"""Hammer /search under mod_wsgi-express and measure what other readers see.

Run from the project root (needs wrk and mod_wsgi in the venv)::

    .venv/bin/python bench/search_load.py --posts 100000

Serves a blog of ``--posts`` visible posts (bench/blogdata.py, spread over the
past) with the options of bench/run.py (2 processes x 8 threads), once with
the default per-process bound on concurrent searches and once with none
(``--unbounded``, a bound above the number of threads). For each it prints:

- readers alone: wrk on a post page (a few connections);
- searches alone: wrk on ``/search?q=WORD`` with many connections, every
  request a different address so the page cache never answers it, with the
  count of 200s and 503s;
- both at once: the same readers while the searches run.

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from blogdata import SECRET_KEY, fill  # noqa: E402
from run import HEADER, Result, _milliseconds, warm_up, wrk  # noqa: E402

from tests.modwsgi import (  # noqa: E402
    PROJECT_ROOT,
    ModWsgiServer,
    give_to_server,
    make_data_dir,
)

#: A wrk script: every request a new address (the page cache keys pages by
#: address), and the count of each status printed at the end.
LUA = """
local counter = 0
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  ok, busy, other = 0, 0, 0
  counter = math.random(1, 1000000000)
end
function request()
  counter = counter + 1
  return wrk.format(nil, wrk.path .. "&n=" .. counter)
end
function response(status, headers, body)
  if status == 200 then ok = ok + 1
  elseif status == 503 then busy = busy + 1
  else other = other + 1 end
end
function done(summary, latency, requests)
  local o, b, x = 0, 0, 0
  for _, thread in ipairs(threads) do
    o = o + thread:get("ok")
    b = b + thread:get("busy")
    x = x + thread:get("other")
  end
  io.write(string.format("statuses: 200=%d 503=%d other=%d\\n", o, b, x))
end
"""


def wrk_search(name: str, url: str, args, script: Path) -> tuple[Result, str]:
    """Run wrk with the cache-busting script; return its result and statuses."""
    report = subprocess.run(
        [
            "wrk",
            f"-t{args.wrk_threads}",
            f"-c{args.search_connections}",
            f"-d{args.duration}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)\s*$", report, re.MULTILINE))
    statuses = re.search(r"statuses: (.*)", report)
    result = Result(
        name,
        float(re.search(r"Requests/sec:\s+([\d.]+)", report).group(1)),
        _milliseconds(percentiles["50"]),
        _milliseconds(percentiles["90"]),
        _milliseconds(percentiles["99"]),
        0,
    )
    return result, statuses.group(1) if statuses else "?"


def prepare(data: Path, posts: int) -> Path:
    """Fill the blog (its schema brought up to date, as init-db would)."""
    database = data / "blog.db"
    fill(database, posts, spread="past")
    return database


def serve_unstarted(script: Path, root: Path, args, env) -> ModWsgiServer:
    """Return the server bench/run.py's serve() starts, not started yet."""
    root.mkdir(parents=True, exist_ok=True)
    return ModWsgiServer(
        script,
        root,
        processes=args.processes,
        threads=args.threads,
        env=env,
        extra_args=[
            "--keep-alive-timeout",
            str(args.duration + 5),
            "--max-clients",
            str(max(64, 2 * args.connections)),
            "--include-file",
            str(BENCH / "apache-bench.conf"),
        ],
    )


def start(root: Path, args, env: dict[str, str]) -> ModWsgiServer:
    """Start the blog as bench/run.py does; never leave a failed start running."""
    server = serve_unstarted(PROJECT_ROOT / "homepage.wsgi", root, args, env)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


def measure(data: Path, database: Path, args, bound: int, script: Path) -> list[str]:
    """Serve the blog with ``bound`` searches per process; return the report."""
    reader_args = argparse.Namespace(**vars(args))
    reader_args.connections = args.reader_connections
    blog = start(
        data / f"blog-{bound}",
        args,
        {
            "FLASK_DATABASE_URL": f"sqlite:///{database}",
            "FLASK_SECRET_KEY": SECRET_KEY,
            "FLASK_SEARCH_CONCURRENCY": str(bound),
            "HOMEPAGE_INSTANCE_PATH": str(data / "instance"),
        },
    )
    try:
        reader_url = f"{blog.url}/posts/post-number-{args.posts // 2}"
        search_url = f"{blog.url}/search?q={args.query}"
        warm_up(reader_url)
        alone = wrk("reader alone", reader_url, reader_args)
        searches, statuses = wrk_search("searches alone", search_url, args, script)
        during: dict[str, tuple[Result, str]] = {}
        hammer = threading.Thread(
            target=lambda: during.setdefault(
                "search", wrk_search("searches, with readers", search_url, args, script)
            )
        )
        hammer.start()
        try:
            # Let the searches fill the threads before the readers come.
            threading.Event().wait(1)
            reader_args.duration = max(1, args.duration - 2)
            busy = wrk("reader while searches run", reader_url, reader_args)
        finally:
            hammer.join()
        tracebacks = blog.python_tracebacks()
    finally:
        blog.stop()
    label = "unbounded" if bound >= args.threads else f"{bound} per process"
    lines = [f"searches at once: {label}", HEADER]
    lines += [alone.row(None), searches.row(None) + f"  {statuses}"]
    lines += [
        during["search"][0].row(None) + f"  {during['search'][1]}",
        busy.row(None),
    ]
    if tracebacks:
        lines.append(f"{len(tracebacks)} Python tracebacks in the error log")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--search-connections", type=int, default=32)
    parser.add_argument("--reader-connections", type=int, default=4)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--query", default="apache", help="a word most posts have")
    parser.add_argument(
        "--bounds",
        type=int,
        nargs="+",
        default=[2, 1000],
        help="searches per process at once (SEARCH_CONCURRENCY); 1000: no bound",
    )
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    # run.serve and run.wrk read these.
    args.connections = args.search_connections
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: sudo apt-get install wrk")

    data = make_data_dir("homepage-search-bench-")
    print(
        f"{args.processes} processes x {args.threads} threads, {args.posts} posts;"
        f" searches: wrk -t{args.wrk_threads} -c{args.search_connections}"
        f" /search?q={args.query}; readers: wrk -c{args.reader_connections}"
        f" on a post page; -d{args.duration}s; {os.cpu_count()} CPUs"
    )
    try:
        database = prepare(data, args.posts)
        give_to_server(data)
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
            script.write(LUA)
            script.flush()
            for bound in args.bounds:
                print(
                    "\n".join(measure(data, database, args, bound, Path(script.name)))
                )
                print()
    finally:
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
