"""Security headers on every response, trusted host names, and proxies.

The templates use no inline scripts or styles, so the Content-Security-Policy
can forbid them: injected markup that slipped past the sanitizer still could
not run. Keep it that way; a ``<script type="application/ld+json">`` data block
is fine, because browsers never execute it.
"""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.exceptions import SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response as WSGIResponse
from werkzeug.wsgi import get_host

_COMMON_CSP = (
    "default-src 'self'",
    # Posts may show images from other sites, as Markdown allows.
    "img-src 'self' https: http:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
)
#: Reader pages may be framed by the site itself, nobody else.
READER_CSP = "; ".join((*_COMMON_CSP, "frame-ancestors 'self'"))
#: Admin pages are never framed, so no other site can trick a click on them.
ADMIN_CSP = "; ".join((*_COMMON_CSP, "frame-ancestors 'none'"))


def is_admin_path(path: str) -> bool:
    """Tell whether ``path`` is one of the author's pages."""
    return path == "/admin" or path.startswith("/admin/")


def security_headers(path: str) -> dict[str, str]:
    """Return the security headers of a response for ``path``."""
    if is_admin_path(path):
        return {
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": ADMIN_CSP,
            # For browsers that predate frame-ancestors.
            "X-Frame-Options": "DENY",
            # Admin addresses are nobody else's business.
            "Referrer-Policy": "same-origin",
            # Drafts and forms stay out of shared caches and the back-button cache.
            "Cache-Control": "no-store",
        }
    return {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": READER_CSP,
        "X-Frame-Options": "SAMEORIGIN",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }


def add_security_headers(response: Response) -> Response:
    """Set the security headers a view has not set itself."""
    for name, value in security_headers(request.path).items():
        response.headers.setdefault(name, value)
    return response


class TrustedHostMiddleware:
    """Refuse requests for host names outside ``TRUSTED_HOSTS`` with a 400.

    Flask makes the same check, but only once it builds the request context:
    the page cache's middleware answers readers before that, and Flask's own
    refusal comes too late to render an error page (no URL can be built for
    an untrusted host). So the check runs here, outside everything else, with
    the same function and setting as Flask's.
    """

    def __init__(self, app: Flask, wsgi_app) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        trusted = self.app.config["TRUSTED_HOSTS"]
        if trusted:
            try:
                get_host(environ, trusted)
            except SecurityError:
                response = WSGIResponse(
                    "400 Bad Request: this site does not answer to that host name.\n",
                    status=400,
                    mimetype="text/plain",
                    headers=security_headers(environ.get("PATH_INFO", "")),
                )
                return response(environ, start_response)
        return self.wsgi_app(environ, start_response)


def init_app(app: Flask) -> None:
    """Add the headers to every response; trust the configured hosts and proxies.

    Call it after every other module that wraps ``app.wsgi_app``: the host
    check and the proxy fix must come before anything answers a request.
    """
    app.after_request(add_security_headers)
    # Flask documents wrapping wsgi_app; mypy sees only a method.
    app.wsgi_app = TrustedHostMiddleware(app, app.wsgi_app)  # type: ignore[method-assign]
    proxies = int(app.config.get("PROXY_FIX_X_FOR") or 0)
    if proxies:
        # Outermost, so that the host check and the page cache see the
        # scheme the visitor used, as the pages do.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]  # as above
            app.wsgi_app, x_for=proxies, x_proto=proxies
        )
