"""Typing indicators over the socket, in process, with a short TYPING_TIMEOUT."""

from __future__ import annotations

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

TIMEOUT = 0.6  # TYPING_TIMEOUT for these tests (5 s in production)


@pytest.fixture(autouse=True)
def _short_typing(banter_settings: OverrideBanter) -> None:
    # No rebroadcast while a mark lives (3 s in production): a slow machine between two
    # starts cannot add a `user-typing`.
    banter_settings(TYPING_TIMEOUT=TIMEOUT, TYPING_REBROADCAST=60.0)


async def test_typing_reaches_the_rest_of_the_room_once_and_expires_by_itself(
    sockets: SocketHarness, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice, bob, carol = await make_user(), await make_user(), await make_user()
    room = await make_room(alice, [bob])
    a1, a2 = await sockets.connect(alice), await sockets.connect(alice)
    b, c = await sockets.connect(bob), await sockets.connect(carol)

    started = time.monotonic()
    assert ok(await a1.emit("typing-start", room.pk)) == {}
    assert await b.wait_for("user-typing") == {
        "roomId": room.pk,
        "userId": alice.pk,
        "username": alice.username,
        "displayName": alice.display_name,
    }
    ok(await a1.emit("typing-start", {"roomId": room.pk}))  # still typing: no new broadcast
    assert await b.wait_for("user-stopped-typing") == {
        "roomId": room.pk,
        "userId": alice.pk,
    }
    assert time.monotonic() - started >= TIMEOUT  # after the last start's deadline
    assert len(b.received("user-typing")) == 1
    # Neither the typist's own devices nor non-members hear of it.
    for other in (a1, a2, c):
        assert other.received("user-typing") == []
        assert other.received("user-stopped-typing") == []


async def test_typing_stop_sent_message_and_disconnect_end_typing_at_once(
    sockets: SocketHarness,
    make_user: MakeUser,
    make_room: MakeRoom,
    banter_settings: OverrideBanter,
) -> None:
    banter_settings(TYPING_TIMEOUT=30.0)  # so only the explicit ends can explain a stop
    alice, bob = await make_user(), await make_user()
    room = await make_room(alice, [bob])
    a, b = await sockets.connect(alice), await sockets.connect(bob)

    ok(await b.emit("typing-start", room.pk))
    await a.wait_for("user-typing")
    assert ok(await b.emit("typing-stop", room.pk)) == {}
    assert await a.wait_for("user-stopped-typing") == {"roomId": room.pk, "userId": bob.pk}

    ok(await b.emit("typing-start", room.pk))
    await a.wait_for("user-typing", skip=1)
    ok(await b.emit("send-message", {"roomId": room.pk, "content": "done typing"}))
    await a.wait_for("user-stopped-typing", skip=1)

    ok(await b.emit("typing-start", room.pk))
    await a.wait_for("user-typing", skip=2)
    await b.disconnect()
    await a.wait_for("user-stopped-typing", skip=2)
    await settle()
    assert len(a.received("user-stopped-typing")) == 3


async def test_typing_in_a_room_of_others_is_refused(
    sockets: SocketHarness, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice, mallory = await make_user(), await make_user()
    room = await make_room(alice, [])
    a, m = await sockets.connect(alice), await sockets.connect(mallory)
    assert error_code(await m.emit("typing-start", room.pk)) == "forbidden"
    assert error_code(await m.emit("typing-start", "abc")) == "validation_error"
    assert ok(await m.emit("typing-stop", room.pk)) == {}  # clearing one's own mark is harmless
    await settle()
    assert a.received("user-typing") == [] and a.received("user-stopped-typing") == []
