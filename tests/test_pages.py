"""Small things every page gets right: unique landmarks, an icon."""

from __future__ import annotations

import re
from collections import Counter

import pytest


def search_landmarks(html: str) -> list[str]:
    """Return the accessible names of a page's search landmarks ('' for none)."""
    names = []
    for tag in re.findall(r"<form\b[^>]*>", html):
        if 'role="search"' in tag:
            label = re.search(r'aria-label="([^"]*)"', tag)
            names.append(label.group(1) if label else "")
    return names


@pytest.mark.parametrize("path", ["/search", "/search?q=hello", "/search?q=%21"])
def test_the_search_page_names_its_search_landmarks_apart(client, path):
    names = search_landmarks(client.get(path).text)
    assert len(names) == 2
    assert max(Counter(names).values()) == 1, names


def test_other_pages_have_one_search_landmark(client):
    assert search_landmarks(client.get("/").text) == [""]


def test_favicon_ico_is_a_cacheable_icon(client):
    with client.get("/favicon.ico") as response:
        assert response.status_code == 200
        assert response.mimetype == "image/x-icon"
        assert response.data[:4] == b"\x00\x00\x01\x00"  # the ICO signature
        assert "public" in response.headers["Cache-Control"]
        assert "max-age=604800" in response.headers["Cache-Control"]


def test_pages_link_the_svg_icon(client):
    html = client.get("/").text
    link = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', html)
    assert link, "the page links no icon"
    with client.get(link.group(1)) as icon:
        assert icon.status_code == 200
        assert icon.mimetype == "image/svg+xml"
        assert icon.text.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
