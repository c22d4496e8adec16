"""Connection churn (RELIABILITY.md, liveness 8): many connect -> auth -> join -> close cycles
leave nothing behind. Connections, event-loop tasks, group subscriptions and the Redis
connection registry return to their baseline, and memory does not grow with the cycles."""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.e2e.client import RestClient, connect
from tests.e2e.conftest import start_banter
from tests.e2e.test_chat_events import ok
from tests.live_server import LiveServer
from tests.services import require_redis

pytestmark = [pytest.mark.e2e, pytest.mark.services]

CYCLES = 150
PARALLEL = 10


def gauges(server: LiveServer) -> dict[str, float]:
    with urllib.request.urlopen(server.url + "/metrics", timeout=5) as response:
        body = response.read().decode()
    values: dict[str, float] = {}
    for line in body.splitlines():
        if line.startswith(("banter_connections", "banter_event_loop_tasks", "banter_hub_groups")):
            name = line.split("{", 1)[0].split(" ", 1)[0]
            values[name] = values.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
        elif line.startswith("process_resident_memory_bytes "):
            values["rss"] = float(line.rsplit(" ", 1)[1])
    return values


def registered_connections(prefix: str) -> int:
    """Connections in the Redis registry under this server's prefix (all users)."""
    store = redis.Redis.from_url(require_redis())
    try:
        return sum(int(store.zcard(key)) for key in store.scan_iter(f"{prefix}:conn:*"))
    finally:
        store.close()


@pytest.fixture(scope="module")
def churn_server(
    e2e_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, str]]:
    prefix = f"banter-churn-{uuid.uuid4().hex[:8]}"
    server = start_banter(
        e2e_database,
        tmp_path_factory.mktemp("churn-logs"),
        "churn",
        REDIS_URL=require_redis(),
        REDIS_PREFIX=prefix,
        PRESENCE_OFFLINE_GRACE="0.3",
        RATE_LIMIT_JOIN="100000/60/1000",
    )
    yield server, prefix
    server.stop()


async def test_connection_churn_returns_to_baseline(churn_server: tuple[LiveServer, str]) -> None:
    server, prefix = churn_server
    api = RestClient(server.url)
    users = [api.register(f"churn{i}") for i in range(PARALLEL)]
    room = api.create_room(users[0], "churn", users[1:])

    async def cycle(user_index: int) -> None:
        client = await connect(server.url, users[user_index].access)
        ok(await client.call("join-room", {"roomId": room["id"]}))
        await client.disconnect()

    async def churn(rounds: int) -> None:
        for _ in range(rounds):
            await asyncio.gather(*(cycle(i) for i in range(PARALLEL)))

    # The registry scan below sees a live connection (it is not looking in the wrong place).
    probe = await connect(server.url, users[0].access)
    assert registered_connections(prefix) == 1
    await probe.disconnect()

    await churn(3)  # warm up: lazy imports, hub start, caches, pools
    await asyncio.sleep(1.0)
    baseline = gauges(server)
    started = time.monotonic()
    await churn(CYCLES // PARALLEL)
    elapsed = time.monotonic() - started

    # Disconnect handlers, offline timers (0.3 s grace) and group discards finish soon after.
    deadline = time.monotonic() + 10
    while True:
        after = gauges(server)
        settled = (
            after["banter_connections"] == 0
            and after["banter_hub_groups"] <= baseline["banter_hub_groups"]
            and after["banter_event_loop_tasks"] <= baseline["banter_event_loop_tasks"]
        )
        if settled or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    print(f"{CYCLES} cycles in {elapsed:.1f}s; before {baseline}; after {after}")
    assert after["banter_connections"] == 0
    assert after["banter_hub_groups"] <= baseline["banter_hub_groups"]
    assert after["banter_event_loop_tasks"] <= baseline["banter_event_loop_tasks"]
    assert after["rss"] - baseline["rss"] < 20 * 2**20, "memory grew with the cycles"

    store = redis.Redis.from_url(require_redis())
    try:
        registered = [key for key in store.scan_iter(f"{prefix}:conn:*") if store.zcard(key) > 0]
    finally:
        store.close()
    assert registered == [], "connection registry entries outlived their connections"
