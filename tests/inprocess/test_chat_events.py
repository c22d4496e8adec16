"""Chat over the socket, in process: join, send (with clientId retries), edit, delete, leave.

Black-box: only events, acks and their payloads, as a client sees them.
"""

from __future__ import annotations

import uuid

from tests.socket_harness import (
    MakeRoom,
    MakeUser,
    SocketHarness,
    error_code,
    ok,
    settle,
)


async def test_send_message_acks_and_reaches_every_member_device_once(
    sockets: SocketHarness, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice, bob, carol = await make_user(), await make_user(), await make_user()
    team = await make_room(alice, [bob])
    a1, a2 = await sockets.connect(alice), await sockets.connect(alice)
    b, c = await sockets.connect(bob), await sockets.connect(carol)

    sent = ok(await a1.emit("send-message", {"roomId": team.pk, "content": " hi bob \x07"}))
    assert sent["content"] == "hi bob"  # trimmed, control character removed
    assert (sent["roomId"], sent["seq"], sent["user"]["id"]) == (team.pk, 1, alice.pk)
    assert await b.wait_for("message-received") == sent
    assert await a2.wait_for("message-received") == sent  # the sender's other device
    assert await a1.wait_for("message-received") == sent
    # Recoverable: the last argument is the event's offset, a string.
    offset = (await b.wait_for_args("message-received"))[-1]
    assert isinstance(offset, str) and offset.isdigit()

    second = ok(await a1.emit("send-message", {"roomId": team.pk, "content": "again"}))
    assert second["seq"] == 2
    assert (await b.wait_for("message-received", skip=1))["id"] == second["id"]
    await settle()
    assert c.received("message-received") == []  # not a member
    assert len(b.received("message-received")) == 2


async def test_repeated_client_id_stores_and_broadcasts_once(
    sockets: SocketHarness, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice, bob = await make_user(), await make_user()
    room = await make_room(alice, [bob])
    a, b = await sockets.connect(alice), await sockets.connect(bob)
    payload = {"roomId": room.pk, "content": "once", "clientId": f"c-{uuid.uuid4()}"}

    first = ok(await a.emit("send-message", payload))
    retry = ok(await a.emit("send-message", payload))
    assert retry == first
    assert first["clientId"] == payload["clientId"]
    after = ok(await a.emit("send-message", {"roomId": room.pk, "content": "next"}))
    assert after["seq"] == first["seq"] + 1
    # Room events arrive in order: once "next" is here, a duplicate would have been too.
    await b.wait_for("message-received", skip=1)
    assert [m["id"] for m in b.received("message-received")] == [first["id"], after["id"]]


async def test_send_message_validation_and_membership_errors(
    sockets: SocketHarness, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice, bob, mallory = await make_user(), await make_user(), await make_user()
    room = await make_room(alice, [bob])
    a, m = await sockets.connect(alice), await sockets.connect(mallory)
    for payload in (
        {"roomId": room.pk, "content": "   "},
        {"roomId": room.pk, "content": "x" * 4001},
        {"roomId": room.pk, "content": "hi", "messageType": "system"},
        {"roomId": "1", "content": "hi"},
        "not an object",
    ):
        assert error_code(await a.emit("send-message", payload)) == "validation_error", payload
    assert error_code(await m.emit("send-message", {"roomId": room.pk, "content": "hi"})) == (
        "forbidden"
    )
    assert ok(await a.emit("send-message", {"roomId": room.pk, "content": "ok"}))["seq"] == 1


async def test_edit_and_delete_are_acked_and_broadcast(
    sockets: SocketHarness, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice, bob = await make_user(), await make_user()
    room = await make_room(alice, [bob])
    a, b = await sockets.connect(alice), await sockets.connect(bob)
    sent = ok(await a.emit("send-message", {"roomId": room.pk, "content": "hi bob"}))

    edited = ok(await a.emit("edit-message", {"messageId": sent["id"], "content": "hi Bob"}))
    assert edited["content"] == "hi Bob" and edited["editedAt"]
    assert await b.wait_for("message-edited") == {
        "messageId": sent["id"],
        "roomId": room.pk,
        "content": "hi Bob",
        "editedAt": edited["editedAt"],
        "seq": 1,
    }
    assert error_code(
        await b.emit("edit-message", {"messageId": sent["id"], "content": "mine now"})
    ) == ("forbidden")
    assert error_code(await b.emit("delete-message", {"messageId": sent["id"]})) == "forbidden"

    deleted = {"messageId": sent["id"], "roomId": room.pk, "seq": 1}
    assert ok(await a.emit("delete-message", {"messageId": sent["id"]})) == deleted
    assert await b.wait_for("message-deleted") == deleted
    assert error_code(
        await a.emit("edit-message", {"messageId": sent["id"], "content": "undo"})
    ) == ("conflict")


async def test_join_room_returns_live_state_and_leave_announces(
    sockets: SocketHarness, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice, bob, carol = await make_user(), await make_user(), await make_user()
    public = await make_room(alice, [bob], name="open", is_public=True)
    a, b = await sockets.connect(alice), await sockets.connect(bob)
    ok(await b.emit("typing-start", public.pk))
    await a.wait_for("user-typing")

    c = await sockets.connect(carol)
    joined = ok(await c.emit("join-room", public.pk))
    assert joined["roomId"] == public.pk and joined["room"]["id"] == public.pk
    assert joined["room"]["role"] == "member" and joined["room"]["isPublic"] is True
    assert {m["id"] for m in joined["room"]["members"]} == {alice.pk, bob.pk, carol.pk}
    online = {entry["userId"]: entry["status"] for entry in joined["onlineUsers"]}
    assert online == {alice.pk: "online", bob.pk: "online", carol.pk: "online"}
    assert joined["typingUsers"] == [bob.pk]
    assert await c.wait_for("room-joined") == joined
    announced = await a.wait_for("user-joined-room")
    assert announced["roomId"] == public.pk and announced["user"]["id"] == carol.pk

    # The joining socket is subscribed at once.
    welcome = ok(await a.emit("send-message", {"roomId": public.pk, "content": "welcome"}))
    assert (await c.wait_for("message-received"))["id"] == welcome["id"]

    assert ok(await c.emit("leave-room", {"roomId": public.pk})) == {"roomId": public.pk}
    assert await a.wait_for("user-left-room") == {"roomId": public.pk, "userId": carol.pk}
    gone = ok(await a.emit("send-message", {"roomId": public.pk, "content": "gone?"}))
    assert (await b.wait_for("message-received", skip=1))["id"] == gone["id"]
    await settle()
    assert [m["id"] for m in c.received("message-received")] == [welcome["id"]]
    assert error_code(await c.emit("send-message", {"roomId": public.pk, "content": "x"})) == (
        "forbidden"
    )


async def test_join_room_refuses_private_and_unknown_rooms(
    sockets: SocketHarness, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice, mallory = await make_user(), await make_user()
    private = await make_room(alice, [], name="secret")
    m = await sockets.connect(mallory)
    assert error_code(await m.emit("join-room", private.pk)) == "forbidden"
    assert error_code(await m.emit("join-room", 10**9)) == "not_found"
    assert error_code(await m.emit("join-room", "abc")) == "validation_error"
    assert m.received("room-joined") == []


async def test_reactions_reach_the_room_and_refusals_have_codes(
    sockets: SocketHarness, make_user: MakeUser, make_room: MakeRoom
) -> None:
    alice, bob, carol = await make_user(), await make_user(), await make_user()
    team = await make_room(alice, [bob])
    a, b, c = await sockets.connect(alice), await sockets.connect(bob), await sockets.connect(carol)
    sent = ok(await a.emit("send-message", {"roomId": team.pk, "content": "vote"}))
    assert sent["reactions"] == []

    added = ok(await b.emit("react", {"messageId": sent["id"], "emoji": "👍🏽"}))
    expected = {
        "messageId": sent["id"],
        "roomId": team.pk,
        "emoji": "👍🏽",
        "userId": bob.pk,
        "count": 1,
        "added": True,
    }
    assert added == expected
    assert await a.wait_for("message-reaction") == expected
    # Recoverable: the event's last argument is its offset.
    offset = (await a.wait_for_args("message-reaction"))[-1]
    assert isinstance(offset, str) and offset.isdigit()

    # Again: the same state, nothing announced.
    assert ok(await b.emit("react", {"messageId": sent["id"], "emoji": "👍🏽"})) == expected
    removed = ok(await b.emit("unreact", {"messageId": sent["id"], "emoji": "👍🏽"}))
    assert (removed["count"], removed["added"]) == (0, False)
    assert (await a.wait_for("message-reaction", skip=1))["added"] is False

    bad = await b.emit("react", {"messageId": sent["id"], "emoji": "lol"})
    assert error_code(bad) == "validation_error"
    outsider = await c.emit("react", {"messageId": sent["id"], "emoji": "👍"})
    assert error_code(outsider) == "forbidden"
    await settle()
    assert c.received("message-reaction") == []
    assert len(a.received("message-reaction")) == 2
