"""Writing WebSocket frames straight to uvicorn's transport: the hot path of every delivery.

Through ASGI, each frame to each recipient costs a wake-up of the connection's writer task, a
message dict, Channels' and uvicorn's `send` coroutines and a websockets frame serialization
before the one `transport.write` that matters. A server-to-client frame is unmasked (RFC 6455
5.1), so a broadcast's frame is the same bytes for every recipient: `text_frame` builds it
once per broadcast (the hub hands the same str to every local subscriber in turn), and
`direct_writer` writes it synchronously when the connection can take it at once. When it
cannot (the transport is above its high-water mark, the connection is closing) the frame
takes the ASGI path, which waits for the transport; the engine keeps the order (engine.py).

Only uvicorn's sans-I/O WebSocket protocol (the default of `manage.py serve`, pinned in
requirements.txt) is recognised; with any other server the ASGI path is the only one.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from websockets.protocol import State

DirectWrite = Callable[[str | bytes], bool]

_FIN_TEXT = 0x81  # FIN + opcode 1 (text)
_FIN_BINARY = 0x82  # FIN + opcode 2 (binary)

# (frame, its wire bytes) of the last frame built: a broadcast reaches its recipients one
# after the other, so the next one finds it here. One slot, no growth.
_last: tuple[str | bytes | None, bytes] = (None, b"")


def _header(opcode: int, length: int) -> bytes:
    if length < 126:
        return bytes((opcode, length))
    if length < 1 << 16:
        return struct.pack("!BBH", opcode, 126, length)
    return struct.pack("!BBQ", opcode, 127, length)


def wire_frame(frame: str | bytes) -> bytes:
    """The unmasked, unfragmented WebSocket frame carrying `frame` (text for str)."""
    global _last
    if _last[0] is frame:
        return _last[1]
    if isinstance(frame, str):
        payload = frame.encode()
        wire = _header(_FIN_TEXT, len(payload)) + payload
    else:
        wire = _header(_FIN_BINARY, len(frame)) + frame
    _last = (frame, wire)
    return wire


def direct_writer(send: Any) -> DirectWrite | None:
    """A synchronous writer for the connection behind this ASGI `send`, or None when the
    server is not one this module knows (the caller keeps using `send`)."""
    protocol: Any = getattr(send, "__self__", None)
    if protocol is None or type(protocol).__name__ != "WebSocketsSansIOProtocol":
        return None
    conn = getattr(protocol, "conn", None)
    writable = getattr(protocol, "writable", None)
    if conn is None or writable is None or not hasattr(protocol, "transport"):
        return None
    if getattr(conn, "extensions", None):  # permessage-deflate: frames are not ours to build
        return None

    def write(frame: str | bytes) -> bool:
        transport = protocol.transport
        if (
            not writable.is_set()
            or protocol.close_sent
            or conn.state is not State.OPEN
            or conn.expect_continuation_frame
            or transport.is_closing()
        ):
            return False
        try:
            transport.write(wire_frame(frame))
        except RuntimeError:  # the transport closed under us (checked just above, but cheap)
            return False
        return True

    return write
