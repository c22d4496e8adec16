"""Multi-instance acceptance: two server processes on one database and one Redis.

In every test one user's client is on instance 1 and the other's on instance 2, so each
event checked here can only arrive by crossing Redis (channel layer and state store): what
passes on one process's memory must pass on a cluster too. The last test SIGKILLs an
instance, on a pair of its own, and expects the survivors to notice its users are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, Request, build_opener

import pytest

from tests.e2e.client import Clients, RecordingClient, RestClient, User, connect
from tests.e2e.conftest import ROOT, fresh_database, instance_pair, server_env
from tests.e2e.test_chat_events import ok, settle, wait_until
from tests.e2e.test_socket_chat import connect_error
from tests.live_server import LiveServer
from tests.services import require_redis

pytestmark = [pytest.mark.e2e, pytest.mark.services]

GRACE = 1.0  # PRESENCE_OFFLINE_GRACE of these servers
TYPING_TIMEOUT = 2.0  # short, so the expiry test does not wait the default 5 s
CROSS = 10.0  # generous bound for one event to cross instances (CI machines are slow)
CRASH_WAIT = 35.0  # how long the crash test waits for the killed instance's users
CRASH_BOUND = 30.0  # ... and within how long they must have been announced offline
ADMIN_PASSWORD = f"e2e-Admin-{uuid.uuid4().hex}"


def cluster_settings(prefix: str) -> dict[str, str]:
    """Redis for both instances, under a prefix of their own (parallel runs never meet)."""
    return {
        "REDIS_URL": require_redis(),
        "REDIS_PREFIX": f"{prefix}-{uuid.uuid4().hex[:8]}",
        "PRESENCE_OFFLINE_GRACE": str(GRACE),
        "TYPING_TIMEOUT": str(TYPING_TIMEOUT),
        # The fan-out test sends 500 messages from one user.
        "RATE_LIMIT_MESSAGE": "100000/60/1000",
    }


@dataclass(frozen=True)
class Cluster:
    one: LiveServer
    two: LiveServer
    admin_username: str

    @property
    def rest1(self) -> RestClient:
        return RestClient(self.one.url)

    @property
    def rest2(self) -> RestClient:
        return RestClient(self.two.url)


def create_superuser(database_url: str) -> str:
    """A staff superuser for the admin (deactivation is an admin action, not a REST one)."""
    username = f"admin_{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        **server_env(database_url, 0),
        "DJANGO_SUPERUSER_USERNAME": username,
        "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
        "DJANGO_SUPERUSER_EMAIL": f"{username}@example.com",
    }
    subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
    )
    return username


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A database of its own: REST presence (isOnline, lastSeen) and the call sweepers
    must see only these two instances, not the other e2e servers of the session."""
    extra = cluster_settings("banter-cluster")
    logs = tmp_path_factory.mktemp("cluster-logs")
    with (
        fresh_database(tmp_path_factory.mktemp("cluster-db")) as database,
        instance_pair(database, logs, "cluster", **extra) as (one, two),
    ):
        yield Cluster(one, two, create_superuser(database))


@pytest.fixture
async def sockets() -> AsyncIterator[Clients]:
    group = Clients()
    yield group
    await group.close()


def friends(cluster: Cluster, *names: str) -> tuple[list[User], dict[str, Any]]:
    """Users registered alternately on instance 1 and 2, sharing one private room."""
    apis = [cluster.rest1, cluster.rest2]
    users = [apis[index % 2].register(name) for index, name in enumerate(names)]
    room = cluster.rest1.create_room(users[0], "cluster", users[1:])
    return users, room


async def first_match(
    client: RecordingClient, event: str, timeout: float = CROSS, **fields: Any
) -> Any:
    """The first `event` whose payload has these field values (earlier ones may differ)."""
    deadline = time.monotonic() + timeout
    while True:
        for payload in client.received(event):
            if all(payload.get(key) == value for key, value in fields.items()):
                return payload
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {event} with {fields} within {timeout}s: {client.events}")
        await asyncio.sleep(0.02)


def matching(client: RecordingClient, event: str, **fields: Any) -> list[Any]:
    return [
        payload
        for payload in client.received(event)
        if all(payload.get(key) == value for key, value in fields.items())
    ]


