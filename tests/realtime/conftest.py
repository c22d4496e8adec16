"""Live server and raw protocol clients for the Engine.IO v4 / Socket.IO v5 conformance tests.

The server is ``manage.py socketio_conformance``: the configuration the official test suites
expect (pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1000000, namespaces ``/`` and
``/custom``, ``auth`` emitted on connect, ``message`` -> ``message-back``, ``message-with-ack``
-> ack). The clients below speak the wire protocol directly (aiohttp), never a Socket.IO
library, so every byte the tests assert on is what the server sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.live_server import LiveServer, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
EIO_PATH = "/socket.io/"

PING_INTERVAL = 0.3  # seconds; the server announces 300 ms
PING_TIMEOUT = 0.2  # seconds; the server announces 200 ms
MAX_PAYLOAD = 1_000_000
RECV_TIMEOUT = 3.0  # generous next to the 300 ms heartbeat, small next to a CI budget
SEP = "\x1e"  # record separator between packets of an HTTP long-polling payload

POLLING = "EIO=4&transport=polling"
WEBSOCKET = "EIO=4&transport=websocket"

_servers: list[LiveServer] = []


# --------------------------------------------------------------------------- live server


@pytest.fixture(scope="session")
def conformance_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:PORT``) of a running ``socketio_conformance`` server.

    ``BANTER_CONFORMANCE_URL`` points the suite at a server that is already running instead
    (for instance the reference Node.js server, to check the tests themselves).
    """
    external = os.environ.get("BANTER_CONFORMANCE_URL")
    if external:
        yield external.rstrip("/")
        return
    port = free_port()
    tmp = tmp_path_factory.mktemp("socketio-conformance")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    log_path = REPO_ROOT / "test-output" / f"socketio-conformance-{worker}.log"
    log_path.unlink(missing_ok=True)
    env = {
        "DJANGO_SETTINGS_MODULE": "banter.settings",
        "DEBUG": "1",
        "SECRET_KEY": "conformance-test-secret-key-0123456789",
        "JWT_SIGNING_KEY": "conformance-test-jwt-signing-key-9876543210",
        "DATABASE_URL": f"sqlite:///{tmp / 'conf.sqlite3'}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "REDIS_URL": "",  # in-memory channel layer whatever the developer's shell says
    }
    server = LiveServer(
        [sys.executable, "manage.py", "socketio_conformance", "--port", str(port)],
        port=port,
        env=env,
        log_path=log_path,
        cwd=REPO_ROOT,
    )
    server.start(timeout=30)
    _servers.append(server)
    try:
        yield server.url
    finally:
        _servers.remove(server)
        server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the conformance server's log tail to failing tests that used it."""
    report = yield
    if report.failed and _servers and "conformance_server" in getattr(item, "fixturenames", ()):
        server = _servers[-1]
        state = "running" if server.running else f"EXITED with code {server.returncode}"
        report.sections.append(
            (f"conformance server log ({state}, {server.log_path})", server.log_tail(60))
        )
    return report


# --------------------------------------------------------------------------- raw clients


class ConnectionClosedError(AssertionError):
    """The WebSocket closed while a frame was expected."""


_CLOSED = object()


def compact(value: Any) -> str:
    """JSON the way the reference implementation writes it (no spaces)."""
    return json.dumps(value, separators=(",", ":"))


def parse_open_packet(packet: str | bytes) -> dict[str, Any]:
    assert isinstance(packet, str), f"expected the Engine.IO open packet, got {packet!r}"
    assert packet.startswith("0"), f"expected the Engine.IO open packet, got {packet!r}"
    value = json.loads(packet[1:])
    assert isinstance(value, dict), packet
    return value


