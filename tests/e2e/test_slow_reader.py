"""Backpressure, end to end: a reader that stops reading is disconnected, memory stays bounded.

One room on a live `manage.py serve` instance on Redis, served by uvicorn (the default) and by
daphne, with:

- a "slow" member: a raw WebSocket (tiny SO_RCVBUF) that completes the Engine.IO/Socket.IO
  handshake, reads one room message, and then never reads again;
- two normal python-socketio clients, which must get every message, in order per sender;
- four senders (python-socketio) flooding the room with ~15.5 KiB messages until the slow
  reader is cut off, and a hundred more after that.

The server must close the slow reader within 30 s of the flood starting (its unsent output
exceeds banter.realtime.engine.EngineConfig.max_buffered_bytes), count it in
`banter_slow_reader_disconnects_total`, and keep its RSS bounded. What it holds for the slow
reader is capped (8 MiB in the engine's outbox, plus what the server's transport holds: below
uvicorn's high-water mark, where its send waits, or at most transport_high_water plus a frame
in daphne's), not the size of the flood: before the WebSocket writer watched daphne's
transport, every frame went straight into Twisted's unbounded write buffer (measured: 25 MB
after 30 s of this flood, RSS +34 MiB and climbing, no disconnect), where the cap never saw it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest

from tests.e2e.client import RecordingClient, RestClient, User, connect
from tests.e2e.conftest import start_banter
from tests.live_server import LiveServer
from tests.services import require_redis

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SENDERS = 4  # users sending concurrently, each one message at a time (acked before the next)
# The flood goes on until the slow reader is cut off (or DISCONNECT_WITHIN has passed), then
# every sender sends AFTER_STOP more; MAX_PER_SENDER only bounds a runaway.
MAX_PER_SENDER = 1000
AFTER_STOP = 25
# Under MAX_MESSAGE_LENGTH (4000 characters), of a 4-byte character: ~15.6 KB per frame on
# the wire and in the server's memory (a str of astral characters keeps 4 bytes each), so a
# few hundred messages overflow the slow reader's cap. ASCII would need 4x as many, and the
# server stores only ~60-80 messages a second on SQLite.
CONTENT_CHARS = 3900
FILL = "\U0001f600"  # 😀
DISCONNECT_WITHIN = 30.0  # seconds from the first flood message (the acceptance criterion)
# Peak RSS over the pre-flood baseline. The slow reader may hold ~8.3 MiB (the 8 MiB cap,
# 256 KiB in the transport, one frame); with the server's ordinary working set for the flood
# (ORM objects, frames in flight to the fast clients, allocator slack) the growth measured
# 12.5-15.6 MiB. 64 MiB leaves 4x headroom for a busy CI machine. An unbounded backlog grows
# ~1 MiB per second of this flood: the disconnect deadline catches that first, this bound a
# backlog kept somewhere else, or a leak.
RSS_GROWTH_LIMIT = 64 * 1024 * 1024
SLOW_RCVBUF = 4096  # the kernel rounds it up (doubles it) but it stays a few KB

SLOW_READER_METRIC = "banter_slow_reader_disconnects_total"


# One backend: the cap lives in the engine and transport, below the channel layer, and a run
# takes most of a minute (the in-memory layer behaved the same: docs/guarantees.md).
# Both servers: the default (uvicorn, whose WebSocket send waits while its transport is full)
# and daphne (whose send never waits; the writer watches Twisted's buffer instead).
@pytest.fixture(scope="module", params=["redis-uvicorn", "redis-daphne"])
def flood_server(
    request: pytest.FixtureRequest, e2e_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    extra = {
        # The message rate limit (100/60 s, burst 20 by default) would stop the flood.
        "RATE_LIMIT_MESSAGE": "1000000/60/1000000",
        # The shutdown hooks wait out the offline grace: keep stop() well within its 5 s.
        "PRESENCE_OFFLINE_GRACE": "1",
    }
    extra["ASGI_SERVER"] = request.param.split("-")[1]
    if request.param.startswith("redis"):
        extra["REDIS_URL"] = require_redis()
        extra["REDIS_PREFIX"] = f"banter-e2e-{uuid.uuid4().hex[:8]}"
    server = start_banter(
        e2e_database, tmp_path_factory.mktemp("slow-logs"), f"slow-{request.param}", **extra
    )
    yield server
    server.stop()


# -- a raw WebSocket client that can stop reading ------------------------------------------


class SlowReader:
    """A blocking Engine.IO v4 WebSocket client over a plain socket with a tiny receive
    buffer: once the test stops calling read_frame(), the server's writes pile up."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Before connect, so the TCP window advertised to the server is small from the start.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF)
        self.sock.settimeout(10)
        self.sock.connect((host, port))
        self.host, self.port = host, port
        self._buffer = b""

    def handshake(self, token: str) -> str:
        """WebSocket upgrade, Engine.IO open, Socket.IO CONNECT with the token; the sid."""
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: {self.host}:{self.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        while b"\r\n\r\n" not in self._buffer:
            self._fill()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head
        opened = self.read_frame()
        assert opened.startswith("0{"), opened
        self.send_text("40" + json.dumps({"token": token}))
        while True:
            frame = self.read_frame()
            if frame.startswith("40"):
                return str(json.loads(frame[2:])["sid"])
            assert not frame.startswith("44"), frame  # CONNECT_ERROR

    def read_until_content(self, content: str, timeout: float) -> None:
        """Read (answering Engine.IO pings) until a message-received with this content."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.read_frame()
            if frame == "2":
                self.send_text("3")
            elif (
                frame.startswith('42["message-received"')
                and json.loads(frame[2:])[1]["content"] == content
            ):
                return
        raise AssertionError(f"the slow reader never saw {content!r}")

    def read_frame(self) -> str:
        while True:
            frame = self._parse_frame()
            if frame is not None:
                opcode, payload = frame
                if opcode == 0x1:
                    return payload.decode()
                if opcode == 0x8:
                    raise ConnectionError(f"close frame {payload[:2].hex()}")
                if opcode == 0x9:
                    self._send_frame(0xA, payload)  # WebSocket pong
                continue
            self._fill()

    def _parse_frame(self) -> tuple[int, bytes] | None:
        data = self._buffer
        if len(data) < 2:
            return None
        opcode, length, offset = data[0] & 0x0F, data[1] & 0x7F, 2
        if length == 126:
            if len(data) < 4:
                return None
            (length,), offset = struct.unpack("!H", data[2:4]), 4
        elif length == 127:
            if len(data) < 10:
                return None
            (length,), offset = struct.unpack("!Q", data[2:10]), 10
        if len(data) < offset + length:
            return None
        self._buffer = data[offset + length :]
        return opcode, data[offset : offset + length]

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("EOF")
        self._buffer += chunk

    def send_text(self, text: str) -> None:
        self._send_frame(0x1, text.encode())

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def wait_closed(self, timeout: float) -> tuple[str, int]:
        """Now read everything (fast): how the connection ended ("reset", "eof", or "open"
        after `timeout`) and how many bytes were still readable. The server aborts a slow
        reader (RST: what it had buffered is dropped) or closes it after the queued data."""
        deadline = time.monotonic() + timeout
        drained = 0
        self.sock.settimeout(0.5)
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(1 << 20)
            except TimeoutError:
                continue
            except ConnectionResetError:
                return "reset", drained
            if not chunk:
                return "eof", drained
            drained += len(chunk)
        return "open", drained

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


# -- server observation ---------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match, status
    return int(match.group(1)) * 1024


@dataclass
class RssSampler:
    """Samples a process's RSS every `interval` seconds on a thread; keeps the peak."""

    pid: int
    interval: float = 0.05
    peak: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, rss_bytes(self.pid))
                self.samples += 1
            self._stop.wait(self.interval)


