"""Graceful shutdown of the realtime server, driven in-process through its ASGI application.

Clients must reconnect (elsewhere) after a drain, so no Socket.IO DISCONNECT packet is ever
sent: WebSockets get a close frame (1012), parked long-poll GETs an HTTP 503, and new
handshakes are refused with 503 (polling) or a close before the accept (WebSocket).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from channels.testing import HttpCommunicator, WebsocketCommunicator

from banter.realtime import lifecycle
from banter.realtime.asgi_routing import ASGIApp, realtime_asgi
from banter.realtime.engine import EngineConfig
from banter.realtime.socketio import Namespace, Socket
from banter.realtime.transports import (
    SHUTDOWN_CLOSE_CODE,
    EngineWebSocketConsumer,
    OriginPolicy,
    RealtimeServer,
    live_servers,
)

pytestmark = pytest.mark.timeout(20)

POLLING = "EIO=4&transport=polling"
WEBSOCKET = "EIO=4&transport=websocket"
# Long heartbeat: no ping may interleave with the frames the tests assert on.
CONFIG = EngineConfig(ping_interval=60, ping_timeout=60, connect_timeout=5)
SHUTDOWN_DISCONNECT = "transport server shutting down"


class Recorder(Namespace):
    """Accepts everyone; records sockets and the reasons of their disconnects."""

    def __init__(self) -> None:
        self.sockets: list[Socket] = []
        self.disconnects: list[str] = []

    async def on_connect(self, socket: Socket, auth: dict[str, Any] | None) -> None:
        self.sockets.append(socket)

    async def on_disconnect(self, socket: Socket, reason: str) -> None:
        await asyncio.sleep(0.01)  # cleanup that awaits (registry, presence) must finish too
        self.disconnects.append(reason)


@pytest.fixture(autouse=True)
def _fresh_lifecycle() -> Iterator[None]:
    lifecycle.reset()
    yield
    lifecycle.reset()


@pytest.fixture
def namespace() -> Recorder:
    return Recorder()


@pytest.fixture
def realtime(namespace: Recorder) -> RealtimeServer:
    return RealtimeServer({"/": namespace}, CONFIG, OriginPolicy(None))


@pytest.fixture
def app(realtime: RealtimeServer) -> ASGIApp:
    return realtime_asgi(realtime, http_fallback=None)


async def ws_connect(app: ASGIApp, query: str = WEBSOCKET) -> WebsocketCommunicator:
    client = WebsocketCommunicator(app, f"/socket.io/?{query}")
    connected, _ = await client.connect()
    assert connected
    return client


async def ws_socketio(app: ASGIApp) -> WebsocketCommunicator:
    """A WebSocket-only session connected to the main namespace."""
    client = await ws_connect(app)
    assert (await client.receive_from()).startswith("0")
    await client.send_to("40")
    assert (await client.receive_from()).startswith("40")
    return client


async def http(app: ASGIApp, method: str, query: str, body: bytes = b"") -> dict[str, Any]:
    response: dict[str, Any] = await HttpCommunicator(
        app, method, f"/socket.io/?{query}", body=body
    ).get_response(timeout=3)
    return response


async def polling_socketio(app: ASGIApp) -> str:
    """A long-polling session connected to the main namespace; returns its sid."""
    handshake = await http(app, "GET", POLLING)
    assert handshake["status"] == 200
    sid: str = json.loads(handshake["body"][1:])["sid"]
    assert (await http(app, "POST", f"{POLLING}&sid={sid}", b"40"))["body"] == b"ok"
    assert (await http(app, "GET", f"{POLLING}&sid={sid}"))["body"].startswith(b"40")
    return sid


async def park_poll(app: ASGIApp, realtime: RealtimeServer, sid: str) -> asyncio.Task[Any]:
    """A GET left waiting for frames, as every polling client keeps one."""
    parked = asyncio.create_task(http(app, "GET", f"{POLLING}&sid={sid}"))
    await asyncio.sleep(0.05)
    assert realtime._polls_in_flight == 1
    return parked


async def test_websocket_sessions_get_the_close_frame_after_their_queued_frames(
    app: ASGIApp, realtime: RealtimeServer, namespace: Recorder
) -> None:
    client = await ws_socketio(app)
    namespace.sockets[0].emit("last-words", 1)
    drain = asyncio.create_task(realtime.drain(5))

    assert await client.receive_from() == '42["last-words",1]'
    # The close frame comes next: no "41" (Socket.IO DISCONNECT: clients would not reconnect).
    assert await client.receive_output() == {"type": "websocket.close", "code": 1012}
    await asyncio.sleep(0.05)
    assert not drain.done(), "the drain waits for the client to answer the close"
    await client.disconnect(code=SHUTDOWN_CLOSE_CODE)

    report = await drain
    assert (report.websocket, report.polling, report.still_open) == (1, 0, 0)
    assert report.complete
    assert namespace.disconnects == [SHUTDOWN_DISCONNECT]
    assert realtime.engine.sessions == {}


async def test_parked_poll_is_answered_with_503_and_the_sid_stays_refused(
    app: ASGIApp, realtime: RealtimeServer, namespace: Recorder
) -> None:
    sid = await polling_socketio(app)
    parked = await park_poll(app, realtime, sid)

    report = await realtime.drain(5)

    response = await parked
    # An HTTP error (a transport error to every client library), not the close packet "1":
    # python-socketio does not reconnect after "1".
    assert response["status"] == 503
    assert json.loads(response["body"])["message"] == "Server shutting down"
    assert (report.websocket, report.polling, report.still_open) == (0, 1, 0)
    assert namespace.disconnects == [SHUTDOWN_DISCONNECT]
    # A GET or POST that was on its way when the drain closed the session: 503, not 400.
    assert (await http(app, "GET", f"{POLLING}&sid={sid}"))["status"] == 503
    assert (await http(app, "POST", f"{POLLING}&sid={sid}", b"3"))["status"] == 503


async def test_polling_session_between_polls_is_closed_too(
    app: ASGIApp, realtime: RealtimeServer, namespace: Recorder
) -> None:
    sid = await polling_socketio(app)
    report = await realtime.drain(5)
    assert (report.polling, report.still_open) == (1, 0)
    assert namespace.disconnects == [SHUTDOWN_DISCONNECT]
    assert (await http(app, "GET", f"{POLLING}&sid={sid}"))["status"] == 503


async def test_upgrade_probe_is_closed(app: ASGIApp, realtime: RealtimeServer) -> None:
    sid = await polling_socketio(app)
    probe = await ws_connect(app, f"{WEBSOCKET}&sid={sid}")
    await probe.send_to("2probe")
    assert await probe.receive_from() == "3probe"

    drain = asyncio.create_task(realtime.drain(5))
    assert await probe.receive_output() == {"type": "websocket.close", "code": 1012}
    await probe.disconnect(code=SHUTDOWN_CLOSE_CODE)
    report = await drain
    assert (report.polling, report.still_open) == (1, 0)


async def test_new_handshakes_are_refused_while_draining(
    app: ASGIApp, realtime: RealtimeServer
) -> None:
    assert not lifecycle.is_draining()
    report = await realtime.drain(1)
    assert report.sessions == 0 and report.complete
    assert lifecycle.is_draining()

    handshake = await http(app, "GET", POLLING)
    assert handshake["status"] == 503
    client = WebsocketCommunicator(app, f"/socket.io/?{WEBSOCKET}")
    # Closed before the accept: the upgrade fails and clients retry (elsewhere).
    assert await client.connect() == (False, 1013)
    assert realtime.engine.sessions == {}


async def test_hooks_run_in_order_after_the_disconnect_handlers(
    realtime: RealtimeServer, app: ASGIApp, namespace: Recorder
) -> None:
    client = await ws_socketio(app)
    calls: list[str] = []

    @lifecycle.on_shutdown
    async def first() -> None:
        calls.append(f"first after {namespace.disconnects}")

    async def broken() -> None:
        calls.append("broken")
        raise RuntimeError("hook bug")

    async def last() -> None:
        calls.append("last")

    lifecycle.on_shutdown(broken)
    lifecycle.on_shutdown(last)
    drain = asyncio.create_task(realtime.drain(5))
    assert (await client.receive_output())["type"] == "websocket.close"
    await client.disconnect(code=SHUTDOWN_CLOSE_CODE)

    report = await drain  # the broken hook is logged, not raised
    assert calls == [f"first after {[SHUTDOWN_DISCONNECT]}", "broken", "last"]
    assert (report.hooks.completed, report.hooks.failed) == (2, 1)
    assert not report.complete


async def test_a_client_that_never_answers_cannot_hold_the_drain(
    realtime: RealtimeServer, app: ASGIApp
) -> None:
    client = await ws_socketio(app)
    skipped: list[str] = []

    async def hook() -> None:
        skipped.append("ran")

    lifecycle.on_shutdown(hook)
    started = time.monotonic()
    report = await realtime.drain(0.3)
    elapsed = time.monotonic() - started

    assert 0.25 <= elapsed < 1.0
    assert (report.websocket, report.still_open) == (1, 1)
    # The budget went to waiting for the socket: the hook is skipped (and logged), not run late.
    assert skipped == []
    assert (report.hooks.completed, report.hooks.failed) == (0, 1)
    assert (await client.receive_output())["code"] == SHUTDOWN_CLOSE_CODE
    await client.disconnect()


async def test_a_hung_hook_is_cut_at_the_deadline(realtime: RealtimeServer) -> None:
    cancelled = asyncio.Event()

    async def hangs() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            cancelled.set()

    lifecycle.on_shutdown(hangs)
    started = time.monotonic()
    report = await realtime.drain(0.2)
    assert time.monotonic() - started < 1.0
    assert cancelled.is_set()
    assert (report.hooks.completed, report.hooks.failed) == (0, 1)


async def test_run_shutdown_hooks_skips_everything_past_the_deadline() -> None:
    ran: list[int] = []

    async def hook() -> None:
        ran.append(1)

    lifecycle.on_shutdown(hook)
    outcome = await lifecycle.run_shutdown_hooks(time.monotonic() - 1)
    assert ran == [] and (outcome.completed, outcome.failed) == (0, 1)
    outcome = await lifecycle.run_shutdown_hooks(time.monotonic() + 1)
    assert ran == [1] and (outcome.completed, outcome.failed) == (1, 0)


async def test_close_code_falls_back_to_1000_when_the_server_refuses_it(
    realtime: RealtimeServer,
) -> None:
    """Plain daphne (autobahn) raises on application close codes other than 1000/3000-4999."""
    sent: list[dict[str, Any]] = []

    async def autobahn_like(message: dict[str, Any]) -> None:
        if message.get("code") not in (1000, None):
            raise Exception(f"invalid close code {message['code']}")
        sent.append(message)

    consumer = EngineWebSocketConsumer(realtime)
    consumer.base_send = autobahn_like
    await consumer._close(SHUTDOWN_CLOSE_CODE)
    assert sent == [{"type": "websocket.close", "code": 1000}]


def test_live_servers_lists_this_process_servers(realtime: RealtimeServer) -> None:
    assert realtime in live_servers()