def on_disconnect(client: RecordingClient) -> asyncio.Event:
    """Set when the server closes the client (python-socketio's `*` handler misses it)."""
    gone = asyncio.Event()
    client.client.on("disconnect", lambda *args: gone.set())
    return gone


def revocation(reason: str) -> dict[str, Any]:
    """The `error` a revoked session gets just before the server disconnects it."""
    return {"code": "unauthorized", "message": "Session revoked", "details": {"reason": reason}}


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def profile(api: RestClient, viewer: User, user: User) -> dict[str, Any]:
    return dict(api.call("GET", f"/api/users/{user.id}", token=viewer.access))


# -- messages --------------------------------------------------------------------------------


async def test_500_messages_reach_20_subscribers_on_both_instances_in_seq_order(
    cluster: Cluster, sockets: Clients
) -> None:
    # RELIABILITY.md "Nothing lost" 1: every subscriber gets 500/500, consecutive seq, no
    # gap, no duplicate, whichever instance it is on.
    (sender, *members), room = friends(cluster, "sender", *(f"sub{i}" for i in range(20)))
    a = await sockets.connect(sender, url=cluster.one.url)
    subscribers = [
        await sockets.connect(member, url=(cluster.one, cluster.two)[index % 2].url)
        for index, member in enumerate(members)
    ]
    total, window = 500, 25
    for start in range(0, total, window):
        acks = await asyncio.gather(
            *(
                a.call(
                    "send-message",
                    {"roomId": room["id"], "content": f"m{n}", "clientId": f"fan-{n}"},
                )
                for n in range(start, start + window)
            )
        )
        for ack in acks:
            ok(ack)

    def seqs(client: RecordingClient) -> list[int]:
        return [m["seq"] for m in client.received("message-received") if m["roomId"] == room["id"]]

    deadline = time.monotonic() + CROSS
    while time.monotonic() < deadline:
        if all(len(seqs(s)) >= total for s in subscribers):
            break
        await asyncio.sleep(0.05)
    await settle()
    for index, subscriber in enumerate(subscribers):
        assert seqs(subscriber) == list(range(1, total + 1)), f"subscriber {index}"


async def test_message_lifecycle_crosses_instances(cluster: Cluster, sockets: Clients) -> None:
    (alice, bob), room = friends(cluster, "alice", "bob")
    a = await sockets.connect(alice, url=cluster.one.url)
    b = await sockets.connect(bob, url=cluster.two.url)

    client_id = f"c-{uuid.uuid4()}"
    sent = ok(
        await a.call(
            "send-message", {"roomId": room["id"], "content": "hello bob", "clientId": client_id}
        )
    )
    assert sent["roomId"] == room["id"] and sent["seq"] == 1 and sent["clientId"] == client_id
    assert sent["content"] == "hello bob" and sent["user"]["id"] == alice.id
    assert await b.wait_for("message-received", timeout=CROSS) == sent

    reply = ok(
        await b.call(
            "send-message", {"roomId": room["id"], "content": "hi alice", "replyTo": sent["id"]}
        )
    )
    assert reply["seq"] == 2 and reply["replyTo"] == sent["id"]
    assert await first_match(a, "message-received", id=reply["id"]) == reply

    edited = ok(await a.call("edit-message", {"messageId": sent["id"], "content": "hello, bob"}))
    assert edited["editedAt"] and edited["content"] == "hello, bob"
    assert await b.wait_for("message-edited", timeout=CROSS) == {
        "messageId": sent["id"],
        "roomId": room["id"],
        "content": "hello, bob",
        "editedAt": edited["editedAt"],
        "seq": 1,
    }

    deleted = {"messageId": sent["id"], "roomId": room["id"], "seq": 1}
    assert ok(await a.call("delete-message", {"messageId": sent["id"]})) == deleted
    assert await b.wait_for("message-deleted", timeout=CROSS) == deleted

    await settle()
    assert len(b.received("message-received")) == 2  # alice's message and bob's own reply
    assert len(b.received("message-edited")) == 1 and len(b.received("message-deleted")) == 1
    history = cluster.rest2.call("GET", f"/api/rooms/{room['id']}/messages", token=bob.access)
    tombstone, answer = history["results"]
    assert tombstone["id"] == sent["id"] and tombstone["content"] == ""
    assert tombstone["deletedAt"] and answer == reply


# -- typing ----------------------------------------------------------------------------------


