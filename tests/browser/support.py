"""What the browser tests use: the served blog, its seed, axe-core, an actor.

The blog runs under mod_wsgi-express as the Apache tests start it; Chromium is
Debian's, driven by Playwright. An :class:`Actor` does what a person does, with
the mouse or with the keyboard alone, so one journey runs both ways.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from PIL import Image
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
)
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from homepage import create_app
from homepage.core.authors import create_author
from homepage.core.models import PAGE, POST, PUBLISHED, Author, Post
from homepage.core.posts import PostFields, check_post, save
from homepage.core.schema import init_db
from homepage.db import get_engine, write_transaction

from ..modwsgi import (
    PROJECT_ROOT,
    ModWsgiServer,
    ServerError,
    give_to_server,
    make_data_dir,
)
from ..support import PASSWORD

#: Debian's Chromium; Playwright's own download is never used.
CHROMIUM = "/usr/bin/chromium"
# Letters keep Flask's FLASK_* parsing from reading the key as a JSON number.
SECRET_KEY = "browser-test-key-" + "y" * 48
SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"

#: The viewports of the issue: a phone and a desktop.
VIEWPORTS = {
    "phone": {"width": 390, "height": 844},
    "desktop": {"width": 1280, "height": 800},
}
COLOR_SCHEMES = ("light", "dark")


@dataclass(frozen=True)
class Story:
    """A post the reader's site starts with."""

    title: str
    slug: str
    body: str
    tags: str = ""
    published_at: str = ""
    kind: str = POST
    #: An earlier body, saved first, so that the post has a version to compare.
    first_draft: str = ""


#: The posts of the reader's site, with fixed dates so screenshots stay alike.
STORIES = (
    Story(
        "Baking sourdough at home",
        "baking-sourdough-at-home",
        "A starter, flour, water and salt are all it takes. This is how a loaf "
        "comes together over two days in a small kitchen.\n\n"
        "## The starter\n\n"
        "Feed it twice a day for a week. It is ready when it **doubles** within "
        "six hours of a feed.\n\n"
        "## The dough\n\n"
        "- 500 g flour\n- 350 g water\n- 100 g starter\n- 10 g salt\n\n"
        "Keep notes as you go:\n\n"
        "```\nday 1: mixed at 21 °C\nday 2: baked at 250 °C\n```\n\n"
        "See [the river walk](/posts/a-walk-along-the-river) for what to do "
        "while it rises.",
        tags="bread, kitchen",
        published_at="2026-03-14T09:30",
        first_draft="A starter, flour, water and salt.",
    ),
    Story(
        "A walk along the river",
        "a-walk-along-the-river",
        "Three hours from the old bridge to the weir and back, with a stop for "
        "coffee halfway.\n\n"
        "## Getting there\n\n"
        "Take the early train; the path is quiet before nine.",
        tags="walks",
        published_at="2026-02-02T08:00",
    ),
    Story(
        "Notes on SQLite in WAL mode",
        "notes-on-sqlite-in-wal-mode",
        "Readers never wait for the writer, and the writer never waits for "
        "readers.\n\n"
        "## Checkpoints\n\n"
        "`PRAGMA wal_checkpoint(TRUNCATE);` keeps the log small.",
        tags="sqlite, kitchen",
        published_at="2025-11-20T18:45",
    ),
    Story(
        "About",
        "about",
        "This blog is about bread, walks and databases.",
        kind=PAGE,
    ),
)

#: A post whose Markdown starts at ``###``: the outline skips a level.
DEEP_HEADINGS = Story(
    "Deep headings",
    "deep-headings",
    "### A third-level heading first\n\nThe post title is the page's h1.",
    tags="notes",
    published_at="2025-06-01T12:00",
)
#: A post whose code block and table are wider than a phone.
WIDE_CONTENT = Story(
    "Wide code and tables",
    "wide-code-and-tables",
    "Some content is wider than the screen.\n\n"
    "```\n" + "long_line = " + "'x' * 40 + " * 12 + "'end'\n```\n\n"
    "| " + " | ".join(f"column {n}" for n in range(14)) + " |\n"
    "|" + "---|" * 14 + "\n"
    "| " + " | ".join(f"value {n}" for n in range(14)) + " |\n",
    tags="notes",
    published_at="2025-05-01T12:00",
)