class WsClient:
    """One raw Engine.IO WebSocket connection.

    A background task reads every frame into a queue (text frames as ``str``, binary frames
    as ``bytes``, Engine.IO pings included) and, when ``auto_pong`` is on, answers each ping
    ``2`` with a pong ``3`` at once, so a slow test never trips the 200 ms ping timeout.
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, *, auto_pong: bool) -> None:
        self.ws = ws
        self.auto_pong = auto_pong
        self.handshake: dict[str, Any] | None = None
        self._frames: asyncio.Queue[object] = asyncio.Queue()
        self._closed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                msg = await self.ws.receive()
                if msg.type is aiohttp.WSMsgType.TEXT:
                    if msg.data == "2" and self.auto_pong:
                        with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                            await self.ws.send_str("3")
                    self._frames.put_nowait(msg.data)
                elif msg.type is aiohttp.WSMsgType.BINARY:
                    self._frames.put_nowait(bytes(msg.data))
                elif msg.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                    continue
                else:  # CLOSE, CLOSING, CLOSED, ERROR
                    break
        except (ConnectionError, aiohttp.ClientError, asyncio.CancelledError):
            pass
        finally:
            self._closed.set()
            self._frames.put_nowait(_CLOSED)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code

    async def send(self, data: str | bytes) -> None:
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    async def send_quietly(self, data: str | bytes) -> None:
        """Send, ignoring errors because the server may already have closed the socket."""
        with contextlib.suppress(ConnectionError, aiohttp.ClientError, RuntimeError):
            await self.send(data)

    async def recv(self, within: float = RECV_TIMEOUT, *, skip_pings: bool = True) -> str | bytes:
        """The next frame (pings skipped unless ``skip_pings`` is False)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            remaining = deadline - loop.time()
            try:
                frame = await asyncio.wait_for(self._frames.get(), max(remaining, 0))
            except TimeoutError:
                raise AssertionError(f"no frame received within {within}s") from None
            if frame is _CLOSED:
                self._frames.put_nowait(_CLOSED)  # stay closed for later calls
                raise ConnectionClosedError(
                    f"WebSocket closed (code {self.close_code}) while a frame was expected"
                )
            if skip_pings and frame == "2":
                continue
            assert isinstance(frame, str | bytes)
            return frame

    async def recv_many(self, count: int, within: float = RECV_TIMEOUT) -> list[str | bytes]:
        return [await self.recv(within) for _ in range(count)]

    async def wait_closed(self, within: float = RECV_TIMEOUT) -> list[str | bytes]:
        """Wait until the server closes the connection; returns the frames it sent before
        (pings excluded). Fails if it is still open after ``within`` seconds."""
        try:
            await asyncio.wait_for(self._closed.wait(), within)
        except TimeoutError:
            raise AssertionError(
                f"the server did not close the WebSocket within {within}s"
            ) from None
        frames: list[str | bytes] = []
        while not self._frames.empty():
            frame = self._frames.get_nowait()
            if frame is not _CLOSED and frame != "2":
                assert isinstance(frame, str | bytes)
                frames.append(frame)
        self._frames.put_nowait(_CLOSED)
        return frames

    async def assert_open_for(self, seconds: float) -> None:
        """Assert the connection survives ``seconds`` (the reader keeps answering pings)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), seconds)
        assert not self.closed, f"the WebSocket was closed (code {self.close_code})"

    async def sio_connect(self, nsp: str = "/", auth: dict[str, Any] | None = None) -> str:
        """CONNECT to a namespace; returns the Socket.IO sid (the ``auth`` event is checked)."""
        prefix = "" if nsp == "/" else f"{nsp},"
        await self.send("40" + prefix + (compact(auth) if auth is not None else ""))
        connect = await self.recv()
        auth_event = await self.recv()
        return check_sio_connect(connect, auth_event, prefix, auth)

    async def assert_echo(self, text: str) -> None:
        """``message`` on the main namespace comes back as ``message-back``."""
        await self.send("42" + compact(["message", text]))
        assert await self.recv() == "42" + compact(["message-back", text])

    async def close(self) -> None:
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError, aiohttp.ClientError, RuntimeError):
                await self.ws.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._reader), 2)
        except TimeoutError:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


class PollingSession:
    """One Engine.IO session over HTTP long-polling (after the handshake)."""

    def __init__(self, client: EioClient, handshake: dict[str, Any]) -> None:
        self.client = client
        self.handshake = handshake
        self.sid: str = handshake["sid"]
        self._pending: list[str] = []

    @property
    def query(self) -> str:
        return f"{POLLING}&sid={self.sid}"

    async def get(self, extra: str = "") -> tuple[int, str]:
        return await self.client.get(self.query + extra)

    async def post(self, body: str | bytes) -> tuple[int, str]:
        return await self.client.post(self.query, body)

    async def read_packets(self, count: int, within: float = RECV_TIMEOUT) -> list[str]:
        """Poll until ``count`` packets other than pings arrived; pings are answered with a
        pong right away. Packets beyond ``count`` are kept for the next call."""
        async with asyncio.timeout(within):
            while len(self._pending) < count:
                status, body = await self.get()
                assert status == 200, f"poll failed: HTTP {status} {body!r}"
                for packet in body.split(SEP):
                    if packet == "2":
                        status, reply = await self.post("3")
                        assert (status, reply) == (200, "ok"), f"pong failed: {status} {reply!r}"
                    else:
                        self._pending.append(packet)
        packets, self._pending = self._pending[:count], self._pending[count:]
        return packets

    async def sio_connect(self, nsp: str = "/", auth: dict[str, Any] | None = None) -> str:
        """CONNECT to a namespace over this session; returns the Socket.IO sid."""
        prefix = "" if nsp == "/" else f"{nsp},"
        status, body = await self.post("40" + prefix + (compact(auth) if auth is not None else ""))
        assert (status, body) == (200, "ok"), (status, body)
        connect, auth_event = await self.read_packets(2)
        return check_sio_connect(connect, auth_event, prefix, auth)


def check_sio_connect(
    connect: str | bytes, auth_event: str | bytes, prefix: str, auth: dict[str, Any] | None
) -> str:
    assert isinstance(connect, str), connect
    assert connect.startswith("40" + prefix), f"expected a CONNECT for {prefix!r}: {connect!r}"
    payload = json.loads(connect[2 + len(prefix) :])
    assert set(payload) == {"sid"}, payload
    assert isinstance(payload["sid"], str), payload
    assert auth_event == "42" + prefix + compact(["auth", auth or {}])
    return payload["sid"]


class EioClient:
    """Entry point for raw clients of one server: HTTP requests and WebSockets on /socket.io/."""

    def __init__(self, base_url: str, http: aiohttp.ClientSession) -> None:
        self.base_url = base_url
        self.ws_base = base_url.replace("http://", "ws://", 1)
        self.http = http
        self._sockets: list[WsClient] = []

    def url(self, query: str) -> str:
        return f"{self.base_url}{EIO_PATH}?{query}"

    def ws_url(self, query: str) -> str:
        return f"{self.ws_base}{EIO_PATH}?{query}"

    async def request(
        self, method: str, query: str, body: str | bytes | None = None
    ) -> tuple[int, str]:
        data = body.encode() if isinstance(body, str) else body
        headers = {"Content-Type": "text/plain;charset=UTF-8"} if data is not None else None
        async with self.http.request(method, self.url(query), data=data, headers=headers) as resp:
            raw = await resp.read()
            return resp.status, raw.decode("utf-8", errors="replace")

    async def get(self, query: str) -> tuple[int, str]:
        return await self.request("GET", query)

    async def post(self, query: str, body: str | bytes) -> tuple[int, str]:
        return await self.request("POST", query, body)

    async def open_polling(self) -> PollingSession:
        """Engine.IO handshake over HTTP long-polling."""
        status, body = await self.get(POLLING)
        assert status == 200, f"handshake failed: HTTP {status} {body!r}"
        return PollingSession(self, parse_open_packet(body))

    async def ws_connect(self, query: str = WEBSOCKET, *, auto_pong: bool = True) -> WsClient:
        """A raw WebSocket; nothing read yet."""
        ws = await self.http.ws_connect(
            self.ws_url(query),
            timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
            max_msg_size=8 * MAX_PAYLOAD,
        )
        client = WsClient(ws, auto_pong=auto_pong)
        self._sockets.append(client)
        return client

    async def open_ws(self, *, auto_pong: bool = True) -> WsClient:
        """A WebSocket-only Engine.IO session; the open packet is read into ``.handshake``."""
        client = await self.ws_connect(auto_pong=auto_pong)
        client.handshake = parse_open_packet(await client.recv(skip_pings=False))
        return client

    async def ws_rejected(self, query: str) -> None:
        """Assert a WebSocket to ``query`` is refused: either the upgrade fails or the server
        closes the socket without ever sending an Engine.IO open packet."""
        try:
            client = await self.ws_connect(query)
        except (aiohttp.WSServerHandshakeError, aiohttp.ClientConnectionError):
            return
        frames = await client.wait_closed()
        assert not any(isinstance(f, str) and f.startswith("0") for f in frames), (
            f"the server opened a session for {query!r}: {frames!r}"
        )

    async def sio_ws(self, nsp: str = "/", auth: dict[str, Any] | None = None) -> WsClient:
        """A WebSocket session connected to a Socket.IO namespace (``auth`` event consumed)."""
        client = await self.open_ws()
        await client.sio_connect(nsp, auth)
        return client

    async def aclose(self) -> None:
        for client in self._sockets:
            await client.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        yield session


@pytest.fixture
async def eio(conformance_server: str, http: aiohttp.ClientSession) -> AsyncIterator[EioClient]:
    client = EioClient(conformance_server, http)
    try:
        yield client
    finally:
        await client.aclose()
