"""Engine.IO v4 sessions, independent of the transport carrying them.

An EngineSocket owns the outbound queue, the server-driven heartbeat and the upgrade state.
The WebSocket consumer and the long-polling HTTP handler (transports.py) feed it inbound
frames and drain its queue; the Socket.IO layer above sees only `on_message`/`on_close`.

EngineSocketV3 is the Engine.IO v3 session (socket.io-client 2.x, behind ALLOW_EIO3): its
own open packet, payload formats and client-driven heartbeat, as overrides, so a v4 session
never tests which version it is.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from banter.core import metrics
from banter.realtime import codec_eio3
from banter.realtime.codec import (
    EngineType,
    ProtocolError,
    engine_decode,
    engine_decode_payload,
    engine_encode_payload,
)

logger = logging.getLogger("banter.realtime.engine")

WebSocketSend = Callable[[str | bytes], Awaitable[None]]
# Closes the WebSocket with this close code (1000 normally; 1012 when the server drains).
WebSocketClose = Callable[[int], Awaitable[None]]
# Writes a frame at once if the connection can take it (True), else leaves it (False).
DirectWrite = Callable[[str | bytes], bool]
# Bytes already handed to the WebSocket's transport that the peer has not taken yet (they
# wait in the server's write buffer because the peer's TCP window is full).
TransportBacklog = Callable[[], int]

# How often a WebSocket writer held back by a full transport looks whether it drained:
# soon at first (a fast reader's burst drains in a few ms), backing off for a stuck one.
BACKLOG_POLL_MIN = 0.001
BACKLOG_POLL_MAX = 0.05
# How long after a client's close (POST "1") its last GET still gets a noop, not a 400.
LATE_GET_GRACE = 2.0


@dataclass(frozen=True, slots=True)
class EngineConfig:
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    max_payload: int = 1_000_000
    connect_timeout: float = 10.0  # Socket.IO CONNECT must arrive within this
    upgrade_timeout: float = 10.0
    # Outbound bytes queued for one client before it counts as a slow reader and is closed.
    max_buffered_bytes: int = 8 * 1024 * 1024
    # The WebSocket writer hands a frame to the transport only while it holds less than this
    # unsent (when the server can tell, see attach_websocket); the rest waits in the outbox,
    # where max_buffered_bytes counts it. A connection's unsent output is thus bounded by
    # max_buffered_bytes + transport_high_water + one frame (plus the kernel's socket buffer).
    transport_high_water: int = 256 * 1024
    max_sessions: int = 20000
    # Sessions per client address that hold no authenticated namespace connection (a
    # handshake waiting for its CONNECT, or a session whose login ended): each holds a slot
    # of max_sessions for up to connect_timeout, so one address must not take them all.
    # 0: no limit.
    max_unadmitted_per_ip: int = 100
    # Sessions of all addresses not admitted yet (waiting for their CONNECT to be handled):
    # past it new handshakes get a retryable refusal (503) the clients back off from, instead
    # of joining a queue so long that they time out and retry into it. 0: no limit.
    max_unadmitted: int = 0
    # Engine.IO v3 clients (socket.io-client 2.x) are served too (EngineSocketV3).
    allow_eio3: bool = False


@dataclass(slots=True)
class RequestInfo:
    """What the handshake request told us; kept for auth and logs (never log the query)."""

    headers: dict[str, str]
    query: dict[str, str]
    client_ip: str
    origin: str | None
    host: str | None
    extra: dict[str, Any] = field(default_factory=dict)


class EngineHandler(Protocol):
    def on_message(self, data: str | bytes) -> None: ...

    def on_close(self, reason: str) -> None: ...


def new_sid() -> str:
    return secrets.token_urlsafe(15)


def held_bytes(frame: str | bytes) -> int:
    """Memory a queued frame holds: len() undercounts text by up to 4x (a str of emoji
    keeps 4 bytes per character, as does its UTF-8). O(1), unlike encoding it."""
    return sys.getsizeof(frame)


# The shared empty outbox; only send_frame appends, and never to this one.
_NO_FRAMES: deque[str | bytes] = deque()


class EngineSocket:
    # The Engine.IO protocol revision this session speaks (EngineSocketV3: 3).
    protocol = 4

    def __init__(
        self, server: EngineServer, sid: str, transport: str, request: RequestInfo
    ) -> None:
        self.server = server
        self.config = server.config
        self.sid = sid
        self.transport = transport
        self.request = request
        self.handler: EngineHandler | None = None
        self.closed = False
        self.close_reason = ""
        # True while a namespace connection of this session is authenticated (set by the
        # Socket.IO layer); the others count against max_unadmitted_per_ip.
        self.admitted = False
        self.upgrading = False
        # Frames waiting for the transport. Most WebSocket frames are written directly and
        # never queue: an idle connection shares the empty _NO_FRAMES (a deque is 600 bytes).
        self._outbox: deque[str | bytes] = _NO_FRAMES
        self._outbox_bytes = 0  # held_bytes() of the frames in _outbox
        self._ready = asyncio.Event()
        self._ws_send: WebSocketSend | None = None
        self._backlog: TransportBacklog | None = None
        self._write_now: DirectWrite | None = None
        # The writer holds frames taken from the outbox and not yet written: a frame that
        # comes meanwhile must queue behind them, not be written directly.
        self._writing = False
        self._ws_close: WebSocketClose | None = None
        self._writer: asyncio.Task[None] | None = None
        self._poll_pending = False
        self._closing_payload: str | bytes = ""
        self._loop = asyncio.get_running_loop()
        self._ping_timer: asyncio.TimerHandle | None = None
        self._pong_timer: asyncio.TimerHandle | None = None
        self._pong_deadline = 0.0  # loop time; meaningful while _pong_timer is set
        # A polling ping queued and not yet carried to the client by a GET.
        self._ping_undelivered = False
        self.opened_at = time.monotonic()

    # -- opening -----------------------------------------------------------------------

    def open_packet(self) -> str:
        body = {
            "sid": self.sid,
            "upgrades": ["websocket"] if self.transport == "polling" else [],
            "pingInterval": int(self.config.ping_interval * 1000),
            "pingTimeout": int(self.config.ping_timeout * 1000),
            "maxPayload": self.config.max_payload,
        }
        return "0" + orjson.dumps(body).decode()

    def handshake_body(self) -> bytes:
        """The polling handshake's answer: the open packet, as a payload."""
        return self.open_packet().encode()

    def opened(self) -> None:
        """The transport has handed the open packet to the client (v3 sessions act on it)."""

    def set_admitted(self, admitted: bool) -> None:
        if self.closed or admitted == self.admitted:
            return
        self.admitted = admitted
        self.server.count_unadmitted(self.request.client_ip, -1 if admitted else 1)

    def start_heartbeat(self) -> None:
        self._ping_timer = self._loop.call_later(self.config.ping_interval, self._send_ping)

    def _send_ping(self) -> None:
        if self.closed:
            return
        self.send_frame("2")
        if self.transport == "polling" and not self._poll_pending:
            # No GET is parked to carry the ping: the deadline counts from when it was due, so
            # a client that stopped polling is late on that schedule even when a busy loop
            # queued the ping late. A GET that carries it later gives the client the full
            # timeout from then (_ping_carried), as a parked GET or a WebSocket does now.
            due = self._ping_timer.when() if self._ping_timer is not None else self._loop.time()
            self._ping_undelivered = True
        else:
            due = self._loop.time()
        self._set_pong_deadline(due + self.config.ping_timeout)

    def _set_pong_deadline(self, deadline: float) -> None:
        if self._pong_timer is not None:
            self._pong_timer.cancel()
        self._pong_deadline = deadline
        self._pong_timer = self._loop.call_at(deadline, self._pong_missed)

    def _ping_carried(self) -> None:
        """A GET is taking the queued ping to the client now."""
        self._ping_undelivered = False
        if self._pong_timer is not None:
            later = self._loop.time() + self.config.ping_timeout
            if later > self._pong_deadline:
                self._set_pong_deadline(later)

    def heartbeat_overdue(self) -> bool:
        """True once the pong is late, even before the loop has run the timer that closes
        the session: a request read in the same loop pass as that timer is handled first,
        and must not find the session alive (and take its queued ping)."""
        return self._pong_timer is not None and self._loop.time() >= self._pong_deadline

    def _pong_missed(self) -> None:
        self.close("ping timeout")

    def _pong_received(self) -> None:
        self._ping_undelivered = False
        if self._pong_timer is not None:
            self._pong_timer.cancel()
            self._pong_timer = None
            self._ping_timer = self._loop.call_later(self.config.ping_interval, self._send_ping)

    # -- outbound ----------------------------------------------------------------------

    def send_frame(self, frame: str | bytes) -> None:
        """Queue one encoded Engine.IO frame (text "4...", "2", or raw bytes for binary)."""
        if self.closed:
            return
        write_now = self._write_now
        if write_now is not None and not self._outbox and not self._writing and write_now(frame):
            return
        if self._outbox is _NO_FRAMES:
            self._outbox = deque()
        self._outbox.append(frame)
        self._outbox_bytes += held_bytes(frame)
        if self._outbox_bytes > self.config.max_buffered_bytes:
            # A reader this far behind would grow our memory without bound; it can
            # reconnect and recover what it missed.
            logger.warning(
                "closing slow reader sid=%s buffered=%d in transport=%d",
                self.sid,
                self._outbox_bytes,
                self._backlog() if self._backlog is not None else -1,
            )
            metrics.SLOW_READER_DISCONNECTS.inc()
            self.close("slow reader", flush=False)
            return
        self._ready.set()
        if self._writer is None:
            self._start_writer()

    def _take_all(self, limit: int | None = None) -> list[str | bytes]:
        taken: list[str | bytes] = []
        size = held = 0
        while self._outbox:
            frame = self._outbox[0]
            if limit is not None and taken and size + len(frame) > limit:
                break
            self._outbox.popleft()
            size += len(frame)
            held += held_bytes(frame)
            taken.append(frame)
        self._outbox_bytes -= held
        if not self._outbox:
            self._outbox = _NO_FRAMES
            self._ready.clear()
        return taken

    # -- inbound -----------------------------------------------------------------------

    def receive(self, frame: str | bytes) -> None:
        """One inbound Engine.IO frame from the active transport."""
        try:
            kind, data = engine_decode(frame)
        except ProtocolError:
            self.close("parse error")
            return
        self.receive_packet(kind, data)

    def decode_payload(self, body: bytes) -> list[tuple[EngineType, str | bytes | None]]:
        """The packets of a polling POST body (ProtocolError if malformed)."""
        return engine_decode_payload(body)

    def receive_packet(self, kind: EngineType, data: str | bytes | None) -> None:
        if self.closed:
            return
        if kind is EngineType.MESSAGE:
            if self.handler is not None and data is not None:
                self.handler.on_message(data)
        elif kind is EngineType.PONG:
            self._pong_received()
        elif kind is EngineType.CLOSE:
            self.close("client close")
        elif kind is EngineType.NOOP:
            pass
        else:
            # OPEN, UPGRADE on the active transport, or a client PING (not in v4): invalid.
            self.close("parse error")

    # -- WebSocket transport -----------------------------------------------------------

    def attach_websocket(
        self,
        send: WebSocketSend,
        close: WebSocketClose,
        backlog: TransportBacklog | None = None,
        write_now: DirectWrite | None = None,
    ) -> None:
        """Make a WebSocket the active transport (new session, or the end of an upgrade).

        `send` may return before the peer has the bytes (daphne's only buffers them): given
        `backlog`, the writer holds frames back while the transport is full, so a reader that
        stops reading fills the outbox and trips the slow-reader cap instead of growing the
        transport's buffer without bound.

        Given `write_now` (wire.py), a frame is written synchronously whenever nothing is
        queued before it and the transport takes it at once: no writer wake-up per delivery.
        The writer task remains for what had to wait."""
        self._ws_send = send
        self._write_now = write_now
        self._ws_close = close
        self._backlog = backlog
        self.transport = "websocket"
        self.upgrading = False
        self._ready.set()  # a GET still parked returns "6" (see poll); the writer takes frames
        if write_now is None or self._outbox:
            self._start_writer()

    def _start_writer(self) -> None:
        # With direct writes most connections never queue a frame: their writer task (a task
        # and a coroutine frame per connection) is only made for the first frame that waits.
        if self._writer is None and self._ws_send is not None and not self.closed:
            self._writer = self._loop.create_task(self._write_loop(self._ws_send, self._backlog))

    async def _write_loop(self, send: WebSocketSend, backlog: TransportBacklog | None) -> None:
        high_water = self.config.transport_high_water
        try:
            while not self.closed:
                if not self._outbox:
                    await self._ready.wait()
                if backlog is None:
                    frames = self._take_all()
                else:
                    # Polled: the transport's buffer draining raises no event we could await
                    # (its producer slot belongs to daphne's HTTP channel).
                    delay = BACKLOG_POLL_MIN
                    while backlog() >= high_water and not self.closed:
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, BACKLOG_POLL_MAX)
                    # One frame at a time (limit 0 still takes one), so the transport never
                    # holds more than high_water plus a frame.
                    frames = [] if self.closed else self._take_all(0)
                self._writing = True
                try:
                    for frame in frames:
                        await send(frame)
                finally:
                    self._writing = False
        except asyncio.CancelledError:
            raise
        except Exception:
            # The transport is gone; the consumer's disconnect path closes the session.
            logger.debug("websocket write failed sid=%s", self.sid, exc_info=True)

    # -- polling transport -------------------------------------------------------------

    def encode_payload(self, frames: list[str | bytes]) -> str | bytes:
        """A polling answer carrying `frames` (always text in v4)."""
        return engine_encode_payload(frames)

    async def poll(self, disconnected: asyncio.Future[None]) -> str | bytes | None:
        """Answer one GET: wait for frames, return them as a payload; None if it must 400.
        Bytes only from a v3 session (its binary payload format)."""
        if self._poll_pending:
            # Two concurrent GETs are a protocol violation (spec: close the session).
            self.close("multiple poll requests")
            return None
        self._poll_pending = True
        try:
            if not self._outbox and not self.closed and not self.upgrading:
                ready: asyncio.Future[Any] = asyncio.ensure_future(self._ready.wait())
                waiters: list[asyncio.Future[Any]] = [ready, disconnected]
                try:
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    ready.cancel()
                if disconnected.done():
                    # An aborted long-poll means the client is gone (spec: close the session).
                    self.close("transport close")
                    return ""
            if self.transport != "polling" or (self.upgrading and not self._outbox):
                # Upgraded (or upgrading) meanwhile: release this GET; frames go to the WebSocket.
                return self.encode_payload(["6"])
            if self.closed:
                return self._closing_payload or self.encode_payload(["1"])
            frames = self._take_all(self.config.max_payload)
            if self._ping_undelivered and "2" in frames:
                self._ping_carried()
            return self.encode_payload(frames)
        finally:
            self._poll_pending = False

    # -- upgrade -----------------------------------------------------------------------

    def begin_upgrade(self) -> None:
        self.upgrading = True
        # The client pauses polling before sending "5": a parked GET is answered with a noop
        # (poll() answers later GETs the same way while upgrading).
        self._ready.set()

    # -- closing -----------------------------------------------------------------------

    def close(self, reason: str, *, flush: bool = True, code: int = 1000) -> None:
        """Close the session once; the handler hears why. `code` is the WebSocket close code
        (the polling transport has none)."""
        if self.closed:
            return
        self.close_reason = reason
        for timer in (self._ping_timer, self._pong_timer):
            if timer is not None:
                timer.cancel()
        self.server.forget(self)
        if self.transport == "polling":
            # A parked GET gets what is still queued and then the close packet; when the
            # client itself closed, a noop (as the reference server answers).
            frames = self._take_all() if flush else []
            frames.append("6" if reason == "client close" else "1")
            self._closing_payload = self.encode_payload(frames)
            if reason == "client close" and not self._poll_pending:
                self.server.note_client_closed(self.sid)
        self.closed = True
        self._ready.set()
        if self.transport == "websocket" and self._ws_close is not None:
            self._loop.create_task(self._close_websocket(flush, code))
        if self.handler is not None:
            try:
                self.handler.on_close(reason)
            except Exception:
                logger.exception("engine close handler failed sid=%s", self.sid)

    async def _close_websocket(self, flush: bool, code: int) -> None:
        writer = self._writer
        if flush and self._ws_send is not None:
            if writer is not None:
                writer.cancel()
            try:
                for frame in self._take_all():
                    await self._ws_send(frame)
            except Exception:
                logger.debug("flush before close failed sid=%s", self.sid, exc_info=True)
        elif writer is not None:
            writer.cancel()
        if self._ws_close is not None:
            try:
                await self._ws_close(code)
            except Exception:
                logger.debug("websocket close failed sid=%s", self.sid, exc_info=True)