@dataclass
class Site:
    """The blog under mod_wsgi-express and the database behind it."""

    server: ModWsgiServer
    data: Path

    @property
    def url(self) -> str:
        return self.server.url


def seed(database: Path, stories: tuple[Story, ...]) -> None:
    """Create the schema, the author alice and ``stories``, through the save path."""
    app = create_app(
        {"SECRET_KEY": SECRET_KEY, "DATABASE_URL": f"sqlite:///{database}"}
    )
    with app.app_context():
        init_db()
        author: Author = create_author("alice", PASSWORD)
        for story in stories:
            post: Post | None = None
            for body in filter(None, (story.first_draft, story.body)):
                fields = PostFields(
                    title=story.title,
                    slug=story.slug,
                    body=body,
                    tags=story.tags,
                    status=PUBLISHED,
                    kind=story.kind,
                    published_at=story.published_at,
                )
                assert not check_post(fields, post)
                with write_transaction():
                    post = save(post or Post(author=author), fields, author)
    # Closing the last connection removes -wal and -shm, so the serving user
    # creates its own instead of finding root's.
    get_engine(app).dispose()


@contextmanager
def serve(stories: tuple[Story, ...]) -> Iterator[Site]:
    """Serve a blog seeded with ``stories`` under mod_wsgi-express; stop it after."""
    data = make_data_dir("homepage-browser-")
    database = data / "blog.db"
    seed(database, stories)
    give_to_server(data)
    server = ModWsgiServer(
        PROJECT_ROOT / "homepage.wsgi",
        data,
        processes=2,
        threads=4,
        env={
            "FLASK_DATABASE_URL": f"sqlite:///{database}",
            "FLASK_SECRET_KEY": SECRET_KEY,
            # An empty instance folder, so a developer's instance/config.py
            # cannot point the server at the real blog.
            "HOMEPAGE_INSTANCE_PATH": str(data / "instance"),
        },
    )
    try:
        server.start()
    except ServerError as error:
        shutil.rmtree(data, ignore_errors=True)
        pytest.fail(str(error), pytrace=False)
    try:
        yield Site(server, data)
        assert not server.python_tracebacks(), server.error_log()
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


_AXE = Axe()


def axe_violations(page: Page) -> list[str]:
    """Run axe-core on the page as it is now; return one line per violation."""
    results = _AXE.run(page, options={"resultTypes": ["violations"]})
    found = []
    for violation in results.response["violations"]:
        targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]]
        found.append(
            f"{violation['id']} ({violation['impact']}): {violation['help']} "
            f"at {', '.join(targets[:5])}"
        )
    return found


def assert_accessible(page: Page) -> None:
    """Check the page with axe-core: zero violations of any impact."""
    found = axe_violations(page)
    assert not found, f"axe-core on {page.url}:\n" + "\n".join(found)


def assert_no_console_errors(browsing: Browsing) -> None:
    """Check that no page logged an error, but for the missing favicon.

    test_reader.py's test_pages_find_their_favicon covers that one.
    """
    errors = [e for e in browsing.console_errors if "favicon.ico" not in e]
    assert not errors, errors


