"""A measured prototype, not the product: the blog behind a whole-page cache.

docs/performance.md compares it with homepage.wsgi (``bench/run.py --blog-script
bench/cached.wsgi``) to size the gain of caching rendered pages in each process.
It stays correct under writes: every request first asks SQLite whether any
connection, in any process, has committed since this thread last looked
(``PRAGMA data_version``), and a commit empties the cache before it is read.
"""

import sqlite3
import threading

from homepage import create_app
from homepage.db import sqlite_path

app = create_app()
_database = str(sqlite_path(app.config["DATABASE_URL"]))
_local = threading.local()
_lock = threading.Lock()
_cache: dict[tuple[str, str], tuple[int, str, list, bytes]] = {}
_generation = 0


def _changed() -> bool:
    """Tell whether the database changed since this thread last asked."""
    # One connection per thread that only ever reads: its data_version moves
    # whenever another connection commits, whichever process it belongs to.
    connection = getattr(_local, "connection", None)
    if connection is None:
        connection = _local.connection = sqlite3.connect(_database)
        _local.seen = None
    version = connection.execute("PRAGMA data_version").fetchone()[0]
    changed, _local.seen = version != _local.seen, version
    return changed


def application(environ, start_response):
    """Serve anonymous GETs of reader pages from the cache when nothing changed."""
    global _generation
    cacheable = (
        environ["REQUEST_METHOD"] == "GET"
        and "HTTP_COOKIE" not in environ
        and not environ.get("PATH_INFO", "").startswith("/admin")
    )
    if not cacheable:
        return app(environ, start_response)
    with _lock:
        if _changed():
            _generation += 1
            _cache.clear()
        generation = _generation
        key = (environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""))
        hit = _cache.get(key)
    if hit is not None and hit[0] == generation:
        start_response(hit[1], hit[2])
        return [hit[3]]
    captured = {}

    def capture(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers
        return start_response(status, headers, exc_info)

    body = b"".join(app(environ, capture))
    # Stored under the generation seen before rendering: if a commit landed
    # meanwhile, the next request's check moves past it and re-renders.
    if captured["status"].startswith("200") and not any(
        name.lower() == "set-cookie" for name, _ in captured["headers"]
    ):
        with _lock:
            if generation == _generation:
                _cache[key] = (generation, captured["status"], captured["headers"], body)
    return [body]
