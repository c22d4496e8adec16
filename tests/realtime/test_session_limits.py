"""Engine.IO sessions cannot outlive their Socket.IO login, one address cannot fill the
session table with unauthenticated sessions, and one socket cannot queue events without
bound (security review, finding 2 and the bounded inbound queue)."""

from __future__ import annotations

import asyncio
from typing import Any

from channels.testing import HttpCommunicator, WebsocketCommunicator

from banter.realtime.asgi_routing import realtime_asgi
from banter.realtime.engine import EngineConfig
from banter.realtime.socketio import InboxLimits, Namespace, Socket
from banter.realtime.transports import OriginPolicy, RealtimeServer

WEBSOCKET = "/socket.io/?EIO=4&transport=websocket"


class Accepting(Namespace):
    """Accepts every CONNECT; handles events slowly when told to."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.release.set()
        self.handled = 0

    async def on_event(
        self, socket: Socket, event: str, args: list[Any], ack_id: int | None
    ) -> None:
        await self.release.wait()
        self.handled += 1


def build(
    config: EngineConfig, inbox: InboxLimits | None = None
) -> tuple[RealtimeServer, Accepting, Any]:
    namespace = Accepting()
    realtime = RealtimeServer({"/": namespace}, config, OriginPolicy(None), inbox)
    return realtime, namespace, realtime_asgi(realtime, None)


async def open_ws(app: Any) -> WebsocketCommunicator:
    client = WebsocketCommunicator(app, WEBSOCKET)
    connected, _ = await client.connect()
    assert connected
    assert (await client.receive_from()).startswith("0")
    return client


async def closed_within(client: WebsocketCommunicator, seconds: float) -> bool:
    """True once the server closes the WebSocket (frames before the close are skipped).
    On False the communicator has cancelled the application: only for expected closes."""
    deadline = asyncio.get_running_loop().time() + seconds
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            message = await client.receive_output(left)
        except TimeoutError:
            return False
        if message["type"] == "websocket.close":
            return True
    return False


async def test_session_whose_last_namespace_left_is_closed_after_the_connect_timeout() -> None:
    # CONNECT then DISCONNECT ("41") used to keep the session open as long as the client
    # answered pings: a slot of the session table held without any login.
    config = EngineConfig(ping_interval=60, ping_timeout=60, connect_timeout=0.3)
    realtime, _, app = build(config)
    client = await open_ws(app)
    await client.send_to("40")
    assert (await client.receive_from()).startswith("40")
    await client.send_to("41")
    assert await closed_within(client, 3)
    assert realtime.engine.sessions == {}


async def test_reconnecting_a_namespace_within_the_timeout_keeps_the_session() -> None:
    config = EngineConfig(ping_interval=60, ping_timeout=60, connect_timeout=0.3)
    realtime, _, app = build(config)
    client = await open_ws(app)
    await client.send_to("40")
    assert (await client.receive_from()).startswith("40")
    await client.send_to("41")
    await client.send_to("40")
    assert (await client.receive_from()).startswith("40")
    assert await client.receive_nothing(0.6)  # no close (nor anything else)
    assert len(realtime.engine.sessions) == 1
    await client.disconnect()


async def test_one_address_cannot_hold_more_than_the_unauthenticated_cap() -> None:
    config = EngineConfig(
        ping_interval=60, ping_timeout=60, connect_timeout=30, max_unadmitted_per_ip=2
    )
    realtime, _, app = build(config)
    first, second = await open_ws(app), await open_ws(app)
    third = WebsocketCommunicator(app, WEBSOCKET)
    connected, _ = await third.connect()
    assert not connected  # refused before the accept: no session made
    status, body = await polling_handshake(app)
    assert status == 429 and b"Too many pending sessions" in body
    assert len(realtime.engine.sessions) == 2

    # A session that logs in no longer counts: the address may open another.
    await first.send_to("40")
    assert (await first.receive_from()).startswith("40")
    fourth = await open_ws(app)
    # ... and one whose login ends counts again.
    await first.send_to("41")
    await asyncio.sleep(0.05)
    fifth = WebsocketCommunicator(app, WEBSOCKET)
    assert not (await fifth.connect())[0]
    for client in (first, second, fourth):
        await client.disconnect()
    await asyncio.sleep(0.05)
    assert realtime.engine.refusal("127.0.0.1") is None


async def test_a_storm_past_the_pending_cap_is_shed_with_a_retryable_503() -> None:
    """Past max_unadmitted (all addresses together) a handshake is refused with 503 (the
    client backs off and retries); each admission frees a place."""
    config = EngineConfig(
        ping_interval=60,
        ping_timeout=60,
        connect_timeout=30,
        max_unadmitted_per_ip=0,
        max_unadmitted=2,
    )
    realtime, _, app = build(config)
    first, second = await open_ws(app), await open_ws(app)
    third = WebsocketCommunicator(app, WEBSOCKET)
    assert not (await third.connect())[0]  # refused before the accept: no session made
    status, body = await polling_handshake(app)
    assert status == 503 and b"Server busy" in body
    assert len(realtime.engine.sessions) == 2

    await first.send_to("40")  # admitted: no longer pending
    assert (await first.receive_from()).startswith("40")
    fourth = await open_ws(app)
    assert realtime.engine.refusal("10.0.0.9") == "Server busy"
    for client in (first, second, fourth):
        await client.disconnect()
    await asyncio.sleep(0.05)
    assert realtime.engine.refusal("10.0.0.9") is None


async def polling_handshake(app: Any) -> tuple[int, bytes]:
    client = HttpCommunicator(app, "GET", "/socket.io/?EIO=4&transport=polling")
    response = await client.get_response()
    return response["status"], response["body"]


async def test_a_socket_that_floods_its_inbound_queue_is_closed() -> None:
    config = EngineConfig(ping_interval=60, ping_timeout=60, connect_timeout=5)
    realtime, namespace, app = build(config, InboxLimits(events=5, bytes=1_000_000))
    client = await open_ws(app)
    await client.send_to("40")
    assert (await client.receive_from()).startswith("40")
    namespace.release.clear()  # the handler is stuck (a slow database, say)
    for index in range(20):
        await client.send_to(f'42["e",{index}]')
    assert await closed_within(client, 3)
    assert realtime.engine.sessions == {}
    namespace.release.set()


async def test_a_burst_within_the_inbound_limit_is_handled_in_full() -> None:
    config = EngineConfig(ping_interval=60, ping_timeout=60, connect_timeout=5)
    _, namespace, app = build(config, InboxLimits(events=50, bytes=1_000_000))
    client = await open_ws(app)
    await client.send_to("40")
    assert (await client.receive_from()).startswith("40")
    namespace.release.clear()
    for index in range(40):
        await client.send_to(f'42["e",{index}]')
    await asyncio.sleep(0.05)
    namespace.release.set()
    for _ in range(200):
        if namespace.handled == 40:
            break
        await asyncio.sleep(0.01)
    assert namespace.handled == 40
    await client.disconnect()