def metric_value(server: LiveServer, name: str) -> float:
    """One unlabelled sample from /metrics (answers 127.0.0.1 without a token); 0 if absent."""
    with urlopen(server.url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def wait_for_metric_above(
    server: LiveServer, name: str, floor: float, timeout: float
) -> float | None:
    """Seconds until `name` exceeds `floor`, or None on timeout. Polled every 200 ms: each
    scrape costs the server CPU that the flood needs."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if await asyncio.to_thread(metric_value, server, name) > floor:
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    return None


# -- the test -------------------------------------------------------------------------------


def room_messages(client: RecordingClient, room_id: int) -> list[dict[str, Any]]:
    messages = []
    for data in client.received("message-received"):
        # A recoverable event may carry its recovery offset as a second argument.
        message = data[0] if isinstance(data, list) else data
        if message["roomId"] == room_id:
            messages.append(message)
    return messages


async def wait_for_count(client: RecordingClient, room_id: int, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(room_messages(client, room_id)) < count:
        if time.monotonic() > deadline:
            return  # the assertions on what arrived say what is missing
        await asyncio.sleep(0.1)


@dataclass
class Flood:
    """Senders sending one message at a time each (acked before the next), until `stop` is
    set and each has sent AFTER_STOP more: messages that must still reach the normal
    clients once the slow reader is gone."""

    room_id: int
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, sender: RecordingClient, tag: str) -> list[dict[str, Any]]:
        acks: list[dict[str, Any]] = []
        after_stop = 0
        while len(acks) < MAX_PER_SENDER and after_stop < AFTER_STOP:
            if self.stop.is_set():
                after_stop += 1
            head = f"{tag}-{len(acks):05d} "
            content = head + FILL * (CONTENT_CHARS - len(head))
            payload = {"roomId": self.room_id, "content": content}
            ack = await sender.call("send-message", payload, 20)
            assert ack["ok"] is True, ack
            acks.append(ack["data"])
        return acks


def slow_reader_log_line(server: LiveServer) -> str:
    """The server's "closing slow reader" log line (what it had buffered), or ""."""
    lines = [line for line in server.log_tail(400).splitlines() if "closing slow reader" in line]
    return lines[-1].split("banter.realtime.engine ", 1)[-1] if lines else ""


async def test_slow_reader_is_disconnected_and_others_lose_nothing(
    flood_server: LiveServer,
) -> None:
    server = flood_server
    assert server.pid is not None
    api = RestClient(server.url)
    slow_user = api.register("slow")
    readers = [api.register(f"reader{i}") for i in range(2)]
    senders: list[User] = [api.register(f"sender{i}") for i in range(SENDERS)]
    room = api.create_room(senders[0], "flood", [slow_user, *readers, *senders[1:]])
    room_id = int(room["id"])

    normal = [await connect(server.url, user.access) for user in readers]
    sending = [await connect(server.url, user.access) for user in senders]
    slow = SlowReader(server.host, server.port)
    try:
        await asyncio.to_thread(slow.handshake, slow_user.access)
        # The slow reader is a subscribed room member: it reads one room message, then stops.
        marker = f"marker-{uuid.uuid4().hex[:8]}"
        marker_ack = await sending[0].call("send-message", {"roomId": room_id, "content": marker})
        assert marker_ack["ok"] is True, marker_ack
        await asyncio.to_thread(slow.read_until_content, marker, 10)

        disconnects_before = await asyncio.to_thread(metric_value, server, SLOW_READER_METRIC)
        baseline = rss_bytes(server.pid)
        flood = Flood(room_id)
        with RssSampler(server.pid) as rss:
            flood_started = time.monotonic()
            sends = asyncio.gather(*(flood.send(s, f"s{n}") for n, s in enumerate(sending)))
            time_to_disconnect = await wait_for_metric_above(
                server, SLOW_READER_METRIC, disconnects_before, DISCONNECT_WITHIN
            )
            flood.stop.set()
            acks_per_sender = await sends
            flood_seconds = time.monotonic() - flood_started
            sent = [marker_ack["data"], *(ack for acks in acks_per_sender for ack in acks)]
            for client in normal:
                await wait_for_count(client, room_id, len(sent), 30)
            delivered_seconds = time.monotonic() - flood_started
        ended, drained = await asyncio.to_thread(slow.wait_closed, 10)
        disconnects = await asyncio.to_thread(metric_value, server, SLOW_READER_METRIC)
        final_rss = rss_bytes(server.pid)
    finally:
        slow.close()
        for client in normal + sending:
            with contextlib.suppress(Exception):
                await client.disconnect()

    flooded = len(sent) - 1
    frame_bytes = len(json.dumps(sent[-1], ensure_ascii=False).encode())
    print(
        f"\n[{server.log_path.name}] flood: {flooded} messages of ~{frame_bytes / 1024:.1f} KiB "
        f"({flooded * frame_bytes / 2**20:.1f} MiB per member) sent in {flood_seconds:.1f}s, "
        f"all delivered to the normal clients after {delivered_seconds:.1f}s"
        "\n  slow reader disconnected after "
        + (f"{time_to_disconnect:.1f}s" if time_to_disconnect is not None else "NEVER")
        + f" (its connection then ended by {ended}, {drained} bytes still readable; "
        f"{SLOW_READER_METRIC} {disconnects_before:.0f} -> {disconnects:.0f})"
        f"\n  server: {slow_reader_log_line(server) or 'no slow-reader log line'}"
        f"\n  server RSS: baseline {baseline / 2**20:.1f} MiB, peak {rss.peak / 2**20:.1f} MiB "
        f"(+{(rss.peak - baseline) / 2**20:.1f} MiB, {rss.samples} samples), "
        f"after {final_rss / 2**20:.1f} MiB"
    )

    assert time_to_disconnect is not None, (
        f"the slow reader was not disconnected within {DISCONNECT_WITHIN}s of the flood\n"
        + server.log_tail()
    )
    assert disconnects == disconnects_before + 1
    assert ended in ("reset", "eof"), f"the slow reader's connection is still {ended}"
    assert rss.peak - baseline < RSS_GROWTH_LIMIT, (baseline, rss.peak)

    expected_seqs = sorted(message["seq"] for message in sent)
    assert len(set(expected_seqs)) == len(sent)
    for client in normal:
        got = room_messages(client, room_id)
        seqs = [message["seq"] for message in got]
        # Every message exactly once...
        assert len(got) == len(sent), (len(got), len(sent))
        assert sorted(seqs) == expected_seqs
        # ...and each sender's messages in the order it sent them (seq order).
        for n in range(SENDERS):
            own = [m["seq"] for m in got if m["content"].startswith(f"s{n}-")]
            assert own == [ack["seq"] for ack in acks_per_sender[n]]
            assert own == sorted(own)
