"""Presence over the socket, in process, with a short PRESENCE_OFFLINE_GRACE."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.socket_harness import (
    MakeRoom,
    MakeUser,
    OverrideBanter,
    SocketHarness,
    error_code,
    ok,
    settle,
)

GRACE = 0.3  # PRESENCE_OFFLINE_GRACE for these tests (5 s in production)


@pytest.fixture(autouse=True)
def _short_grace(banter_settings: OverrideBanter) -> None:
    banter_settings(PRESENCE_OFFLINE_GRACE=GRACE)


async def test_online_on_connect_offline_after_the_last_device_and_the_grace(
    sockets: SocketHarness, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice, carol = await make_user(), await make_user()
    await make_room(carol, [alice], name="watch-1")
    await make_room(carol, [alice], name="watch-2")  # two shared rooms: events arrive once
    c = await sockets.connect(carol)

    a1 = await sockets.connect(alice)
    assert await c.wait_for("user-online") == {
        "userId": alice.pk,
        "username": alice.username,
        "status": "online",
    }
    a2 = await sockets.connect(alice)
    await a1.disconnect()
    await asyncio.sleep(GRACE * 2)
    assert c.received("user-offline") == []  # a2 is still connected

    closed_at = time.monotonic()
    await a2.disconnect()
    offline = await c.wait_for("user-offline")
    assert time.monotonic() - closed_at >= GRACE * 0.9
    assert offline["userId"] == alice.pk and offline["lastSeen"]
    await settle()
    assert len(c.received("user-online")) == 1 and len(c.received("user-offline")) == 1
    # The user's own sockets are never told about themselves (carol's own announcement may
    # reach them: her connect hooks run on after her CONNECT reply).
    for own in (a1, a2):
        assert [e for e in own.received("user-online") if e["userId"] == alice.pk] == []
        assert [e for e in own.received("user-offline") if e["userId"] == alice.pk] == []


async def test_quick_reconnect_does_not_flap(
    sockets: SocketHarness,
    make_user: MakeUser,
    make_room: MakeRoom,
    banter_settings: OverrideBanter,
) -> None:
    grace = 1.0  # room for the reconnect on a loaded machine
    banter_settings(PRESENCE_OFFLINE_GRACE=grace)
    alice, carol = await make_user(), await make_user()
    await make_room(carol, [alice])
    c = await sockets.connect(carol)
    a = await sockets.connect(alice)
    await c.wait_for("user-online")
    await a.disconnect()
    await sockets.connect(alice)  # back well within the grace period
    await asyncio.sleep(grace + 0.3)
    assert c.received("user-offline") == []
    assert len(c.received("user-online")) == 1


async def test_presence_update_changes_status_visibility_and_reaches_own_devices(
    sockets: SocketHarness, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice, carol = await make_user(), await make_user()
    room = await make_room(carol, [alice])
    c = await sockets.connect(carol)
    a1 = await sockets.connect(alice)
    await c.wait_for("user-online")
    a2 = await sockets.connect(alice)

    assert ok(await a1.emit("presence:update", {"status": "away"})) == {"status": "away"}
    assert await c.wait_for("presence-update") == {"userId": alice.pk, "status": "away"}
    assert await a2.wait_for("presence-update") == {"userId": alice.pk, "status": "away"}

    ok(await a1.emit("presence:update", {"status": "invisible"}))
    hidden = await c.wait_for("user-offline")
    assert hidden["userId"] == alice.pk and hidden["lastSeen"]
    joined = ok(await c.emit("join-room", room.pk))
    assert [entry["userId"] for entry in joined["onlineUsers"]] == [carol.pk]

    ok(await a1.emit("presence:update", {"status": "online"}))
    assert (await c.wait_for("user-online", skip=1))["status"] == "online"
    assert error_code(await a1.emit("presence:update", {"status": "dancing"})) == (
        "validation_error"
    )


async def test_invisible_user_stays_invisible_on_the_next_session(
    sockets: SocketHarness, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice, carol = await make_user(), await make_user()
    room = await make_room(carol, [alice])
    a = await sockets.connect(alice)
    ok(await a.emit("presence:update", {"status": "invisible"}))
    await a.disconnect()
    await asyncio.sleep(GRACE * 1.5)
    c = await sockets.connect(carol)
    await sockets.connect(alice)
    joined = ok(await c.emit("join-room", room.pk))
    assert [entry["userId"] for entry in joined["onlineUsers"]] == [carol.pk]
    await settle()
    assert c.received("user-online") == []