async def test_typing_start_stop_and_expiry_cross_instances(
    cluster: Cluster, sockets: Clients
) -> None:
    (alice, bob), room = friends(cluster, "alice", "bob")
    a = await sockets.connect(alice, url=cluster.one.url)
    b = await sockets.connect(bob, url=cluster.two.url)
    typing = {
        "roomId": room["id"],
        "userId": alice.id,
        "username": alice.username,
        "displayName": "alice",
    }
    stopped = {"roomId": room["id"], "userId": alice.id}

    assert ok(await a.call("typing-start", room["id"])) == {}
    assert await b.wait_for("user-typing", timeout=CROSS) == typing
    # The mark is shared state: instance 2 reports it in join-room.
    assert ok(await b.call("join-room", room["id"]))["typingUsers"] == [alice.id]
    assert ok(await a.call("typing-stop", room["id"])) == {}
    assert await b.wait_for("user-stopped-typing", timeout=CROSS) == stopped
    assert ok(await b.call("join-room", room["id"]))["typingUsers"] == []

    # No typing-stop this time: the mark expires TYPING_TIMEOUT after the start.
    ok(await a.call("typing-start", {"roomId": room["id"]}))
    started = time.monotonic()
    assert await b.wait_for("user-typing", timeout=CROSS, skip=1) == typing
    expired = await b.wait_for("user-stopped-typing", timeout=TYPING_TIMEOUT + CROSS, skip=1)
    elapsed = time.monotonic() - started
    assert expired == stopped
    assert TYPING_TIMEOUT - 0.3 <= elapsed <= TYPING_TIMEOUT + 3, elapsed

    await settle()
    assert len(b.received("user-typing")) == 2 and len(b.received("user-stopped-typing")) == 2
    assert a.received("user-typing") == [] and a.received("user-stopped-typing") == []


# -- presence --------------------------------------------------------------------------------


async def test_presence_online_offline_and_devices_on_both_instances(
    cluster: Cluster, sockets: Clients
) -> None:
    (alice, bob), room = friends(cluster, "alice", "bob")
    b = await sockets.connect(bob, url=cluster.two.url)
    online = {"userId": alice.id, "username": alice.username, "status": "online"}

    a = await sockets.connect(alice, url=cluster.one.url)
    assert await first_match(b, "user-online", userId=alice.id) == online
    assert profile(cluster.rest2, bob, alice)["isOnline"] is True

    before = time.time()
    await a.disconnect()
    after = time.time()
    offline = await first_match(b, "user-offline", timeout=GRACE + CROSS, userId=alice.id)
    waited = time.time() - after
    assert offline == {"userId": alice.id, "lastSeen": offline["lastSeen"]}
    # lastSeen is when the socket closed, not when the grace period ran out.
    assert before - 0.5 <= parse_time(offline["lastSeen"]) <= after + 0.5, offline
    assert waited >= GRACE - 0.3, waited
    seen = profile(cluster.rest1, bob, alice)
    assert seen["isOnline"] is False and seen["lastSeen"] == offline["lastSeen"]

    # One device per instance: the user is online while either is connected.
    a1 = await sockets.connect(alice, url=cluster.one.url)
    a2 = await sockets.connect(alice, url=cluster.two.url)
    assert await b.wait_for("user-online", timeout=CROSS, skip=1) == online
    await a1.disconnect()
    await asyncio.sleep(GRACE + 1.5)
    assert matching(b, "user-online", userId=alice.id) == [online, online]  # once per session
    assert len(matching(b, "user-offline", userId=alice.id)) == 1, b.events
    assert profile(cluster.rest1, bob, alice)["isOnline"] is True
    joined = ok(await b.call("join-room", room["id"]))
    assert {"userId": alice.id, "status": "online"} in joined["onlineUsers"]

    await a2.disconnect()
    gone = await b.wait_for("user-offline", timeout=GRACE + CROSS, skip=1)
    assert gone["userId"] == alice.id and gone["lastSeen"] is not None
    assert profile(cluster.rest2, bob, alice)["isOnline"] is False


# -- read receipts -----------------------------------------------------------------------------


