"""Two server processes on one Redis channel layer: events cross instances through the hubs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.client import RestClient, connect
from tests.e2e.conftest import instance_pair
from tests.live_server import LiveServer
from tests.services import require_redis

pytestmark = [pytest.mark.e2e, pytest.mark.services]


@pytest.fixture(scope="module")
def redis_pair(
    e2e_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, LiveServer]]:
    redis_url = require_redis()
    # A private prefix: parallel runs on the same Redis never see each other's groups.
    extra = {"REDIS_URL": redis_url, "REDIS_PREFIX": f"banter-test-{uuid.uuid4().hex[:8]}"}
    logs: Path = tmp_path_factory.mktemp("redis-logs")
    with instance_pair(e2e_database, logs, "instance", **extra) as pair:
        yield pair


async def test_message_sent_on_one_instance_reaches_the_other(
    redis_pair: tuple[LiveServer, LiveServer],
) -> None:
    one, two = redis_pair
    rest_one, rest_two = RestClient(one.url), RestClient(two.url)
    alice, bob = rest_one.register("alice"), rest_two.register("bob")
    room = rest_one.create_room(alice, "across", [bob])
    a = await connect(one.url, alice.access)
    b = await connect(two.url, bob.access, ["polling", "websocket"])
    try:
        for index in range(20):
            ack = await a.call("send-message", {"roomId": room["id"], "content": f"m{index}"})
            assert ack["ok"] is True
        await b.wait_for("message-received", skip=19, timeout=10)
        assert [m["seq"] for m in b.received("message-received")] == list(range(1, 21))
    finally:
        await a.disconnect()
        await b.disconnect()


async def test_rest_changes_on_one_instance_move_sockets_on_the_other(
    redis_pair: tuple[LiveServer, LiveServer],
) -> None:
    one, two = redis_pair
    rest_one, rest_two = RestClient(one.url), RestClient(two.url)
    alice, carol = rest_two.register("alice"), rest_two.register("carol")
    room = rest_two.create_room(alice, "later", [])
    c = await connect(one.url, carol.access)
    disconnected = asyncio.Event()
    c.client.on("disconnect", lambda *args: disconnected.set())
    try:
        rest_two.call(
            "POST", f"/api/rooms/{room['id']}/members", {"userId": carol.id}, token=alice.access
        )
        await asyncio.sleep(0.5)  # the subscribe control crosses Redis to instance 1
        rest_two.call(
            "POST", f"/api/rooms/{room['id']}/messages", {"content": "hi carol"}, token=alice.access
        )
        assert (await c.wait_for("message-received", timeout=10))["content"] == "hi carol"
        # Logout on instance 2 closes carol's socket on instance 1.
        rest_two.call("POST", "/api/auth/logout", {"refresh": carol.refresh}, token=carol.access)
        assert (await c.wait_for("error", timeout=10))["details"]["reason"] == "logout"
        await asyncio.wait_for(disconnected.wait(), 10)
    finally:
        if c.client.connected:
            await c.disconnect()
    assert rest_one.call("GET", "/api/users/me", token=alice.access)["id"] == alice.id
