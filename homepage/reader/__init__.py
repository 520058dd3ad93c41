"""The reader's side: pages, feeds, search, SEO files, images, and HTTP caching."""

from __future__ import annotations

from flask import Flask

from . import blog, caching, feeds, media, search, seo, shared, templating, wordpress


def init_app(app: Flask) -> None:
    """Add the template helpers, the page cache and the reader's pages."""
    templating.init_app(app)
    caching.init_app(app)
    wordpress.init_app(app)
    for blueprint in (blog.bp, feeds.bp, search.bp, seo.bp, media.bp, shared.bp):
        app.register_blueprint(blueprint)
