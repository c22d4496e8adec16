"""REDIS_SENTINELS: the state store and the channel layer find the master through Sentinel
(a private redis-server and a private Sentinel watching it)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer

from banter.core.redis_conn import channel_layer_hosts, parse_sentinels
from banter.core.state import RedisStateStore
from tests.live_server import free_port
from tests.services import PrivateRedis, require_redis_server


def test_parse_sentinels() -> None:
    assert parse_sentinels(" a:1, b ,") == [("a", 1), ("b", 26379)]


def test_layer_hosts_for_sentinel_and_shards() -> None:
    (host,) = channel_layer_hosts("redis://:pw@x/3", "s1:26379", "main", "")
    assert host["sentinels"] == [("s1", 26379)]
    assert host["master_name"] == "main"
    assert (host["db"], host["password"]) == (3, "pw")
    shards = channel_layer_hosts("redis://x/0", "", "", "redis://a/0, redis://b/0")
    assert [h["address"] for h in shards] == ["redis://a/0", "redis://b/0"]


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_redis_server()
    logs = tmp_path_factory.mktemp("sentinel")
    master = PrivateRedis(free_port(), logs)
    master.start()
    config = Path(logs / "sentinel.conf")
    config.write_text(f"sentinel monitor banter-test 127.0.0.1 {master.port} 1\n")
    watcher = PrivateRedis(free_port(), logs, str(config), "--sentinel")
    watcher.start()
    try:
        yield f"127.0.0.1:{watcher.port}"
    finally:
        watcher.kill()
        master.kill()


async def test_state_store_and_channel_layer_through_sentinel(sentinel: str, settings: Any) -> None:
    settings.REDIS_SENTINELS = sentinel
    settings.REDIS_SENTINEL_MASTER = "banter-test"
    # The URL's host is never contacted: Sentinel names the master.
    store = RedisStateStore("redis://unreachable.invalid:1/0", prefix=f"t-{uuid4().hex}")
    try:
        assert await store.connection_add(1, "i:a", 30) == 1
        assert await store.connection_count(1) == 1
    finally:
        await store.close()

    hosts = channel_layer_hosts("redis://unreachable.invalid:1/0", sentinel, "banter-test", "")
    layer = RedisPubSubChannelLayer(hosts=hosts, prefix=f"t{uuid4().hex}")
    channel = await layer.new_channel("hub.")
    await layer.group_add("room.1", channel)
    await layer.group_send("room.1", {"type": "x", "n": 1})
    assert await asyncio.wait_for(layer.receive(channel), 5) == {"type": "x", "n": 1}
    await layer.flush()
