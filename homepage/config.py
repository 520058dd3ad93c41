"""Default settings, and the check that root runs no settings others could change.

``instance/config.py`` and ``FLASK_*`` variables override the defaults.
"""

import os
import pwd
import stat
from datetime import timedelta
from pathlib import Path

import click

from .db import DEFAULT_DATABASE_URL


class Config:
    """Settings every installation starts from."""

    #: None means: the key kept in the database, created on first start and
    #: shared by every host (core/keys.py).
    SECRET_KEY: str | None = None
    DATABASE_URL = DEFAULT_DATABASE_URL
    #: At least the number of threads per server process (mod_wsgi's ``threads``).
    DATABASE_POOL_SIZE = 20
    DATABASE_MAX_OVERFLOW = 10

    SITE_TITLE = "homepage"
    SITE_DESCRIPTION = "A blog."
    #: The public address, e.g. "https://blog.example.org", used in feeds, the
    #: sitemap, canonical and OpenGraph links. None: the scheme and host the
    #: request came with, which then key every cached page and validator.
    SITE_URL: str | None = None
    #: The host names the site answers to, e.g. ["blog.example.org"] (Flask's
    #: setting; a leading dot accepts subdomains). Other Host headers get 400
    #: before the page cache or the app sees them. None: any host name.
    TRUSTED_HOSTS: list[str] | None = None
    #: The IANA name of the time zone in which readers see dates and authors
    #: type them, e.g. "Europe/Berlin". Dates are stored in UTC whatever it is.
    #: The archive's months are counted in UTC.
    SITE_TIMEZONE = "UTC"
    POSTS_PER_PAGE = 10
    #: How many of the latest posts a feed carries.
    FEED_SIZE = 20
    #: The most results a search ranks and pages through (with 10 per page,
    #: 50 pages): the newest this many matches, best first.
    SEARCH_MAX_RESULTS = 500
    #: Searches one server process runs at once; more get a 503 with
    #: Retry-After, so that searches can never hold every thread.
    SEARCH_CONCURRENCY = 2
    #: How many posts (or tags) one sitemap file covers: the ids of the
    #: posts-N.xml files run in ranges of this size. The protocol allows
    #: 50,000; a file's time grows with its size (docs/performance.md).
    SITEMAP_URLS_PER_FILE = 5_000

    #: The largest post body the form accepts, in bytes of UTF-8.
    MAX_BODY_BYTES = 1_000_000
    #: Werkzeug refuses larger form fields with 413; keep it above
    #: MAX_BODY_BYTES so an oversized body gets the form's own message.
    MAX_FORM_MEMORY_SIZE = 4 * 1024 * 1024
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    #: Set to True when the site is served over HTTPS, so browsers never send
    #: the login cookie over plain HTTP. Left False by default because the
    #: cookie would then not be sent at all to http://127.0.0.1:8000/.
    SESSION_COOKIE_SECURE = False
    #: How long a login lasts, in the cookie and on the server (an int counts
    #: seconds, e.g. ``FLASK_PERMANENT_SESSION_LIFETIME=3600``).
    PERMANENT_SESSION_LIFETIME = timedelta(days=7)

    #: How many reverse proxies in front of the app to trust for the client's
    #: address (X-Forwarded-For) and scheme. 0 when Apache serves visitors
    #: directly. Behind a proxy it must be set, or login throttling sees every
    #: visitor as the proxy's one address.
    PROXY_FIX_X_FOR = 0

    #: Login throttling (see homepage/throttle.py): seconds a failure is
    #: remembered, free attempts per (name, address), per address and per name,
    #: and the longest wait for the first two and for the name alone.
    LOGIN_WINDOW = 3600
    LOGIN_FREE_ATTEMPTS = 5
    LOGIN_ADDRESS_FREE_ATTEMPTS = 20
    LOGIN_USER_FREE_ATTEMPTS = 10
    LOGIN_LOCKOUT = 900
    LOGIN_USER_LOCKOUT = 60

    #: The largest image the upload accepts, in bytes.
    MAX_IMAGE_BYTES = 10 * 1024 * 1024
    #: The most pixels (width x height) an image may have; decoding a small file
    #: that claims more (a decompression bomb) would exhaust memory.
    MAX_IMAGE_PIXELS = 50_000_000
    #: The most frames an animation may have: each costs time to decode, however
    #: small (5,000 is over three minutes at 25 frames a second).
    MAX_IMAGE_FRAMES = 5000
    #: The largest WordPress export ``import-wordpress`` reads, in bytes (the
    #: admin's upload form is bounded by MAX_CONTENT_LENGTH too), and the
    #: longest element in it, in characters: a post's HTML is a few times its
    #: Markdown, so this is a few times MAX_BODY_BYTES.
    WXR_MAX_BYTES = 64 * 1024 * 1024
    WXR_MAX_ELEMENT = 4_000_000
    #: Where uploaded images are stored; None means ``instance/uploads``.
    UPLOAD_FOLDER: str | None = None
    #: Where ``flask backup`` without a folder, and ``restore``'s safety copy,
    #: write backups; None means ``backups/`` beside the database (on
    #: PostgreSQL, which has no file, beside the upload folder).
    BACKUP_FOLDER: str | None = None
    #: The folder of PostgreSQL's pg_dump and pg_restore, for backups on
    #: PostgreSQL; None looks on PATH, then in /usr/lib/postgresql/*/bin.
    POSTGRESQL_BIN: str | None = None
    #: A CSRF token stays valid for as long as the login does.
    WTF_CSRF_TIME_LIMIT = None

    #: Rendered reader pages kept per server process (see caching.PageCache);
    #: 0 entries turns the page cache off.
    PAGE_CACHE_ENTRIES = 512
    PAGE_CACHE_BYTES = 32 * 1024 * 1024
    PAGE_CACHE_MAX_PAGE_BYTES = 1024 * 1024
    #: Rendered post summaries kept per server process, by everything they
    #: show (see templating.Fragments): a page the page cache misses, after
    #: a save or deep in a list, renders only the summaries it has not seen.
    #: 0 turns them off.
    FRAGMENT_CACHE_ENTRIES = 2000


