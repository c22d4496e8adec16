"""The official Socket.IO Admin UI, unchanged, in a real headless Chromium against Banter.

The UI is the `@socket.io/admin-ui` npm package's own build (ui/dist, a devDependency),
served to the browser as https://admin.socket.io, the hosted UI's origin, so the browser sends
what the hosted UI sends (Origin included). An operator's steps: open it, type the server URL
and the login in its connection form, look at the servers and the sockets, and disconnect a
user's socket from its page.

Needs Debian's Chromium (`make browser-deps`), the playwright package and node_modules
(`make node-deps`).
"""

from __future__ import annotations

import mimetypes
import re
import socket as socket_module
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
import socketio

from tests.browser.harness import WAIT_MS, chromium
from tests.e2e.client import RestClient
from tests.e2e.conftest import fresh_database, start_banter
from tests.e2e.test_admin_ui import PASSWORD, USERNAME, admin_settings
from tests.live_server import LiveServer
from tests.services import missing

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
UI_DIST = ROOT / "node_modules" / "@socket.io" / "admin-ui" / "ui" / "dist"
HOSTED = "https://admin.socket.io"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not (UI_DIST / "index.html").exists():
        missing("node_modules/@socket.io/admin-ui missing: run `make node-deps` (npm ci)")
    # Chromium's Local Network Access checks stop a public origin (admin.socket.io) from
    # reaching a loopback address (the test's server) unless the user grants it; a deployed
    # Banter is a public host, and a headless browser has nobody to ask.
    with chromium("--disable-features=LocalNetworkAccessChecks") as browser:
        yield browser


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with fresh_database(tmp_path_factory.mktemp("admin-ui-page-db")) as database:
        server = start_banter(
            database,
            tmp_path_factory.mktemp("admin-ui-page-logs"),
            "admin-ui-page",
            # The hosted UI's origin must be allowed: sockets check Origin.
            ALLOWED_ORIGINS=HOSTED,
            **admin_settings(database),
        )
        yield server
        server.stop()


def serve_ui(route: Route) -> None:
    """https://admin.socket.io/<path> from the package's build (offline: nothing fetched)."""
    path = urlsplit(route.request.url).path.lstrip("/") or "index.html"
    file = (UI_DIST / path).resolve()
    if UI_DIST.resolve() in file.parents and file.is_file():
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        route.fulfill(path=str(file), content_type=kind)
    else:
        route.fulfill(status=404, body="not found")


class UserSocket:
    """A user's socket: python-socketio's threaded client (long-polling: websocket-client is
    not a dependency)."""

    def __init__(self, url: str, token: str) -> None:
        self.client = socketio.Client(reconnection=False)
        self.disconnected = threading.Event()
        self.client.on("disconnect", lambda *args: self.disconnected.set())
        self.client.connect(url, auth={"token": token}, transports=["polling"])

    @property
    def sid(self) -> str:
        sid = self.client.get_sid()
        assert sid is not None
        return sid


def open_ui(browser: Browser, server: LiveServer) -> tuple[Page, list[str]]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(WAIT_MS)
    context.route(f"{HOSTED}/**", serve_ui)
    # Its fonts and icon font come from CDNs: not needed to work, and tests stay offline.
    context.route(
        re.compile(r"https://(fonts\.googleapis\.com|cdn\.jsdelivr\.net)/.*"),
        lambda route: route.fulfill(status=200, body="", content_type="text/css"),
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{HOSTED}/")
    page.get_by_label("Server URL").fill(server.url)
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Connect").click()
    return page, errors


def test_the_hosted_admin_ui_shows_banter_and_disconnects_a_socket(
    browser: Browser, admin_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    alice = RestClient(admin_server.url).register("alice")
    user = UserSocket(admin_server.url, alice.access)
    page, errors = open_ui(browser, admin_server)
    try:
        page.goto(f"{HOSTED}/#/servers/")
        servers = page.locator("table tbody tr")
        expect(servers.first).to_contain_text(socket_module.gethostname())

        page.goto(f"{HOSTED}/#/sockets/")
        row = page.locator("table tbody tr", has_text=user.sid)
        expect(row).to_contain_text("polling")

        page.goto(f"{HOSTED}/#/n/%2F/sockets/{user.sid}")
        expect(page.get_by_text(alice.username).first).to_be_visible()
        # The socket's table (the client's, beside it, has a Status row too).
        details = page.locator("table").filter(has=page.locator("td", has_text=user.sid))
        status = details.locator("tr").filter(
            has=page.locator("td.key-column", has_text=re.compile(r"^\s*Status\s*$"))
        )
        status.locator("button").click()
        assert user.disconnected.wait(WAIT_MS / 1000), "the UI's disconnect did not arrive"
        expect(status).to_contain_text("disconnected")
        assert errors == []
    finally:
        user.client.disconnect()
        page.context.close()
