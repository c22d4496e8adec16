"""The JavaScript client SDK (clients/js) in node against live servers: nothing lost, nothing
doubled, in seq order, while transports drop (recovered and not), sends wait offline, acks
are lost, tokens expire, and an instance dies (clients/js/test/live_scenario.mjs).

The SDK's logic without a server: clients/js/test/unit.test.mjs (tests/clients)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.client import RestClient, User, run_node_script
from tests.e2e.conftest import ROOT, fresh_database, instance_pair, start_banter
from tests.live_server import LiveServer
from tests.services import require_node, require_redis

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SCENARIO = ROOT / "clients" / "js" / "test" / "live_scenario.mjs"
# Sends of the stream scenarios: above the default `message` burst of 20.
RATE = {"RATE_LIMIT_MESSAGE": "10000/60/10000"}


def tokens(user: User) -> dict[str, str]:
    return {"access": user.access, "refresh": user.refresh}


def history(rest: RestClient, room_id: int, token: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    after = 0
    while True:
        page = rest.call(
            "GET", f"/api/rooms/{room_id}/messages?after={after}&limit=100", token=token
        )
        messages += page["results"]
        if not page["hasMore"]:
            return messages
        after = page["nextAfter"]


def assert_complete(log: dict[str, Any], stored: list[dict[str, Any]]) -> None:
    """The app saw every stored message once, in seq order, as stored."""
    delivered = log["delivered"]
    print(  # shown with -s: what the SDK removed and filled
        f"{log['name']}: {len(delivered)} delivered, {log['wire']} off the socket, "
        f"{sum(m['source'] == 'rest' for m in delivered)} over REST, "
        f"connects {[(c['reconnect'], c['recovered']) for c in log['connects']]}"
    )
    assert [m["seq"] for m in delivered] == [m["seq"] for m in stored], log["name"]
    assert [m["id"] for m in delivered] == [m["id"] for m in stored]
    assert [m["content"] for m in delivered] == [m["content"] for m in stored]
    assert log["gaps"] == [] and log["pending"] == 0


def assert_stored_once_in_order(stored: list[dict[str, Any]], count: int) -> None:
    assert [m["seq"] for m in stored] == list(range(1, 2 * count + 1))
    client_ids = [m["clientId"] for m in stored]
    assert len(set(client_ids)) == len(client_ids) == 2 * count  # each send stored once
    for prefix in ("a", "b"):  # each sender's messages in the order sent
        mine = [m["content"] for m in stored if m["clientId"].startswith(f"{prefix}-")]
        assert mine == [f"{prefix}{n}" for n in range(1, count + 1)]


@pytest.fixture(scope="module")
def sdk_server(e2e_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_banter(e2e_database, tmp_path_factory.mktemp("sdk-logs"), "sdk", **RATE)
    yield server
    server.stop()


@pytest.mark.parametrize("transports", [["websocket"], ["polling", "websocket"]])
async def test_messages_flow_both_ways_through_dropped_transports(
    sdk_server: LiveServer, transports: list[str]
) -> None:
    rest = RestClient(sdk_server.url)
    alice, bob = rest.register("alice"), rest.register("bob")
    room = rest.create_room(alice, "sdk-stream", [bob])
    count = 40
    result = await run_node_script(
        SCENARIO,
        {
            "scenario": "stream",
            "url": sdk_server.url,
            "transports": transports,
            "alice": tokens(alice),
            "bob": tokens(bob),
            "roomId": room["id"],
            "count": count,
            "intervalMs": 25,
        },
        timeout=90,
    )
    stored = history(rest, room["id"], alice.access)
    assert_stored_once_in_order(stored, count)
    assert sorted(m["id"] for m in result["acked"]) == sorted(m["id"] for m in stored)
    a, b = result["a"], result["b"]
    for log in (a, b):
        assert_complete(log, stored)
        assert [c["reconnect"] for c in log["connects"]] == [False, True]
    # a's transport dropped: recovered, the missed events replayed (no REST needed);
    assert a["connects"][1]["recovered"] is True
    # b's could not be recovered (forged pid): the gap came over REST, by seq.
    assert b["connects"][1]["recovered"] is False
    assert b["resyncs"] > 0
    assert any(m["source"] == "rest" for m in b["delivered"])
    # Sends written while a transport was down went out again after the reconnect.
    for log in (a, b):
        assert sum(log["outgoingSends"].values()) >= count


async def test_offline_sends_and_lost_acks_are_sent_again_and_stored_once(
    sdk_server: LiveServer,
) -> None:
    rest = RestClient(sdk_server.url)
    alice = rest.register("alice")
    room = rest.create_room(alice, "sdk-offline", [])
    result = await run_node_script(
        SCENARIO,
        {
            "scenario": "offline",
            "url": sdk_server.url,
            "alice": tokens(alice),
            "roomId": room["id"],
        },
    )
    # Written offline: queued, nothing sent until the reconnect; then in order.
    off = [["off-1", "queued"], ["off-2", "queued"], ["off-3", "queued"]]
    assert result["whileOffline"] == {"pending": off, "written": 0}
    assert result["stored"] == [[1, "off-1"], [2, "off-2"], [3, "off-3"]]
    assert result["lostAck"] == [4, "lost-ack"]
    stored = history(rest, room["id"], alice.access)
    assert [(m["seq"], m["clientId"]) for m in stored] == [
        (1, "off-1"),
        (2, "off-2"),
        (3, "off-3"),
        (4, "lost-ack"),
    ]
    a = result["a"]
    # The lost ack's message was written twice (or once, if the drop beat the packet out),
    # stored and shown once.
    assert 1 <= a["outgoingSends"]["lost-ack"] <= 2
    assert_complete(a, stored)


async def test_token_is_renewed_on_auth_expiring(e2e_database: str, tmp_path: Path) -> None:
    """6 s access tokens: `auth:expiring` 2 s before expiry (server_env), the SDK refreshes
    over REST and sends `auth:refresh`, so the server does not disconnect it at expiry
    (+1 s grace): the same Engine.IO session still sends after 10 s."""
    server = start_banter(e2e_database, tmp_path, "sdk-short-tokens", JWT_ACCESS_SECONDS="6")
    try:
        rest = RestClient(server.url)
        erin = rest.register("erin")
        room = rest.create_room(erin, "sdk-refresh", [])
        result = await run_node_script(
            SCENARIO,
            {
                "scenario": "refresh",
                "url": server.url,
                "alice": tokens(erin),
                "roomId": room["id"],
                "waitMs": 10_000,
            },
        )
    finally:
        server.stop()
    assert len(result["expiring"]) >= 1
    assert result["tokenChanged"] and result["a"]["tokens"] >= 1
    assert result["a"]["refreshFailed"] == []
    assert result["sameEngine"] and result["connected"]
    assert result["a"]["disconnects"] == []
    assert result["sent"] == [1, "after-refresh"]


@contextlib.contextmanager
def redis_pair(tmp: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    settings = {
        "REDIS_URL": require_redis(),
        "REDIS_PREFIX": f"banter-sdk-{uuid.uuid4().hex[:8]}",
        **RATE,
    }
    with (
        fresh_database(tmp.mktemp("sdk-failover-db")) as database,
        instance_pair(database, tmp.mktemp("sdk-failover-logs"), "sdk", **settings) as servers,
    ):
        yield servers


async def test_nothing_lost_when_an_instance_is_killed(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Two instances on one database and Redis; alice's instance is killed (-9) while both
    send: her client reconnects to the other one, and both see every message once, in
    order."""
    node = require_node()
    with redis_pair(tmp_path_factory) as (first, second):
        rest = RestClient(first.url)
        alice, bob = rest.register("alice"), rest.register("bob")
        room = rest.create_room(alice, "sdk-failover", [bob])
        count = 30
        config = {
            "scenario": "failover",
            "urls": [first.url, second.url],
            "alice": tokens(alice),
            "bob": tokens(bob),
            "roomId": room["id"],
            "count": count,
            "intervalMs": 40,
        }
        process = await asyncio.create_subprocess_exec(
            node,
            str(SCENARIO),
            json.dumps(config),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line.strip() == b"ready", line
        first.kill()
        stdout, stderr = await asyncio.wait_for(process.communicate(), 90)
        assert process.returncode == 0, stderr.decode()
        result = json.loads(stdout.decode().strip().splitlines()[-1])
        stored = history(RestClient(second.url), room["id"], alice.access)
    assert_stored_once_in_order(stored, count)
    assert sorted(m["id"] for m in result["acked"]) == sorted(m["id"] for m in stored)
    for log in (result["a"], result["b"]):
        assert_complete(log, stored)
    assert len(result["a"]["connects"]) >= 2  # moved to the surviving instance