class EngineServer:
    """Registry of this process's Engine.IO sessions and the factory of their handlers."""

    def __init__(
        self, config: EngineConfig, handler_factory: Callable[[EngineSocket], EngineHandler]
    ) -> None:
        self.config = config
        self.handler_factory = handler_factory
        self.sessions: dict[str, EngineSocket] = {}
        # Polling sessions the client closed with no GET parked -> when (loop time).
        self._client_closed: dict[str, float] = {}
        self._unadmitted: dict[str, int] = {}  # client address -> sessions not admitted
        self._unadmitted_total = 0

    def transport_counts(self) -> dict[str, int]:
        """Open sessions by current transport (the connections gauge)."""
        counts: dict[str, int] = {}
        for session in list(self.sessions.values()):
            counts[session.transport] = counts.get(session.transport, 0) + 1
        return counts

    def refusal(self, client_ip: str) -> str | None:
        """Why a new session from this address cannot be opened now, or None."""
        if len(self.sessions) >= self.config.max_sessions:
            return "Server full"
        if self.config.max_unadmitted and self._unadmitted_total >= self.config.max_unadmitted:
            return "Server busy"
        cap = self.config.max_unadmitted_per_ip
        if cap and self._unadmitted.get(client_ip, 0) >= cap:
            return "Too many pending sessions"
        return None

    def count_unadmitted(self, client_ip: str, delta: int) -> None:
        self._unadmitted_total += delta
        count = self._unadmitted.get(client_ip, 0) + delta
        if count > 0:
            self._unadmitted[client_ip] = count
        else:
            self._unadmitted.pop(client_ip, None)

    def open(self, transport: str, request: RequestInfo, protocol: int = 4) -> EngineSocket | None:
        """A new session of Engine.IO `protocol` (4, or 3 when the transport has checked
        allow_eio3), or None when refusal() says no."""
        if self.refusal(request.client_ip) is not None:
            return None
        kind = EngineSocketV3 if protocol == 3 else EngineSocket
        session = kind(self, new_sid(), transport, request)
        self.sessions[session.sid] = session
        self.count_unadmitted(request.client_ip, 1)
        session.handler = self.handler_factory(session)
        session.start_heartbeat()
        return session

    def get(self, sid: str) -> EngineSocket | None:
        return self.sessions.get(sid)

    def forget(self, session: EngineSocket) -> None:
        if self.sessions.get(session.sid) is session:
            del self.sessions[session.sid]
            if not session.admitted:
                self.count_unadmitted(session.request.client_ip, -1)

    def note_client_closed(self, sid: str) -> None:
        """The client closed this polling session (POST "1") while it had no GET parked.

        A client sends its close and its last GET together, and they can arrive in either
        order: the GET that arrives just after the close must get the noop it would have got
        had it been parked first (the reference server's answer), not a 400."""
        now = asyncio.get_running_loop().time()
        stale = [sid for sid, at in self._client_closed.items() if now - at > LATE_GET_GRACE]
        for old in stale:
            del self._client_closed[old]
        self._client_closed[sid] = now

    def take_client_closed(self, sid: str) -> bool:
        """True once, for a GET arriving within LATE_GET_GRACE of the client's close."""
        at = self._client_closed.pop(sid, None)
        return at is not None and asyncio.get_running_loop().time() - at <= LATE_GET_GRACE


