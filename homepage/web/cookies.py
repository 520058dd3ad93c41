"""The signed cookie session, opened only for requests that carry one."""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class LazyCookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, without its cost for readers who have none.

    Flask builds the cookie's signing serializer on every request before it
    looks for a cookie; most requests are readers', who never carry one, and
    for a page the cache does not hold that serializer is a visible share of
    the work. An empty session is what Flask would return for them anyway.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """Return an empty session at once when the request has no cookie."""
        if app.secret_key and self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    """Open cookie sessions lazily."""
    app.session_interface = LazyCookieSessionInterface()