async def test_read_receipt_reaches_the_sender_on_the_other_instance(
    cluster: Cluster, sockets: Clients
) -> None:
    (alice, bob), room = friends(cluster, "alice", "bob")
    a = await sockets.connect(alice, url=cluster.one.url)
    b = await sockets.connect(bob, url=cluster.two.url)
    sent = ok(await a.call("send-message", {"roomId": room["id"], "content": "read me"}))
    await b.wait_for("message-received", timeout=CROSS)

    marked = ok(await b.call("mark-read", {"roomId": room["id"], "messageId": sent["id"]}))
    assert marked == {
        "roomId": room["id"],
        "messageId": sent["id"],
        "readAt": marked["readAt"],
        "seq": 1,
    }
    receipt = {**marked, "userId": bob.id}
    assert await a.wait_for("message-read", timeout=CROSS) == receipt
    assert await b.wait_for("message-read", timeout=CROSS) == receipt  # the reader's too
    await settle()
    assert a.received("message-read") == [receipt]
    rooms = cluster.rest1.call("GET", "/api/rooms", token=bob.access)
    assert [r["unreadCount"] for r in rooms if r["id"] == room["id"]] == [0]


# -- notifications -----------------------------------------------------------------------------


async def test_mention_notifies_every_device_on_both_instances(
    cluster: Cluster, sockets: Clients
) -> None:
    (alice, bob), room = friends(cluster, "alice", "bob")
    a = await sockets.connect(alice, url=cluster.one.url)
    b = await sockets.connect(bob, url=cluster.two.url)
    b_other = await sockets.connect(bob, url=cluster.one.url)  # bob's second device, on instance 1
    assert await b.wait_for("notifications:pending") == []
    await wait_until(b, "notification:count", {"unread": 0})

    sent = ok(
        await a.call("send-message", {"roomId": room["id"], "content": f"@{bob.username} hi"})
    )
    note = await b.wait_for("notification:new", timeout=CROSS)
    assert note == {
        "id": note["id"],
        "kind": "mention",
        "payload": {"roomId": room["id"], "messageId": sent["id"], "seq": 1, "from": sent["user"]},
        "createdAt": note["createdAt"],
        "readAt": None,
    }
    assert isinstance(note["id"], int) and note["createdAt"]
    assert await b_other.wait_for("notification:new", timeout=CROSS) == note
    await wait_until(b, "notification:count", {"unread": 1}, timeout=CROSS)
    await wait_until(b_other, "notification:count", {"unread": 1}, timeout=CROSS)

    assert ok(await b.call("notifications:read", {"ids": [note["id"]]})) == {"unread": 0}
    await wait_until(b_other, "notification:count", {"unread": 0}, timeout=CROSS)
    await settle()
    assert a.received("notification:new") == []
    unread = cluster.rest1.call("GET", "/api/notifications?unread=1", token=bob.access)
    assert unread["results"] == []


# -- calls -------------------------------------------------------------------------------------


async def test_call_signaling_crosses_instances(cluster: Cluster, sockets: Clients) -> None:
    (alice, bob), _room = friends(cluster, "alice", "bob")
    a = await sockets.connect(alice, url=cluster.one.url)
    b = await sockets.connect(bob, url=cluster.two.url)

    call = ok(await a.call("call:initiate", {"receiverId": bob.id, "callType": "video"}))
    assert call["status"] == "ringing" and call["callerId"] == alice.id
    assert call["receiverId"] == bob.id and call["callType"] == "video"
    # The ack and call:incoming carry each side's own media credentials around one call.
    assert (await b.wait_for("call:incoming", timeout=CROSS))["call"] == call["call"]

    accepted = ok(await b.call("call:accept", {"callId": call["id"]}))
    assert accepted["status"] == "answered" and accepted["answeredAt"]
    assert await a.wait_for("call:accepted", timeout=CROSS) == accepted["call"]

    offer = {"type": "offer", "sdp": "v=0 o=- 1 2 IN IP4 127.0.0.1"}
    assert ok(await a.call("call:signal", {"callId": call["id"], "signal": offer})) == {}
    assert await b.wait_for("call:signal", timeout=CROSS) == {
        "callId": call["id"],
        "fromUserId": alice.id,
        "signal": offer,
    }
    answer = {"type": "answer", "sdp": "v=0 answer"}
    assert ok(await b.call("call:signal", {"callId": call["id"], "signal": answer})) == {}
    assert await a.wait_for("call:signal", timeout=CROSS) == {
        "callId": call["id"],
        "fromUserId": bob.id,
        "signal": answer,
    }

    ended = ok(await a.call("call:end", {"callId": call["id"]}))
    assert ended["callId"] == call["id"] and ended["status"] == "completed"
    assert await a.wait_for("call:ended", timeout=CROSS) == ended
    assert await b.wait_for("call:ended", timeout=CROSS) == ended
    await settle()
    assert len(a.received("call:signal")) == 1 and len(b.received("call:signal")) == 1
    stored = cluster.rest2.call("GET", f"/api/calls/{call['id']}", token=bob.access)
    assert stored["status"] == "completed" and stored["duration"] == ended["duration"]


