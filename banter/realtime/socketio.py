"""Socket.IO v5 over Engine.IO sessions: namespaces, events, acks both ways.

Knows nothing about chat: a Namespace object decides who may connect and what events mean.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from banter.realtime.codec import (
    Packet,
    PacketDecoder,
    PacketType,
    ProtocolError,
    encode_packet,
)
from banter.realtime.engine import EngineSocket

logger = logging.getLogger("banter.realtime.socketio")

# Names the Socket.IO client reserves for itself; a client emitting them is broken or hostile.
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)


class ConnectRefused(Exception):
    """Raised by Namespace.on_connect: the client gets CONNECT_ERROR {message, data}."""

    def __init__(self, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


# Frames held for a socket until its CONNECT reply, and recovery offsets remembered per socket.
MAX_HELD_FRAMES = 1000
MAX_OFFSETS_KEPT = 2048
RECENT_DEDUPE_KEYS = 8  # dedupe keys of the last broadcasts a socket took


class Namespace:
    """Behaviour of one namespace. Subclass and override what you need."""

    def make_socket(self, connection: Connection, namespace: str) -> Socket:
        """The Socket of a new connection to this namespace (a subclass may observe it:
        banter/realtime/admin_taps.py)."""
        return Socket(connection, namespace, self)

    async def on_connect(self, socket: Socket, auth: dict[str, Any] | None) -> None:
        """Accept (return) or refuse (raise ConnectRefused) before CONNECT is answered."""

    async def on_connected(self, socket: Socket) -> None:
        """Runs right after the CONNECT answer was queued (emit greetings here). The socket's
        events wait for it: the first one sees what it set up (presence, for one)."""

    async def on_event(
        self, socket: Socket, event: str, args: list[Any], ack_id: int | None
    ) -> None:
        """One client event, in the order the client sent them."""

    async def on_disconnect(self, socket: Socket, reason: str) -> None:
        """The namespace connection ended (client, server, or transport)."""

    def on_control(self, socket: Socket, message: dict[str, Any]) -> None:
        """A non-frame group message addressed to a group this socket joined."""


class Socket:
    """One client's connection to one namespace (what handlers see)."""

    def __init__(self, connection: Connection, namespace: str, handler: Namespace) -> None:
        self.connection = connection
        self.engine = connection.engine
        self.namespace = namespace
        self.handler = handler
        self.sid = secrets.token_urlsafe(15)
        self.connected = False
        self.state: dict[str, Any] = {}
        self.groups: set[str] = set()
        # Who this socket belongs to (the namespace sets it on connect): a broadcast may skip
        # its sender's sockets ("to the rest of the room") by naming this in "exclude".
        self.identity: int | None = None
        # Dedupe keys of the last few broadcasts taken: an event sent to several groups this
        # socket is in (presence goes to every room of the user) reaches it once.
        # A list, not a deque: an empty deque is 600 bytes, times 10,000 idle connections.
        self._recent: list[str] = []
        # Recovery offsets of the recoverable events this socket was given (bounded, oldest
        # first): an event replayed and also delivered live, or delivered both through the
        # channel layer and by the local fallback, reaches the client once.
        self._offsets: dict[int, None] = {}
        # Group frames that arrive between the group subscriptions and the CONNECT reply:
        # handed over right after it (and after any replay) instead of being lost.
        self._held: list[dict[str, Any]] | None = []
        # (offset, frame) to send right after the CONNECT reply: the events a recovering
        # client missed (set by the namespace's on_connect).
        self.replay: list[tuple[int, str]] = []
        # Made by the first event and dropped once drained (an idle socket holds none).
        self._inbox: deque[tuple[Packet, int]] | None = None
        self._inbox_bytes = 0  # wire bytes of the events in _inbox
        self.last_event_size = 0  # bytes on the wire of the event being handled
        self._worker: asyncio.Task[None] | None = None
        # Events are handled once the namespace's on_connected has run (open_events): a
        # client emits as soon as it has the CONNECT answer, and its first `join-room` must
        # not race the connect's own work (it listed the user themself as offline).
        self._events_open = False
        self._ack_ids = itertools.count(1)
        self._pending_acks: dict[int, asyncio.Future[list[Any]]] = {}

    @property
    def request(self) -> Any:
        return self.engine.request

    # -- outbound ----------------------------------------------------------------------

    def emit(self, event: str, *args: Any) -> None:
        if not self.connected:
            return
        self._send(Packet(PacketType.EVENT, self.namespace, [event, *args]))

    async def call(self, event: str, *args: Any, timeout: float = 10.0) -> list[Any]:
        """Emit with an ack callback; wait for the client's answer (TimeoutError after timeout)."""
        ack_id = next(self._ack_ids)
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending_acks[ack_id] = future
        try:
            self._send(Packet(PacketType.EVENT, self.namespace, [event, *args], ack_id))
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending_acks.pop(ack_id, None)

    def ack(self, ack_id: int, args: list[Any]) -> None:
        if self.connected:
            self._send(Packet(PacketType.ACK, self.namespace, args, ack_id))

    def send_event_frame(self, frame: str) -> None:
        """Write a pre-encoded '42...' frame (broadcasts): no encoding per recipient."""
        if self.connected:
            self.engine.send_frame(frame)

    def deliver(self, message: dict[str, Any]) -> None:
        """Hub subscriber entry point: pre-encoded frames and control messages."""
        if message["type"] == "banter.frame":
            if not self.connected:
                if self._held is not None and len(self._held) < MAX_HELD_FRAMES:
                    self._held.append(message)
                return
            if len(message) > 3:
                if not self._addressed(message):
                    return
                offset = message.get("offset")
                if offset is not None and not self.note_offset(offset):
                    return
            dedupe = message.get("dedupe")
            if dedupe is not None:
                if dedupe in self._recent:
                    return
                self._recent.append(dedupe)
                if len(self._recent) > RECENT_DEDUPE_KEYS:
                    del self._recent[0]
            self.send_event_frame(message["frame"])
        elif not self.connected:
            # A control message (unsubscribe after a membership ended, revoke after a
            # logout) that lands while the socket is connecting would otherwise be lost and
            # leave the socket in a room it may no longer read. Held in order with the
            # frames, and never capped: dropping one is a security hole, and only the server
            # sends them.
            if self._held is not None:
                self._held.append(message)
        else:
            self.handler.on_control(self, message)

    def note_offset(self, offset: int) -> bool:
        """Remember a recoverable event given to this socket; False if it already was."""
        if offset in self._offsets:
            return False
        self._offsets[offset] = None
        if len(self._offsets) > MAX_OFFSETS_KEPT:
            del self._offsets[next(iter(self._offsets))]
        return True

    def _start_delivery(self) -> None:
        """Right after the CONNECT reply: the replay, then the frames held meanwhile."""
        for offset, frame in self.replay:
            if self.note_offset(offset):
                self.engine.send_frame(frame)
        self.replay = []
        held, self._held = self._held, None
        for message in held or ():
            self.deliver(message)

    def _addressed(self, message: dict[str, Any]) -> bool:
        """Optional filters of a group frame: skip a user's sockets ("exclude"), skip one
        socket ("exclude_sid"), or reach only one socket ("only_sid")."""
        if "exclude" in message and message["exclude"] == self.identity:
            return False
        if "exclude_sid" in message and message["exclude_sid"] == self.sid:
            return False
        return "only_sid" not in message or message["only_sid"] == self.sid

    def _send(self, packet: Packet) -> None:
        parts = encode_packet(packet)
        self.engine.send_frame("4" + parts[0])  # type: ignore[operator]
        for attachment in parts[1:]:
            self.engine.send_frame(attachment)

    def disconnect(self, reason: str = "server namespace disconnect") -> None:
        """Server-side disconnect of this namespace (the engine session stays if others use it)."""
        if not self.connected:
            return
        self._send(Packet(PacketType.DISCONNECT, self.namespace))
        self.connection.drop(self, reason)

    # -- inbound -----------------------------------------------------------------------

    def _queue_event(self, packet: Packet, size: int) -> None:
        # Events of one socket are handled one at a time, in arrival order (a client's
        # send-message order matters), without blocking the transport reader.
        if not self.connected:
            return  # sent before the CONNECT answer (a broken client): not handled, as ever
        if self._inbox is None:
            self._inbox = deque()
            self._inbox_bytes = 0
        limits = self.connection.server.inbox_limits
        if len(self._inbox) >= limits.events or self._inbox_bytes + size > limits.bytes:
            # A client that sends faster than its events are handled would grow this queue
            # without bound (rate limits only answer once an event is handled): close it.
            logger.warning(
                "closing sid=%s: inbound event queue full (%d events, %d bytes)",
                self.engine.sid,
                len(self._inbox),
                self._inbox_bytes,
            )
            self.engine.close("inbound queue overflow", flush=False)
            return
        self._inbox.append((packet, size))
        self._inbox_bytes += size
        if self._worker is None and self._events_open:
            self._worker = asyncio.get_running_loop().create_task(self._drain())

    def open_events(self) -> None:
        """The namespace's on_connected has run: handle the events, those queued meanwhile
        first."""
        self._events_open = True
        if self._inbox and self._worker is None and self.connected:
            self._worker = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            inbox = self._inbox
            while inbox and self.connected:
                packet, self.last_event_size = inbox.popleft()
                self._inbox_bytes -= self.last_event_size
                event, *args = packet.data
                try:
                    await self.handler.on_event(self, event, args, packet.id)
                except Exception:
                    logger.exception("namespace %s failed on event %r", self.namespace, event)
        finally:
            self._worker = None
            if self._inbox and self.connected:
                self._worker = asyncio.get_running_loop().create_task(self._drain())
            else:
                self._inbox = None

    def _resolve_ack(self, packet: Packet) -> None:
        future = self._pending_acks.get(packet.id or -1)
        if future is not None and not future.done():
            future.set_result(list(packet.data or []))

    def _closed(self) -> None:
        self.connected = False
        self._held = None
        self._inbox = None
        for future in self._pending_acks.values():
            if not future.done():
                future.cancel()