def screenshot(page: Page, name: str) -> None:
    """Save what the viewport shows as docs/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", animations="disabled")


def png_bytes(width: int = 320, height: int = 200) -> bytes:
    """Return a small PNG: a sky over a field, as a photo would be."""
    image = Image.new("RGB", (width, height), (120, 170, 220))
    image.paste((70, 140, 60), (0, height * 2 // 3, width, height))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


class Actor:
    """A person using the page with the mouse: clicks and types in fields."""

    name = "mouse"

    def __init__(self, page: Page) -> None:
        self.page = page

    def check_accessible(self) -> None:
        """Check the page as it is now with axe-core."""
        assert_accessible(self.page)

    def activate(self, target: Locator) -> None:
        """Follow a link or press a button."""
        target.click()

    def type_into(self, field: Locator, text: str) -> None:
        """Replace what a field holds with ``text``."""
        field.click()
        field.fill(text)

    def choose(self, radio: Locator) -> None:
        """Pick a radio button."""
        radio.check()

    def type_date(self, field: Locator, value: str) -> None:
        """Set a date and time field to ``value`` (YYYY-MM-DDTHH:MM)."""
        field.fill(value)

    def choose_file(self, field: Locator, name: str, content: bytes) -> None:
        """Pick a file in a file field."""
        with self.page.expect_file_chooser() as chooser:
            field.click()
        chooser.value.set_files(
            {"name": name, "mimeType": "image/png", "buffer": content}
        )


class KeyboardActor(Actor):
    """A person using the keyboard alone: Tab to move, Enter and Space to act."""

    name = "keyboard"
    #: More Tab presses than any page of the blog has stops.
    MAX_TABS = 120

    def focus(self, target: Locator) -> None:
        """Press Tab until ``target`` has the focus, as a keyboard user does."""
        # One handle, so each step costs one round trip to the browser.
        element = target.element_handle()
        for _ in range(self.MAX_TABS):
            if element.evaluate("element => element === document.activeElement"):
                return
            self.page.keyboard.press("Tab")
        raise AssertionError(f"Tab never reaches {target} on {self.page.url}")

    def check_accessible(self) -> None:
        # The mouse's run passes through the same page states and checks
        # them; this run is about reaching everything by keyboard.
        pass

    def activate(self, target: Locator) -> None:
        self.focus(target)
        tag = target.evaluate("element => element.tagName")
        # Links follow Enter only; buttons take Space as well, as people use it.
        self.page.keyboard.press("Enter" if tag == "A" else "Space")

    def type_into(self, field: Locator, text: str) -> None:
        self.focus(field)
        self.page.keyboard.press("Control+A")
        self.page.keyboard.press("Delete")
        self.page.keyboard.type(text)

    def choose(self, radio: Locator) -> None:
        # Tab stops once in a group of radio buttons, at the checked one;
        # the arrow keys move the choice within it.
        group = radio.locator("xpath=ancestor::fieldset[1]").locator(
            "input[type=radio]:checked"
        )
        self.focus(group)
        for _ in range(10):
            if radio.is_checked():
                return
            self.page.keyboard.press("ArrowDown")
        raise AssertionError(f"the arrow keys never check {radio}")

    def type_date(self, field: Locator, value: str) -> None:
        # Chromium's field has a part per number, in the locale's order
        # (en-US: month, day, year, hour, minute, AM/PM). Typing a part's
        # digits moves on to the next, except after the year, which may
        # have more digits: Tab moves on from it.
        date, time = value.split("T")
        year, month, day = date.split("-")
        hour, minute = map(int, time.split(":"))
        self.focus(field)
        self.page.keyboard.type(f"{month}{day}{year}")
        self.page.keyboard.press("Tab")
        noon = "P" if hour >= 12 else "A"
        self.page.keyboard.type(f"{hour % 12 or 12:02d}{minute:02d}{noon}")

    def choose_file(self, field: Locator, name: str, content: bytes) -> None:
        # Now and then Chromium lets a Space on a just-focused file field pass
        # without opening the chooser (1 run in 4 on a loaded machine); a
        # person presses it again, and so does this, at most three times.
        for _ in range(3):
            self.focus(field)
            try:
                with self.page.expect_file_chooser(timeout=5_000) as chooser:
                    self.page.keyboard.press("Space")
            except PlaywrightTimeout:
                continue
            chooser.value.set_files(
                {"name": name, "mimeType": "image/png", "buffer": content}
            )
            return
        raise AssertionError(f"Space on {field} never opened the file chooser")


class Browsing:
    """Pages in fresh browser contexts, and the errors their consoles showed."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[BrowserContext] = []
        self.console_errors: list[str] = []

    def page(self, viewport: str = "desktop", color_scheme: str = "light") -> Page:
        """Open a page in a new context: no cookies, the given size and scheme."""
        context = self.browser.new_context(
            viewport=VIEWPORTS[viewport],
            color_scheme=color_scheme,
            locale="en-US",
            timezone_id="UTC",
        )
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: self._console(page, message))
        page.on("pageerror", lambda error: self.console_errors.append(str(error)))
        return page

    def _console(self, page: Page, message: ConsoleMessage) -> None:
        url = message.location["url"]
        # A page's own status (a 404 page, a form refused with 400) is no
        # error of the page; the tests check those statuses themselves.
        if message.type == "error" and url != page.url:
            self.console_errors.append(f"{message.text} ({url})")

    def close(self) -> None:
        """Close every context opened."""
        for context in self.contexts:
            context.close()
