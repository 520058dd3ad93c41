"""Security headers on every response, and the client address behind proxies.

The templates use no inline scripts or styles, so the Content-Security-Policy
can forbid them: injected markup that slipped past the sanitizer still could
not run. Keep it that way; a ``<script type="application/ld+json">`` data block
is fine, because browsers never execute it.
"""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

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


def add_security_headers(response: Response) -> Response:
    """Set the security headers a view has not set itself."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    if is_admin_path(request.path):
        headers.setdefault("Content-Security-Policy", ADMIN_CSP)
        # For browsers that predate frame-ancestors.
        headers.setdefault("X-Frame-Options", "DENY")
        # Admin addresses are nobody else's business.
        headers.setdefault("Referrer-Policy", "same-origin")
        # Drafts and forms stay out of shared caches and the back-button cache.
        headers.setdefault("Cache-Control", "no-store")
    else:
        headers.setdefault("Content-Security-Policy", READER_CSP)
        headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    return response


def init_app(app: Flask) -> None:
    """Add the headers to every response; trust the configured proxies."""
    app.after_request(add_security_headers)
    proxies = int(app.config.get("PROXY_FIX_X_FOR") or 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
