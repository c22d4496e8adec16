"""Make docs/screenshot.png: Alice's view of the web chat page on the `make seed` demo data.

    .venv/bin/python -m tests.browser.screenshot [OUTPUT.png]

Starts its own server (DEBUG=1 like `make run`, on a fresh SQLite database filled by
seed_demo), has Bob and Carol chat with Alice in headless Chromium (/usr/bin/chromium, see
`make browser-deps`), and saves Alice's window with unread counts, a notification, read
receipts and Carol typing.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.client import RestClient
from tests.e2e.conftest import ROOT, fresh_database, server_env, start_banter

DEMO_PASSWORD = "banter-demo-pass"  # chat/management/commands/seed_demo.py
CHROMIUM = "/usr/bin/chromium"


def open_as(browser: Browser, url: str, username: str, room: str) -> Page:
    page = browser.new_context(viewport={"width": 1100, "height": 640}).new_page()
    page.set_default_timeout(10_000)
    page.goto(url)
    page.fill("#login-username", username)
    page.fill("#login-password", DEMO_PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "connected")
    page.locator("#rooms button", has_text=room).click()
    expect(page.locator("#room-title")).to_have_text(room)
    return page


def say(page: Page, text: str) -> None:
    page.locator("#composer").fill(text)
    page.locator("#composer").press("Enter")
    expect(page.locator("#messages .message:not(.pending) .content").last).to_have_text(text)


def main(output: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp, fresh_database(Path(tmp)) as database_url:
        subprocess.run(
            [sys.executable, "manage.py", "seed_demo"],
            cwd=ROOT,
            env={**server_env(database_url, 0), "DEBUG": "1"},
            check=True,
            stdout=subprocess.DEVNULL,
        )
        server = start_banter(database_url, Path(tmp), "screenshot", DEBUG="1")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox"]
                )
                url = server.url + "/"
                alice = open_as(browser, url, "alice", "General")
                bob = open_as(browser, url, "bob", "General")
                carol = open_as(browser, url, "carol", "General")

                say(alice, "Lunch at noon today?")
                say(bob, "Count me in!")
                say(carol, "@alice yes, I'll be 5 minutes late")
                say(alice, "Great, see you both there")
                expect(alice.locator("#seen-by")).to_have_text("Seen by Bob Baker, Carol Cooper")

                # A direct message Alice has not read yet: an unread badge on that room.
                rest = RestClient(server.url)
                token = rest.call(
                    "POST", "/api/auth/token", {"username": "bob", "password": DEMO_PASSWORD}
                )["access"]
                direct = next(
                    r for r in rest.call("GET", "/api/rooms", token=token) if r["kind"] == "direct"
                )
                rest.call(
                    "POST",
                    f"/api/rooms/{direct['id']}/messages",
                    {"content": "Can you bring the slides?"},
                    token=token,
                )
                expect(alice.locator("#rooms .unread").filter(has_text="1")).to_be_visible()

                carol.locator("#composer").press_sequentially("On my w")
                expect(alice.locator("#typing")).to_have_text("Carol Cooper is typing…")
                expect(alice.locator("#notif-count")).to_have_text("1")
                alice.mouse.move(0, 0)
                alice.screenshot(path=str(output))
                browser.close()
        finally:
            server.stop()
    print(f"saved {output}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshot.png")
