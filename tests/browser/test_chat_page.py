"""The web chat page (banter/web) in a real headless Chromium: two users side by side.

A live `manage.py serve` on a fresh database (DEBUG off, as in production) serves the page
at `/`; its static files are served from what `collectstatic` would gather (the staticfiles
finders), the way nginx serves /static/ in docker-compose. Alice and Bob log in in two
browser windows (contexts).

Needs Debian's Chromium at /usr/bin/chromium (`make browser-deps`) and the `playwright`
package (requirements-dev.txt; never `playwright install`, which downloads browsers).
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.core.management import call_command

from tests.browser.harness import PASSWORD, WAIT_MS, Tab, chromium
from tests.e2e.client import RestClient
from tests.e2e.conftest import fresh_database, start_banter
from tests.live_server import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, FilePayload, Page

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

XSS = "<img src=x onerror=alert(1)>"
# The page's policy (banter/web/views.py), spelled out: images only from 'self' and data:,
# which is why the page shows attachments as data: URLs fetched with its token.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def web_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(tmp_path_factory.mktemp("web-db")) as database_url:
        yield database_url


@pytest.fixture(scope="module")
def page_server(
    web_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    # Offline shows 1 s after the last connection closed, not 5.
    server = start_banter(
        web_database, tmp_path_factory.mktemp("web-logs"), "web", PRESENCE_OFFLINE_GRACE="1"
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def push_server(
    web_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server with VAPID keys (page_server has none): the page offers push notifications."""
    printed = io.StringIO()
    call_command("vapid_keys", stdout=printed)  # VAPID_PUBLIC_KEY=... and VAPID_PRIVATE_KEY=...
    keys = dict(line.split("=", 1) for line in printed.getvalue().split())
    server = start_banter(
        web_database,
        tmp_path_factory.mktemp("web-push-logs"),
        "web-push",
        VAPID_SUBJECT="mailto:t@example.com",
        **keys,
    )
    yield server
    server.stop()


