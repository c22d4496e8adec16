"""ASGI transports for Engine.IO: the WebSocket consumer and the HTTP long-polling handler.

Both only move frames between the network and an EngineSocket (engine.py); everything
protocol-level happens there and in socketio.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from channels.consumer import AsyncConsumer, get_handler_name
from channels.exceptions import StopConsumer

from banter.core import metrics
from banter.realtime import lifecycle
from banter.realtime.codec import ProtocolError
from banter.realtime.engine import EngineConfig, EngineServer, EngineSocket, RequestInfo
from banter.realtime.socketio import InboxLimits, Namespace, SocketIOServer
from banter.realtime.tasks import spawn
from banter.realtime.wire import direct_writer

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

# Engine.IO close reason of a drain (Socket.IO handlers hear "transport server shutting down").
SHUTDOWN_REASON = "server shutting down"
# 1012 "Service Restart": going away on purpose, come back (elsewhere). Never a Socket.IO
# DISCONNECT packet: official clients do not reconnect after one.
SHUTDOWN_CLOSE_CODE = 1012
_SHUTTING_DOWN_BODY = b'{"code":3,"message":"Server shutting down"}'


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


# Handshake headers a session keeps (auth and logs); the rest (cookies, accept-*, websocket
# keys) would cost hundreds of bytes per connection for nothing.
KEPT_HEADERS = frozenset({"authorization", "user-agent", "x-forwarded-for"})


def request_info(scope: Scope) -> RequestInfo:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    client = scope.get("client") or ("", 0)
    return RequestInfo(
        headers={name: value for name, value in headers.items() if name in KEPT_HEADERS},
        query=query,
        client_ip=str(client[0]),
        origin=headers.get("origin"),
        host=headers.get("host"),
    )


_REFUSAL_LABELS = {"Server full": "full", "Server busy": "busy"}


class RealtimeServer:
    """An Engine.IO + Socket.IO server with the given namespaces, as ASGI entry points."""

    def __init__(
        self,
        namespaces: dict[str, Namespace],
        config: EngineConfig,
        origins: OriginPolicy,
        inbox_limits: InboxLimits | None = None,
    ) -> None:
        self.config = config
        self.origins = origins
        self.socketio = SocketIOServer(namespaces, config.connect_timeout, inbox_limits)
        self.engine = EngineServer(config, self.socketio.handler_for)
        self.draining = False
        # Open WebSocket consumers (upgrade probes too) and parked long-poll GETs: a drain
        # waits until every one of them has been answered and has gone away.
        self._websockets: set[EngineWebSocketConsumer] = set()
        self._polls_in_flight = 0
        self._connection_gone = asyncio.Event()  # set whenever either of those shrinks
        # Polling sessions closed by the drain: their next request hears 503 ("go elsewhere")
        # rather than 400 "Session ID unknown".
        self._drained: set[str] = set()
        _live_servers.add(self)

    def protocol(self, query: dict[str, str]) -> int | None:
        """The Engine.IO revision a request asks for, if served: 4, or 3 with allow_eio3."""
        version = query.get("EIO")
        if version == "4":
            return 4
        if version == "3" and self.config.allow_eio3:
            return 3
        return None

    def open_session(
        self, transport: str, info: RequestInfo, protocol: int = 4
    ) -> EngineSocket | None:
        if not self.origins.allows(info.origin, info.host):
            # Kept open so CONNECT can be refused with data.code "origin_not_allowed";
            # the namespace refuses every CONNECT of such a session.
            logger.warning(
                "origin denied origin=%s ip=%s transport=%s", info.origin, info.client_ip, transport
            )
            info.extra["origin_denied"] = True
        return self.engine.open(transport, info, protocol)

    def refusal(self, info: RequestInfo) -> str | None:
        """Why a handshake from this client is refused now (counted and logged), or None."""
        reason = self.engine.refusal(info.client_ip)
        if reason is not None:
            metrics.SESSIONS_REFUSED.labels(_REFUSAL_LABELS.get(reason, "per_ip")).inc()
            logger.info("handshake refused ip=%s reason=%s", info.client_ip, reason)
        return reason

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
        protocol = self.protocol(query)
        if protocol is None:
            await _error(send, UNSUPPORTED, cors)
            return
        if query.get("transport") != "polling":
            code = BAD_REQUEST if query.get("transport") == "websocket" else UNKNOWN_TRANSPORT
            await _error(send, code, cors)
            return
        if protocol == 3 and "j" in query:
            # engine.io 3.x's JSONP polling (clients without XHR, or forceJSONP): not served.
            await _error(send, BAD_REQUEST, cors)
            return
        sid = query.get("sid")
        if sid is None:
            await self._handshake(scope, method, info, cors, send, protocol)
            return
        session = self.engine.get(sid)
        if session is not None and session.heartbeat_overdue():
            session.close("ping timeout")
            session = None
        if session is None:
            if sid in self._drained:
                await _shutting_down(send, cors)
            elif method == "GET" and self.engine.take_client_closed(sid):
                await _respond(send, 200, b"6" if protocol == 4 else b"1:6", cors + _TEXT)
            else:
                await _error(send, UNKNOWN_SID, cors)
            return
        if session.transport != "polling" or session.protocol != protocol:
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
        protocol: int,
    ) -> None:
        if method != "GET":
            await _error(send, BAD_HANDSHAKE_METHOD, cors)
            return
        if self.draining:
            # 503: load balancers and clients try another instance.
            await _shutting_down(send, cors)
            return
        if not self.origins.allows(info.origin, info.host):
            # Browsers would not let a disallowed page read the answer anyway.
            logger.warning(
                "origin denied origin=%s ip=%s transport=polling", info.origin, info.client_ip
            )
            await _error(send, FORBIDDEN, cors, status=403)
            return
        refused = self.refusal(info)
        session = None if refused else self.engine.open("polling", info, protocol)
        if session is None:
            # 503 when full or busy admitting a storm (try again later, or another
            # instance); 429 when this address holds too many unauthenticated sessions.
            # Clients treat both as a transport error and back off.
            status = 429 if refused == "Too many pending sessions" else 503
            body = orjson.dumps({"code": 3, "message": refused or "Server full"})
            await _respond(send, status, body, cors + _JSON)
            return
        await _respond(send, 200, session.handshake_body(), cors + _TEXT)
        session.opened()

    async def _poll(
        self, session: EngineSocket, receive: Receive, send: Send, cors: list[tuple[bytes, bytes]]
    ) -> None:
        self._polls_in_flight += 1
        try:
            await _read_body(receive, 0)
            disconnected = asyncio.ensure_future(_wait_disconnect(receive))
            try:
                payload = await session.poll(disconnected)
            finally:
                disconnected.cancel()
            if session.close_reason == SHUTDOWN_REASON:
                # Not the close packet "1": python-engineio takes it for a deliberate server
                # disconnect and python-socketio then never reconnects. An HTTP error is a
                # transport error to every client, and they all reconnect on those.
                await _shutting_down(send, cors)
            elif payload is None:
                await _error(send, BAD_REQUEST, cors)
            elif isinstance(payload, bytes):  # a v3 binary payload (engine.io 3.x's type)
                await _respond(send, 200, payload, cors + _OCTETS)
            else:
                await _respond(send, 200, payload.encode(), cors + _TEXT)
        finally:
            self._polls_in_flight -= 1
            self._connection_gone.set()

    async def _post(
        self, session: EngineSocket, receive: Receive, send: Send, cors: list[tuple[bytes, bytes]]
    ) -> None:
        body = await _read_body(receive, self.config.max_payload)
        if body is None:
            session.close("payload too large")
            await _respond(send, 413, b'{"code":3,"message":"Payload too large"}', cors + _JSON)
            return
        try:
            packets = session.decode_payload(body)
        except ProtocolError:
            session.close("parse error")
            await _error(send, BAD_REQUEST, cors)
            return
        for kind, data in packets:
            session.receive_packet(kind, data)
        await _respond(send, 200, b"ok", cors + _TEXT)

    # -- graceful shutdown -------------------------------------------------------------

    async def drain(self, timeout: float) -> DrainReport:
        """Refuse new sessions, make every client reconnect elsewhere, run the shutdown
        hooks; all within `timeout` seconds."""
        return await drain_servers([self], timeout)

    async def _close_all(self, deadline: float) -> tuple[int, int, int]:
        """Close every session the way clients reconnect from; wait (until `deadline`) for the
        disconnect handlers and for the connections to go away.
        Returns (websocket sessions, polling sessions, connections still open)."""
        self.draining = True
        before = asyncio.all_tasks()
        websocket, polling = self._close_sessions()
        for consumer in list(self._websockets):
            if consumer.upgrading:
                # An upgrade probe belongs to a polling session just closed: nothing else
                # would close it.
                spawn(consumer._close(SHUTDOWN_CLOSE_CODE), name="drain-probe-close")
        # Closing scheduled the Socket.IO disconnect handlers (registry and presence cleanup)
        # and the WebSocket close frames as tasks: they must finish before the process exits.
        started = asyncio.all_tasks() - before
        if started:
            await asyncio.wait(started, timeout=max(deadline - time.monotonic(), 0))
        await self._wait_connections_gone(deadline)
        return websocket, polling, len(self._websockets) + self._polls_in_flight

    async def _wait_connections_gone(self, deadline: float) -> None:
        # The clients answer the close frames (or daphne drops them after its close
        # handshake timeout) and the 503s are handed over: then the process may exit.
        while self._websockets or self._polls_in_flight:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._connection_gone.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connection_gone.wait(), remaining)

    def _close_sessions(self) -> tuple[int, int]:
        websocket = polling = 0
        for session in list(self.engine.sessions.values()):
            if session.transport == "websocket":
                websocket += 1
                # Queued frames are flushed first, then the close frame.
                session.close(SHUTDOWN_REASON, code=SHUTDOWN_CLOSE_CODE)
            else:
                polling += 1
                self._drained.add(session.sid)
                # The parked GET (if any) is answered 503 (see _poll); what is still queued
                # is dropped: a reconnecting client resyncs anyway.
                session.close(SHUTDOWN_REASON, flush=False)
        return websocket, polling

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
_OCTETS = [(b"content-type", b"application/octet-stream"), (b"cache-control", b"no-store")]
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


async def _shutting_down(send: Send, cors: list[tuple[bytes, bytes]]) -> None:
    await _respond(send, 503, _SHUTTING_DOWN_BODY, cors + _JSON)


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


def transport_backlog(send: Send) -> Callable[[], int] | None:
    """How many bytes of this connection's output daphne's Twisted transport still holds
    (None when that cannot be seen: another ASGI server, or a test harness).

    daphne's `send` returns as soon as autobahn has called transport.write(), which only
    appends to the transport's user-space buffer; when the peer stops reading (its TCP window
    is full) the bytes stay there, unbounded and invisible to the engine's outbox. daphne
    passes `partial(Server.handle_reply, protocol)` as `send`: its protocol's transport is a
    twisted.internet.abstract.FileDescriptor, whose unsent bytes are dataBuffer[offset:] plus
    the _tempDataLen bytes not yet joined into it (TLS wraps that transport once).
    """
    protocol = send.args[0] if isinstance(send, functools.partial) and send.args else None
    transport: Any = getattr(protocol, "transport", None)
    if transport is not None and not hasattr(transport, "_tempDataLen"):
        transport = getattr(transport, "transport", None)
    if not all(hasattr(transport, name) for name in ("dataBuffer", "offset", "_tempDataLen")):
        return None

    def backlog() -> int:
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen

    return backlog


class EngineWebSocketConsumer(AsyncConsumer):
    """The WebSocket transport: a new Engine.IO session, or the upgrade of a polling one."""

    # No channel per socket: the process hub holds the one channel-layer subscription.
    channel_layer_alias = "__banter_no_per_socket_channel__"
    realtime: RealtimeServer

    def __init__(self, realtime: RealtimeServer) -> None:
        self.realtime = realtime
        self.session: EngineSocket | None = None
        self.upgrading = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Channels' loop (await_many_dispatch) makes a task and an asyncio.wait per inbound
        # message to serve a channel-layer channel too; this consumer has none (the hub
        # subscribes once per process), so a plain receive loop does the same work.
        self.scope = scope
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes old DB connections before every message (a thread hop). Frames
        # never touch the database here; handlers that do wrap their own calls.
        handler = getattr(self, get_handler_name(message), None)
        if handler is not None:
            await handler(message)

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        query = dict(parse_qsl(self.scope.get("query_string", b"").decode("latin-1")))
        protocol = self.realtime.protocol(query)
        if protocol is None or query.get("transport") != "websocket":
            await self.send({"type": "websocket.close", "code": 1002})
            return
        if self.realtime.draining:
            # Refused before the accept (daphne answers the upgrade with an HTTP error):
            # clients see a failed connect and retry, elsewhere.
            await self.send({"type": "websocket.close", "code": 1013})
            return
        sid = query.get("sid")
        if sid is not None:
            session = self.realtime.engine.get(sid)
            if session is None or session.protocol != protocol:
                # Unknown sid (or another Engine.IO revision's): refused before the accept,
                # as the reference server answers the upgrade with HTTP 400 "Session ID
                # unknown".
                await self.send({"type": "websocket.close", "code": 1002})
                return
            if session.transport != "polling" or session.upgrading:
                # A live session already upgraded (or being probed by another socket): the
                # reference server accepts this WebSocket and closes it at once, leaving the
                # session alone. Clients (the official suite's included) expect a close, not
                # a failed handshake.
                await self.send({"type": "websocket.accept"})
                await self._close()
                return
            self.session = session
            self.upgrading = True
            await self.send({"type": "websocket.accept"})
            self.realtime._websockets.add(self)
            return
        info = request_info(self.scope)
        refused = self.realtime.refusal(info)
        session = None if refused else self.realtime.open_session("websocket", info, protocol)
        if session is None:
            await self.send({"type": "websocket.close", "code": 1013})
            return
        self.session = session
        await self.send({"type": "websocket.accept"})
        self.realtime._websockets.add(self)
        session.attach_websocket(
            self._send_frame,
            self._close,
            transport_backlog(self.base_send),
            direct_writer(self.base_send),
        )
        # After attaching: written directly, not queued for a writer task made just for it.
        session.send_frame(session.open_packet())
        session.opened()

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
            session.attach_websocket(
                self._send_frame,
                self._close,
                transport_backlog(self.base_send),
                direct_writer(self.base_send),
            )
        else:
            self.session = None
            await self._close()

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        self.realtime._websockets.discard(self)
        self.realtime._connection_gone.set()
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

    async def _close(self, code: int = 1000) -> None:
        try:
            await self.send({"type": "websocket.close", "code": code})
        except Exception:
            if code == 1000:
                raise
            # Plain daphne (autobahn) lets applications send only 1000 and 3000-4999 and
            # raises on 1012; 1000 still makes every client reconnect.
            logger.debug("close code %d refused by the server, closing with 1000", code)
            await self.send({"type": "websocket.close", "code": 1000})


@dataclass(frozen=True, slots=True)
class DrainReport:
    websocket: int  # WebSocket sessions closed with SHUTDOWN_CLOSE_CODE
    polling: int  # long-polling sessions closed (their GET answered 503)
    still_open: int  # connections not gone yet when the time budget ran out
    hooks: lifecycle.HooksOutcome
    seconds: float

    @property
    def sessions(self) -> int:
        return self.websocket + self.polling

    @property
    def complete(self) -> bool:
        return self.still_open == 0 and self.hooks.failed == 0


# Every RealtimeServer of this process, for `manage.py serve` to drain on SIGTERM (the ASGI
# application does not expose the server it routes to). Weak: tests build throwaway ones.
_live_servers: weakref.WeakSet[RealtimeServer] = weakref.WeakSet()


def live_servers() -> list[RealtimeServer]:
    return list(_live_servers)


async def drain_servers(servers: Iterable[RealtimeServer], timeout: float) -> DrainReport:
    """Drain the servers' sockets together, then run the shutdown hooks once; the whole
    thing bounded by `timeout` seconds."""
    started = time.monotonic()
    deadline = started + timeout
    lifecycle.begin_draining()
    closed = await asyncio.gather(*(server._close_all(deadline) for server in servers))
    hooks = await lifecycle.run_shutdown_hooks(deadline)
    report = DrainReport(
        websocket=sum(c[0] for c in closed),
        polling=sum(c[1] for c in closed),
        still_open=sum(c[2] for c in closed),
        hooks=hooks,
        seconds=time.monotonic() - started,
    )
    log = logger.info if report.complete else logger.warning
    log(
        "drain %s in %.2fs: closed %d sessions (%d websocket, %d polling), %d connections "
        "still open, shutdown hooks %d ok / %d failed",
        "finished" if report.complete else "incomplete",
        report.seconds,
        report.sessions,
        report.websocket,
        report.polling,
        report.still_open,
        hooks.completed,
        hooks.failed,
    )
    return report