# -- forced disconnect -------------------------------------------------------------------------


async def revoked_and_closed(
    reason: str, devices: list[RecordingClient], gone: list[asyncio.Event]
) -> None:
    """Every device got the revocation error, then its connection closed."""
    for device in devices:
        assert await device.wait_for("error", timeout=CROSS) == revocation(reason)
    for event in gone:
        await asyncio.wait_for(event.wait(), CROSS)
    assert not any(device.client.connected for device in devices)


async def test_logout_closes_the_users_sockets_on_both_instances(
    cluster: Cluster, sockets: Clients
) -> None:
    (alice, bob), room = friends(cluster, "alice", "bob")
    a = await sockets.connect(alice, url=cluster.one.url)
    b1 = await sockets.connect(bob, url=cluster.one.url)
    b2 = await sockets.connect(bob, url=cluster.two.url)
    gone = [on_disconnect(b1), on_disconnect(b2)]

    cluster.rest2.call("POST", "/api/auth/logout", {"refresh": bob.refresh}, token=bob.access)
    await revoked_and_closed("logout", [b1, b2], gone)

    # Bob's last socket anywhere is gone; alice, untouched, sees him leave.
    assert a.client.connected
    offline = await first_match(a, "user-offline", timeout=GRACE + CROSS, userId=bob.id)
    assert offline["lastSeen"] is not None
    ok(await a.call("send-message", {"roomId": room["id"], "content": "still here"}))


class AdminSession:
    """The Django admin over HTTP, logged in with a session cookie and CSRF tokens."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.opener = build_opener(HTTPCookieProcessor(CookieJar()))

    def _open(self, path: str, form: dict[str, str] | None = None) -> tuple[str, str]:
        data = None if form is None else urlencode(form).encode()
        with self.opener.open(Request(self.base_url + path, data=data), timeout=10) as response:
            return response.geturl(), response.read().decode()

    def _csrf(self, path: str) -> str:
        _, html = self._open(path)
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def login(self, username: str, password: str) -> None:
        token = self._csrf("/admin/login/")
        form = {"csrfmiddlewaretoken": token, "username": username, "password": password}
        url, _ = self._open("/admin/login/?next=/admin/", {**form, "next": "/admin/"})
        assert url.endswith("/admin/"), f"admin login failed (ended on {url})"

    def deactivate(self, user_id: int) -> str:
        """The changelist action "Deactivate selected users"; returns the page after it."""
        changelist = "/admin/accounts/user/"
        form = {
            "csrfmiddlewaretoken": self._csrf(changelist),
            "action": "deactivate_users",
            "_selected_action": str(user_id),
            "index": "0",
            "select_across": "0",
        }
        _, html = self._open(changelist, form)
        return html


def admin_deactivate(base_url: str, username: str, user_id: int) -> str:
    admin = AdminSession(base_url)
    admin.login(username, ADMIN_PASSWORD)
    return admin.deactivate(user_id)


async def test_admin_deactivation_closes_the_users_sockets_on_both_instances(
    cluster: Cluster, sockets: Clients
) -> None:
    (alice, carol), _room = friends(cluster, "alice", "carol")
    a = await sockets.connect(alice, url=cluster.two.url)
    c1 = await sockets.connect(carol, url=cluster.one.url)
    c2 = await sockets.connect(carol, url=cluster.two.url)
    gone = [on_disconnect(c1), on_disconnect(c2)]

    page = await asyncio.to_thread(
        admin_deactivate, cluster.one.url, cluster.admin_username, carol.id
    )
    assert "Deactivated 1 user(s)." in page
    await revoked_and_closed("deactivated", [c1, c2], gone)
    assert (await connect_error(cluster.two.url, carol.access))["code"] == "user_inactive"
    assert (await connect_error(cluster.one.url, carol.access))["code"] == "user_inactive"
    assert a.client.connected and a.received("error") == []


# -- crash safety ------------------------------------------------------------------------------


@pytest.fixture
def crash_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    """A pair for the crash test alone: instance 1 is killed, the module's pair lives on."""
    extra = cluster_settings("banter-crash")
    logs = tmp_path_factory.mktemp("crash-logs")
    with (
        fresh_database(tmp_path_factory.mktemp("crash-db")) as database,
        instance_pair(database, logs, "crash", **extra) as pair,
    ):
        yield pair