def test_two_users_chat_in_the_browser(
    browser: Browser,
    page_server: LiveServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from playwright.sync_api import expect

    started = time.monotonic()
    rest = RestClient(page_server.url)
    alice, bob, dan = rest.register("alice"), rest.register("bob"), rest.register("dan")
    # Newest room first in the list: the page opens "Browser test".
    other_room = rest.create_room(alice, "Backlog", [bob, dan])
    room = rest.create_room(alice, "Browser test", [bob])
    screenshots: list[Path] = []

    a, b = Tab(browser, page_server, "alice"), Tab(browser, page_server, "bob")
    url = page_server.url + "/"

    # Log in: a wrong password is refused on the page; then both windows, as two users.
    b.login(url, bob.username, "not-the-password")
    expect(b.page.locator("#login-error")).to_contain_text("Wrong username or password")
    b.page.fill("#login-password", PASSWORD)
    b.page.click("#login-form button[type=submit]")
    a.login(url, alice.username, PASSWORD)
    for tab in (a, b):
        expect(tab.page.locator("#conn-status")).to_have_attribute("data-state", "connected")
        expect(tab.page.locator("#room-title")).to_have_text("Browser test")
    expect(a.page.locator("#me-name")).to_have_text("alice")
    expect(b.page.locator("#me-name")).to_have_text("bob")  # one session per window

    # Presence: each sees the other online (from join-room).
    expect(a.member(bob)).to_have_attribute("data-presence", "online")
    expect(b.member(alice)).to_have_attribute("data-presence", "online")

    # Typing: alice types, bob sees the indicator.
    composer = a.page.locator("#composer")
    composer.press_sequentially("Hi Bob, lunch at noon?")
    expect(b.page.locator("#typing")).to_have_text("alice is typing…")

    # Send: bob sees the message; the indicator goes; alice's optimistic copy is reconciled
    # with the stored message (same id on both sides, clientId kept).
    composer.press("Enter")
    expect(b.message("Hi Bob, lunch at noon?")).to_have_count(1)
    expect(b.page.locator("#typing")).to_have_text("")
    sent = a.message("Hi Bob, lunch at noon?")
    expect(sent).not_to_have_class(re.compile(r"\bpending\b"))
    expect(sent).to_have_count(1)
    message_id = sent.get_attribute("data-id")
    assert message_id and sent.get_attribute("data-client-id")
    assert b.message("Hi Bob, lunch at noon?").get_attribute("data-id") == message_id

    # Read receipts: bob's tab is visible and shows the message, so it marks it read, and
    # alice sees "Seen by bob".
    expect(a.page.locator("#seen-by")).to_have_text("Seen by bob")

    # Bob types back while alice watches: the screenshot shows typing and "seen by".
    b.page.locator("#composer").press_sequentially("Sure")
    expect(a.page.locator("#typing")).to_have_text("bob is typing…")
    screenshots.append(a.shot(tmp_path, "typing-and-seen"))
    b.page.locator("#composer").press("Enter")
    expect(a.message("Sure")).to_have_count(1)

    # User content is text: the markup shows literally, no element and no alert.
    b.page.locator("#composer").fill(XSS)
    b.page.locator("#composer").press("Enter")
    expect(a.message(XSS).locator(".content")).to_have_text(XSS)
    expect(b.message(XSS).locator(".content")).to_have_text(XSS)
    assert a.page.locator("#messages img").count() == 0
    assert b.page.locator("#messages img").count() == 0

    # Edit and delete own messages; the other side follows.
    sent = a.page.locator(f'#messages .message[data-id="{message_id}"]')
    sent.hover()
    sent.locator("button.edit").click()
    sent.locator(".edit-input").fill("Hi Bob, lunch at one?")
    sent.locator(".edit-input").press("Enter")
    edited = b.page.locator(f'#messages .message[data-id="{message_id}"]')
    expect(edited.locator(".content")).to_have_text("Hi Bob, lunch at one?")
    expect(edited.locator(".edited")).to_have_text("(edited)")

    # React: bob picks 👍 under alice's message, alice sees it and adds hers by its chip.
    edited.hover()
    edited.locator('.picker button[data-emoji="👍"]').click()
    theirs = sent.locator('.reaction[data-emoji="👍"]')
    expect(theirs).to_have_text("👍 1")
    expect(theirs).to_have_attribute("aria-pressed", "false")
    theirs.click()
    expect(theirs).to_have_text("👍 2")
    expect(theirs).to_have_attribute("aria-pressed", "true")
    expect(edited.locator('.reaction[data-emoji="👍"]')).to_have_text("👍 2")

    # Search: bob finds alice's edited message, the match marked, and opens its room.
    b.page.fill("#search", "one")
    b.page.locator("#search").press("Enter")
    hit = b.page.locator(f'#search-results .search-hit[data-id="{message_id}"]')
    expect(hit.locator(".snippet")).to_have_text("Hi Bob, lunch at one?")
    expect(hit.locator(".snippet mark")).to_have_text("one")
    hit.click()
    expect(b.page.locator("#room-title")).to_have_text("Browser test")
    composer.fill("never mind")
    composer.press("Enter")
    oops = a.message("never mind")
    expect(oops).to_have_attribute("data-id", re.compile(r"\d+"))
    oops = a.page.locator(f'#messages .message[data-id="{oops.get_attribute("data-id")}"]')
    oops.hover()
    oops.locator("button.delete").click()
    gone = b.page.locator(f'#messages .message[data-id="{oops.get_attribute("data-id")}"]')
    expect(gone).to_have_class(re.compile(r"\bdeleted\b"))
    expect(gone.locator(".content")).to_have_text("message deleted")

    # Notifications: a mention raises bob's badge.
    composer.fill(f"@{bob.username} see above")
    composer.press("Enter")
    expect(b.page.locator("#notif-count")).to_have_text("1")

    # Unread counts and history paging: 35 messages in another room (sent over REST)
    # count up on alice's room list; opening it shows the newest page, then older ones.
    # Two senders: REST sends spend the send-message budget, a burst of 20 per user.
    for n in range(1, 36):
        rest.call(
            "POST",
            f"/api/rooms/{other_room['id']}/messages",
            {"content": f"backlog {n}"},
            token=(bob if n % 2 else dan).access,
        )
    backlog = a.page.locator(f'#rooms button[data-room-id="{other_room["id"]}"]')
    expect(backlog.locator(".unread")).to_have_text("35")
    screenshots.append(a.shot(tmp_path, "unread"))
    backlog.click()
    expect(a.page.locator("#room-title")).to_have_text("Backlog")
    expect(a.message("backlog 35")).to_have_count(1)
    expect(a.page.locator("#messages .message")).to_have_count(30)
    expect(backlog.locator(".unread")).to_be_hidden()  # read on open
    a.page.click("#load-older")
    expect(a.page.locator("#messages .message")).to_have_count(35)
    expect(a.page.locator("#messages .message .content").first).to_have_text("backlog 1")
    expect(a.page.locator("#load-older")).to_be_hidden()

    # Presence: bob's tab closes; alice sees his dot go grey with a "last seen".
    expect(a.member(bob)).to_have_attribute("data-presence", "online")
    screenshots.append(b.shot(tmp_path, "before-close"))
    b.page.close()
    expect(a.member(bob)).to_have_attribute("data-presence", "offline")
    expect(a.member(bob).locator(".dot")).to_have_class(re.compile(r"\boffline\b"))
    expect(a.member(bob).locator(".last-seen")).to_contain_text("last seen")
    screenshots.append(a.shot(tmp_path, "bob-offline"))

    # Connection status: the server restarts; the page shows it reconnecting, then
    # reconnects by itself and receives messages again.
    page_server.stop()
    expect(a.page.locator("#conn-status")).to_have_attribute("data-state", "reconnecting")
    # Optimistic display: a message written offline shows at once, pending...
    composer.fill("written offline")
    composer.press("Enter")
    offline = a.message("written offline")
    expect(offline).to_have_class(re.compile(r"\bpending\b"))
    expect(offline.locator(".time")).to_have_text("waiting for connection…")
    screenshots.append(a.shot(tmp_path, "reconnecting"))
    page_server.start(timeout=30)
    expect(a.page.locator("#conn-status")).to_have_attribute(
        "data-state", "connected", timeout=30_000
    )
    # ... and is sent and reconciled with the stored message once the page is back.
    expect(offline).to_have_attribute("data-id", re.compile(r"\d+"))
    expect(offline).not_to_have_class(re.compile(r"\bpending\b"))
    rest.call(
        "POST", f"/api/rooms/{other_room['id']}/messages", {"content": "back"}, token=bob.access
    )
    expect(a.message("back")).to_have_count(1)
    a.page.click(f'#rooms button[data-room-id="{room["id"]}"]')
    expect(a.message("Sure")).to_have_count(1)
    expect(a.page.locator("#seen-by")).to_have_text("Seen by bob")  # read before he left
    screenshots.append(a.shot(tmp_path, "final"))

    # The default transports were used: long-polling first, then the WebSocket upgrade.
    assert "polling" in a.transports | b.transports
    assert "websocket" in a.transports
    expect(a.page.locator("#conn-status")).to_contain_text("websocket")
    assert a.dialogs == [] and b.dialogs == [], "a dialog opened: user content ran as HTML"
    assert a.errors == [] and b.errors == [], f"uncaught page errors: {a.errors + b.errors}"
    a.context.close()
    b.context.close()

    with capsys.disabled():
        print(f"\nbrowser test took {time.monotonic() - started:.1f}s; screenshots:")
        for path in screenshots:
            print(f"  {path}")


def test_failed_send_is_shown_and_can_be_retried(browser: Browser, page_server: LiveServer) -> None:
    """The server refuses a send (the `message` rate limit's burst of 20 is spent): the
    message stays on the page marked "Not sent" with the reason; Retry sends it again with
    the same clientId."""
    from playwright.sync_api import expect

    rest = RestClient(page_server.url)
    carol, dave = rest.register("carol"), rest.register("dave")
    rest.create_room(carol, "Burst", [dave])
    c = Tab(browser, page_server, "carol")
    c.login(page_server.url + "/", carol.username, PASSWORD)
    expect(c.page.locator("#conn-status")).to_have_attribute("data-state", "connected")
    # 40 sends at once: the burst of 20 passes, and unless the server needs over 12 s for
    # them (a token per 0.6 s), some of the rest are refused.
    c.page.evaluate(
        """() => {
            const composer = document.getElementById("composer");
            for (let n = 1; n <= 40; n++) {
                composer.value = `burst ${n}`;
                document.getElementById("composer-form").requestSubmit();
            }
        }"""
    )
    failed = c.page.locator("#messages .message.failed")
    expect(failed.first.locator(".failure")).to_contain_text("Not sent: ")
    expect(c.page.locator("#messages .message.pending")).to_have_count(0)
    refused = failed.count()
    assert 1 <= refused <= 20
    expect(c.page.locator("#messages .message[data-id]:not([data-id=''])")).to_have_count(
        40 - refused
    )
    first = failed.first
    text = first.locator(".content").inner_text()
    c.page.wait_for_timeout(1_500)  # the bucket refills one token per 0.6 s
    first.get_by_role("button", name="Retry").click()
    retried = c.message(text)
    expect(retried).to_have_attribute("data-id", re.compile(r"\d+"))
    expect(retried).not_to_have_class(re.compile(r"\bfailed\b"))
    expect(failed).to_have_count(refused - 1)
    assert c.errors == [] and c.dialogs == []
    c.context.close()


def test_access_token_is_refreshed_before_it_expires(
    browser: Browser, web_database: str, tmp_path: Path
) -> None:
    """Access tokens of 6 s: `auth:expiring` comes 2 s before expiry, the page refreshes its
    tokens over REST and hands the new one to the socket (`auth:refresh`), so the server does
    not disconnect it at expiry (+1 s grace) and the same session keeps working."""
    from playwright.sync_api import expect

    server = start_banter(web_database, tmp_path, "web-short-tokens", JWT_ACCESS_SECONDS="6")
    try:
        rest = RestClient(server.url)
        erin = rest.register("erin")
        rest.create_room(erin, "Refresh", [])
        e = Tab(browser, server, "erin")
        e.login(server.url + "/", erin.username, PASSWORD)
        logged_in = time.monotonic()
        expect(e.page.locator("#conn-status")).to_have_attribute("data-state", "connected")
        read_token = "() => JSON.parse(sessionStorage.getItem('banter.session')).access"
        first = e.page.evaluate(read_token)
        e.page.wait_for_function(f"(old) => ({read_token})() !== old", arg=first)
        # Past the first token's expiry and grace: still the first Engine.IO session.
        e.page.wait_for_timeout(max(0.0, 10 - (time.monotonic() - logged_in)) * 1000)
        expect(e.page.locator("#conn-status")).to_have_attribute("data-state", "connected")
        assert e.handshakes == 1
        e.page.locator("#composer").fill("still here")
        e.page.locator("#composer").press("Enter")
        expect(e.message("still here")).to_have_attribute("data-id", re.compile(r"\d+"))
        assert e.errors == []
        e.context.close()
    finally:
        server.stop()


def png_image(width: int, height: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (230, 120, 40)).save(out, format="PNG")
    return out.getvalue()


def test_attachments_are_uploaded_sent_and_shown(browser: Browser, page_server: LiveServer) -> None:
    """Alice attaches an image and a text file (the file input; a dropped file shows its
    upload progress and is removed) and sends them with a caption; Bob's page shows the
    image's thumbnail, fetched with his token (the CSP allows images from 'self' and data:
    only), reacts to the message, opens and downloads the files by signed links, and finds
    the caption by search. A non-member's token gets nothing."""
    from playwright.sync_api import expect

    rest = RestClient(page_server.url)
    alice, bob, eve = rest.register("alice"), rest.register("bob"), rest.register("eve")
    room = rest.create_room(alice, "Photos", [bob])
    url = page_server.url + "/"
    assert rest.get_bytes("/").headers["content-security-policy"] == PAGE_CSP

    a, b, e = (Tab(browser, page_server, name) for name in ("alice", "bob", "eve"))
    refused: list[str] = []  # what the CSP blocked, as Chromium reports it on the console

    def on_console(message: Any) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    for tab in (a, b):
        tab.page.on("console", on_console)
    a.login(url, alice.username, PASSWORD)
    b.login(url, bob.username, PASSWORD)
    for tab in (a, b):
        expect(tab.page.locator("#conn-status")).to_have_attribute("data-state", "connected")
        expect(tab.page.locator("#room-title")).to_have_text("Photos")

    # Attach: each file uploads at once and shows as a chip above the composer, the image
    # with its thumbnail.
    tides = b"High tide 06:12, low tide 12:30\n"
    files: list[FilePayload] = [
        {"name": "harbour.png", "mimeType": "image/png", "buffer": png_image(640, 480)},
        {"name": "tides.txt", "mimeType": "text/plain", "buffer": tides},
    ]
    a.page.set_input_files("#attach-input", files)
    chips = a.page.locator("#pending-attachments .pending-attachment")
    uploading = a.page.locator("#pending-attachments .pending-attachment.uploading")
    expect(chips).to_have_count(2)
    expect(uploading).to_have_count(0)
    expect(chips.first.locator("img.attachment-image")).to_have_js_property("naturalWidth", 320)

    # A file dropped on the timeline over a slow link (DevTools throttles uploads to
    # 100 kB/s): its chip shows the progress, and removing it cancels the upload.
    devtools = a.context.new_cdp_session(a.page)
    devtools.send("Network.enable")
    slow = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 100_000}
    devtools.send("Network.emulateNetworkConditions", slow)
    dropped = a.page.evaluate_handle(
        """() => {
            const data = new DataTransfer();
            data.items.add(new File(["x".repeat(300000)], "draft.txt", { type: "text/plain" }));
            return data;
        }"""
    )
    a.page.dispatch_event("#messages-pane", "drop", {"dataTransfer": dropped})
    expect(uploading).to_have_count(1)
    a.page.wait_for_function(
        """() => {
            const bar = document.querySelector("#pending-attachments .uploading progress");
            return bar?.value > 0 && bar.value < 1;
        }"""
    )
    uploading.get_by_role("button", name="Remove draft.txt").click()
    devtools.send("Network.emulateNetworkConditions", {**slow, "uploadThroughput": -1})
    expect(chips).to_have_count(2)
    expect(a.page.locator("#notice")).to_have_text("")  # cancelled is no error
    a.page.set_input_files(
        "#attach-input",
        {"name": "blob.bin", "mimeType": "application/octet-stream", "buffer": b"\x00\x01\x02"},
    )
    expect(a.page.locator("#notice")).to_contain_text("Could not upload blob.bin: ")
    expect(chips).to_have_count(2)

    # Send with a caption: the chips go, both sides show the files under one message.
    a.page.locator("#composer").fill("Sunset over the harbour")
    a.page.locator("#composer").press("Enter")
    expect(a.page.locator("#pending-attachments")).to_be_hidden()
    sent = a.message("Sunset over the harbour")
    expect(sent).to_have_attribute("data-id", re.compile(r"\d+"))
    message_id = sent.get_attribute("data-id")
    stored = rest.call("GET", f"/api/rooms/{room['id']}/messages", token=bob.access)["results"]
    [message] = [m for m in stored if str(m["id"]) == message_id]
    image, text = message["attachments"]
    assert (image["name"], image["width"], text["name"]) == ("harbour.png", 640, "tides.txt")
    assert message["messageType"] == "file"

    shown = b.page.locator(f'#messages .message[data-id="{message_id}"]')
    thumbnail = shown.locator(".attachments img.attachment-image")
    expect(thumbnail).to_have_attribute("src", re.compile(r"^data:image/"))
    expect(thumbnail).to_have_js_property("naturalWidth", 320)  # the thumbnail, loaded
    chip = shown.locator(".attachments .attachment-file")
    expect(chip).to_have_count(1)
    expect(chip.locator(".attachment-name")).to_have_text("tides.txt")
    expect(chip.locator(".attachment-size")).to_have_text(f"{len(tides)} B")
    expect(sent.locator(".attachments img.attachment-image")).to_have_js_property(
        "naturalWidth", 320
    )

    # React: the message re-renders on both sides; the image stays loaded.
    shown.hover()
    shown.locator('.picker button[data-emoji="🎉"]').click()
    expect(sent.locator('.reaction[data-emoji="🎉"]')).to_have_text("🎉 1")
    expect(shown.locator('.reaction[data-emoji="🎉"]')).to_have_attribute("aria-pressed", "true")
    expect(thumbnail).to_have_js_property("naturalWidth", 320)

    # Open and download: by signed links, which the browser uses without the tab's token.
    with b.context.expect_page() as opened:
        thumbnail.click()
    viewer = opened.value
    viewer.wait_for_load_state()
    assert re.search(rf"/api/uploads/{image['id']}/file\?sig=", viewer.url), viewer.url
    assert viewer.evaluate("() => document.images[0]?.naturalWidth") == 640
    viewer.close()
    with b.page.expect_download() as downloading:
        chip.click()
    download = downloading.value
    assert download.suggested_filename == "tides.txt"
    assert Path(download.path()).read_bytes() == tides

    # Search finds the caption.
    b.page.fill("#search", "harbour")
    b.page.locator("#search").press("Enter")
    hit = b.page.locator(f'#search-results .search-hit[data-id="{message_id}"]')
    expect(hit.locator(".snippet mark")).to_have_text("harbour")

    # The caption can be edited away: the files stay, with no empty text line.
    own = a.page.locator(f'#messages .message[data-id="{message_id}"]')
    own.hover()
    own.locator("button.edit").click()
    own.locator(".edit-input").fill("")
    own.locator(".edit-input").press("Enter")
    expect(shown.locator(".edited")).to_have_text("(edited)")
    expect(shown.locator(".content")).to_have_count(0)
    expect(thumbnail).to_have_js_property("naturalWidth", 320)

    # Eve, logged in in her own window, is no member: her token opens none of it.
    e.login(url, eve.username, PASSWORD)
    expect(e.page.locator("#me-name")).to_have_text("eve")
    statuses = e.page.evaluate(
        """async (paths) => {
            const token = JSON.parse(sessionStorage.getItem("banter.session")).access;
            const statuses = [];
            for (const path of paths) {
                const headers = { Authorization: `Bearer ${token}` };
                statuses.push((await fetch(path, { headers, credentials: "omit" })).status);
            }
            return statuses;
        }""",
        [image["url"], image["thumbnailUrl"], text["url"], f"/api/uploads/{image['id']}"],
    )
    assert all(status in (403, 404) for status in statuses), statuses

    assert refused == [], refused
    for tab in (a, b, e):
        assert tab.errors == [] and tab.dialogs == [], (tab.name, tab.errors, tab.dialogs)
        tab.context.close()
    assert rest.get_bytes("/").headers["content-security-policy"] == PAGE_CSP


