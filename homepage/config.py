"""Default settings; ``instance/config.py`` and ``FLASK_*`` variables override them."""

from .db import DEFAULT_DATABASE_URL


class Config:
    """Settings every installation starts from."""

    #: None means: read or create ``instance/secret_key`` on first start.
    SECRET_KEY: str | None = None
    DATABASE_URL = DEFAULT_DATABASE_URL
    #: At least the number of threads per server process (mod_wsgi's ``threads``).
    DATABASE_POOL_SIZE = 20
    DATABASE_MAX_OVERFLOW = 10

    SITE_TITLE = "homepage"
    SITE_DESCRIPTION = "A blog."
    #: The public address, e.g. "https://blog.example.org", used in feeds, the
    #: sitemap and canonical links. None: the address the request came to.
    SITE_URL: str | None = None
    POSTS_PER_PAGE = 10
    #: How many of the latest posts a feed carries.
    FEED_SIZE = 20

    #: The largest post body the form accepts, in bytes of UTF-8.
    MAX_BODY_BYTES = 1_000_000
    #: Werkzeug refuses larger form fields with 413; keep it above
    #: MAX_BODY_BYTES so an oversized body gets the form's own message.
    MAX_FORM_MEMORY_SIZE = 4 * 1024 * 1024
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    #: A CSRF token stays valid for as long as the login does.
    WTF_CSRF_TIME_LIMIT = None