class UnsafeSettings(click.ClickException):
    """Root was about to run settings that another user could have changed."""


def check_settings_file(path: Path) -> None:
    """Refuse, when running as root, a settings file another user could change.

    ``create_app`` executes ``instance/config.py``. If the serving user could
    write it, or replace it through a folder it can write, a root command
    would run that user's code as root.

    :raise UnsafeSettings: the file or a folder above it is not root's alone.
    """
    if os.geteuid() != 0:
        return
    # The path as named and as resolved: a link on the way counts too.
    places = {path, *path.parents, path.resolve(), *path.resolve().parents}
    for place in sorted(places, key=lambda place: len(place.parts), reverse=True):
        try:
            info = place.lstat()
        except FileNotFoundError:
            continue  # a missing config.py: its folder decides who may add one
        if _others_may_change(info):
            owner = _name(info.st_uid)
            raise UnsafeSettings(
                f"{place} (owner {owner}, mode {stat.filemode(info.st_mode)}) can "
                f"be changed by a user other than root, and this command would run "
                f"{path} as root. Run it as the serving user (runuser -u www-data "
                f"-- ...), or give it to root: chown root: {place} && "
                f"chmod go-w {place}"
            )


def _others_may_change(info: os.stat_result) -> bool:
    """Tell whether a user other than root may change (or replace) a file."""
    if info.st_uid != 0:
        return True
    if stat.S_ISLNK(info.st_mode):
        return False  # a link's own mode bits mean nothing
    if info.st_mode & stat.S_IWGRP and info.st_gid != 0:
        return True
    # A world-writable folder with the sticky bit (/tmp) lets others add
    # entries but not rename or remove root's.
    sticky = stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX
    return bool(info.st_mode & stat.S_IWOTH) and not sticky


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
