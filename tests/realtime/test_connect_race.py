"""A session that ends while the namespace's on_connect is still running must still reach
on_disconnect: the namespace registered the socket (registry, groups) and has to undo it."""

from __future__ import annotations

import asyncio
from typing import Any

from channels.testing import WebsocketCommunicator

from banter.realtime.asgi_routing import realtime_asgi
from banter.realtime.engine import EngineConfig
from banter.realtime.socketio import Namespace, Socket
from banter.realtime.transports import OriginPolicy, RealtimeServer


class SlowConnect(Namespace):
    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.registered: set[str] = set()
        self.disconnects: list[str] = []

    async def on_connect(self, socket: Socket, auth: dict[str, Any] | None) -> None:
        self.registered.add(socket.sid)
        self.entered.set()
        await self.release.wait()  # e.g. a slow database or Redis

    async def on_disconnect(self, socket: Socket, reason: str) -> None:
        self.registered.discard(socket.sid)
        self.disconnects.append(reason)


async def _open_and_connect(namespace: Namespace) -> WebsocketCommunicator:
    """A WebSocket session on a server of `namespace`, its CONNECT packet sent."""
    config = EngineConfig(ping_interval=60, ping_timeout=60, connect_timeout=5)
    app = realtime_asgi(RealtimeServer({"/": namespace}, config, OriginPolicy(None)), None)
    client = WebsocketCommunicator(app, "/socket.io/?EIO=4&transport=websocket")
    connected, _ = await client.connect()
    assert connected
    assert (await client.receive_from()).startswith("0")
    await client.send_to("40")
    return client


async def test_close_during_connect_still_runs_on_disconnect() -> None:
    namespace = SlowConnect()
    client = await _open_and_connect(namespace)
    await asyncio.wait_for(namespace.entered.wait(), 2)
    await client.disconnect()  # the client goes away mid-connect
    await asyncio.sleep(0.05)
    assert namespace.disconnects == []  # nothing to undo yet: on_connect has not returned
    namespace.release.set()
    for _ in range(100):
        if namespace.disconnects:
            break
        await asyncio.sleep(0.01)
    assert namespace.disconnects == ["transport close during connect"]
    assert namespace.registered == set()


class SlowConnected(Namespace):
    """on_connected still working (presence, say) when the client's first event arrives."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.log: list[str] = []

    async def on_connected(self, socket: Socket) -> None:
        self.log.append("connected: started")
        await self.release.wait()
        self.log.append("connected: done")

    async def on_event(
        self, socket: Socket, event: str, args: list[Any], ack_id: int | None
    ) -> None:
        self.log.append(f"event: {event}")


async def test_events_wait_for_on_connected() -> None:
    namespace = SlowConnected()
    client = await _open_and_connect(namespace)
    assert (await client.receive_from()).startswith("40")  # the CONNECT answer
    await client.send_to('42["first"]')
    await client.send_to('42["second"]')
    await asyncio.sleep(0.05)
    assert namespace.log == ["connected: started"]  # held, not lost
    namespace.release.set()
    for _ in range(100):
        if len(namespace.log) == 4:
            break
        await asyncio.sleep(0.01)
    assert namespace.log == [
        "connected: started",
        "connected: done",
        "event: first",
        "event: second",
    ]
    await client.disconnect()


class Recorder(Namespace):
    def __init__(self) -> None:
        self.disconnects: list[str] = []

    async def on_disconnect(self, socket: Socket, reason: str) -> None:
        self.disconnects.append(reason)


async def test_disconnect_reasons_are_socketio_reasons() -> None:
    """The engine's "transport close" stays "transport close" (it was reported as
    "transport transport close"); the engine's other reasons become transport reasons."""
    namespace = Recorder()
    client = await _open_and_connect(namespace)
    assert (await client.receive_from()).startswith("40")
    await client.disconnect()
    for _ in range(100):
        if namespace.disconnects:
            break
        await asyncio.sleep(0.01)
    assert namespace.disconnects == ["transport close"]

    client = await _open_and_connect(namespace)
    assert (await client.receive_from()).startswith("40")
    await client.send_to("garbage")  # not an Engine.IO packet: the engine closes the session
    for _ in range(100):
        if len(namespace.disconnects) == 2:
            break
        await asyncio.sleep(0.01)
    assert namespace.disconnects[1] == "transport parse error"
    await client.disconnect()
