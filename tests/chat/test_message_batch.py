"""Group commit (chat/message_batch.py): a batch gives each send what message_send gives it,
in a fixed number of queries, with gapless seqs and broadcasts in seq order after commit."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from banter.accounts.models import User
from banter.core.errors import BanterError, ErrorCode
from banter.realtime.broadcast import capture_broadcasts, room_group
from chat import message_batch, services
from chat.message_batch import SendRequest, message_send_batch
from chat.models import Message, Room, RoomEvent

pytestmark = pytest.mark.django_db


def error_code(result: Any) -> ErrorCode:
    assert isinstance(result, BanterError), result
    return result.code


@pytest.fixture
def second_room(owner: User, member: User) -> Room:
    return services.room_create(creator=owner, name="Second", member_ids=[member.pk])


def test_each_send_gets_what_message_send_would(
    room: Room, second_room: Room, owner: User, member: User, outsider: User
) -> None:
    stored, _ = services.message_send(sender=member, room_id=room.pk, content="x", client_id="old")
    requests = [
        SendRequest(sender=member, room_id=room.pk, content="one", client_id="a"),
        SendRequest(sender=owner, room_id=second_room.pk, content="two"),
        SendRequest(sender=outsider, room_id=room.pk, content="not a member"),
        SendRequest(sender=member, room_id=10**9, content="no such room"),
        SendRequest(sender=member, room_id=room.pk, content=""),
        SendRequest(sender=member, room_id=room.pk, content="bad reply", reply_to_id=10**9),
        SendRequest(sender=member, room_id=room.pk, content="retry", client_id="old"),
        SendRequest(sender=member, room_id=second_room.pk, content="elsewhere", client_id="old"),
        SendRequest(sender=member, room_id=room.pk, content="three", reply_to_id=stored.pk),
        SendRequest(sender=member, room_id=room.pk, content="one again", client_id="a"),
        SendRequest(sender=member, room_id=second_room.pk, content="four", message_type="file"),
    ]
    with capture_broadcasts() as sent:
        results = message_send_batch(requests)

    assert error_code(results[2]) == ErrorCode.FORBIDDEN
    assert error_code(results[3]) == ErrorCode.NOT_FOUND
    assert error_code(results[4]) == ErrorCode.VALIDATION_ERROR
    assert error_code(results[5]) == ErrorCode.VALIDATION_ERROR
    assert error_code(results[7]) == ErrorCode.CONFLICT
    assert results[6] == (stored, False)
    created = [results[i] for i in (0, 1, 8, 10)]
    assert all(isinstance(r, tuple) and r[1] for r in created)
    first = created[0]
    assert isinstance(first, tuple)
    assert results[9] == (first[0], False)  # the batch's own retry

    # Gapless per room, in the batch's order.
    assert list(
        Message.objects.filter(room=room).order_by("seq").values_list("content", "seq")
    ) == [("x", 1), ("one", 2), ("three", 3)]
    assert list(
        Message.objects.filter(room=second_room).order_by("seq").values_list("content", "seq")
    ) == [("two", 1), ("four", 2)]
    assert Room.objects.get(pk=room.pk).last_seq == 3
    # Broadcast after commit, in the batch's order.
    received = [b for b in sent if b.event == "message-received"]
    assert [(b.group, b.args[0]["content"]) for b in received] == [
        (room_group(room.pk), "one"),
        (room_group(second_room.pk), "two"),
        (room_group(room.pk), "three"),
        (room_group(second_room.pk), "four"),
    ]
    # Recorded in the batch's order (their ids are the recovery offsets).
    recorded = RoomEvent.objects.filter(event="message-received").order_by("pk")
    assert [event.payload["content"] for event in recorded] == ["x", "one", "two", "three", "four"]


def test_a_batch_costs_the_same_queries_however_many_sends(
    room: Room, second_room: Room, member: User, django_assert_max_num_queries: Any
) -> None:
    requests = [
        SendRequest(
            sender=member,
            room_id=(room.pk, second_room.pk)[i % 2],
            content=f"m{i}",
            client_id=f"c{i}",
        )
        for i in range(100)
    ]
    # Savepoint, memberships, stored clientIds, seqs, messages (two INSERTs on SQLite, at its
    # bound-variable limit), room events, the members' push devices, release: 9, not 7 per
    # send. PostgreSQL: savepoint, the reads with the ids and the push devices, the locking
    # seq update, both inserts, release: 5 (the test's transaction makes the batch's
    # transaction a savepoint).
    with django_assert_max_num_queries(5 if connection.vendor == "postgresql" else 9):
        results = message_send_batch(requests)
    assert all(isinstance(r, tuple) and r[1] for r in results)
    assert Message.objects.count() == 100


def test_a_clash_at_insert_falls_back_to_one_send_at_a_time(
    room: Room, member: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As when another process stores the same clientId between the batch's lookup and its
    # insert: the unique constraint fails the batch, and each send is retried alone.
    stored, _ = services.message_send(sender=member, room_id=room.pk, content="x", client_id="k")
    monkeypatch.setattr(
        message_batch, "_new_client_ids", lambda pending, snapshot, results: pending
    )
    with capture_broadcasts() as sent:
        results = message_send_batch(
            [
                SendRequest(sender=member, room_id=room.pk, content="fresh"),
                SendRequest(sender=member, room_id=room.pk, content="retry", client_id="k"),
            ]
        )
    assert results[1] == (stored, False)
    fresh = results[0]
    assert isinstance(fresh, tuple) and fresh[1] and fresh[0].seq == 2
    assert [b.args[0]["content"] for b in sent if b.event == "message-received"] == ["fresh"]
    assert Room.objects.get(pk=room.pk).last_seq == 2
