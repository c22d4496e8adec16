"""The direct write path: frames built once per broadcast, parsed by a real WebSocket client,
and never reordered against the frames that had to wait for the writer task."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side

from banter.realtime import wire
from banter.realtime.engine import EngineConfig, EngineServer, RequestInfo


def client_reading(data: bytes) -> list[tuple[Opcode, bytes]]:
    """What websockets' own client protocol (it checks framing strictly) makes of `data`."""
    client = Protocol(Side.CLIENT)  # open, past the handshake: only frames matter here
    client.receive_data(data)
    frames = client.events_received()
    assert all(isinstance(frame, Frame) for frame in frames)
    return [(frame.opcode, bytes(frame.data)) for frame in frames if isinstance(frame, Frame)]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
def test_text_frames_of_every_length_class_parse_back(size: int) -> None:
    text = "42" + "é" * (size // 2) + "x" * (size % 2)
    assert client_reading(wire.wire_frame(text)) == [(Opcode.TEXT, text.encode())]


def test_binary_frames_parse_back() -> None:
    payload = bytes(range(256)) * 3
    assert client_reading(wire.wire_frame(payload)) == [(Opcode.BINARY, payload)]


def test_one_broadcast_is_built_once() -> None:
    frame = '42["message-received",{"id":1}]'
    first = wire.wire_frame(frame)
    assert wire.wire_frame(frame) is first  # the next recipient reuses the bytes
    other = '42["message-received",{"id":2}]'
    assert wire.wire_frame(other) != first
    # An equal but distinct str is rebuilt (identity is the cache key), to the same bytes.
    assert wire.wire_frame("".join(['42["message-received",', '{"id":1}]'])) == first


def test_only_uvicorns_sans_io_protocol_gets_a_direct_writer() -> None:
    async def send(message: dict[str, Any]) -> None: ...

    class Other:
        async def send(self, message: dict[str, Any]) -> None: ...

    assert wire.direct_writer(send) is None
    assert wire.direct_writer(Other().send) is None


async def test_frames_that_waited_are_never_overtaken_by_direct_writes() -> None:
    """The transport refuses one frame (above its high-water mark): it and everything after
    it go through the writer task, in order, until the queue is empty again."""
    server = EngineServer(EngineConfig(ping_interval=60), lambda session: _Handler())
    session = server.open("websocket", RequestInfo({}, {}, "127.0.0.1", None, None))
    assert session is not None
    wire_order: list[str] = []
    refuse = {"f2"}
    release = asyncio.Event()

    def write_now(frame: str | bytes) -> bool:
        if frame in refuse:
            return False
        wire_order.append(str(frame))
        return True

    async def send(frame: str | bytes) -> None:  # the ASGI path: waits for the transport
        await release.wait()
        wire_order.append(str(frame))

    async def close(code: int) -> None: ...

    session.attach_websocket(send, close, None, write_now)
    await asyncio.sleep(0)
    for name in ("f1", "f2", "f3", "f4"):
        session.send_frame(name)
    await asyncio.sleep(0.01)
    # The writer has taken f2..f4 and waits for the transport: the outbox is empty, and yet
    # a new frame must queue behind the ones the writer holds.
    session.send_frame("f4b")
    assert wire_order == ["f1"]
    release.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert wire_order == ["f1", "f2", "f3", "f4", "f4b"]
    session.send_frame("f5")  # queue empty again: straight to the transport
    assert wire_order[-1] == "f5"
    session.close("test")


class _Handler:
    def on_message(self, data: str | bytes) -> None: ...

    def on_close(self, reason: str) -> None: ...
