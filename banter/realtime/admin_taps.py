"""Taps on a namespace for the Admin UI: connects, disconnects, group changes, events in and out.

Installed only when ADMIN_UI is on (banter/wiring.py wraps the namespace): off, the server
runs the plain Namespace and Socket classes and pays nothing. On, each tap is a method call
that bumps counters and, only while an Admin UI is watching somewhere in the cluster,
appends a small record (the Tap, banter/realtime/admin_ui.py, bounds how many per interval).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

from banter.realtime.socketio import Namespace, Socket

if TYPE_CHECKING:
    from banter.realtime.socketio import Connection


class Tap(Protocol):
    def socket_connected(self, socket: ObservedSocket) -> None: ...

    def socket_disconnected(self, socket: ObservedSocket, reason: str) -> None: ...

    def room_joined(self, socket: ObservedSocket, group: str) -> None: ...

    def room_left(self, socket: ObservedSocket, group: str) -> None: ...

    def event_received(self, socket: ObservedSocket, event: str, args: list[Any]) -> None: ...

    def event_sent(self, socket: ObservedSocket, event: str, args: tuple[Any, ...]) -> None: ...

    def frame_sent(self, socket: ObservedSocket, frame: str) -> None: ...

    def ensure_started(self) -> None: ...


class ObservedGroups(set[str]):
    """A socket's groups that tell the tap when one is joined or left. The namespace's code
    only adds, discards and clears (banter/realtime/namespace.py)."""

    __slots__ = ("socket",)

    def __init__(self, socket: ObservedSocket) -> None:
        super().__init__()
        self.socket = socket

    def add(self, group: str) -> None:
        if group not in self:
            super().add(group)
            self.socket.tap.room_joined(self.socket, group)

    def discard(self, group: object) -> None:
        if group in self:
            super().discard(group)
            self.socket.tap.room_left(self.socket, str(group))

    def remove(self, group: object) -> None:
        if group not in self:
            raise KeyError(group)
        self.discard(group)

    def clear(self) -> None:
        for group in list(self):
            self.discard(group)


class ObservedSocket(Socket):
    """A Socket whose outbound events (direct emits and broadcast frames) reach the tap."""

    def __init__(self, connection: Connection, namespace: str, handler: Namespace, tap: Tap):
        super().__init__(connection, namespace, handler)
        self.tap = tap
        self.issued = time.time()
        # Shown to the UI (socket_connected) once connected: group changes before that are
        # in the socket's rooms then, not separate events.
        self.announced = False
        self.groups = ObservedGroups(self)

    # Socket.x(self, ...) rather than super().x(...): this runs per delivered frame, and a
    # super() object is most of what the tap would cost.
    def emit(self, event: str, *args: Any) -> None:
        if self.connected:
            self.tap.event_sent(self, event, args)
        Socket.emit(self, event, *args)

    def send_event_frame(self, frame: str) -> None:
        if self.connected:
            self.tap.frame_sent(self, frame)
        Socket.send_event_frame(self, frame)


class ObservedNamespace(Namespace):
    """Wraps a namespace: the same behaviour, with its sockets observed and listed here (the
    Admin UI's socket list and its disconnects read `sockets`)."""

    def __init__(self, inner: Namespace, tap: Tap) -> None:
        self.inner = inner
        self.tap = tap
        self.sockets: dict[str, ObservedSocket] = {}  # connected sockets of this process by sid

    def make_socket(self, connection: Connection, namespace: str) -> Socket:
        return ObservedSocket(connection, namespace, self, self.tap)

    async def on_connect(self, socket: Socket, auth: dict[str, Any] | None) -> None:
        self.tap.ensure_started()
        await self.inner.on_connect(socket, auth)

    async def on_connected(self, socket: Socket) -> None:
        if isinstance(socket, ObservedSocket):
            self.sockets[socket.sid] = socket
            # Before the namespace's greetings, so the UI sees them sent to a known socket.
            self.tap.socket_connected(socket)
            socket.announced = True
        await self.inner.on_connected(socket)

    async def on_event(
        self, socket: Socket, event: str, args: list[Any], ack_id: int | None
    ) -> None:
        if isinstance(socket, ObservedSocket):
            self.tap.event_received(socket, event, args)
        await self.inner.on_event(socket, event, args, ack_id)

    async def on_disconnect(self, socket: Socket, reason: str) -> None:
        observed = self.sockets.pop(socket.sid, None)
        if observed is not None:
            self.tap.socket_disconnected(observed, reason)
        try:
            await self.inner.on_disconnect(socket, reason)
        finally:
            if observed is not None:
                # The UI keeps a socket in its rooms until it hears it left each of them: the
                # namespace left its groups above, the private room is left here.
                self.tap.room_left(observed, observed.sid)
                observed.announced = False

    def on_control(self, socket: Socket, message: dict[str, Any]) -> None:
        self.inner.on_control(socket, message)
