"""A person who opens a feed sees a page about it; feed readers see the same XML."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import feedparser

from homepage.web.security import READER_CSP

XSL = "{http://www.w3.org/1999/XSL/Transform}"
STYLESHEET_PI = re.compile(
    r'<\?xml-stylesheet type="text/xsl" href="(/static/feed\.xsl\?v=[0-9a-f]+)"\?>'
)


def stylesheet_of(feed: str) -> str:
    match = STYLESHEET_PI.search(feed)
    assert match, "the feed names no stylesheet"
    # A processing instruction belongs before the root element.
    assert match.start() < feed.index("<feed")
    return match.group(1)


def test_the_feed_names_its_stylesheet_and_stays_valid_atom(client, auth):
    auth.login()
    auth.create_post("Hello feed", tags="news")
    for path in ("/feed.atom", "/tags/news/feed.atom"):
        response = client.get(path)
        assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
        stylesheet_of(response.text)
        feed = feedparser.parse(response.data)
        assert feed.bozo == 0, feed.get("bozo_exception")
        assert feed.version == "atom10"
        assert [entry.title for entry in feed.entries] == ["Hello feed"]


def test_the_stylesheet_is_served_as_xslt_and_is_well_formed(client):
    with client.get(stylesheet_of(client.get("/feed.atom").text)) as response:
        assert response.status_code == 200
        assert response.mimetype == "application/xslt+xml"
        source = response.data
    root = ET.fromstring(source)
    assert root.tag == f"{XSL}stylesheet"
    assert root.get("version") == "1.0"
    assert root.find(f"{XSL}output").get("method") == "html"
    matches = {template.get("match") for template in root.iter(f"{XSL}template")}
    assert matches == {"/atom:feed", "atom:entry"}
    text = source.decode()
    # It explains what a feed is, and lists the entries with links.
    assert "This is a <strong>web feed</strong>" in text
    assert "<a href=\"{atom:link[@rel='alternate']/@href}\">" in text


def test_the_stylesheet_needs_nothing_the_csp_forbids(client):
    with client.get("/static/feed.xsl") as response:
        root = ET.fromstring(response.data)
    # Nothing inline: no style or script elements or attributes, no event
    # handlers; the page's look comes from the site's own stylesheet.
    for element in root.iter():
        assert element.tag not in ("style", "script"), element.tag
        assert not any(
            name == "style" or name.startswith("on") for name in element.attrib
        ), element.attrib
    links = [element.attrib for element in root.iter("link")]
    assert {"rel": "stylesheet", "href": "/static/style.css"} in links
    # Loading the stylesheet and the CSS is allowed by the feed's own policy.
    policy = client.get("/feed.atom").headers["Content-Security-Policy"]
    assert policy == READER_CSP
    assert "default-src 'self'" in policy
    assert "script-src" not in policy and "style-src" not in policy
