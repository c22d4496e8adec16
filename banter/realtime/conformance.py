"""The servers the official Socket.IO v5 / Engine.IO v4 test suites expect, in one ASGI app.

- ``/socket.io/``: Socket.IO, namespaces "/" and "/custom"; on connect emit `auth` with the
  CONNECT payload; `message` -> `message-back` with the same args; `message-with-ack` -> ack
  with the same args (socket.io-protocol/v5-test-suite).
- ``/engine.io/``: bare Engine.IO, every message sent back as is (engine.io-protocol/
  v4-test-suite).

Both share the heartbeat and payload settings the suites assert on. The Engine.IO echo is the
same EngineServer/RealtimeServer machinery with an echoing handler in place of Socket.IO, so
the suite tests the real transports, not a second implementation.
"""

from __future__ import annotations

from typing import Any

from banter.realtime.asgi_routing import ASGIApp, realtime_asgi
from banter.realtime.codec import EngineType, engine_encode
from banter.realtime.engine import EngineConfig, EngineSocket
from banter.realtime.socketio import Namespace, Socket
from banter.realtime.transports import OriginPolicy, RealtimeServer

CONFORMANCE_CONFIG = EngineConfig(
    ping_interval=0.3,
    ping_timeout=0.2,
    max_payload=1_000_000,
    connect_timeout=1.0,
    # Every suite connection comes from one address and the Engine.IO echo never logs in:
    # the reference server has no such cap.
    max_unadmitted_per_ip=0,
)

ENGINEIO_PATH = "/engine.io/"


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


class EngineEcho:
    """EngineHandler sending every Engine.IO message back on its session, text as text and
    binary as binary (base64 `b...` over polling, a binary frame over WebSocket)."""

    __slots__ = ("session",)

    def __init__(self, session: EngineSocket) -> None:
        self.session = session

    def on_message(self, data: str | bytes) -> None:
        self.session.send_frame(engine_encode(EngineType.MESSAGE, data))

    def on_close(self, reason: str) -> None:
        pass


def build_engineio_echo() -> RealtimeServer:
    realtime = RealtimeServer({}, CONFORMANCE_CONFIG, OriginPolicy(None))
    # No Socket.IO on this one: its sessions get the echo handler instead (RealtimeServer
    # builds the Socket.IO handler factory itself; the sessions only see the factory).
    realtime.engine.handler_factory = EngineEcho
    return realtime


def _is_engineio(scope: dict[str, Any]) -> bool:
    path: str = scope.get("path", "")
    return path == ENGINEIO_PATH or path == ENGINEIO_PATH[:-1]


def build_application() -> ASGIApp:
    socketio = realtime_asgi(
        RealtimeServer(
            {"/": EchoNamespace(), "/custom": EchoNamespace()},
            CONFORMANCE_CONFIG,
            OriginPolicy(None),
        ),
        http_fallback=None,
    )
    echo = build_engineio_echo()
    echo_websocket = echo.websocket_consumer()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if _is_engineio(scope):
            if scope["type"] == "websocket":
                await echo_websocket(scope, receive, send)
                return
            if scope["type"] == "http":
                await echo.http(scope, receive, send)
                return
        await socketio(scope, receive, send)

    return app


application = build_application()
