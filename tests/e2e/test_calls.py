"""Calls end to end with the real python-socketio client: signaling, the state machine,
ring timeout, drops, and a ring that outlives the process that started it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.client import Clients, RecordingClient, RestClient, User, connect
from tests.e2e.conftest import fresh_database, instance_pair, start_banter
from tests.e2e.test_chat_events import error_code, ok, settle
from tests.live_server import LiveServer
from tests.services import require_redis

pytestmark = pytest.mark.e2e

RING_TIMEOUT = 3.0
DROP_GRACE = 1.0
CALL_SETTINGS = {
    "CALL_RING_TIMEOUT": str(RING_TIMEOUT),
    "CALL_DROP_GRACE": str(DROP_GRACE),
    "CALL_SWEEP_INTERVAL": "0.2",
}


@pytest.fixture(scope="module")
def call_server(
    e2e_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    server = start_banter(
        e2e_database, tmp_path_factory.mktemp("call-logs"), "calls", **CALL_SETTINGS
    )
    yield server
    server.stop()


@pytest.fixture
def api(call_server: LiveServer) -> RestClient:
    return RestClient(call_server.url)


@pytest.fixture
async def clients(call_server: LiveServer) -> Any:
    group = Clients(call_server.url)
    yield group
    await group.close()


def friends(api: RestClient, *names: str) -> list[User]:
    """Users who share a room (only they may call each other)."""
    users = [api.register(name) for name in names]
    api.create_room(users[0], "friends", users[1:])
    return users


async def test_happy_path_with_two_receiver_devices_signals_and_duration(
    api: RestClient, clients: Clients
) -> None:
    caller, receiver, eve = friends(api, "caller", "receiver", "eve")
    c = await clients.connect(caller)
    r1, r2 = await clients.connect(receiver), await clients.connect(receiver, ["polling"])
    e = await clients.connect(eve)

    call = ok(await c.call("call:initiate", {"receiverId": receiver.id, "callType": "video"}))
    assert call["status"] == "ringing" and call["callType"] == "video"
    assert (await r1.wait_for("call:incoming"))["id"] == call["id"]
    assert (await r2.wait_for("call:incoming"))["id"] == call["id"]

    offer = {"type": "offer", "sdp": "v=0 o=- 1 2 IN IP4 127.0.0.1"}
    assert ok(await c.call("call:signal", {"callId": call["id"], "signal": offer})) == {}
    ringing_signal = await r1.wait_for("call:signal")
    assert ringing_signal == {"callId": call["id"], "fromUserId": caller.id, "signal": offer}
    assert await r2.wait_for("call:signal") == ringing_signal  # every device while ringing

    accepted = ok(await r1.call("call:accept", {"callId": call["id"]}))
    assert accepted["status"] == "answered" and accepted["answeredAt"]
    assert (await c.wait_for("call:accepted"))["status"] == "answered"
    assert (await r2.wait_for("call:answered-elsewhere"))["id"] == call["id"]

    answer = {"type": "answer", "sdp": "v=0 answer"}
    ok(await r1.call("call:signal", {"callId": call["id"], "signal": answer}))
    assert (await c.wait_for("call:signal"))["signal"] == answer
    candidate = {"candidate": "candidate:1 1 UDP 2122252543 10.0.0.2 54400 typ host"}
    ok(await c.call("call:signal", {"callId": call["id"], "signal": candidate}))
    assert (await r1.wait_for("call:signal", skip=1))["signal"] == candidate

    # A third user can neither inject nor overhear.
    assert (
        error_code(await e.call("call:signal", {"callId": call["id"], "signal": offer}))
        == "forbidden"
    )
    assert error_code(await e.call("call:end", {"callId": call["id"]})) == "forbidden"
    await settle()
    assert e.received("call:signal") == [] and e.received("call:incoming") == []
    assert len(r2.received("call:signal")) == 1  # after the answer, only the answering device
    assert r1.received("call:answered-elsewhere") == []
    assert error_code(await r2.call("call:accept", {"callId": call["id"]})) == "conflict"

    await asyncio.sleep(2.2)
    ended = ok(await c.call("call:end", {"callId": call["id"]}))
    assert ended["status"] == "completed" and ended["callId"] == call["id"]
    assert 2 <= ended["duration"] <= 4
    assert (await r1.wait_for("call:ended"))["duration"] == ended["duration"]
    stored = api.call("GET", f"/api/calls/{call['id']}", token=receiver.access)
    assert stored["status"] == "completed" and stored["duration"] == ended["duration"]


async def test_reject_and_cancel(api: RestClient, clients: Clients) -> None:
    caller, receiver = friends(api, "caller", "receiver")
    c, r = await clients.connect(caller), await clients.connect(receiver)

    first = ok(await c.call("call:initiate", {"receiverId": receiver.id, "callType": "audio"}))
    await r.wait_for("call:incoming")
    assert ok(await r.call("call:reject", {"callId": first["id"]}))["status"] == "rejected"
    assert (await c.wait_for("call:rejected"))["id"] == first["id"]

    second = ok(await c.call("call:initiate", {"receiverId": receiver.id, "callType": "audio"}))
    await r.wait_for("call:incoming", skip=1)
    assert ok(await c.call("call:cancel", {"callId": second["id"]}))["status"] == "cancelled"
    assert (await r.wait_for("call:cancelled"))["id"] == second["id"]
    assert error_code(await r.call("call:accept", {"callId": second["id"]})) == "conflict"
    logs = api.call("GET", "/api/calls", token=caller.access)
    assert [entry["status"] for entry in logs["results"][:2]] == ["cancelled", "rejected"]


async def test_busy_receiver(api: RestClient, clients: Clients) -> None:
    first, receiver, second = friends(api, "first", "receiver", "second")
    f, r, s = (
        await clients.connect(first),
        await clients.connect(receiver),
        await clients.connect(second),
    )
    ringing = ok(await f.call("call:initiate", {"receiverId": receiver.id, "callType": "audio"}))
    await r.wait_for("call:incoming")
    busy = ok(await s.call("call:initiate", {"receiverId": receiver.id, "callType": "audio"}))
    assert busy["status"] == "busy"
    assert (await s.wait_for("call:busy"))["id"] == busy["id"]
    await settle()
    assert len(r.received("call:incoming")) == 1
    ok(await f.call("call:cancel", {"callId": ringing["id"]}))


async def test_unanswered_call_is_missed_after_the_ring_timeout(
    api: RestClient, clients: Clients
) -> None:
    caller, receiver = friends(api, "caller", "receiver")
    c, r = await clients.connect(caller), await clients.connect(receiver)
    started = time.monotonic()
    call = ok(await c.call("call:initiate", {"receiverId": receiver.id, "callType": "audio"}))
    missed = await c.wait_for("call:missed", timeout=RING_TIMEOUT + 5)
    elapsed = time.monotonic() - started
    assert RING_TIMEOUT - 0.5 <= elapsed <= RING_TIMEOUT + 3, elapsed
    assert missed["id"] == call["id"] and missed["status"] == "missed"
    assert (await r.wait_for("call:missed"))["id"] == call["id"]
    note = await r.wait_for("notification:new")
    assert note["kind"] == "missed_call" and note["payload"]["callId"] == call["id"]
    assert error_code(await r.call("call:accept", {"callId": call["id"]})) == "conflict"


async def test_dropped_participant_ends_the_call_after_the_grace(
    api: RestClient, clients: Clients
) -> None:
    caller, receiver = friends(api, "caller", "receiver")
    c, r = await clients.connect(caller), await clients.connect(receiver)
    call = ok(await c.call("call:initiate", {"receiverId": receiver.id, "callType": "audio"}))
    await r.wait_for("call:incoming")
    ok(await r.call("call:accept", {"callId": call["id"]}))
    await asyncio.sleep(1.0)
    await r.disconnect()
    ended = await c.wait_for("call:ended", timeout=DROP_GRACE + 5)
    assert ended["callId"] == call["id"] and ended["status"] == "completed"
    assert 0 <= ended["duration"] <= 2  # counted to the drop, not to the sweep


async def test_reconnecting_within_the_grace_keeps_the_call(
    api: RestClient, clients: Clients
) -> None:
    caller, receiver = friends(api, "caller", "receiver")
    c, r = await clients.connect(caller), await clients.connect(receiver)
    call = ok(await c.call("call:initiate", {"receiverId": receiver.id, "callType": "audio"}))
    await r.wait_for("call:incoming")
    ok(await r.call("call:accept", {"callId": call["id"]}))
    await r.disconnect()
    back = await clients.connect(receiver)
    await asyncio.sleep(DROP_GRACE + 1.0)
    assert c.received("call:ended") == []
    ok(await c.call("call:signal", {"callId": call["id"], "signal": {"type": "renegotiate"}}))
    assert (await back.wait_for("call:signal"))["signal"] == {"type": "renegotiate"}
    ok(await back.call("call:end", {"callId": call["id"]}))


# -- a ring outlives the process that started it --------------------------------------------


@pytest.fixture
def redis_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two instances on Redis with a database of their own: every instance sharing a
    database sweeps its calls, and the other test servers publish to other channel layers."""
    extra = {
        **CALL_SETTINGS,
        "REDIS_URL": require_redis(),
        "REDIS_PREFIX": f"banter-calls-{uuid.uuid4().hex[:8]}",
    }
    logs = tmp_path_factory.mktemp("call-failover-logs")
    with (
        fresh_database(tmp_path_factory.mktemp("call-failover-db")) as database,
        instance_pair(database, logs, "calls", **extra) as pair,
    ):
        yield pair


async def test_call_started_on_a_killed_instance_still_becomes_missed(
    redis_pair: tuple[LiveServer, LiveServer],
) -> None:
    one, two = redis_pair
    api = RestClient(two.url)
    caller, receiver = friends(api, "caller", "receiver")
    on_one = await connect(one.url, caller.access)
    caller_elsewhere = await connect(two.url, caller.access)  # the caller's other device
    r: RecordingClient = await connect(two.url, receiver.access)
    try:
        call = ok(
            await on_one.call("call:initiate", {"receiverId": receiver.id, "callType": "video"})
        )
        await r.wait_for("call:incoming")
        one.kill()  # SIGKILL: no shutdown code runs on instance 1
        missed = await r.wait_for("call:missed", timeout=RING_TIMEOUT + 10)
        assert missed["id"] == call["id"]
        assert (await caller_elsewhere.wait_for("call:missed"))["id"] == call["id"]
        note = await r.wait_for("notification:new")
        assert note["kind"] == "missed_call"
        stored = api.call("GET", f"/api/calls/{call['id']}", token=caller.access)
        assert stored["status"] == "missed"
    finally:
        for client in (caller_elsewhere, r):
            await client.disconnect()
        await on_one.client.disconnect()
