"""Graceful shutdown, end to end: SIGTERM a `manage.py serve` instance with real clients on it.

The proof that clients "reconnect elsewhere": the instance exits 0 within its shutdown budget,
the clients see a transport-level disconnect (never "io server disconnect", after which
official clients give up), and once a new instance listens on the same address they are
connected to it again, on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import socketio

from tests.e2e.client import RestClient
from tests.e2e.conftest import ROOT, server_env
from tests.live_server import LiveServer, free_port
from tests.services import require_node

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SHUTDOWN_TIMEOUT = 5
EXIT_SLACK = 2  # the process must be gone within SHUTDOWN_TIMEOUT + EXIT_SLACK seconds
RECONNECT_WITHIN = 10.0


# The default server and daphne, which stays supported (`serve --server daphne`).
SERVERS = pytest.mark.parametrize("asgi_server", ["uvicorn", "daphne"])


def start_serve(
    database_url: str, log_dir: Path, port: int, name: str, asgi_server: str = "uvicorn"
) -> LiveServer:
    server = LiveServer(
        [
            sys.executable,
            "manage.py",
            "serve",
            "--port",
            str(port),
            "--shutdown-timeout",
            str(SHUTDOWN_TIMEOUT),
        ],
        port=port,
        env=server_env(database_url, port, ASGI_SERVER=asgi_server),
        log_path=log_dir / f"{name}-{asgi_server}-{port}.log",
        cwd=ROOT,
    )
    return server.start(timeout=30)


async def sigterm_and_wait(server: LiveServer) -> tuple[int | None, float]:
    """SIGTERM the server process only (as docker and kubernetes do); (exit code, seconds)."""
    assert server.process is not None and server.pid is not None
    started = time.monotonic()
    os.kill(server.pid, signal.SIGTERM)
    try:
        code = await asyncio.to_thread(server.process.wait, SHUTDOWN_TIMEOUT + EXIT_SLACK)
    except Exception:
        server.kill()
        raise AssertionError(
            f"server still running {SHUTDOWN_TIMEOUT + EXIT_SLACK}s after SIGTERM\n"
            f"{server.log_tail()}"
        ) from None
    return code, time.monotonic() - started


@dataclass
class WatchedClient:
    """A reconnecting python-socketio client that records its connects and disconnects."""

    transport: str
    client: socketio.AsyncClient = field(init=False)
    connects: int = 0
    disconnect_reasons: list[str] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        # Short backoff: the test waits for the next instance, not for the default 1-5 s.
        self.client = socketio.AsyncClient(
            reconnection=True,
            reconnection_delay=0.2,
            reconnection_delay_max=1.0,
            randomization_factor=0,
        )
        self.client.on("connect", self._on_connect)
        self.client.on("disconnect", self._on_disconnect)

    async def _on_connect(self) -> None:
        self.connects += 1
        self._changed.set()

    async def _on_disconnect(self, reason: str) -> None:
        self.disconnect_reasons.append(reason)
        self._changed.set()

    async def connect(self, url: str, token: str) -> WatchedClient:
        await self.client.connect(
            url, auth={"token": token}, transports=[self.transport], wait_timeout=10
        )
        return self

    async def wait_until(self, condition: Any, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not condition(self):
                self._changed.clear()
                # Re-checked on every event, and every 50 ms for the state python-socketio
                # sets after the event (`connected` becomes true after the connect handler).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)


@SERVERS
async def test_sigterm_makes_python_clients_reconnect_to_the_next_instance(
    e2e_database: str, tmp_path: Path, asgi_server: str
) -> None:
    port = free_port()
    first = start_serve(e2e_database, tmp_path, port, "first", asgi_server)
    second: LiveServer | None = None
    clients: list[WatchedClient] = []
    try:
        user = RestClient(first.url).register("drain")
        for transport in ("websocket", "polling"):
            clients.append(await WatchedClient(transport).connect(first.url, user.access))

        code, seconds = await sigterm_and_wait(first)

        assert code == 0, first.log_tail()
        assert seconds <= SHUTDOWN_TIMEOUT + EXIT_SLACK
        log = first.log_tail(200)
        assert "shutting down on SIGTERM" in log
        assert "drain finished" in log and "closed 2 sessions (1 websocket, 1 polling)" in log
        assert log.count("reason=transport server shutting down") == 2, log
        for watched in clients:
            await watched.wait_until(lambda c: c.disconnect_reasons, 2)
            # "transport error" is python-socketio's only transport-level reason (a closed
            # WebSocket, a failed poll); "server disconnect" would mean no reconnection.
            assert watched.disconnect_reasons == [socketio.AsyncClient.reason.TRANSPORT_ERROR]
            assert watched.connects == 1

        second = start_serve(e2e_database, tmp_path, port, "second")
        for watched in clients:
            await watched.wait_until(
                lambda c: c.connects == 2 and c.client.connected, RECONNECT_WITHIN
            )
            assert watched.client.transport() == watched.transport
            # A round trip through the new instance (an unknown event is acked with an error).
            answer = await watched.client.call("no-such-event", {}, timeout=5)
            assert answer["error"]["code"] == "not_found"
        assert second.log_tail(200).count(f"connect user={user.id} ") == 2
    finally:
        for watched in clients:
            await watched.client.shutdown()
        for server in (second, first):
            if server is not None:
                server.stop()
    # The second instance drains and exits cleanly as well (its clients are gone by now).
    assert second is not None and second.returncode == 0, second.log_tail()


# The official client, several sockets in one node process: one JSON line per event; exits
# once every socket has connected twice (to the first instance, then to the next one).
NODE_SCRIPT = """
const { io } = require("socket.io-client");
const cfg = JSON.parse(process.argv[1]);
const say = (event) => console.log(JSON.stringify(event));
let waiting = cfg.transports.length;
for (const transport of cfg.transports) {
  const socket = io(cfg.url, { auth: { token: cfg.token }, transports: [transport],
    forceNew: true, reconnectionDelay: 200, reconnectionDelayMax: 1000,
    randomizationFactor: 0 });
  let connects = 0;
  socket.on("connect", () => {
    connects += 1;
    say({ transport, event: "connect", n: connects });
    if (connects === 2) {
      socket.close();
      if (--waiting === 0) process.exit(0);
    }
  });
  socket.on("disconnect", (reason) => say({ transport, event: "disconnect", reason }));
}
"""


@SERVERS
async def test_sigterm_makes_node_clients_reconnect_to_the_next_instance(
    e2e_database: str, tmp_path: Path, asgi_server: str
) -> None:
    node = require_node()
    port = free_port()
    first = start_serve(e2e_database, tmp_path, port, "node-first", asgi_server)
    second: LiveServer | None = None
    process: asyncio.subprocess.Process | None = None
    try:
        user = RestClient(first.url).register("drain_node")
        config = {"url": first.url, "token": user.access, "transports": ["websocket", "polling"]}
        process = await asyncio.create_subprocess_exec(
            node,
            "-e",
            NODE_SCRIPT,
            json.dumps(config),
            cwd=ROOT,  # require() finds node_modules from here
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        for _ in config["transports"]:
            line = await asyncio.wait_for(process.stdout.readline(), 10)
            assert json.loads(line)["event"] == "connect", line

        code, _ = await sigterm_and_wait(first)
        assert code == 0, first.log_tail()
        second = start_serve(e2e_database, tmp_path, port, "node-second")
        stdout, stderr = await asyncio.wait_for(process.communicate(), RECONNECT_WITHIN + 5)
        assert process.returncode == 0, stderr.decode()
    finally:
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()
        for server in (second, first):
            if server is not None:
                server.stop()

    events = [json.loads(line) for line in stdout.decode().splitlines()]
    # The first disconnect of each socket is the drain's; the last one is the script's close().
    reasons = {e["transport"]: e["reason"] for e in reversed(events) if e["event"] == "disconnect"}
    # engine.io-client: a closed WebSocket is "transport close", a failed poll (503) is
    # "transport error"; socket.io-client reconnects after both, never after
    # "io server disconnect".
    assert reasons == {"websocket": "transport close", "polling": "transport error"}, events
    assert sorted(e["transport"] for e in events if e["event"] == "connect" and e["n"] == 2) == [
        "polling",
        "websocket",
    ]
