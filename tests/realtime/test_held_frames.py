"""Frames for a socket between its subscriptions and its CONNECT reply are held, not lost;
a recovering socket gets its replay first; an offset reaches a socket once."""

from __future__ import annotations

from typing import Any

from channels.testing import WebsocketCommunicator

from banter.realtime.asgi_routing import realtime_asgi
from banter.realtime.engine import EngineConfig
from banter.realtime.socketio import Namespace, Socket
from banter.realtime.transports import OriginPolicy, RealtimeServer


def frame(event: str, offset: int | None = None) -> dict[str, Any]:
    suffix = "" if offset is None else f',"{offset}"'
    message: dict[str, Any] = {
        "type": "banter.frame",
        "group": "room.1",
        "frame": f'42["{event}",{{}}{suffix}]',
    }
    if offset is not None:
        message["offset"] = offset
    return message


class Recovering(Namespace):
    def __init__(self) -> None:
        self.socket: Socket | None = None

    async def on_connect(self, socket: Socket, auth: dict[str, Any] | None) -> None:
        self.socket = socket
        # Live broadcasts arrive while the namespace is still preparing the reply...
        socket.deliver(frame("live-before-reply", 12))  # also in the replay: skipped
        socket.deliver(frame("typing"))
        socket.deliver(frame("live-after-replay", 13))
        # ... and the replay computed after the subscriptions covers offsets 11-12.
        socket.replay = [(11, '42["m",{},"11"]'), (12, '42["m",{},"12"]')]


async def test_reply_then_replay_then_held_frames_once_each() -> None:
    namespace = Recovering()
    config = EngineConfig(ping_interval=60, ping_timeout=60, connect_timeout=5)
    app = realtime_asgi(RealtimeServer({"/": namespace}, config, OriginPolicy(None)), None)
    client = WebsocketCommunicator(app, "/socket.io/?EIO=4&transport=websocket")
    assert (await client.connect())[0]
    assert (await client.receive_from()).startswith("0")
    await client.send_to("40")
    assert (await client.receive_from()).startswith("40")
    received = [await client.receive_from() for _ in range(4)]
    assert received == [
        '42["m",{},"11"]',
        '42["m",{},"12"]',
        '42["typing",{}]',
        '42["live-after-replay",{},"13"]',
    ]
    assert namespace.socket is not None
    namespace.socket.deliver(frame("again", 13))  # e.g. the outage fallback and the layer
    namespace.socket.deliver(frame("new", 14))
    assert await client.receive_from() == '42["new",{},"14"]'
    await client.disconnect()