def _notifications(page: Page) -> list[dict[str, Any]]:
    return page.evaluate(
        """async () => {
            const registration = await navigator.serviceWorker.ready;
            const shown = await registration.getNotifications();
            return shown.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }));
        }"""
    )


def _until(page: Page, check: Any, what: str) -> Any:
    """Poll `check()` until truthy, letting Playwright deliver its events meanwhile."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(100)
    return result


def test_push_notifications_on_the_page(browser: Browser, push_server: LiveServer) -> None:
    """With VAPID keys on the server: the page registers its service worker (scope /, under
    the page's CSP) and offers the push toggle, do not disturb and a room's mute; the worker
    shows a push as a notification per room and a click on it opens the room; /?room=<id>
    opens that room.

    Headless Chromium cannot subscribe (no push service here, and no Push API in Playwright's
    incognito-like contexts), so pushes are handed to the worker by DevTools
    (ServiceWorker.deliverPushMessage), which is what a push service's message becomes."""
    from playwright.sync_api import expect

    rest = RestClient(push_server.url)
    frank, gina = rest.register("frank"), rest.register("gina")
    quiet = rest.create_room(frank, "Quiet", [gina])
    busy = rest.create_room(frank, "Busy", [gina])  # the newest: opened unless asked otherwise
    url = push_server.url + "/"
    f = Tab(browser, push_server, "frank")
    refused: list[str] = []
    f.page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    devices_posted: list[str] = []
    f.page.on(
        "request",
        lambda request: (
            devices_posted.append(request.url)
            if request.method == "POST" and request.url.endswith("/api/devices")
            else None
        ),
    )

    # The address names a room (a notification clicked with no page open): after the login
    # the page shows it, and takes it off the address.
    f.login(f"{url}?room={quiet['id']}", frank.username, PASSWORD)
    expect(f.page.locator("#room-title")).to_have_text("Quiet")
    expect(f.page).to_have_url(url)

    # The worker: registered at the root under the page's CSP, active, controlling the page.
    toggle = f.page.locator("#push-toggle")
    expect(toggle).to_be_visible()
    expect(toggle).to_have_text("Push: off")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    f.page.wait_for_function("() => navigator.serviceWorker.controller?.state === 'activated'")
    registration = f.page.evaluate(
        """async () => {
            const registration = await navigator.serviceWorker.ready;
            return { scope: registration.scope, script: registration.active.scriptURL };
        }"""
    )
    assert registration == {"scope": url, "script": push_server.url + "/sw.js"}
    assert rest.get_bytes("/").headers["content-security-policy"] == PAGE_CSP
    worker = rest.get_bytes("/sw.js")
    assert worker.headers["content-type"] == "application/javascript"
    assert worker.headers["cache-control"] == "no-cache"

    # Turning push on: without the permission the page says so; with it, subscribing fails
    # here (see above) and the page says that, registering nothing.
    toggle.click()
    # (Headless Chromium denies the prompt; a browser whose user dismisses it answers "default".)
    expect(f.page.locator("#notice")).to_have_text(
        re.compile("^Notifications are blocked for this site|need the browser's permission")
    )
    f.context.grant_permissions(["notifications"], origin=push_server.url)
    toggle.click()
    expect(f.page.locator("#notice")).to_contain_text("Could not turn push notifications on: ")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(toggle).to_be_enabled()
    assert devices_posted == []
    assert rest.call("GET", "/api/devices", token=frank.access) == []

    # Mute this room: the PATCH, the answer, the button; another room keeps its own state.
    mute = f.page.locator("#mute-toggle")
    expect(mute).to_have_text("Mute")

    def room_notifications(response: Any) -> bool:
        return response.request.method == "PATCH" and response.url.endswith(
            f"/api/rooms/{quiet['id']}/notifications"
        )

    with f.page.expect_response(room_notifications) as patched:
        mute.click()
    assert patched.value.request.post_data_json == {"muted": True}
    assert (patched.value.status, patched.value.json()) == (
        200,
        {"roomId": quiet["id"], "muted": True},
    )
    expect(mute).to_have_attribute("aria-pressed", "true")
    expect(mute).to_have_text("Muted")
    f.page.click(f'#rooms button[data-room-id="{busy["id"]}"]')
    expect(f.page.locator("#room-title")).to_have_text("Busy")
    expect(mute).to_have_attribute("aria-pressed", "false")
    f.page.click(f'#rooms button[data-room-id="{quiet["id"]}"]')
    expect(mute).to_have_attribute("aria-pressed", "true")
    with f.page.expect_response(room_notifications) as patched:
        mute.click()
    assert patched.value.json() == {"roomId": quiet["id"], "muted": False}
    expect(mute).to_have_attribute("aria-pressed", "false")

    # Do not disturb: stored on the server, and read back from it by a reloaded page.
    dnd = f.page.locator("#dnd-toggle")
    expect(dnd).to_have_attribute("aria-pressed", "false")
    dnd.click()
    expect(dnd).to_have_attribute("aria-pressed", "true")
    assert rest.call("GET", "/api/users/me", token=frank.access)["doNotDisturb"] is True
    f.page.reload()
    expect(f.page.locator("#room-title")).to_have_text("Quiet")
    expect(dnd).to_have_attribute("aria-pressed", "true")
    dnd.click()
    expect(dnd).to_have_attribute("aria-pressed", "false")
    assert rest.call("GET", "/api/users/me", token=frank.access)["doNotDisturb"] is False

    # Pushes, as the push service would deliver them: one notification per room (the newer
    # replaces the older), the text as sent (a notification shows no HTML).
    devtools = f.context.new_cdp_session(f.page)
    registrations: list[dict[str, Any]] = []
    devtools.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(event["registrations"]),
    )
    devtools.send("ServiceWorker.enable")
    [ours] = _until(
        f.page,
        lambda: [r for r in registrations if r["scopeURL"] == url and not r["isDeleted"]][:1],
        "the worker's registration",
    )

    def push(payload: dict[str, Any]) -> None:
        devtools.send(
            "ServiceWorker.deliverPushMessage",
            {
                "origin": push_server.url,
                "registrationId": ours["registrationId"],
                "data": json.dumps(payload),
            },
        )

    for message_id, body in ((101, "first"), (102, XSS)):
        push(
            {
                "type": "message",
                "roomId": busy["id"],
                "messageId": message_id,
                "title": "gina in Busy",
                "body": body,
                "badge": 2,
            }
        )
    # A call's ring, then its missed call: one notification for the call.
    for kind, title in (
        ("call_incoming", "gina is calling"),
        ("missed_call", "Missed call from gina"),
    ):
        push({"type": kind, "callId": 7, "title": title, "body": "Voice call", "badge": 2})
    push({"type": "test", "title": "Test notification", "body": "It works", "badge": 0})

    def all_shown() -> list[dict[str, Any]] | None:
        shown = _notifications(f.page)
        latest = XSS in str(shown) and "Missed call" in str(shown)
        return shown if len(shown) == 3 and latest else None

    shown = _until(f.page, all_shown, "three notifications, the later pushes shown")
    no_room = {"roomId": None, "messageId": None}
    assert sorted(shown, key=lambda n: n["tag"]) == [
        {"title": "Test notification", "body": "It works", "tag": "banter-test", "data": no_room},
        {"title": "Missed call from gina", "body": "Voice call", "tag": "call-7", "data": no_room},
        {
            "title": "gina in Busy",
            "body": XSS,
            "tag": f"room-{busy['id']}",
            "data": {"roomId": busy["id"], "messageId": 102},
        },
    ]

    # A click on the room's notification closes it, and the open page shows the room. The
    # click is an event dispatched in the worker (DevTools cannot click a notification); its
    # waitUntil then throws there, as for any untrusted event, after the handler's work began.
    [service_worker] = [w for w in f.context.service_workers if w.url.endswith("/sw.js")]
    service_worker.evaluate(
        """async (tag) => {
            const [notification] = await self.registration.getNotifications({ tag });
            self.dispatchEvent(new NotificationEvent("notificationclick", { notification }));
        }""",
        f"room-{busy['id']}",
    )
    expect(f.page.locator("#room-title")).to_have_text("Busy")
    _until(
        f.page,
        lambda: sorted(n["tag"] for n in _notifications(f.page)) == ["banter-test", "call-7"],
        "the clicked notification closed, the others left",
    )

    # Logging out hides what belongs to the user; the next user gets their own settings.
    dnd.click()
    expect(dnd).to_have_attribute("aria-pressed", "true")
    f.page.click("#logout")
    for hidden in ("#push-toggle", "#dnd-toggle", "#mute-toggle"):
        expect(f.page.locator(hidden)).to_be_hidden()
    f.page.fill("#login-username", gina.username)
    f.page.fill("#login-password", PASSWORD)
    f.page.click("#login-form button[type=submit]")
    expect(f.page.locator("#me-name")).to_have_text("gina")
    expect(toggle).to_be_visible()
    expect(dnd).to_have_attribute("aria-pressed", "false")

    assert rest.get_bytes("/").headers["content-security-policy"] == PAGE_CSP
    assert refused == [], refused
    assert f.errors == [] and f.dialogs == [], (f.errors, f.dialogs)
    f.context.close()


