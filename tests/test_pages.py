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
