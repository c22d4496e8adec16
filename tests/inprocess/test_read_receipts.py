"""Read receipts over the socket, in process: forward only, bursts coalesced."""

from __future__ import annotations

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

INTERVAL = 0.5  # READ_COALESCE_INTERVAL for these tests (1 s in production)


@pytest.fixture(autouse=True)
def _short_coalescing(banter_settings: OverrideBanter) -> None:
    banter_settings(READ_COALESCE_INTERVAL=INTERVAL)


async def test_read_positions_move_forward_only_and_bursts_coalesce(
    sockets: SocketHarness, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice, bob = await make_user(), await make_user()
    room = await make_room(alice, [bob])
    a, b = await sockets.connect(alice), await sockets.connect(bob)
    messages = [
        ok(await a.emit("send-message", {"roomId": room.pk, "content": f"m{i}"}))
        for i in range(1, 6)
    ]

    first = ok(await b.emit("mark-read", {"roomId": room.pk, "messageId": messages[2]["id"]}))
    assert first["roomId"] == room.pk and first["readAt"]
    assert (first["messageId"], first["seq"]) == (messages[2]["id"], 3)
    assert await a.wait_for("message-read") == {
        "roomId": room.pk,
        "messageId": messages[2]["id"],
        "userId": bob.pk,
        "readAt": first["readAt"],
        "seq": 3,
    }
    behind = ok(await b.emit("mark-read", {"roomId": room.pk, "messageId": messages[0]["id"]}))
    assert behind["seq"] == 3  # never backwards

    # A burst within the interval: acked at once, one more write, the furthest wins.
    acks = [
        ok(await b.emit("mark-read", {"roomId": room.pk, "messageId": message["id"]}))
        for message in (messages[3], messages[4], messages[1])
    ]
    assert [ack["seq"] for ack in acks] == [4, 5, 5]
    final = await a.wait_for("message-read", skip=1)
    assert (final["messageId"], final["seq"], final["userId"]) == (messages[4]["id"], 5, bob.pk)
    await settle(INTERVAL * 1.5)
    assert len(a.received("message-read")) == 2

    joined = ok(await b.emit("join-room", room.pk))
    assert joined["room"]["unreadCount"] == 0


async def test_mark_read_refuses_foreign_messages_and_rooms(
    sockets: SocketHarness, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice, mallory = await make_user(), await make_user()
    room = await make_room(alice, [])
    a, m = await sockets.connect(alice), await sockets.connect(mallory)
    sent = ok(await a.emit("send-message", {"roomId": room.pk, "content": "mine"}))
    assert error_code(await a.emit("mark-read", {"roomId": room.pk, "messageId": 10**12})) == (
        "validation_error"
    )
    assert error_code(await a.emit("mark-read", [room.pk, sent["id"]])) == "validation_error"
    assert error_code(await m.emit("mark-read", {"roomId": room.pk, "messageId": sent["id"]})) == (
        "forbidden"
    )
    await settle()
    assert a.received("message-read") == []
