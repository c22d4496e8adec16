"""Calls in the web page (banter/web/static/web/calls.js) between two real Chromium windows.

Alice and Bob share a direct room; the page rings, answers and connects a real WebRTC session
between the two browser contexts: Chromium's fake camera and microphone
(--use-fake-device-for-media-stream) send, the other side decodes frames. The server only
relays the offer, the answer and the ICE candidates (`call:signal`). Also: rejected,
cancelled and audio-only calls, a missed call (a server with a 3 s CALL_RING_TIMEOUT) and a
paid call's running cost, low-balance warning, final cost and balance.

Skips like the chat page test without Chromium or playwright (tests/browser/harness.py).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.harness import PASSWORD, Tab, chromium
from tests.e2e.client import RestClient, User
from tests.e2e.conftest import ROOT, fresh_database, server_env, start_banter
from tests.live_server import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

# A peer connection on one machine: ICE, DTLS and the first decoded frame, on a busy CI box.
CONNECT_MS = 30_000
RING_TIMEOUT = "3"

# Bob's view of Alice: a live video track whose frames the <video> element has decoded
# (videoWidth is 0 until the first frame is).
REMOTE_VIDEO_PLAYS = """() => {
    const video = document.getElementById("call-remote-video");
    const track = video.srcObject && video.srcObject.getVideoTracks()[0];
    return Boolean(track && track.readyState === "live" && video.videoWidth > 0
        && video.getVideoPlaybackQuality().totalVideoFrames > 0);
}"""
# The remote picture is the other browser's fake camera: mostly green (Chromium draws a green
# frame with a moving shape and a clock), where a frame that never decoded is black.
REMOTE_VIDEO_IS_FAKE_CAMERA = """() => {
    const video = document.getElementById("call-remote-video");
    const canvas = document.createElement("canvas");
    canvas.width = 64;
    canvas.height = 48;
    const context = canvas.getContext("2d");
    context.drawImage(video, 0, 0, canvas.width, canvas.height);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    const sum = [0, 0, 0];
    for (let i = 0; i < pixels.length; i += 4) for (let c = 0; c < 3; c++) sum[c] += pixels[i + c];
    const [red, green, blue] = sum.map(total => total / (pixels.length / 4));
    return green > 100 && red < 60 && blue < 60;
}"""
# An audio call: the remote element plays a live audio track and no video; nothing local
# captures video.
REMOTE_AUDIO_ONLY = """() => {
    const stream = document.getElementById("call-remote-video").srcObject;
    const local = document.getElementById("call-local-video").srcObject;
    return Boolean(stream && stream.getVideoTracks().length === 0
        && stream.getAudioTracks().some(track => track.readyState === "live")
        && !local);
}"""
DECODED_FRAMES = (
    "() => document.getElementById('call-remote-video').getVideoPlaybackQuality().totalVideoFrames"
)
LOCAL_TRACK_ENABLED = """kind => document.getElementById("call-local-video").srcObject
    .getTracks().find(track => track.kind === kind).enabled"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Fake devices that need no prompt; the permission itself is granted per context.
    with chromium(
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"
    ) as browser:
        yield browser


@pytest.fixture(scope="module")
def calls_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(tmp_path_factory.mktemp("calls-db")) as database_url:
        yield database_url


