"""The whole chat event catalogue with the real python-socketio client, on both backends.

Every test runs against a live server on the embedded default (in-process state store and
channel layer) and against one on Redis (state store, rate limits and channel layer), so
what works on one instance's memory also works through Redis.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.client import Clients, RecordingClient, RestClient
from tests.e2e.conftest import start_banter
from tests.live_server import LiveServer
from tests.services import require_redis

pytestmark = pytest.mark.e2e

GRACE = 1.0  # PRESENCE_OFFLINE_GRACE of these servers


@pytest.fixture(scope="module", params=["memory", "redis"])
def chat_server(
    request: pytest.FixtureRequest, e2e_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    extra = {"PRESENCE_OFFLINE_GRACE": str(GRACE)}
    if request.param == "redis":
        extra["REDIS_URL"] = require_redis()
        extra["REDIS_PREFIX"] = f"banter-e2e-{uuid.uuid4().hex[:8]}"
    server = start_banter(
        e2e_database, tmp_path_factory.mktemp("chat-logs"), f"chat-{request.param}", **extra
    )
    yield server
    server.stop()


@pytest.fixture
def api(chat_server: LiveServer) -> RestClient:
    return RestClient(chat_server.url)


@pytest.fixture
async def clients(chat_server: LiveServer) -> Any:
    group = Clients(chat_server.url)
    yield group
    await group.close()


def ok(ack: dict[str, Any]) -> Any:
    assert ack["ok"] is True, ack
    return ack["data"]


def error_code(ack: dict[str, Any]) -> str:
    assert ack["ok"] is False, ack
    return str(ack["error"]["code"])


async def wait_until(
    client: RecordingClient, event: str, wanted: Any, timeout: float = 5.0
) -> None:
    """Until `event` with payload `wanted` arrives (earlier ones with other payloads may too:
    a broadcast published just before a socket subscribed can still reach it)."""
    deadline = time.monotonic() + timeout
    while wanted not in client.received(event):
        assert time.monotonic() < deadline, (event, wanted, client.received(event))
        await asyncio.sleep(0.02)


async def settle(seconds: float = 0.3) -> None:
    """Time for broadcasts that should NOT arrive to have arrived if they were sent."""
    await asyncio.sleep(seconds)


# -- messages ------------------------------------------------------------------------------


async def test_three_users_two_rooms_two_devices_message_lifecycle(
    api: RestClient, clients: Clients
) -> None:
    alice, bob, carol = api.register("alice"), api.register("bob"), api.register("carol")
    team = api.create_room(alice, "team", [bob])
    lobby = api.create_room(carol, "lobby", [alice])
    a1, a2 = await clients.connect(alice), await clients.connect(alice, ["polling", "websocket"])
    b, c = await clients.connect(bob), await clients.connect(carol)

    sent = ok(await a1.call("send-message", {"roomId": team["id"], "content": " hi bob \x07"}))
    assert sent["content"] == "hi bob"  # trimmed, control character removed
    assert sent["seq"] == 1
    assert await a2.wait_for("message-received") == sent  # the sender's other device
    assert await b.wait_for("message-received") == sent
    assert await a1.wait_for("message-received") == sent

    lobby_message = ok(await c.call("send-message", {"roomId": lobby["id"], "content": "lobby"}))
    assert (await a1.wait_for("message-received", skip=1))["id"] == lobby_message["id"]
    await settle()
    assert [m["id"] for m in b.received("message-received")] == [sent["id"]]  # not in lobby
    assert [m["id"] for m in c.received("message-received")] == [lobby_message["id"]]

    edited = ok(await a2.call("edit-message", {"messageId": sent["id"], "content": "hi Bob"}))
    assert edited["content"] == "hi Bob" and edited["editedAt"]
    edit_event = await b.wait_for("message-edited")
    assert edit_event == {
        "messageId": sent["id"],
        "roomId": team["id"],
        "content": "hi Bob",
        "editedAt": edited["editedAt"],
        "seq": 1,
    }
    assert (
        error_code(await b.call("edit-message", {"messageId": sent["id"], "content": "mine now"}))
        == "forbidden"
    )

    assert ok(await a1.call("delete-message", {"messageId": sent["id"]})) == {
        "messageId": sent["id"],
        "roomId": team["id"],
        "seq": 1,
    }
    assert await b.wait_for("message-deleted") == {
        "messageId": sent["id"],
        "roomId": team["id"],
        "seq": 1,
    }
    history = api.call("GET", f"/api/rooms/{team['id']}/messages", token=bob.access)
    assert history["results"][0]["deletedAt"] and history["results"][0]["content"] == ""


async def test_non_member_is_forbidden_everywhere_in_a_private_room(
    api: RestClient, clients: Clients
) -> None:
    alice, bob, mallory = api.register("alice"), api.register("bob"), api.register("mallory")
    team = api.create_room(alice, "secret", [bob])
    a, b = await clients.connect(alice), await clients.connect(bob)
    m = await clients.connect(mallory)
    message = ok(await a.call("send-message", {"roomId": team["id"], "content": "secret"}))
    await b.wait_for("message-received")

    attempts = [
        ("send-message", {"roomId": team["id"], "content": "let me in"}),
        ("edit-message", {"messageId": message["id"], "content": "pwned"}),
        ("delete-message", {"messageId": message["id"]}),
        ("mark-read", {"roomId": team["id"], "messageId": message["id"]}),
        ("join-room", team["id"]),
        ("typing-start", team["id"]),
    ]
    for event, payload in attempts:
        assert error_code(await m.call(event, payload)) == "forbidden", event
    await settle()
    assert m.received("message-received") == []
    # Nothing mallory tried reached the room (presence of alice may, depending on timing).
    leaked = {"message-edited", "message-deleted", "message-read", "user-typing"}
    leaked |= {"user-joined-room"}
    assert [event for event, _ in b.events if event in leaked] == []
    # Mallory's bad requests did not disturb the room.
    again = ok(await a.call("send-message", {"roomId": team["id"], "content": "still fine"}))
    assert (await b.wait_for("message-received", skip=1))["id"] == again["id"]


async def test_repeated_client_id_stores_and_broadcasts_once(
    api: RestClient, clients: Clients
) -> None:
    alice, bob = api.register("alice"), api.register("bob")
    room = api.create_room(alice, "retry", [bob])
    a, b = await clients.connect(alice), await clients.connect(bob)
    payload = {"roomId": room["id"], "content": "once", "clientId": f"c-{uuid.uuid4()}"}
    first = ok(await a.call("send-message", payload))
    second = ok(await a.call("send-message", payload))
    assert first == second
    await b.wait_for("message-received")
    await settle()
    assert len(b.received("message-received")) == 1
    history = api.call("GET", f"/api/rooms/{room['id']}/messages", token=bob.access)
    assert [m["id"] for m in history["results"]] == [first["id"]]


async def test_validation_errors_have_codes_and_lose_nothing(
    api: RestClient, clients: Clients
) -> None:
    alice, bob = api.register("alice"), api.register("bob")
    room = api.create_room(alice, "checks", [bob])
    a, b = await clients.connect(alice), await clients.connect(bob)
    bad = [
        {"roomId": room["id"], "content": "   "},
        {"roomId": room["id"], "content": "x" * 4001},
        {"roomId": room["id"], "content": "bad \ud800 surrogate"},
        {"roomId": room["id"], "content": "hi", "messageType": "system"},
        {"roomId": "1", "content": "hi"},
        "not an object",
    ]
    for payload in bad:
        assert error_code(await a.call("send-message", payload)) == "validation_error", payload
    assert (
        error_code(await a.call("send-message", {"roomId": room["id"], "content": "y" * 70_000}))
        == "payload_too_large"
    )
    good = ok(await a.call("send-message", {"roomId": room["id"], "content": "line1\n\tline2"}))
    assert good["content"] == "line1\n\tline2" and good["seq"] == 1
    assert (await b.wait_for("message-received"))["id"] == good["id"]


# -- rooms -------------------------------------------------------------------------------


async def test_join_room_returns_live_state_and_leave_announces(
    api: RestClient, clients: Clients
) -> None:
    alice, bob, carol = api.register("alice"), api.register("bob"), api.register("carol")
    public = api.create_room(alice, "open", [bob], is_public=True)
    a, b = await clients.connect(alice), await clients.connect(bob)
    ok(await b.call("typing-start", public["id"]))
    await a.wait_for("user-typing")

    c = await clients.connect(carol)
    joined = ok(await c.call("join-room", public["id"]))
    assert joined["roomId"] == public["id"] and joined["room"]["id"] == public["id"]
    online = {entry["userId"]: entry["status"] for entry in joined["onlineUsers"]}
    assert online == {alice.id: "online", bob.id: "online", carol.id: "online"}
    assert joined["typingUsers"] == [bob.id]
    assert await c.wait_for("room-joined") == joined
    announced = await a.wait_for("user-joined-room")
    assert announced["roomId"] == public["id"] and announced["user"]["id"] == carol.id

    message = ok(await a.call("send-message", {"roomId": public["id"], "content": "welcome"}))
    assert (await c.wait_for("message-received"))["id"] == message["id"]

    assert ok(await c.call("leave-room", public["id"])) == {"roomId": public["id"]}
    assert await a.wait_for("user-left-room") == {"roomId": public["id"], "userId": carol.id}
    ok(await a.call("send-message", {"roomId": public["id"], "content": "gone?"}))
    await b.wait_for("message-received", skip=1)
    await settle()
    assert len(c.received("message-received")) == 1


async def test_rest_membership_changes_move_live_sockets(api: RestClient, clients: Clients) -> None:
    alice, bob, carol = api.register("alice"), api.register("bob"), api.register("carol")
    room = api.create_room(alice, "rest-moves", [bob])
    a, c = await clients.connect(alice), await clients.connect(carol)
    api.call("POST", f"/api/rooms/{room['id']}/members", {"userId": carol.id}, token=alice.access)
    joined = await a.wait_for("user-joined-room")
    assert joined["user"]["id"] == carol.id
    await asyncio.sleep(0.3)  # the subscribe control reaches carol's socket
    first = ok(await a.call("send-message", {"roomId": room["id"], "content": "hi carol"}))
    assert (await c.wait_for("message-received"))["id"] == first["id"]

    api.call("DELETE", f"/api/rooms/{room['id']}/members/{carol.id}", token=alice.access)
    assert await a.wait_for("user-left-room") == {"roomId": room["id"], "userId": carol.id}
    await asyncio.sleep(0.3)
    ok(await a.call("send-message", {"roomId": room["id"], "content": "bye carol"}))
    await settle()
    assert [m["id"] for m in c.received("message-received")] == [first["id"]]

    direct = api.call("POST", "/api/rooms/direct", {"userId": carol.id}, token=alice.access)
    await asyncio.sleep(0.3)
    dm = ok(await a.call("send-message", {"roomId": direct["id"], "content": "psst"}))
    assert (await c.wait_for("message-received", skip=1))["id"] == dm["id"]


# -- typing ------------------------------------------------------------------------------


async def test_typing_is_rate_limited_to_the_room_and_expires_by_itself(
    api: RestClient, clients: Clients
) -> None:
    alice, bob = api.register("alice"), api.register("bob")
    room = api.create_room(alice, "typing", [bob])
    a1, a2, b = (
        await clients.connect(alice),
        await clients.connect(alice),
        await clients.connect(bob),
    )
    started = time.monotonic()
    assert ok(await a1.call("typing-start", room["id"])) == {}
    typing = await b.wait_for("user-typing")
    assert typing == {
        "roomId": room["id"],
        "userId": alice.id,
        "username": alice.username,
        "displayName": "alice",
    }
    ok(await a1.call("typing-start", room["id"]))  # within 3 s: no second broadcast
    stopped = await b.wait_for("user-stopped-typing", timeout=10)
    elapsed = time.monotonic() - started
    assert stopped == {"roomId": room["id"], "userId": alice.id}
    assert 4.5 <= elapsed <= 7.5, elapsed  # 5 s after the last start, by itself
    assert len(b.received("user-typing")) == 1
    # The typist's own devices are not told about their own typing.
    assert a1.received("user-typing") == [] and a2.received("user-typing") == []

    ok(await a1.call("typing-start", room["id"]))
    await b.wait_for("user-typing", skip=1)
    ok(await a1.call("send-message", {"roomId": room["id"], "content": "done typing"}))
    await b.wait_for("user-stopped-typing", skip=1, timeout=2)

    ok(await b.call("typing-start", room["id"]))
    await a1.wait_for("user-typing")
    ok(await b.call("typing-stop", room["id"]))
    assert await a1.wait_for("user-stopped-typing") == {"roomId": room["id"], "userId": bob.id}

    ok(await b.call("typing-start", room["id"]))
    await a1.wait_for("user-typing", skip=1)
    await b.disconnect()  # disconnect clears typing at once
    await a1.wait_for("user-stopped-typing", skip=1, timeout=2)


# -- presence ----------------------------------------------------------------------------


async def test_presence_across_devices_with_grace_and_status(
    api: RestClient, clients: Clients
) -> None:
    alice, carol = api.register("alice"), api.register("carol")
    api.create_room(carol, "watch-1", [alice])
    api.create_room(carol, "watch-2", [alice])  # two shared rooms: events still arrive once
    c = await clients.connect(carol)

    a1 = await clients.connect(alice)
    online = await c.wait_for("user-online")
    assert online == {"userId": alice.id, "username": alice.username, "status": "online"}
    a2 = await clients.connect(alice, ["polling"])
    await a1.disconnect()
    await asyncio.sleep(GRACE + 1.0)
    assert c.received("user-offline") == []  # a2 still connected
    profile = api.call("GET", f"/api/users/{alice.id}", token=carol.access)
    assert profile["isOnline"] is True

    assert ok(await a2.call("presence:update", {"status": "away"})) == {"status": "away"}
    assert await c.wait_for("presence-update") == {"userId": alice.id, "status": "away"}
    ok(await a2.call("presence:update", {"status": "invisible"}))
    hidden = await c.wait_for("user-offline")
    assert hidden["userId"] == alice.id and hidden["lastSeen"]
    ok(await a2.call("presence:update", {"status": "online"}))
    assert (await c.wait_for("user-online", skip=1))["status"] == "online"
    assert error_code(await a2.call("presence:update", {"status": "dancing"})) == (
        "validation_error"
    )

    closed_at = time.monotonic()
    await a2.disconnect()
    offline = await c.wait_for("user-offline", skip=1, timeout=GRACE + 5)
    assert time.monotonic() - closed_at >= GRACE * 0.9
    assert offline["userId"] == alice.id and offline["lastSeen"]
    await settle()
    assert len(c.received("user-online")) == 2 and len(c.received("user-offline")) == 2
    profile = api.call("GET", f"/api/users/{alice.id}", token=carol.access)
    assert profile["isOnline"] is False and profile["lastSeen"] == offline["lastSeen"]


async def test_quick_reconnect_does_not_flap(api: RestClient, clients: Clients) -> None:
    alice, carol = api.register("alice"), api.register("carol")
    api.create_room(carol, "flap", [alice])
    c = await clients.connect(carol)
    a = await clients.connect(alice)
    await c.wait_for("user-online")
    await a.disconnect()
    await clients.connect(alice)  # back well within the grace period
    await asyncio.sleep(GRACE + 1.0)
    assert c.received("user-offline") == []
    assert len(c.received("user-online")) == 1


async def test_invisible_user_stays_invisible_on_next_session(
    api: RestClient, clients: Clients
) -> None:
    alice, carol = api.register("alice"), api.register("carol")
    room = api.create_room(carol, "ghost", [alice])
    a = await clients.connect(alice)
    ok(await a.call("presence:update", {"status": "invisible"}))
    await a.disconnect()
    await asyncio.sleep(GRACE + 0.5)
    c = await clients.connect(carol)
    await clients.connect(alice)
    joined = ok(await c.call("join-room", room["id"]))
    assert [entry["userId"] for entry in joined["onlineUsers"]] == [carol.id]
    await settle()
    assert c.received("user-online") == []


# -- read receipts -----------------------------------------------------------------------


async def test_read_positions_move_forward_only_and_bursts_coalesce(
    api: RestClient, clients: Clients
) -> None:
    alice, bob = api.register("alice"), api.register("bob")
    room = api.create_room(alice, "receipts", [bob])
    a, b = await clients.connect(alice), await clients.connect(bob)
    messages = [
        ok(await a.call("send-message", {"roomId": room["id"], "content": f"m{i}"}))
        for i in range(1, 6)
    ]
    rooms = api.call("GET", "/api/rooms", token=bob.access)
    assert next(r for r in rooms if r["id"] == room["id"])["unreadCount"] == 5

    first = ok(await b.call("mark-read", {"roomId": room["id"], "messageId": messages[2]["id"]}))
    assert first["messageId"] == messages[2]["id"] and first["seq"] == 3 and first["readAt"]
    read = await a.wait_for("message-read")
    assert read == {
        "roomId": room["id"],
        "messageId": messages[2]["id"],
        "userId": bob.id,
        "readAt": first["readAt"],
        "seq": 3,
    }
    behind = ok(await b.call("mark-read", {"roomId": room["id"], "messageId": messages[0]["id"]}))
    assert behind["seq"] == 3  # never backwards

    # A burst within the coalescing interval: one more write, the furthest position wins.
    for message in (messages[3], messages[4], messages[1]):
        ok(await b.call("mark-read", {"roomId": room["id"], "messageId": message["id"]}))
    final = await a.wait_for("message-read", skip=1, timeout=3)
    assert final["seq"] == 5 and final["messageId"] == messages[4]["id"]
    await asyncio.sleep(1.5)
    assert len(a.received("message-read")) == 2
    rooms = api.call("GET", "/api/rooms", token=bob.access)
    assert next(r for r in rooms if r["id"] == room["id"])["unreadCount"] == 0
    assert (
        error_code(await b.call("mark-read", {"roomId": room["id"], "messageId": 10**12}))
        == "validation_error"
    )


# -- notifications -----------------------------------------------------------------------


async def test_notifications_pending_new_count_and_read(api: RestClient, clients: Clients) -> None:
    alice, bob = api.register("alice"), api.register("bob")
    room = api.create_room(alice, "mentions", [bob])
    a = await clients.connect(alice)
    ok(await a.call("send-message", {"roomId": room["id"], "content": f"@{bob.username} look"}))

    b1 = await clients.connect(bob)
    pending = await b1.wait_for("notifications:pending")
    assert [n["kind"] for n in pending] == ["mention"]
    assert pending[0]["payload"]["roomId"] == room["id"]
    assert await b1.wait_for("notification:count") == {"unread": 1}

    b2 = await clients.connect(bob)
    await b2.wait_for("notifications:pending")
    second = ok(
        await a.call("send-message", {"roomId": room["id"], "content": f"and @{bob.username}"})
    )
    new = await b2.wait_for("notification:new")
    assert new["kind"] == "mention" and new["payload"]["messageId"] == second["id"]
    await wait_until(b1, "notification:new", new)
    await wait_until(b1, "notification:count", {"unread": 2})

    assert ok(await b1.call("notifications:read", {"ids": [pending[0]["id"]]})) == {"unread": 1}
    await wait_until(b2, "notification:count", {"unread": 1})
    assert ok(await b1.call("notifications:read", {"all": True})) == {"unread": 0}
    assert error_code(await b1.call("notifications:read", {"ids": "all"})) == "validation_error"


# -- rate limits -------------------------------------------------------------------------


async def test_rate_limited_sender_gets_retry_after_and_others_are_unaffected(
    api: RestClient, clients: Clients
) -> None:
    spammer, bob = api.register("spammer"), api.register("bob")
    room = api.create_room(spammer, "flood", [bob])
    s, b = await clients.connect(spammer), await clients.connect(bob)
    acks = [
        await s.call("send-message", {"roomId": room["id"], "content": f"spam {i}"})
        for i in range(30)
    ]
    limited = [ack for ack in acks if not ack["ok"]]
    assert limited and all(ack["error"]["code"] == "rate_limited" for ack in limited)
    assert all(ack["error"]["details"]["retryAfter"] > 0 for ack in limited)
    accepted = [ack for ack in acks if ack["ok"]]
    assert 20 <= len(accepted) < 30  # the burst of 20, plus what refilled meanwhile

    reply = ok(await b.call("send-message", {"roomId": room["id"], "content": "I can talk"}))
    assert reply["seq"] == len(accepted) + 1
    assert s.client.connected


async def test_sustained_abuse_disconnects_the_socket(api: RestClient, clients: Clients) -> None:
    abuser, bob = api.register("abuser"), api.register("bob")
    room = api.create_room(abuser, "abuse", [bob])
    s, b = await clients.connect(abuser), await clients.connect(bob)
    disconnected = asyncio.Event()
    s.client.on("disconnect", lambda *args: disconnected.set())
    # typing allows 20 per 10 s with bursts of 10: 10x the limit is 200 denials.
    for _ in range(260):
        if disconnected.is_set():
            break
        await s.client.emit("typing-start", room["id"])
    await asyncio.wait_for(disconnected.wait(), 10)
    errors = s.received("error")
    assert errors and errors[-1]["code"] == "rate_limited"
    assert b.client.connected
    ok(await b.call("send-message", {"roomId": room["id"], "content": "unaffected"}))
