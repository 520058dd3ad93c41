"""Bytes a phone downloads for a post of three phone photos, before and after.

Run from the project root after ``make install`` (needs mod_wsgi-express and
Debian's Chromium)::

    .venv/bin/python bench/image_bytes.py

It stores three 3000 × 4000 phone photos (2-4 MB of JPEG each) through the
upload path, serves a post showing them under mod_wsgi-express, opens it in
Chromium at a 390-pixel-wide viewport (pixel ratios 1, 2 and 3), scrolls
every photo into view and adds up the bytes of the image files the browser
fetched. "Before" is what the post cost when it showed each upload as it was:
the three original files. docs/performance.md keeps the figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import Response, sync_playwright

BENCH = Path(__file__).resolve().parent
# The project root, for the package and the test suite's helpers.
sys.path.insert(0, str(BENCH.parent))

from tests.browser.photos import serve_photo_post  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def main() -> None:
    with serve_photo_post() as site, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"]
        )
        before = sum(site.uploaded.values())
        print(f"before: the 3 originals, {before:,} bytes")
        for scale in (1, 2, 3):
            context = browser.new_context(
                viewport={"width": 390, "height": 844}, device_scale_factor=scale
            )
            page = context.new_page()
            loaded: list[Response] = []
            page.on("response", lambda response, seen=loaded: seen.append(response))
            page.goto(site.url + site.path)
            for photo in page.locator(".body img").all():
                photo.scroll_into_view_if_needed()
                photo.evaluate("img => img.decode()")
            loaded = [response for response in loaded if "/media/" in response.url]
            after = sum(len(response.body()) for response in loaded)
            names = ", ".join(
                response.url.rsplit("/", 1)[1][33:] for response in loaded
            )
            print(
                f"after, 390 px at {scale}x: {after:,} bytes "
                f"({after / before:.1%} of before): {names}",
                flush=True,
            )
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
