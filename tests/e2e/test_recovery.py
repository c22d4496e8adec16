"""Connection state recovery, durable and cross-instance (docs/guarantees.md).

Two instances on one database and one Redis. A client that was away while 30 messages were
sent reconnects with its pid and last offset and gets exactly those 30, in order, marked
recovered: on the same instance, on the other one, and after its instance was killed; with
python-socketio (pid and offset passed by hand: it does not implement recovery) and with the
official node socket.io-client (which does it by itself). Forged or foreign pids are never
recovered and never see anyone else's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.client import (
    RecordingClient,
    RecoveringClient,
    RestClient,
    User,
    run_node_script,
)
from tests.e2e.conftest import fresh_database, instance_pair
from tests.live_server import LiveServer
from tests.services import require_redis

pytestmark = pytest.mark.e2e

SCENARIO = Path(__file__).parent / "node" / "recovery_scenario.mjs"
CAP = 40  # RECOVERY_MAX_EVENTS of these servers


async def connect(url: str, user: User, **resume: str) -> tuple[RecoveringClient, RecordingClient]:
    client = RecoveringClient(reconnection=False)
    recorder = RecordingClient(client)
    client.on("*", recorder._record)
    await client.connect(
        url, auth={"token": user.access, **resume}, transports=["websocket"], wait_timeout=10
    )
    return client, recorder


@contextlib.contextmanager
def two_instances(
    tmp: pytest.TempPathFactory, name: str, **extra: str
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two instances on a fresh database and one Redis (a prefix of their own)."""
    settings = {
        "REDIS_URL": require_redis(),
        "REDIS_PREFIX": f"banter-{name}-{uuid.uuid4().hex[:8]}",
        "RATE_LIMIT_MESSAGE": "10000/60/10000",
        **extra,
    }
    with (
        fresh_database(tmp.mktemp(f"{name}-db")) as database,
        instance_pair(database, tmp.mktemp(f"{name}-logs"), name, **settings) as servers,
    ):
        yield servers


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    with two_instances(tmp_path_factory, "recovery", RECOVERY_MAX_EVENTS=str(CAP)) as servers:
        yield servers


def room_of_two(api: RestClient) -> tuple[User, User, dict[str, Any]]:
    alice, bob = api.register("alice"), api.register("bob")
    return alice, bob, api.create_room(alice, "recovery", [bob])


async def send(sender: RecordingClient, room_id: int, contents: list[str]) -> list[int]:
    seqs = []
    for content in contents:
        ack = await sender.call("send-message", {"roomId": room_id, "content": content})
        assert ack["ok"] is True, ack
        seqs.append(ack["data"]["seq"])
    return seqs


