"""Group commit over the socket (chat/message_writer.py): concurrent sends share
transactions, and each still gets its own ack, after the commit, with gapless seqs that every
member receives in order. One send's bad input fails only that send."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator

from banter.accounts.tokens import token_pair_for_user
from banter.asgi import application
from chat import message_writer
from tests.socket_harness import MakeRoom, MakeUser, SocketHarness, error_code, ok, settle


async def test_concurrent_sends_are_written_together_and_delivered_in_seq_order(
    sockets: SocketHarness,
    make_user: MakeUser,
    make_room: MakeRoom,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    settings.BANTER = {
        **settings.BANTER,
        "RATE_LIMITS": {**settings.BANTER["RATE_LIMITS"], "message": "1000/60/1000"},
    }
    batches: list[int] = []
    write = message_writer.message_send_batch

    def counted(requests: list[Any]) -> Any:
        batches.append(len(requests))
        return write(requests)

    monkeypatch.setattr(message_writer, "message_send_batch", counted)
    alice, bob, carol = await make_user(), await make_user(), await make_user()
    room = await make_room(alice, [bob, carol])
    senders = [await sockets.connect(user) for user in (alice, bob, alice, bob)]
    listener = await sockets.connect(carol)

    acks = await asyncio.gather(
        *(
            senders[i % 4].emit("send-message", {"roomId": room.pk, "content": f"m{i}"})
            for i in range(40)
        ),
        senders[0].emit("send-message", {"roomId": room.pk, "content": ""}),  # refused alone
    )

    assert error_code(acks[-1]) == "validation_error"
    sent = [ok(ack) for ack in acks[:-1]]
    assert sorted(message["seq"] for message in sent) == list(range(1, 41))
    # Each socket's sends got seqs in the order it sent them.
    for socket_index in range(4):
        mine = [m for i, m in enumerate(sent) if i % 4 == socket_index]
        assert [m["seq"] for m in mine] == sorted(m["seq"] for m in mine)
    assert sum(batches) == 41 and len(batches) < 41  # shared transactions
    await settle()
    delivered = listener.received("message-received")
    assert [m["seq"] for m in delivered] == list(range(1, 41))
    assert {m["id"] for m in delivered} == {m["id"] for m in sent}


async def test_a_rest_send_goes_through_the_same_writer(
    sockets: SocketHarness,
    make_user: MakeUser,
    make_room: MakeRoom,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under ASGI a REST view runs in a worker thread of the request's event loop: its send
    is queued on that loop's writer (with the sockets' sends) and broadcast by it."""
    batches: list[list[str]] = []
    write = message_writer.message_send_batch

    def recorded(requests: list[Any]) -> Any:
        batches.append([request.content for request in requests])
        return write(requests)

    monkeypatch.setattr(message_writer, "message_send_batch", recorded)
    alice, bob = await make_user(), await make_user()
    room = await make_room(alice, [bob])
    listener = await sockets.connect(bob)
    token = (await sync_to_async(token_pair_for_user)(alice)).access

    body = json.dumps({"content": "over REST", "clientId": "rest-1"}).encode()
    response = await HttpCommunicator(
        application,
        "POST",
        f"/api/rooms/{room.pk}/messages",
        body=body,
        headers=[
            (b"content-length", str(len(body)).encode()),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"host", b"testserver"),
        ],
    ).get_response(timeout=10)

    assert response["status"] == 201, response["body"]
    assert json.loads(response["body"])["seq"] == 1
    assert batches == [["over REST"]]
    await settle()
    assert [m["content"] for m in listener.received("message-received")] == ["over REST"]
