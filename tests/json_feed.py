"""The rules of JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/), as a checker.

No JSON Schema library is a dependency, and the specification's rules are
few: each field's type, the required ones, dates in RFC 3339, and names of
extensions starting with an underscore.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlsplit

VERSION = "https://jsonfeed.org/version/1.1"
RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z"
)

STRING, BOOLEAN, NUMBER = "string", "boolean", "number"
URL, DATE = "url", "date"
AUTHORS, STRINGS, HUBS, ATTACHMENTS = "authors", "strings", "hubs", "attachments"

TOP_LEVEL = {
    "version": STRING,
    "title": STRING,
    "home_page_url": URL,
    "feed_url": URL,
    "description": STRING,
    "user_comment": STRING,
    "next_url": URL,
    "icon": URL,
    "favicon": URL,
    "authors": AUTHORS,
    "language": STRING,
    "expired": BOOLEAN,
    "hubs": HUBS,
    "items": "items",
}
ITEM = {
    "id": STRING,
    "url": URL,
    "external_url": URL,
    "title": STRING,
    "content_html": STRING,
    "content_text": STRING,
    "summary": STRING,
    "image": URL,
    "banner_image": URL,
    "date_published": DATE,
    "date_modified": DATE,
    "authors": AUTHORS,
    "tags": STRINGS,
    "language": STRING,
    "attachments": ATTACHMENTS,
}
AUTHOR = {"name": STRING, "url": URL, "avatar": URL}
HUB = {"type": STRING, "url": URL}
ATTACHMENT = {
    "url": URL,
    "mime_type": STRING,
    "title": STRING,
    "size_in_bytes": NUMBER,
    "duration_in_seconds": NUMBER,
}


def json_feed_errors(feed) -> list[str]:
    """Return what breaks the rules of JSON Feed 1.1 in ``feed``, parsed JSON."""
    errors: list[str] = []
    if not isinstance(feed, dict):
        return ["the feed is not an object"]
    _check_object(feed, TOP_LEVEL, ("version", "title", "items"), "feed", errors)
    if feed.get("version") != VERSION:
        errors.append(f"feed.version is not {VERSION}")
    for index, item in enumerate(feed.get("items") or []):
        where = f"items[{index}]"
        if not isinstance(item, dict):
            errors.append(f"{where} is not an object")
            continue
        _check_object(item, ITEM, ("id",), where, errors)
        if "content_html" not in item and "content_text" not in item:
            errors.append(f"{where} has neither content_html nor content_text")
    return errors


def _check_object(value: dict, fields: dict, required, where: str, errors) -> None:
    """Check the fields of one object against ``fields``, name by name."""
    for name in required:
        if name not in value:
            errors.append(f"{where}.{name} is missing")
    for name, field in value.items():
        if name.startswith("_"):
            continue  # an extension
        if name not in fields:
            errors.append(f"{where}.{name} is not a JSON Feed field")
            continue
        _check_field(field, fields[name], f"{where}.{name}", errors)


def _check_field(value, rule: str, where: str, errors: list[str]) -> None:
    """Check one field's value against its rule."""
    if rule == STRING:
        ok = isinstance(value, str)
    elif rule == BOOLEAN:
        ok = isinstance(value, bool)
    elif rule == NUMBER:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif rule == URL:
        ok = isinstance(value, str) and bool(urlsplit(value).scheme)
    elif rule == DATE:
        ok = isinstance(value, str) and _is_rfc3339(value)
    elif rule == STRINGS:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    elif rule == "items":
        ok = isinstance(value, list)
    else:
        shape = {AUTHORS: AUTHOR, HUBS: HUB, ATTACHMENTS: ATTACHMENT}[rule]
        ok = isinstance(value, list) and all(isinstance(v, dict) for v in value)
        for index, part in enumerate(value if ok else []):
            required = {HUBS: ("type", "url"), ATTACHMENTS: ("url", "mime_type")}
            _check_object(
                part, shape, required.get(rule, ()), f"{where}[{index}]", errors
            )
            if rule == AUTHORS and not part:
                errors.append(f"{where}[{index}] is empty")
    if not ok:
        errors.append(f"{where} is not a valid {rule}: {value!r}")


def _is_rfc3339(text: str) -> bool:
    """Tell whether ``text`` is an RFC 3339 date and time."""
    if not RFC3339.match(text):
        return False
    try:
        datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
