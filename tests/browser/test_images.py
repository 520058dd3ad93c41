"""A phone downloads the photos of a post at its own size, not the camera's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Response

from .photos import PhotoSite, serve_photo_post

pytestmark = [pytest.mark.browser, pytest.mark.apache]


@pytest.fixture(scope="module")
def photo_site() -> Iterator[PhotoSite]:
    """Serve a post of three 3000 × 4000 phone photos."""
    with serve_photo_post() as served:
        yield served


@pytest.mark.parametrize(("scale", "width"), [(1, 480), (2, 960), (3, 1600)])
def test_a_phone_loads_a_small_variant_of_each_photo(
    chromium: Browser, photo_site: PhotoSite, scale: int, width: int
):
    context = chromium.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=scale
    )
    try:
        page = context.new_page()
        loaded: list[Response] = []
        page.on(
            "response",
            lambda response: (
                loaded.append(response) if "/media/" in response.url else None
            ),
        )
        page.goto(photo_site.url + photo_site.path)
        # The later photos are lazy: scrolling brings them in.
        for photo in page.locator(".body img").all():
            photo.scroll_into_view_if_needed()
            photo.evaluate("img => img.decode()")
        names = sorted(response.url.rsplit("/", 1)[1] for response in loaded)
        # 358 CSS pixels wide (390 less the margins) times the pixel ratio:
        # the narrowest width that covers it, never the 3000 px original.
        assert len(names) == 3, names
        for stored in photo_site.names:
            assert stored not in names
        assert all(f"-{width}-" in name for name in names), names
        # Chromium reads AVIF, the lightest format offered.
        assert all(name.endswith(".avif") for name in names), names
        assert all(response.status == 200 for response in loaded)
        # Nothing moved as the photos came in: each had its box from the start.
        shift = page.evaluate(
            """() => new Promise(resolve => {
                let total = 0;
                new PerformanceObserver(list => {
                    for (const entry of list.getEntries()) total += entry.value;
                }).observe({type: "layout-shift", buffered: true});
                setTimeout(() => resolve(total), 500);
            })"""
        )
        assert shift < 0.01
    finally:
        context.close()