async def messages(recorder: RecordingClient, count: int, timeout: float = 5.0) -> list[Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while len(recorder.received("message-received")) < count:
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # a duplicate or an extra event would show up meanwhile
    return recorder.received("message-received")


async def away_then_back(
    servers: tuple[LiveServer, LiveServer], back_on: int, kill_first: bool = False
) -> None:
    one, two = servers
    api = RestClient(two.url)
    alice, bob, room = room_of_two(api)
    sender, a = await connect(two.url, alice)
    first, b = await connect(one.url, bob)
    try:
        await send(a, room["id"], ["before"])
        assert [m["content"] for m in await messages(b, 1)] == ["before"]
        pid, offset = first.pid, b.offsets[-1]
        assert pid and offset.isdigit()
        if kill_first:
            one.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(first.disconnect(), 1)
        else:
            await first.disconnect()
        contents = [f"m{i}" for i in range(1, 31)]
        seqs = await send(a, room["id"], contents)

        target = (one, two)[back_on]
        again, b2 = await connect(target.url, bob, pid=pid, offset=offset)
        try:
            assert again.pid == pid  # the same pid: socket.recovered on official clients
            got = await messages(b2, 30)
            assert [m["content"] for m in got] == contents  # exactly those 30, in order
            assert [m["seq"] for m in got] == seqs
            assert [int(o) for o in b2.offsets] == sorted(int(o) for o in b2.offsets)
            # Live delivery goes on after the replay, without a gap or a repeat.
            await send(a, room["id"], ["after"])
            assert [m["content"] for m in await messages(b2, 31)][-1] == "after"
            assert len(b2.received("message-received")) == 31
        finally:
            await again.disconnect()
    finally:
        await sender.disconnect()


async def test_recovered_on_the_same_instance(pair: tuple[LiveServer, LiveServer]) -> None:
    await away_then_back(pair, back_on=0)


async def test_recovered_on_the_other_instance(pair: tuple[LiveServer, LiveServer]) -> None:
    await away_then_back(pair, back_on=1)


async def test_forged_and_foreign_pids_are_not_recovered(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    one, two = pair
    api = RestClient(one.url)
    alice, bob, room = room_of_two(api)
    outsider = api.register("eve")
    a_client, a = await connect(one.url, alice)
    b_client, b = await connect(one.url, bob)
    await send(a, room["id"], ["secret"])
    await messages(b, 1)
    bob_pid, bob_offset = b_client.pid, b.offsets[-1]
    assert bob_pid is not None
    await b_client.disconnect()
    await send(a, room["id"], ["while bob is away"])
    try:
        attempts: list[dict[str, str]] = [
            {"pid": "forged", "offset": "0"},
            {"pid": bob_pid[:-2] + "xx", "offset": bob_offset},  # tampered signature
            {"pid": bob_pid, "offset": "not-a-number"},
        ]
        for resume in attempts:
            client, recorder = await connect(two.url, bob, **resume)
            assert client.pid != resume["pid"]
            assert await messages(recorder, 1, timeout=1) == []
            await client.disconnect()
        # Bob's pid presented with Eve's token: a new pid and none of Bob's rooms' events.
        eve, eve_recorder = await connect(two.url, outsider, pid=bob_pid, offset="0")
        assert eve.pid != bob_pid
        assert await messages(eve_recorder, 1, timeout=1) == []
        await eve.disconnect()
    finally:
        await a_client.disconnect()


async def test_the_replay_shows_edited_and_deleted_messages_as_rest_does(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    # Bob is away while a message is sent and deleted and another sent and edited: his
    # recovered replay must not carry the deleted or the pre-edit text (REST hides both).
    one, two = pair
    api = RestClient(one.url)
    alice, bob, room = room_of_two(api)
    a_client, a = await connect(one.url, alice)
    b_client, _ = await connect(one.url, bob)
    pid = b_client.pid
    assert pid is not None
    await b_client.disconnect()
    try:
        secret = await a.call("send-message", {"roomId": room["id"], "content": "the secret"})
        draft = await a.call("send-message", {"roomId": room["id"], "content": "rough draft"})
        assert secret["ok"] and draft["ok"]
        deleted = await a.call("delete-message", {"messageId": secret["data"]["id"]})
        edited = await a.call(
            "edit-message", {"messageId": draft["data"]["id"], "content": "final"}
        )
        assert deleted["ok"] and edited["ok"], (deleted, edited)

        client, recorder = await connect(two.url, bob, pid=pid)
        try:
            assert client.pid == pid  # recovered
            got = await messages(recorder, 2)
            assert [(m["content"], m["deletedAt"] is None) for m in got] == [
                ("", False),
                ("final", True),
            ]
            assert [e for e, _ in recorder.events if e.startswith("message-")] == [
                "message-received",
                "message-received",
                "message-deleted",
                "message-edited",
            ]
            wire = repr(recorder.events)
            assert "secret" not in wire and "draft" not in wire
        finally:
            await client.disconnect()
    finally:
        await a_client.disconnect()


async def test_an_offset_below_the_pids_is_not_recovered(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    # The pid says how far the events had got when the socket connected; a forged lower
    # offset would read the room's log from before that.
    one, _ = pair
    api = RestClient(one.url)
    alice, bob, room = room_of_two(api)
    a_client, a = await connect(one.url, alice)
    try:
        await send(a, room["id"], ["said before bob connected"])
        b_client, _ = await connect(one.url, bob)
        pid = b_client.pid
        assert pid is not None
        await b_client.disconnect()
        client, recorder = await connect(one.url, bob, pid=pid, offset="0")
        assert client.pid != pid  # recovered=false: resync over REST
        assert await messages(recorder, 1, timeout=1) == []
        await client.disconnect()
    finally:
        await a_client.disconnect()


async def test_more_than_the_cap_is_not_recovered(pair: tuple[LiveServer, LiveServer]) -> None:
    one, two = pair
    api = RestClient(one.url)
    alice, bob, room = room_of_two(api)
    a_client, a = await connect(one.url, alice)
    b_client, b = await connect(one.url, bob)
    try:
        await send(a, room["id"], ["first"])
        await messages(b, 1)
        pid, offset = b_client.pid, b.offsets[-1]
        assert pid is not None
        await b_client.disconnect()
        await send(a, room["id"], [f"x{i}" for i in range(CAP + 1)])
        client, recorder = await connect(two.url, bob, pid=pid, offset=offset)
        assert client.pid != pid  # recovered=false: the client resyncs over REST by seq
        assert await messages(recorder, 1, timeout=1) == []
        page = api.call("GET", f"/api/rooms/{room['id']}/messages?after=1", token=bob.access)
        assert [m["content"] for m in page["results"]] == [f"x{i}" for i in range(CAP + 1)]
        await client.disconnect()
    finally:
        await a_client.disconnect()


@pytest.mark.parametrize("transports", [["websocket"], ["polling", "websocket"]])
async def test_official_node_client_recovers_on_the_other_instance(
    pair: tuple[LiveServer, LiveServer], transports: list[str]
) -> None:
    one, two = pair
    api = RestClient(one.url)
    alice, bob, room = room_of_two(api)
    result = await run_node_script(
        SCENARIO,
        {
            "bobUrl": one.url,
            "bobUrlAfter": two.url,
            "aliceUrl": two.url,
            "tokenA": alice.access,
            "tokenB": bob.access,
            "roomId": room["id"],
            "count": 30,
            "transports": transports,
        },
    )
    assert result["recovered"] is True and result["samePid"] is True, result
    assert result["warmupOk"] and result["acksOk"]
    contents = [m["content"] for m in result["got"]]
    assert contents == ["warm", *[f"m{i}" for i in range(1, 31)]], contents
    seqs = [m["seq"] for m in result["got"]]
    assert seqs == list(range(1, 32))


@pytest.fixture
def crash_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    with two_instances(tmp_path_factory, "recovery-crash") as servers:
        yield servers


async def test_recovered_after_the_instance_died(
    crash_pair: tuple[LiveServer, LiveServer],
) -> None:
    await away_then_back(crash_pair, back_on=1, kill_first=True)


async def test_resend_after_a_lost_ack_on_the_other_instance_gets_the_original(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    one, two = pair
    api = RestClient(one.url)
    alice, bob, room = room_of_two(api)
    first, a1 = await connect(one.url, alice)
    watcher, b = await connect(two.url, bob)
    payload = {"roomId": room["id"], "content": "once", "clientId": "lost-ack-1"}
    try:
        original = await a1.call("send-message", payload)
        await first.disconnect()  # as if the ack had been lost with the connection
        again, a2 = await connect(two.url, alice)
        resent = await a2.call("send-message", payload)
        assert resent == original and resent["ok"] is True
        got = await messages(b, 2, timeout=1.5)
        assert [m["id"] for m in got] == [original["data"]["id"]]  # stored and sent once
        await again.disconnect()
    finally:
        await watcher.disconnect()
