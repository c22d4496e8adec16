"""A polling session whose pong is late is gone for the next request, even when the loop has
not yet run the timer that closes it (the upstream suites' "should close the session upon
ping timeout" polls exactly pingInterval + pingTimeout after the handshake)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from channels.testing import HttpCommunicator

from banter.realtime.asgi_routing import realtime_asgi
from banter.realtime.engine import EngineConfig
from banter.realtime.socketio import Namespace
from banter.realtime.transports import OriginPolicy, RealtimeServer

POLLING = "/socket.io/?EIO=4&transport=polling"


async def poll(app: Any, sid: str) -> tuple[int, bytes]:
    client = HttpCommunicator(app, "GET", f"{POLLING}&sid={sid}")
    response = await client.get_response(timeout=2)
    return response["status"], response["body"]


async def polling_session(config: EngineConfig) -> tuple[RealtimeServer, Any, str]:
    """A server with `config`, its ASGI app and the sid of a polling session opened on it."""
    realtime = RealtimeServer({"/": Namespace()}, config, OriginPolicy(None))
    app = realtime_asgi(realtime, None)
    handshake = await HttpCommunicator(app, "GET", POLLING).get_response(timeout=2)
    return realtime, app, orjson.loads(handshake["body"][1:])["sid"]


async def test_a_poll_after_the_pong_deadline_finds_the_session_closed() -> None:
    realtime, app, sid = await polling_session(EngineConfig(ping_interval=0.05, ping_timeout=0.1))
    session = realtime.engine.get(sid)
    assert session is not None

    await asyncio.sleep(0.08)  # the ping is sent at 0.05 s; its pong is due at 0.15 s
    # The loop is held past the deadline: the pong timer is due but has not run, as when a
    # request and that timer become ready in the same loop pass.
    time.sleep(0.15)  # noqa: ASYNC251  (blocking the loop is the point)
    assert not session.closed

    status, _ = await poll(app, sid)
    assert status == 400
    assert session.closed and session.close_reason == "ping timeout"
    assert realtime.engine.sessions == {}


async def test_a_poll_before_the_deadline_gets_the_ping() -> None:
    _, app, sid = await polling_session(EngineConfig(ping_interval=0.05, ping_timeout=5))

    assert await poll(app, sid) == (200, b"2")


async def post(app: Any, sid: str, body: bytes) -> tuple[int, bytes]:
    client = HttpCommunicator(app, "POST", f"{POLLING}&sid={sid}", body=body)
    response = await client.get_response(timeout=2)
    return response["status"], response["body"]


async def test_a_ping_carried_late_by_a_parked_get_still_gets_the_full_timeout() -> None:
    """The upstream "should send ping/pong packets" on a slow loop: the parked GET carries a
    ping the loop queued late, and the client's pong must not be held to the ping's due time."""
    realtime, app, sid = await polling_session(EngineConfig(ping_interval=0.05, ping_timeout=0.1))
    parked = asyncio.ensure_future(poll(app, sid))
    await asyncio.sleep(0.01)
    time.sleep(0.2)  # noqa: ASYNC251  (the ping falls due and its due-time deadline passes)

    assert await parked == (200, b"2")
    assert await post(app, sid, b"3") == (200, b"ok")
    session = realtime.engine.get(sid)
    assert session is not None and not session.closed


async def test_a_get_that_arrives_just_after_the_clients_close_gets_a_noop() -> None:
    """The upstream "forcefully closes the session" sends its GET and its close together; when
    the close arrives first, the GET is answered as if it had been parked: a noop, once."""
    realtime, app, sid = await polling_session(EngineConfig(ping_interval=5, ping_timeout=5))

    assert await post(app, sid, b"1") == (200, b"ok")
    assert realtime.engine.sessions == {}
    assert await poll(app, sid) == (200, b"6")
    assert (await poll(app, sid))[0] == 400


async def test_only_a_client_close_earns_the_late_noop() -> None:
    realtime, app, sid = await polling_session(EngineConfig(ping_interval=5, ping_timeout=5))
    session = realtime.engine.get(sid)
    assert session is not None
    session.close("server close")

    assert (await poll(app, sid))[0] == 400