async def test_users_of_a_killed_instance_go_offline_on_the_survivor(
    crash_pair: tuple[LiveServer, LiveServer],
) -> None:
    one, two = crash_pair
    api = RestClient(two.url)
    alice, bob = api.register("alice"), api.register("bob")
    room = api.create_room(bob, "crash", [alice])
    b = await connect(two.url, bob.access)
    a = await connect(one.url, alice.access)  # knows only instance 1; reconnection is off
    try:
        online = await first_match(b, "user-online", userId=alice.id)
        assert online == {"userId": alice.id, "username": alice.username, "status": "online"}
        joined = ok(await b.call("join-room", room["id"]))
        assert {"userId": alice.id, "status": "online"} in joined["onlineUsers"]
        assert profile(api, bob, alice)["isOnline"] is True

        killed_at = time.monotonic()
        one.kill()  # SIGKILL: no disconnect hook, no shutdown code runs on instance 1
        try:
            offline = await first_match(b, "user-offline", timeout=CRASH_WAIT, userId=alice.id)
        except TimeoutError:
            pytest.fail(
                f"no user-offline for {alice.id} on instance 2 within {CRASH_WAIT:.0f} s of "
                f"SIGKILL of instance 1; REST profile: {profile(api, bob, alice)}; "
                f"events bob got: {b.events}"
            )
        elapsed = time.monotonic() - killed_at
        print(f"user-offline for the killed instance's user after {elapsed:.1f} s")
        assert offline == {"userId": alice.id, "lastSeen": offline["lastSeen"]}
        assert offline["lastSeen"] is not None
        assert parse_time(offline["lastSeen"]) <= time.time() + 0.5
        assert elapsed <= CRASH_BOUND, f"user-offline took {elapsed:.1f} s after the kill"

        deadline = time.monotonic() + 5
        seen = profile(api, bob, alice)
        while seen["isOnline"] and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            seen = profile(api, bob, alice)
        assert seen["isOnline"] is False, seen
        assert seen["lastSeen"] == offline["lastSeen"], seen
        assert b.client.connected  # the survivor's own clients were never disturbed
    finally:
        await b.disconnect()
        # Instance 1 is dead: do not wait for a goodbye it cannot answer.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(a.client.disconnect(), 1)


async def test_graceful_shutdown_announces_only_the_users_who_did_not_come_back(
    crash_pair: tuple[LiveServer, LiveServer],
) -> None:
    """SIGTERM drains instance 1: its sockets are closed so clients reconnect elsewhere. A
    user who does (carol, onto instance 2 within the grace) stays online; one who does not
    (alice) is announced offline by the draining instance itself before it exits."""
    one, two = crash_pair
    api = RestClient(two.url)
    alice, bob, carol = api.register("alice"), api.register("bob"), api.register("carol")
    api.create_room(bob, "drain", [alice, carol])
    b = await connect(two.url, bob.access)
    a = await connect(one.url, alice.access)
    c = await connect(one.url, carol.access)
    carol_closed = on_disconnect(c)
    moved: list[RecordingClient] = []
    try:
        await first_match(b, "user-online", userId=alice.id)
        await first_match(b, "user-online", userId=carol.id)
        stopping = asyncio.create_task(asyncio.to_thread(one.stop, 20))
        await asyncio.wait_for(carol_closed.wait(), 10)
        moved.append(await connect(two.url, carol.access))  # back within the 1 s grace
        offline = await first_match(b, "user-offline", timeout=10, userId=alice.id)
        assert offline["lastSeen"] is not None
        assert await stopping == 0  # exited cleanly, after announcing
        await settle(GRACE + 1)
        assert matching(b, "user-offline", userId=carol.id) == []
        assert profile(api, bob, carol)["isOnline"] is True
        assert profile(api, bob, alice)["isOnline"] is False
    finally:
        for client in (b, *moved):
            await client.disconnect()
        for client in (a, c):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.client.disconnect(), 1)