class EngineSocketV3(EngineSocket):
    """An Engine.IO v3 session (engine.io 3.x's behaviour, for socket.io-client 2.x).

    - The client drives the heartbeat: it sends ping "2" every pingInterval and the server
      answers pong "3". Any packet from the client shows it alive; one silent for
      pingInterval + pingTimeout is closed ("ping timeout"), as engine.io 3.x does.
    - Polling payloads are ``<length>:<packet>`` (binary as ``b4<base64>``), or the XHR2
      binary format when the handshake did not ask for ``b64`` and binary is queued.
    - Binary WebSocket frames carry their packet type byte (codec_eio3).
    """

    protocol = 3

    def __init__(
        self, server: EngineServer, sid: str, transport: str, request: RequestInfo
    ) -> None:
        super().__init__(server, sid, transport, request)
        # engine.io 3.x: a polling transport whose handshake had `b64` (any value) takes only
        # text payloads; socket.io-client 2.x in Node asks for it (no XHR2 there).
        self.base64_only = bool(request.query.get("b64"))
        self._silence_limit = self.config.ping_interval + self.config.ping_timeout
        self._last_heard = self._loop.time()

    def open_packet(self) -> str:
        body = {
            "sid": self.sid,
            "upgrades": ["websocket"] if self.transport == "polling" else [],
            "pingInterval": int(self.config.ping_interval * 1000),
            "pingTimeout": int(self.config.ping_timeout * 1000),
        }
        return "0" + orjson.dumps(body).decode()

    def handshake_body(self) -> bytes:
        return codec_eio3.encode_text_payload([self.open_packet()]).encode()

    def opened(self) -> None:
        # Socket.IO v4 (the protocol above Engine.IO v3) connects the default namespace
        # without a CONNECT from the client: the handler does it now, after the open packet.
        on_open = getattr(self.handler, "on_open", None)
        if on_open is not None and not self.closed:
            on_open()

    # -- heartbeat: the client's pings, and a silence deadline ------------------------------

    def start_heartbeat(self) -> None:
        self._last_heard = self._loop.time()
        # One timer per silence period, not one reset per packet: it re-arms itself at the
        # deadline the latest packet moved it to.
        self._ping_timer = self._loop.call_later(self._silence_limit, self._check_silence)

    def _check_silence(self) -> None:
        if self.closed:
            return
        deadline = self._last_heard + self._silence_limit
        if self._loop.time() >= deadline:
            self.close("ping timeout")
        else:
            self._ping_timer = self._loop.call_at(deadline, self._check_silence)

    def heartbeat_overdue(self) -> bool:
        return self._loop.time() >= self._last_heard + self._silence_limit

    # -- inbound ---------------------------------------------------------------------------

    def receive(self, frame: str | bytes) -> None:
        try:
            kind, data = codec_eio3.decode_websocket_frame(frame)
        except ProtocolError:
            self.close("parse error")
            return
        self.receive_packet(kind, data)

    def receive_packet(self, kind: EngineType, data: str | bytes | None) -> None:
        if self.closed:
            return
        self._last_heard = self._loop.time()
        if kind is EngineType.PING:
            self.send_frame("3")  # engine.io 3.x answers without echoing the data
        elif kind is not EngineType.PONG:  # a pong is never asked for: ignored, as 3.x does
            super().receive_packet(kind, data)

    def decode_payload(self, body: bytes) -> list[tuple[EngineType, str | bytes | None]]:
        return codec_eio3.decode_payload(body)

    # -- outbound ----------------------------------------------------------------------------

    def encode_payload(self, frames: list[str | bytes]) -> str | bytes:
        return codec_eio3.encode_payload(frames, self.base64_only)

    def attach_websocket(
        self,
        send: WebSocketSend,
        close: WebSocketClose,
        backlog: TransportBacklog | None = None,
        write_now: DirectWrite | None = None,
    ) -> None:
        async def send_v3(frame: str | bytes) -> None:
            await send(codec_eio3.encode_websocket_frame(frame))

        # engine.io 3.x restarts the silence deadline when an upgrade completes.
        self._last_heard = self._loop.time()
        super().attach_websocket(
            send_v3, close, backlog, None if write_now is None else _v3_direct_writer(write_now)
        )


def _v3_direct_writer(write_now: DirectWrite) -> DirectWrite:
    def write_v3(frame: str | bytes) -> bool:
        return write_now(codec_eio3.encode_websocket_frame(frame))

    return write_v3
