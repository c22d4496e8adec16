"""The echo server the official Socket.IO v5 / Engine.IO v4 test suites expect.

Namespaces "/" and "/custom"; on connect emit `auth` with the CONNECT payload; `message` ->
`message-back` with the same args; `message-with-ack` -> ack with the same args.
"""

from __future__ import annotations

from typing import Any

from banter.realtime.asgi_routing import realtime_asgi
from banter.realtime.engine import EngineConfig
from banter.realtime.socketio import Namespace, Socket
from banter.realtime.transports import OriginPolicy, RealtimeServer

CONFORMANCE_CONFIG = EngineConfig(
    ping_interval=0.3, ping_timeout=0.2, max_payload=1_000_000, connect_timeout=1.0
)


class EchoNamespace(Namespace):
    async def on_connect(self, socket: Socket, auth: dict[str, Any] | None) -> None:
        socket.state["auth"] = auth if auth is not None else {}

    async def on_connected(self, socket: Socket) -> None:
        socket.emit("auth", socket.state["auth"])

    async def on_event(
        self, socket: Socket, event: str, args: list[Any], ack_id: int | None
    ) -> None:
        if event == "message":
            socket.emit("message-back", *args)
        elif event == "message-with-ack" and ack_id is not None:
            socket.ack(ack_id, args)


def build_application() -> Any:
    realtime = RealtimeServer(
        {"/": EchoNamespace(), "/custom": EchoNamespace()},
        CONFORMANCE_CONFIG,
        OriginPolicy(None),
    )
    return realtime_asgi(realtime, http_fallback=None)


application = build_application()