def test_no_push_without_vapid_keys(browser: Browser, page_server: LiveServer) -> None:
    """The server has no VAPID keys (the key answers 404): the page offers no push, mute or
    do not disturb, registers no service worker, and shows no error."""
    from playwright.sync_api import expect

    rest = RestClient(page_server.url)
    hank = rest.register("hank")
    rest.create_room(hank, "No push", [])
    h = Tab(browser, page_server, "hank")
    worker_requests: list[str] = []
    h.page.on(
        "request",
        lambda request: (
            worker_requests.append(request.url) if request.url.endswith("/sw.js") else None
        ),
    )
    with h.page.expect_response(lambda r: r.url.endswith("/api/push/vapid-public-key")) as key:
        h.login(page_server.url + "/", hank.username, PASSWORD)
    assert key.value.status == 404
    expect(h.page.locator("#room-title")).to_have_text("No push")
    expect(h.page.locator("#conn-status")).to_have_attribute("data-state", "connected")
    for hidden in ("#push-toggle", "#dnd-toggle", "#mute-toggle"):
        expect(h.page.locator(hidden)).to_be_hidden()
    assert (
        h.page.evaluate("async () => (await navigator.serviceWorker.getRegistrations()).length")
        == 0
    )
    assert worker_requests == []
    expect(h.page.locator("#notice")).to_have_text("")
    assert h.errors == [] and h.dialogs == []
    h.context.close()