@pytest.fixture(scope="module")
def call_server(
    calls_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    server = start_banter(
        calls_database,
        tmp_path_factory.mktemp("calls-logs"),
        "calls-page",
        CALL_SWEEP_INTERVAL="0.2",
    )
    yield server
    server.stop()


@contextmanager
def server_with(tmp_path: Path, name: str, **settings: str) -> Iterator[tuple[LiveServer, str]]:
    """A server of its own, on a database of its own: every instance sweeps the calls of its
    database, and with the embedded channel layer (no Redis) the events of a call another
    instance expires (with other settings) would never reach this one's pages."""
    with fresh_database(tmp_path) as database_url:
        server = start_banter(database_url, tmp_path, name, **settings)
        try:
            yield server, database_url
        finally:
            server.stop()


def open_pair(browser: Browser, server: LiveServer) -> tuple[Tab, Tab, User, User, RestClient]:
    """Alice and Bob, with a direct room as the page opens one (POST /api/rooms/direct), each
    logged in in a window of their own that may use camera and microphone."""
    from playwright.sync_api import expect

    rest = RestClient(server.url)
    alice, bob = rest.register("alice"), rest.register("bob")
    # A group room of the two as well (no calls there); the direct room is newer, so the
    # page opens it.
    rest.create_room(alice, "Two of us", [bob])
    rest.call("POST", "/api/rooms/direct", {"userId": bob.id}, token=alice.access)
    tabs = []
    for user, other in ((alice, "bob"), (bob, "alice")):
        tab = Tab(browser, server, user.username)
        tab.context.grant_permissions(["camera", "microphone"], origin=server.url)
        tab.login(server.url + "/", user.username, PASSWORD)
        expect(tab.page.locator("#conn-status")).to_have_attribute("data-state", "connected")
        expect(tab.page.locator("#room-title")).to_have_text(other)
        # A direct room: its header offers both kinds of call.
        expect(tab.page.locator("#call-buttons")).to_be_visible()
        expect(tab.page.locator("#call-audio")).to_be_enabled()
        expect(tab.page.locator("#call-video")).to_be_enabled()
        tabs.append(tab)
    return tabs[0], tabs[1], alice, bob, rest


def report(capsys: pytest.CaptureFixture[str], shots: list[Path]) -> None:
    with capsys.disabled():
        print("\ncall screenshots:")
        for path in shots:
            print(f"  {path}")


def expect_balance(tab: Tab, rest: RestClient, user: User) -> None:
    """The header shows the user's coins when the server has a wallet, and nothing if not."""
    from playwright.sync_api import expect

    answer = rest.get_bytes("/api/wallet", token=user.access)
    if answer.status == 404:
        expect(tab.page.locator("#wallet")).to_be_hidden()
        return
    assert answer.status == 200, answer
    wallet = answer.json()
    balance = wallet["balance"]
    expect(tab.page.locator("#wallet-balance")).to_have_text(
        f"{balance} {'coin' if balance == 1 else 'coins'}"
    )


def test_video_call_connects_two_pages(
    browser: Browser, call_server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from playwright.sync_api import expect

    a, b, alice, bob, rest = open_pair(browser, call_server)
    expect_balance(a, rest, alice)
    expect_balance(b, rest, bob)
    # No call buttons outside direct rooms, even with just the two of them.
    a.page.locator("#rooms button", has_text="Two of us").click()
    expect(a.page.locator("#room-title")).to_have_text("Two of us")
    expect(a.page.locator("#call-buttons")).to_be_hidden()
    a.page.locator("#rooms button", has_text="bob").click()
    expect(a.page.locator("#call-buttons")).to_be_visible()

    # Alice calls: "Calling bob…" on her side, the banner on Bob's.
    a.page.click("#call-video")
    expect(a.page.locator("#call-outgoing")).to_contain_text("Calling bob…")
    expect(a.page.locator("#call-video")).to_be_disabled()  # one call at a time
    incoming = b.page.locator("#call-incoming")
    expect(incoming).to_contain_text("alice is calling you (video call)")
    b.page.click("#call-accept")

    # Both peer connections connect, and each side decodes the other's camera.
    for tab in (a, b):
        expect(tab.page.locator("#call-view")).to_have_attribute(
            "data-connection-state", "connected", timeout=CONNECT_MS
        )
        tab.page.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=CONNECT_MS)
        tab.page.wait_for_function(REMOTE_VIDEO_IS_FAKE_CAMERA, timeout=CONNECT_MS)
    expect(incoming).to_be_hidden()
    expect(a.page.locator("#call-outgoing")).to_be_hidden()
    expect(b.page.locator("#call-connection")).to_have_text("connected")
    # Frames keep coming (not one frame and a frozen stream).
    frames = b.page.evaluate(DECODED_FRAMES)
    b.page.wait_for_function(f"() => ({DECODED_FRAMES})() > {frames}", timeout=CONNECT_MS)
    # The duration runs from the answer.
    expect(a.page.locator("#call-duration")).to_have_text(re.compile(r"^0:(0[1-9]|[1-5]\d)$"))

    shots = [a.shot(tmp_path, "in-call"), b.shot(tmp_path, "in-call")]

    # Mute and camera switch this side's tracks off and on again; with Alice's camera off,
    # Bob's picture of her goes black, and comes back with it.
    for control, kind, pressed_label, released_label in (
        ("#call-mute", "audio", "Unmute", "Mute"),
        ("#call-camera", "video", "Camera on", "Camera off"),
    ):
        button = a.page.locator(control)
        button.click()
        expect(button).to_have_attribute("aria-pressed", "true")
        expect(button).to_have_text(pressed_label)
        assert a.page.evaluate(LOCAL_TRACK_ENABLED, kind) is False
        if kind == "video":
            b.page.wait_for_function(f"() => !({REMOTE_VIDEO_IS_FAKE_CAMERA})()")
        button.click()
        expect(button).to_have_attribute("aria-pressed", "false")
        expect(button).to_have_text(released_label)
        assert a.page.evaluate(LOCAL_TRACK_ENABLED, kind) is True
        b.page.wait_for_function(REMOTE_VIDEO_IS_FAKE_CAMERA)

    # Alice hangs up: both pages say so, close their peer connection and stop their tracks.
    streams = {
        tab.name: tab.page.evaluate_handle(
            "() => [document.getElementById('call-local-video').srcObject,"
            " document.getElementById('call-remote-video').srcObject]"
        )
        for tab in (a, b)
    }
    a.page.click("#call-hangup")
    for tab, other in ((a, "bob"), (b, "alice")):
        outcome = tab.page.locator("#call-outcome")
        expect(outcome).to_contain_text(f"Call with {other} ended")
        expect(outcome).to_have_attribute("data-outcome", "ended")
        expect(tab.page.locator("#call-view")).to_be_hidden()
        expect(tab.page.locator("#call-view")).to_have_attribute("data-connection-state", "closed")
        stopped = tab.page.evaluate(
            "streams => streams.every(s => s.getTracks().every(t => t.readyState === 'ended'))",
            streams[tab.name],
        )
        assert stopped, f"{tab.name}'s camera, microphone or remote tracks still run"
        expect(tab.page.locator("#call-video")).to_be_enabled()  # free for the next call
    shots += [a.shot(tmp_path, "ended"), b.shot(tmp_path, "ended")]

    # The server's log agrees: answered, then completed by the hang-up.
    logged = rest.call("GET", "/api/calls", token=bob.access)["results"][0]
    assert logged["status"] == "completed" and logged["callType"] == "video"
    assert logged["callerId"] == alice.id and logged["answeredAt"] is not None
    assert re.search(
        rf"· {logged['duration'] // 60}:{logged['duration'] % 60:02d}\b",
        a.page.locator("#call-outcome").inner_text(),
    )
    expect_balance(a, rest, alice)
    assert a.errors == [] and b.errors == [], f"uncaught page errors: {a.errors + b.errors}"
    a.context.close()
    b.context.close()
    report(capsys, shots)


def test_rejected_cancelled_and_audio_calls(
    browser: Browser, call_server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from playwright.sync_api import expect

    a, b, alice, _, rest = open_pair(browser, call_server)

    # Bob rejects an audio call: Alice is told, Bob's banner goes.
    a.page.click("#call-audio")
    expect(b.page.locator("#call-incoming")).to_contain_text("alice is calling you (audio call)")
    shots = [b.shot(tmp_path, "incoming")]
    b.page.click("#call-reject")
    expect(a.page.locator("#call-outcome")).to_have_text(re.compile("bob declined the call"))
    expect(a.page.locator("#call-outcome")).to_have_attribute("data-outcome", "rejected")
    expect(a.page.locator("#call-outgoing")).to_be_hidden()
    expect(b.page.locator("#call-panel")).to_be_hidden()
    shots.append(a.shot(tmp_path, "rejected"))

    # Alice cancels a video call while it rings: Bob's banner goes.
    a.page.click("#call-video")
    expect(b.page.locator("#call-incoming")).to_be_visible()
    expect(a.page.locator("#call-outgoing")).to_contain_text("Calling bob…")
    expect(a.page.locator("#call-outcome")).to_be_hidden()  # the last call's outcome went
    a.page.click("#call-cancel")
    expect(b.page.locator("#call-incoming")).to_be_hidden()
    expect(a.page.locator("#call-panel")).to_be_hidden()

    # An audio call: no camera on either side, the other's microphone heard through the
    # (hidden) remote media element; Bob, the receiver, hangs up.
    a.page.click("#call-audio")
    b.page.click("#call-accept")
    for tab, other in ((a, "bob"), (b, "alice")):
        view = tab.page.locator("#call-view")
        expect(view).to_have_attribute("data-connection-state", "connected", timeout=CONNECT_MS)
        expect(view).to_have_attribute("data-call-type", "audio")
        expect(tab.page.locator("#call-audio-peer")).to_have_text(f"Audio call with {other}")
        expect(tab.page.locator("#call-local-video")).to_be_hidden()
        expect(tab.page.locator("#call-camera")).to_be_hidden()
        tab.page.wait_for_function(REMOTE_AUDIO_ONLY, timeout=CONNECT_MS)
    b.page.click("#call-hangup")
    for tab, other in ((a, "bob"), (b, "alice")):
        expect(tab.page.locator("#call-outcome")).to_contain_text(f"Call with {other} ended")
        expect(tab.page.locator("#call-view")).to_have_attribute("data-connection-state", "closed")

    statuses = [c["status"] for c in rest.call("GET", "/api/calls", token=alice.access)["results"]]
    assert statuses[:3] == ["completed", "cancelled", "rejected"], statuses
    assert a.errors == [] and b.errors == []
    a.context.close()
    b.context.close()
    report(capsys, shots)


def test_missed_call_is_shown_to_both(
    browser: Browser, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A call nobody answers within CALL_RING_TIMEOUT: the caller is told, the receiver keeps
    a missed-call notice, also after a reload (from the unread `missed_call` notification)."""
    from playwright.sync_api import expect

    with server_with(
        tmp_path, "calls-page-ring", CALL_RING_TIMEOUT=RING_TIMEOUT, CALL_SWEEP_INTERVAL="0.2"
    ) as (server, _):
        a, b, _, _, _ = open_pair(browser, server)
        a.page.click("#call-video")
        expect(b.page.locator("#call-incoming")).to_be_visible()
        expect(a.page.locator("#call-outcome")).to_have_text(
            re.compile("bob did not answer"), timeout=15_000
        )
        expect(a.page.locator("#call-outcome")).to_have_attribute("data-outcome", "missed")
        expect(b.page.locator("#call-incoming")).to_be_hidden()
        missed = b.page.locator("#missed-calls .missed-call")
        expect(missed).to_have_count(1)
        expect(missed.locator(".missed-text")).to_have_text("Missed video call from alice")
        expect(b.page.locator("#notif-count")).to_have_text("1")
        shots = [a.shot(tmp_path, "not-answered"), b.shot(tmp_path, "missed")]

        # After a reload it comes back from the unread notification; dismissing reads it.
        b.page.reload()
        expect(b.page.locator("#conn-status")).to_have_attribute("data-state", "connected")
        expect(missed.locator(".missed-text")).to_have_text("Missed video call from alice")
        missed.get_by_role("button", name="Dismiss").click()
        expect(missed).to_have_count(0)
        expect(b.page.locator("#notif-count")).to_have_text("0")
        assert a.errors == [] and b.errors == []
        a.context.close()
        b.context.close()
    report(capsys, shots)


def test_paid_call_shows_its_cost_and_the_balance(
    browser: Browser, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bob charges 60 coins a minute, billed by the second; Alice has 60 coins, a minute of
    call. The page shows her balance, the running cost, the server's low-balance warning
    (CALL_BALANCE_WARNING before the cut-off: here at once) and the final cost, and the
    balance after the charge."""
    from playwright.sync_api import expect

    with server_with(
        tmp_path,
        "calls-page-paid",
        CALL_BILLING="second",
        CALL_BALANCE_WARNING="58",
        CALL_SWEEP_INTERVAL="0.2",
    ) as (server, database_url):
        rest = RestClient(server.url)
        if rest.get_bytes("/api/wallet").status == 404:
            pytest.skip("this server has no wallet (GET /api/wallet)")
        a, b, alice, bob, _ = open_pair(browser, server)
        rest.call("PATCH", "/api/wallet", {"pricePerMinute": 60}, token=bob.access)
        subprocess.run(
            [sys.executable, "manage.py", "wallet_credit", alice.username, "60"],
            cwd=ROOT,
            env=server_env(database_url, 0),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        a.page.reload()  # the balance is read at login and after each call
        expect(a.page.locator("#wallet-balance")).to_have_text("60 coins")

        a.page.click("#call-video")
        b.page.click("#call-accept")
        cost = a.page.locator("#call-cost")
        expect(cost).to_have_text(re.compile(r"^Cost so far: [1-9]\d* coins?$"))
        expect(b.page.locator("#call-cost")).to_have_text(
            re.compile(r"^Caller pays so far: [1-9]\d* coins?$")
        )
        warning = a.page.locator("#call-warning")
        expect(warning).to_have_text(re.compile(r"^Low balance: 60 coins, about 0:[0-5]\d of"))
        expect(b.page.locator("#call-warning")).to_be_hidden()  # the caller's concern
        expect(a.page.locator("#call-duration")).to_have_text(re.compile(r"^0:(0[2-9]|[1-5]\d)$"))
        shots = [a.shot(tmp_path, "paid-call")]
        a.page.click("#call-hangup")
        expect(a.page.locator("#call-outcome")).to_have_attribute("data-outcome", "ended")

        logged = rest.call("GET", "/api/calls", token=alice.access)["results"][0]
        assert logged["pricePerMinute"] == 60 and logged["cost"] >= 1, logged
        charged = f"{logged['cost']} coin{'s' if logged['cost'] != 1 else ''}"
        billed = f"{logged['billedSeconds'] // 60}:{logged['billedSeconds'] % 60:02d}"
        for tab in (a, b):
            expect(tab.page.locator("#call-outcome")).to_contain_text(f"{charged} for {billed}")
        expect(a.page.locator("#wallet-balance")).to_have_text(f"{60 - logged['cost']} coins")
        shots.append(a.shot(tmp_path, "paid-ended"))
        assert a.errors == [] and b.errors == []
        a.context.close()
        b.context.close()
    report(capsys, shots)
