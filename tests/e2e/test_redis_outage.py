"""Redis goes away and comes back (empty, like a restart without persistence) under two
live instances with connected python-socketio clients.

While it is down: the instances keep their sockets and serve REST, the sender's own instance
still delivers locally, and /readyz says not ready. After it is back: broadcasts cross
instances again within 10 s (group memberships re-added), readiness recovers, and /metrics
shows what happened. Uses a private redis-server, never the shared one.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.client import RecordingClient, RestClient, connect
from tests.e2e.conftest import instance_pair
from tests.live_server import LiveServer, free_port
from tests.services import PrivateRedis, require_redis_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    require_redis_server()
    server = PrivateRedis(free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def instances(
    private_redis: PrivateRedis, e2e_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, LiveServer]]:
    with instance_pair(
        e2e_database,
        tmp_path_factory.mktemp("outage-logs"),
        "outage",
        REDIS_URL=private_redis.url,
        REDIS_PREFIX=f"banter-outage-{uuid.uuid4().hex[:8]}",
    ) as pair:
        yield pair


def _status(server: LiveServer, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(server.url + path, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def _until(what: str, check: object, timeout: float) -> float:
    """Seconds until check() is true; fails the test with `what` after timeout."""
    started = time.monotonic()
    while True:
        if check():  # type: ignore[operator]
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, f"{what} not within {timeout} s"
        await asyncio.sleep(0.1)


def _metric(server: LiveServer, line_start: str) -> float:
    _, body = _status(server, "/metrics")
    values = [
        float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(line_start)
    ]
    return sum(values)


async def _send(client: RecordingClient, room_id: int, content: str) -> None:
    ack = await client.call("send-message", {"roomId": room_id, "content": content})
    assert ack["ok"] is True, ack


def _contents(client: RecordingClient) -> list[str]:
    return [m["content"] for m in client.received("message-received")]


async def test_redis_restart_keeps_sockets_and_restores_cross_instance_delivery(
    instances: tuple[LiveServer, LiveServer], private_redis: PrivateRedis
) -> None:
    first, second = instances
    api = RestClient(first.url)
    alice, bob = api.register("alice"), api.register("bob")
    room = api.create_room(alice, "outage", [bob])
    a = await connect(first.url, alice.access)
    b = await connect(second.url, bob.access)
    b_polling = await connect(second.url, bob.access, ["polling"])
    try:
        await _send(a, room["id"], "before")
        await _until("cross-instance delivery", lambda: "before" in _contents(b), 5)
        await _until("polling delivery", lambda: "before" in _contents(b_polling), 5)
        assert _status(first, "/readyz")[0] == 200
        assert _metric(first, 'banter_events_total{event="send-message",outcome="ok"}') >= 1
        errors_before = _metric(first, "banter_channel_layer_errors_total")

        private_redis.kill()
        await _until("instance 1 not ready", lambda: _status(first, "/readyz")[0] == 503, 10)
        await _until("instance 2 not ready", lambda: _status(second, "/readyz")[0] == 503, 10)
        readiness = _status(first, "/readyz")[1]
        assert '"redis":"error' in readiness and '"channel_layer":"error' in readiness
        # REST keeps working (rate limits fail open), sockets stay up, sends are persisted
        # and the sender's own instance still delivers.
        assert api.call("GET", f"/api/rooms/{room['id']}/messages", token=bob.access)
        await _send(a, room["id"], "during")
        await _until("local delivery", lambda: "during" in _contents(a), 5)
        assert _metric(first, "banter_channel_layer_errors_total") > errors_before
        assert "banter_redis_up 0.0" in _status(first, "/metrics")[1]

        private_redis.start()  # empty: no groups, no presence, no registry
        restarted = time.monotonic()
        counter = 0

        def crossed() -> bool:
            return any(c.startswith("after") for c in _contents(b)) and any(
                c.startswith("back") for c in _contents(a)
            )

        while not crossed():
            assert time.monotonic() - restarted < 10, "no cross-instance delivery within 10 s"
            counter += 1
            await asyncio.gather(
                _send(a, room["id"], f"after-{counter}"), _send(b, room["id"], f"back-{counter}")
            )
            await asyncio.sleep(0.5)
        recovered = time.monotonic() - restarted
        await _until("instance 1 ready", lambda: _status(first, "/readyz")[0] == 200, 10)
        await _until("instance 2 ready", lambda: _status(second, "/readyz")[0] == 200, 10)
        await _until(
            "polling client delivery",
            lambda: any(c.startswith("back") for c in _contents(b_polling)),
            5,
        )
        # Sent while the layer was down: it never crossed live. The database brings it,
        # once, to the other instance's sockets: the sequencer reads it as soon as a later
        # message of the room shows its seq missing, the gap replay once the probe is back.
        for client in (b, b_polling):
            await _until("gap filled", lambda c=client: "during" in _contents(c), 10)
            assert _contents(client).count("during") == 1
        assert _contents(a).count("during") == 1  # local fallback, not repeated by the replay
        await _until("gap replay", lambda: _metric(second, "banter_gap_replays_total") >= 1, 10)
        assert _contents(b).count("during") == 1
        print(f"cross-instance delivery restored {recovered:.1f} s after Redis restarted")
        assert a.client.connected and b.client.connected and b_polling.client.connected
        assert "banter_redis_up 1.0" in _status(first, "/metrics")[1]
        assert "banter_channel_layer_up 1.0" in _status(second, "/metrics")[1]
    finally:
        for client in (a, b, b_polling):
            if client.client.connected:
                await client.disconnect()
