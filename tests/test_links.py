"""Addresses built once per process: right for each mount path, never a host's."""

from __future__ import annotations

import re

from homepage.web.links import EXTENSION_KEY, Links

from .support import AuthActions


def post_links(html: str) -> list[str]:
    return re.findall(r'href="([^"]*/posts/[^"]*)"', html)


def test_links_follow_the_path_the_site_is_mounted_at(make_app):
    # No page cache: its key does not tell mount paths apart, since a
    # deployment has one.
    app = make_app("mounted.db", PAGE_CACHE_ENTRIES=0)
    auth = AuthActions(app.test_client())
    auth.login()
    assert auth.create_post("Hello").status_code == 302
    reader = app.test_client()

    at_root = reader.get("/").get_data(as_text=True)
    under_blog = reader.get("/", base_url="http://localhost/blog/")
    at_root_again = reader.get("/").get_data(as_text=True)

    assert post_links(at_root) == ["/posts/hello", "/posts/hello"]
    assert post_links(under_blog.get_data(as_text=True)) == [
        "/blog/posts/hello",
        "/blog/posts/hello",
    ]
    assert post_links(at_root_again) == post_links(at_root)


def test_external_addresses_are_built_from_each_request_never_remembered(app):
    links = Links()
    with app.test_request_context("/", base_url="http://one.example"):
        first = links.url_for("blog.index", _external=True)
    with app.test_request_context("/", base_url="http://two.example"):
        second = links.url_for("blog.index", _external=True)

    assert (first, second) == ("http://one.example/", "http://two.example/")
    assert links.built == {}


def test_a_process_remembers_a_bounded_number_of_addresses(app):
    links = Links(limit=3)
    with app.test_request_context("/"):
        addresses = [links.url_for("blog.post", slug=f"post-{n}") for n in range(10)]

    assert addresses == [f"/posts/post-{n}" for n in range(10)]
    assert 0 < len(links.built) <= 3


def test_in_debug_mode_every_address_is_built_anew(make_app):
    app = make_app("debug.db", DEBUG=True)

    assert EXTENSION_KEY not in app.extensions
    assert app.test_client().get("/").status_code == 200