class Connection:
    """The Socket.IO side of one Engine.IO session (implements EngineHandler)."""

    def __init__(self, server: SocketIOServer, engine: EngineSocket) -> None:
        self.server = server
        self.engine = engine
        self.decoder = PacketDecoder()
        self.sockets: dict[str, Socket] = {}
        self._connect_attempts = 0
        self._packet_size = 0  # wire bytes of the packet being decoded (text + attachments)
        self._connect_timer: asyncio.TimerHandle | None = None
        self._arm_connect_timer()

    def _arm_connect_timer(self) -> None:
        """A session must hold a namespace connection to stay open: one that never connects,
        or whose last namespace left (a DISCONNECT, a refused or revoked login), is closed
        after the connect timeout. Otherwise a client could CONNECT, DISCONNECT and keep
        the session (a slot of the process's session table) alive by answering pings."""
        if self._connect_timer is None and not self.engine.closed:
            self._connect_timer = asyncio.get_running_loop().call_later(
                self.server.config_connect_timeout, self._connect_timed_out
            )

    def _connect_timed_out(self) -> None:
        self._connect_timer = None
        if not self.sockets:
            self.engine.close("connect timeout")

    def on_open(self) -> None:
        """Engine.IO v3 sessions only (socket.io-client 2.x speaks Socket.IO v4): the server
        connects the default namespace as soon as the session is open, unasked."""
        self._handle(Packet(PacketType.CONNECT), 0)

    def on_message(self, data: str | bytes) -> None:
        self._packet_size += len(data)
        try:
            if isinstance(data, str):
                packet = self.decoder.feed_text(data)
            else:
                packet = self.decoder.feed_binary(data)
        except ProtocolError as exc:
            logger.info("closing sid=%s on invalid packet: %s", self.engine.sid, exc)
            self.engine.close("parse error")
            return
        if packet is not None:
            size, self._packet_size = self._packet_size, 0
            self._handle(packet, size)

    def _handle(self, packet: Packet, size: int) -> None:
        kind = packet.type
        if kind is PacketType.CONNECT:
            self._connect_attempts += 1
            asyncio.get_running_loop().create_task(self._connect(packet))
            return
        if not self._connect_attempts:
            # Spec: a session whose first packet is not CONNECT is closed at once.
            self.engine.close("parse error")
            return
        socket = self.sockets.get(packet.namespace)
        if kind in (PacketType.EVENT, PacketType.BINARY_EVENT):
            if packet.data[0] in RESERVED_EVENTS:
                logger.info("closing sid=%s on reserved event name", self.engine.sid)
                self.engine.close("parse error")
            elif socket is not None:
                socket._queue_event(packet, size)
        elif kind in (PacketType.ACK, PacketType.BINARY_ACK):
            if socket is not None:
                socket._resolve_ack(packet)
        elif kind is PacketType.DISCONNECT:
            if socket is not None:
                self.drop(socket, "client namespace disconnect")
        else:  # CONNECT_ERROR is server-to-client only
            self.engine.close("parse error")

    async def _connect(self, packet: Packet) -> None:
        namespace = packet.namespace
        # Socket.IO v4 (Engine.IO v3 sessions): CONNECT carries the client's query after the
        # namespace ("40/chat?x=1,"), and its reply is a bare "40" (no sid, no pid).
        legacy = self.engine.protocol == 3
        if legacy:
            namespace = namespace.partition("?")[0]
        handler = self.server.namespaces.get(namespace)
        if handler is None:
            self._send_connect_error(namespace, "Invalid namespace", None)
            return
        if namespace in self.sockets:
            if legacy:  # "/" again after the implicit connect: nothing to do
                return
            # Reconnecting a namespace on the same session is a client bug; refuse it.
            self._send_connect_error(namespace, "Already connected", None)
            return
        socket = handler.make_socket(self, namespace)
        self.sockets[namespace] = socket
        # Socket.IO v4 has no CONNECT payload (nor recovery, which rides on it): none is read.
        auth = packet.data if isinstance(packet.data, dict) and not legacy else None
        try:
            await handler.on_connect(socket, auth)
        except ConnectRefused as refused:
            self.sockets.pop(namespace, None)
            self._send_connect_error(namespace, refused.message, refused.data)
            return
        except Exception:
            logger.exception("namespace %s failed on connect", namespace)
            self.sockets.pop(namespace, None)
            self._send_connect_error(namespace, "Internal error", {"code": "internal_error"})
            return
        if self.engine.closed or self.sockets.get(namespace) is not socket:
            # The session ended while on_connect ran: drop() saw a socket not yet connected
            # and told nobody, but the namespace has registered it by now; let it undo that.
            await self._disconnected(socket, "transport close during connect")
            return
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None
        if not any(other.connected for other in self.sockets.values()):
            self.engine.set_admitted(True)
        socket.connected = True
        reply: dict[str, Any] = {"sid": socket.sid}
        reply.update(socket.state.pop("connect_reply_extra", {}))
        socket._send(Packet(PacketType.CONNECT, namespace, None if legacy else reply))
        socket._start_delivery()
        try:
            await handler.on_connected(socket)
        except Exception:
            logger.exception("namespace %s failed after connect", namespace)
        finally:
            socket.open_events()

    def _send_connect_error(
        self, namespace: str, message: str, data: Mapping[str, Any] | None
    ) -> None:
        body: dict[str, Any] = {"message": message}
        if data is not None:
            body["data"] = dict(data)
        prefix = "" if namespace == "/" else namespace + ","
        self.engine.send_frame("44" + prefix + orjson.dumps(body).decode())

    def drop(self, socket: Socket, reason: str) -> None:
        if self.sockets.get(socket.namespace) is not socket:
            return
        del self.sockets[socket.namespace]
        was_connected = socket.connected
        socket._closed()
        if not any(other.connected for other in self.sockets.values()):
            self.engine.set_admitted(False)
            if not self.sockets:
                self._arm_connect_timer()
        if was_connected:
            asyncio.get_running_loop().create_task(self._disconnected(socket, reason))

    async def _disconnected(self, socket: Socket, reason: str) -> None:
        try:
            await socket.handler.on_disconnect(socket, reason)
        except Exception:
            logger.exception("namespace %s failed on disconnect", socket.namespace)

    def on_close(self, reason: str) -> None:
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None
        # Socket.IO's reasons: the engine's "transport close"/"transport error" as they are,
        # anything else the engine says (ping timeout, parse error...) as a transport reason.
        if reason != "client close" and not reason.startswith("transport "):
            reason = f"transport {reason}"
        for socket in list(self.sockets.values()):
            self.drop(socket, reason)


@dataclass(frozen=True, slots=True)
class InboxLimits:
    """How much one socket may have queued for its handler before it is closed."""

    events: int = 1000
    bytes: int = 8 * 1024 * 1024


class SocketIOServer:
    def __init__(
        self,
        namespaces: dict[str, Namespace],
        connect_timeout: float,
        inbox_limits: InboxLimits | None = None,
    ) -> None:
        self.namespaces = namespaces
        self.config_connect_timeout = connect_timeout
        self.inbox_limits = inbox_limits or InboxLimits()

    def handler_for(self, engine: EngineSocket) -> Connection:
        return Connection(self, engine)


__all__ = [
    "RESERVED_EVENTS",
    "ConnectRefused",
    "Connection",
    "InboxLimits",
    "Namespace",
    "Socket",
    "SocketIOServer",
]
