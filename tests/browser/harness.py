"""What the browser tests share: Debian's Chromium under playwright, the page's static files
as collectstatic gathers them, and a Tab (one user's window).

Needs Debian's Chromium at /usr/bin/chromium (`make browser-deps`) and the `playwright`
package (requirements-dev.txt; never `playwright install`, which downloads browsers).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from django.contrib.staticfiles import finders

from tests.e2e.client import User
from tests.live_server import LiveServer
from tests.services import missing

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Route

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "e2e-Pass-123456"  # what RestClient.register sets
# Every wait (actions and expect): anything that crosses the server, on a busy CI machine.
WAIT_MS = 15_000


def playwright_sync_api() -> Any:
    """playwright.sync_api, or skip (fail under BANTER_REQUIRE_SERVICES=1) without it or
    without Chromium."""
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} not found: `make browser-deps` installs Debian's chromium")
    try:
        from playwright import sync_api
    except ImportError:
        missing("the playwright package is not installed (requirements-dev.txt)")
    return sync_api


@contextmanager
def chromium(*args: str) -> Iterator[Browser]:
    """Headless Chromium with `args` added to the defaults; expect() waits WAIT_MS."""
    sync_api = playwright_sync_api()
    sync_api.expect.set_options(timeout=WAIT_MS)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless=new", "--no-sandbox", *args]
        )
        yield browser
        browser.close()


def serve_static(route: Route) -> None:
    """/static/<path> from the staticfiles finders: collectstatic's output, as nginx serves it."""
    path = unquote(urlsplit(route.request.url).path).removeprefix("/static/")
    found = finders.find(path)
    if isinstance(found, str):
        route.fulfill(path=found)
    else:
        route.fulfill(status=404, body="not found")


class Tab:
    """One page, with what the test asserts on besides the DOM."""

    def __init__(self, browser: Browser, server: LiveServer, name: str) -> None:
        # A browser context per user, like two windows. (Two tabs of one context would work
        # too, each tab keeps its own login, but Chromium then throttles the frames of the
        # tab not receiving input, which makes every action on it take seconds.)
        self.name = name
        self.context: BrowserContext = browser.new_context(viewport={"width": 1100, "height": 720})
        self.context.set_default_timeout(WAIT_MS)
        self.context.route(f"{server.url}/static/**", serve_static)
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.transports: set[str] = set()
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", self._on_dialog)
        self.handshakes = 0  # Engine.IO sessions opened (polling requests without a sid)
        self.page.on("request", self._on_request)
        self.page.on("websocket", self._on_request)

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _on_request(self, request: Any) -> None:
        # HTTP requests and WebSocket opens alike: which Engine.IO transports were used.
        match = re.search(r"/socket\.io/\?.*transport=(\w+)", request.url)
        if match:
            self.transports.add(match.group(1))
            self.handshakes += "sid=" not in request.url

    def login(self, url: str, username: str, password: str) -> None:
        self.page.goto(url)
        self.page.fill("#login-username", username)
        self.page.fill("#login-password", password)
        self.page.click("#login-form button[type=submit]")

    def member(self, user: User) -> Any:
        return self.page.locator(f'#members li[data-user-id="{user.id}"]')

    def message(self, text: str) -> Any:
        exactly = re.compile(f"^{re.escape(text)}$")
        return self.page.locator("#messages .message").filter(
            has=self.page.locator(".content", has_text=exactly)
        )

    def shot(self, directory: Path, label: str) -> Path:
        path = directory / f"{self.name}-{label}.png"
        self.page.screenshot(path=str(path))
        return path
