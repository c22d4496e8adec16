"""Push notifications with live servers: the offline/online rules with a real socket, and a
kill -9 between the message's commit and its push (the push comes after the restart, once).

The push service is tests/push/webpush_service.py: it checks the VAPID signature and the
payload is decrypted with the subscription's keys, as a browser would."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.client import RestClient, User, connect
from tests.e2e.conftest import fresh_database, start_banter
from tests.live_server import LiveServer
from tests.push.conftest import vapid_pair
from tests.push.webpush_service import PushService, Subscriber

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

GRACE = 2.0  # PRESENCE_OFFLINE_GRACE: a push is due this long after its message


@pytest.fixture(scope="module")
def push_service() -> Iterator[PushService]:
    with PushService() as service:
        yield service


@pytest.fixture(scope="module")
def push_env() -> dict[str, str]:
    public, private = vapid_pair()
    return {
        # DEBUG: the local push service is an http://127.0.0.1 endpoint.
        "DEBUG": "1",
        "VAPID_PUBLIC_KEY": public,
        "VAPID_PRIVATE_KEY": private,
        "VAPID_SUBJECT": "mailto:ops@banter.test",
        "PRESENCE_OFFLINE_GRACE": str(GRACE),
        "PUSH_INTERVAL": "0.2",
    }


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "db").mkdir()
    with fresh_database(tmp_path / "db") as url:
        yield url


def subscribe(rest: RestClient, user: User, service: PushService, name: str) -> Subscriber:
    subscriber = Subscriber.create(service.endpoint(name))
    device = rest.call(
        "POST",
        "/api/devices",
        {"kind": "webpush", "subscription": subscriber.subscription()},
        user.access,
    )
    assert device["kind"] == "webpush"
    return subscriber


def send(rest: RestClient, user: User, room_id: int, content: str) -> int:
    message = rest.call("POST", f"/api/rooms/{room_id}/messages", {"content": content}, user.access)
    return int(message["id"])


async def test_online_users_get_no_push_and_offline_ones_get_one(
    database: str, tmp_path: Path, push_service: PushService, push_env: dict[str, str]
) -> None:
    server = start_banter(database, tmp_path, "push", **push_env)
    try:
        rest = RestClient(server.url)
        alice, bob = rest.register("alice"), rest.register("bob")
        room = rest.create_room(alice, "push", [bob])
        name = f"bob-{uuid.uuid4().hex[:8]}"
        subscriber = subscribe(rest, bob, push_service, name)

        bob_socket = await connect(server.url, bob.access)
        send(rest, alice, room["id"], "you are online")
        await asyncio.sleep(GRACE + 1.5)
        assert push_service.received(name) == []  # online on another device: no push

        await bob_socket.disconnect()
        message_id = send(rest, alice, room["id"], "now you are not")
        pushes = await push_service.wait_for_async(1, timeout=GRACE + 10, name=name)
        await asyncio.sleep(1.0)
        assert len(push_service.received(name)) == 1  # once
        (push,) = pushes
        assert push.error is None
        shown_name = rest.call("GET", "/api/users/me", token=alice.access)["displayName"]
        assert push.decrypt(subscriber) == {
            "type": "message",
            "roomId": room["id"],
            "messageId": message_id,
            "title": f"{shown_name} in push",
            "body": "now you are not",
            "badge": 2,
        }
    finally:
        server.stop()


async def test_a_kill_between_commit_and_push_loses_nothing(
    database: str, tmp_path: Path, push_service: PushService, push_env: dict[str, str]
) -> None:
    first = start_banter(database, tmp_path, "push-a", **push_env)
    second: LiveServer | None = None
    try:
        rest = RestClient(first.url)
        alice, bob = rest.register("alice"), rest.register("bob")
        room = rest.create_room(alice, "crash", [bob])
        name = f"bob-{uuid.uuid4().hex[:8]}"
        subscriber = subscribe(rest, bob, push_service, name)

        message_id = send(rest, alice, room["id"], "survive this")  # committed, push due later
        first.kill()  # SIGKILL before the push is due: no shutdown code runs
        assert push_service.received(name) == []

        started = time.monotonic()
        second = start_banter(database, tmp_path, "push-b", **push_env)
        (push,) = await push_service.wait_for_async(1, timeout=GRACE + 20, name=name)
        await asyncio.sleep(1.5)
        assert len(push_service.received(name)) == 1, "sent once"
        assert push.decrypt(subscriber)["messageId"] == message_id
        assert time.monotonic() - started < GRACE + 20
    finally:
        first.stop()
        if second is not None:
            second.stop()
