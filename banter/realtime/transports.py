"""ASGI transports for Engine.IO: the WebSocket consumer and the HTTP long-polling handler.

Both only move frames between the network and an EngineSocket (engine.py); everything
protocol-level happens there and in socketio.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from channels.consumer import AsyncConsumer, get_handler_name
from channels.exceptions import StopConsumer

from banter.realtime.codec import ProtocolError, engine_decode_payload
from banter.realtime.engine import EngineConfig, EngineServer, EngineSocket, RequestInfo
from banter.realtime.socketio import Namespace, SocketIOServer

logger = logging.getLogger("banter.realtime.transports")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# Engine.IO's HTTP error codes (engine.io server's Server.errors).
UNKNOWN_TRANSPORT, UNKNOWN_SID, BAD_HANDSHAKE_METHOD, BAD_REQUEST, FORBIDDEN, UNSUPPORTED = range(6)
ERROR_MESSAGES = {
    UNKNOWN_TRANSPORT: "Transport unknown",
    UNKNOWN_SID: "Session ID unknown",
    BAD_HANDSHAKE_METHOD: "Bad handshake method",
    BAD_REQUEST: "Bad request",
    FORBIDDEN: "Forbidden",
    UNSUPPORTED: "Unsupported protocol version",
}


class OriginPolicy:
    """Browser Origin allowlist. No Origin (native clients) and same-origin pages pass."""

    def __init__(self, allowed: list[str] | None) -> None:
        # None means "allow every origin" (the conformance server only).
        self.allowed = None if allowed is None else {o.rstrip("/").lower() for o in allowed}

    def allows(self, origin: str | None, host: str | None) -> bool:
        if origin is None or self.allowed is None:
            return True
        normalized = origin.rstrip("/").lower()
        if normalized in self.allowed:
            return True
        return host is not None and urlsplit(normalized).netloc == host.lower()


def request_info(scope: Scope) -> RequestInfo:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    client = scope.get("client") or ("", 0)
    return RequestInfo(
        headers=headers,
        query=query,
        client_ip=str(client[0]),
        origin=headers.get("origin"),
        host=headers.get("host"),
    )


class RealtimeServer:
    """An Engine.IO + Socket.IO server with the given namespaces, as ASGI entry points."""

    def __init__(
        self,
        namespaces: dict[str, Namespace],
        config: EngineConfig,
        origins: OriginPolicy,
    ) -> None:
        self.config = config
        self.origins = origins
        self.socketio = SocketIOServer(namespaces, config.connect_timeout)
        self.engine = EngineServer(config, self.socketio.handler_for)

    def open_session(self, transport: str, scope: Scope) -> EngineSocket | None:
        info = request_info(scope)
        if not self.origins.allows(info.origin, info.host):
            # Kept open so CONNECT can be refused with data.code "origin_not_allowed";
            # the namespace refuses every CONNECT of such a session.
            logger.warning(
                "origin denied origin=%s ip=%s transport=%s", info.origin, info.client_ip, transport
            )
            info.extra["origin_denied"] = True
        return self.engine.open(transport, info)

    def websocket_consumer(self) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        return EngineWebSocketConsumer.as_asgi(realtime=self)

    # -- HTTP long-polling -------------------------------------------------------------

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        info = request_info(scope)
        cors = self._cors_headers(info)
        if method == "OPTIONS":
            await _respond(send, 204, b"", cors + _PREFLIGHT_HEADERS)
            return
        query = info.query
        if query.get("EIO") != "4":
            await _error(send, UNSUPPORTED, cors)
            return
        if query.get("transport") != "polling":
            code = BAD_REQUEST if query.get("transport") == "websocket" else UNKNOWN_TRANSPORT
            await _error(send, code, cors)
            return
        sid = query.get("sid")
        if sid is None:
            await self._handshake(scope, method, info, cors, send)
            return
        session = self.engine.get(sid)
        if session is None:
            await _error(send, UNKNOWN_SID, cors)
            return
        if session.transport != "polling":
            await _error(send, BAD_REQUEST, cors)
            return
        if method == "GET":
            await self._poll(session, receive, send, cors)
        elif method == "POST":
            await self._post(session, receive, send, cors)
        else:
            await _error(send, BAD_REQUEST, cors)

    async def _handshake(
        self,
        scope: Scope,
        method: str,
        info: RequestInfo,
        cors: list[tuple[bytes, bytes]],
        send: Send,
    ) -> None:
        if method != "GET":
            await _error(send, BAD_HANDSHAKE_METHOD, cors)
            return
        if not self.origins.allows(info.origin, info.host):
            # Browsers would not let a disallowed page read the answer anyway.
            logger.warning(
                "origin denied origin=%s ip=%s transport=polling", info.origin, info.client_ip
            )
            await _error(send, FORBIDDEN, cors, status=403)
            return
        session = self.engine.open("polling", info)
        if session is None:
            await _respond(send, 503, b'{"code":3,"message":"Server full"}', cors + _JSON)
            return
        await _respond(send, 200, session.open_packet().encode(), cors + _TEXT)

    async def _poll(
        self, session: EngineSocket, receive: Receive, send: Send, cors: list[tuple[bytes, bytes]]
    ) -> None:
        await _read_body(receive, 0)
        disconnected = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            payload = await session.poll(disconnected)
        finally:
            disconnected.cancel()
        if payload is None:
            await _error(send, BAD_REQUEST, cors)
            return
        await _respond(send, 200, payload.encode(), cors + _TEXT)

    async def _post(
        self, session: EngineSocket, receive: Receive, send: Send, cors: list[tuple[bytes, bytes]]
    ) -> None:
        body = await _read_body(receive, self.config.max_payload)
        if body is None:
            session.close("payload too large")
            await _respond(send, 413, b'{"code":3,"message":"Payload too large"}', cors + _JSON)
            return
        try:
            packets = engine_decode_payload(body)
        except ProtocolError:
            session.close("parse error")
            await _error(send, BAD_REQUEST, cors)
            return
        for kind, data in packets:
            session.receive_packet(kind, data)
        await _respond(send, 200, b"ok", cors + _TEXT)

    def _cors_headers(self, info: RequestInfo) -> list[tuple[bytes, bytes]]:
        if info.origin is None or not self.origins.allows(info.origin, info.host):
            return []
        return [
            (b"access-control-allow-origin", info.origin.encode("latin-1")),
            (b"access-control-allow-credentials", b"true"),
            (b"vary", b"Origin"),
        ]


_TEXT = [(b"content-type", b"text/plain; charset=UTF-8"), (b"cache-control", b"no-store")]
_JSON = [(b"content-type", b"application/json")]
_PREFLIGHT_HEADERS = [
    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
    (b"access-control-allow-headers", b"content-type, authorization"),
    (b"access-control-max-age", b"600"),
]


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _error(send: Send, code: int, cors: list[tuple[bytes, bytes]], status: int = 400) -> None:
    body = orjson.dumps({"code": code, "message": ERROR_MESSAGES[code]})
    await _respond(send, status, body, cors + _JSON)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None once it exceeds `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None if limit or chunk else b""
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class EngineWebSocketConsumer(AsyncConsumer):
    """The WebSocket transport: a new Engine.IO session, or the upgrade of a polling one."""

    # No channel per socket: the process hub holds the one channel-layer subscription.
    channel_layer_alias = "__banter_no_per_socket_channel__"
    realtime: RealtimeServer

    def __init__(self, realtime: RealtimeServer) -> None:
        self.realtime = realtime
        self.session: EngineSocket | None = None
        self.upgrading = False

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes old DB connections before every message (a thread hop). Frames
        # never touch the database here; handlers that do wrap their own calls.
        handler = getattr(self, get_handler_name(message), None)
        if handler is not None:
            await handler(message)

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        query = dict(parse_qsl(self.scope.get("query_string", b"").decode("latin-1")))
        if query.get("EIO") != "4" or query.get("transport") != "websocket":
            await self.send({"type": "websocket.close", "code": 1002})
            return
        sid = query.get("sid")
        if sid is not None:
            session = self.realtime.engine.get(sid)
            if session is None or session.transport != "polling" or session.upgrading:
                await self.send({"type": "websocket.close", "code": 1002})
                return
            self.session = session
            self.upgrading = True
            await self.send({"type": "websocket.accept"})
            return
        session = self.realtime.open_session("websocket", self.scope)
        if session is None:
            await self.send({"type": "websocket.close", "code": 1013})
            return
        self.session = session
        await self.send({"type": "websocket.accept"})
        session.send_frame(session.open_packet())
        session.attach_websocket(self._send_frame, self._close)

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        session = self.session
        if session is None:
            return
        frame: str | bytes | None = message.get("text")
        if frame is None:
            frame = message.get("bytes") or b""
        if len(frame) > self.realtime.config.max_payload:
            session.close("payload too large", flush=False)
            await self._close()
            return
        if self.upgrading:
            await self._upgrade_step(session, frame)
            return
        session.receive(frame)

    async def _upgrade_step(self, session: EngineSocket, frame: str | bytes) -> None:
        if frame == "2probe" and not session.upgrading and not session.closed:
            await self._send_frame("3probe")
            session.begin_upgrade()
        elif frame == "5" and session.upgrading and not session.closed:
            self.upgrading = False
            session.attach_websocket(self._send_frame, self._close)
        else:
            self.session = None
            await self._close()

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        session = self.session
        if session is not None:
            if self.upgrading:
                session.upgrading = False  # probe abandoned: polling carries on
            else:
                session.close("transport close")
        raise StopConsumer

    async def _send_frame(self, frame: str | bytes) -> None:
        if isinstance(frame, str):
            await self.send({"type": "websocket.send", "text": frame})
        else:
            await self.send({"type": "websocket.send", "bytes": frame})

    async def _close(self) -> None:
        await self.send({"type": "websocket.close", "code": 1000})
