"""The Engine.IO v3 heartbeat: the client pings ("2"), the server answers ("3") and never
pings itself; a session silent for pingInterval + pingTimeout is closed, any packet counting
as a sign of life (engine.io 3.x's Socket.setPingTimeout)."""

from __future__ import annotations

import asyncio
import time

from channels.testing import WebsocketCommunicator

from banter.realtime.engine import EngineConfig
from tests.realtime.test_eio3_transports import (
    WEBSOCKET,
    build,
    http,
    open_polling,
    open_websocket,
)

INTERVAL, TIMEOUT = 0.2, 0.2  # silence allowed: 0.4 s
FAST = EngineConfig(ping_interval=INTERVAL, ping_timeout=TIMEOUT, allow_eio3=True)


async def test_a_silent_websocket_client_is_closed_after_interval_plus_timeout() -> None:
    realtime, app = build(config=FAST)
    started = time.monotonic()
    client = await open_websocket(app)
    (session,) = realtime.engine.sessions.values()
    # Nothing from the server meanwhile: in v3 it never pings.
    message = await client.receive_output(2)
    assert message["type"] == "websocket.close", message
    elapsed = time.monotonic() - started
    assert INTERVAL + TIMEOUT <= elapsed < INTERVAL + TIMEOUT + 0.5
    assert session.close_reason == "ping timeout"
    assert realtime.engine.sessions == {}


async def test_client_pings_are_answered_and_keep_the_session() -> None:
    realtime, app = build(config=FAST)
    client = await open_websocket(app)
    for _ in range(8):  # 0.8 s: twice the silence allowed
        await asyncio.sleep(0.1)
        await client.send_to("2")
        assert await client.receive_from(1) == "3"  # no data echoed, as engine.io 3.x
    assert len(realtime.engine.sessions) == 1
    await client.disconnect()


async def test_any_packet_counts_as_a_sign_of_life() -> None:
    realtime, app = build(config=FAST)
    client = await open_websocket(app)
    for ack_id in range(1, 9):
        await asyncio.sleep(0.1)
        await client.send_to(f'42{ack_id}["x"]')
        assert await client.receive_from(1) == f"43{ack_id}[]"
    assert len(realtime.engine.sessions) == 1
    await client.disconnect()


async def test_a_pong_from_the_client_is_ignored() -> None:
    realtime, app = build(config=FAST)
    client = await open_websocket(app)
    await client.send_to("3")
    assert await client.receive_nothing(0.05)
    assert len(realtime.engine.sessions) == 1
    await client.disconnect()


async def test_polling_ping_pong() -> None:
    _, app = build(config=EngineConfig(ping_interval=5, ping_timeout=5, allow_eio3=True))
    url, _ = await open_polling(app)
    assert (await http(app, "POST", url, b"1:2"))[0] == 200
    assert (await http(app, "GET", url))[2] == b"1:3"


async def test_a_poll_after_the_silence_deadline_finds_the_session_closed() -> None:
    realtime, app = build(config=FAST)
    url, handshake = await open_polling(app)
    session = realtime.engine.sessions[handshake["sid"]]
    # The loop is held past the deadline: the timer that would close the session is due but
    # has not run, as when a request and that timer are ready in the same loop pass.
    time.sleep(INTERVAL + TIMEOUT + 0.05)  # noqa: ASYNC251  (blocking the loop is the point)
    assert not session.closed
    assert (await http(app, "GET", url))[0] == 400
    assert session.closed and session.close_reason == "ping timeout"


async def test_the_deadline_restarts_when_an_upgrade_completes() -> None:
    config = EngineConfig(ping_interval=0.3, ping_timeout=0.3, allow_eio3=True)
    realtime, app = build(config=config)
    _, handshake = await open_polling(app)
    probe = WebsocketCommunicator(app, f"{WEBSOCKET}&sid={handshake['sid']}")
    assert (await probe.connect())[0]
    await asyncio.sleep(0.4)  # most of the 0.6 s of silence allowed, spent before the probe
    await probe.send_to("2probe")
    assert await probe.receive_from() == "3probe"
    await probe.send_to("5")
    await asyncio.sleep(0.4)  # past the handshake's deadline, within the upgrade's
    assert len(realtime.engine.sessions) == 1
    await probe.send_to("2")
    assert await probe.receive_from() == "3"
    await probe.disconnect()
