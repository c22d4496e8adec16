"""The room event log behind recovery: what is replayed, to whom, and within which limits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.utils import timezone

from chat import payloads, recovery
from chat.models import Message, RoomEvent
from chat.reactions import reaction_add, reaction_remove
from chat.services import (
    member_add,
    message_delete,
    message_edit,
    message_send,
    room_create,
    room_leave,
)


@pytest.fixture
def room(user_factory: Any) -> Any:
    alice, bob = user_factory(), user_factory()
    return room_create(creator=alice, name="r", member_ids=[bob.pk]), alice, bob


def _decoded(frames: list[tuple[int, str]]) -> list[list[Any]]:
    return [orjson.loads(frame[2:]) for _, frame in frames]


def test_sends_and_deletes_are_recorded_and_replayed_in_order(room: Any, settings: Any) -> None:
    settings.BANTER = {**settings.BANTER, "RECOVERY_LOOKBACK": 0}
    room_obj, alice, bob = room
    start = recovery._high_water()
    first, _ = message_send(sender=alice, room_id=room_obj.pk, content="one")
    message_send(sender=alice, room_id=room_obj.pk, content="two")
    message_delete(user=alice, message_id=first.pk)
    frames = recovery._missed(bob.pk, start)
    assert frames is not None
    events = _decoded(frames)
    assert [e[0] for e in events] == ["message-received", "message-received", "message-deleted"]
    assert [e[1]["seq"] for e in events] == [1, 2, 1]
    assert [e[2] for e in events] == [str(offset) for offset, _ in frames]  # the offset
    assert [offset for offset, _ in frames] == sorted(offset for offset, _ in frames)
    assert recovery._missed(bob.pk, frames[1][0]) == frames[2:]


def test_only_rooms_the_user_is_in(room: Any, user_factory: Any) -> None:
    room_obj, alice, _ = room
    outsider = user_factory()
    start = recovery._high_water()
    message_send(sender=alice, room_id=room_obj.pk, content="private")
    assert recovery._missed(outsider.pk, start) == []


def test_cap_and_window(room: Any, settings: Any) -> None:
    room_obj, alice, bob = room
    settings.BANTER = {**settings.BANTER, "RECOVERY_MAX_EVENTS": 2, "RECOVERY_LOOKBACK": 0}
    start = recovery._high_water()
    for text in ("a", "b", "c"):
        message_send(sender=alice, room_id=room_obj.pk, content=text)
    assert recovery._missed(bob.pk, start) is None  # 3 > cap
    newest = recovery._high_water()
    assert recovery._missed(bob.pk, newest - 2) is not None
    # An offset older than the window may have a pruned hole before it: not recoverable.
    RoomEvent.objects.filter(pk=newest - 2).update(created_at=timezone.now() - timedelta(days=2))
    assert recovery._missed(bob.pk, newest - 2) is None
    assert recovery.prune_room_events() == 1


def test_lookback_replays_what_was_recorded_just_before_the_offset(
    room: Any, settings: Any
) -> None:
    # An event with a smaller id may still have been in flight (a slower instance published
    # it) when the client got the one it reconnects with.
    settings.BANTER = {**settings.BANTER, "RECOVERY_LOOKBACK": 1.0}
    room_obj, alice, bob = room
    start = recovery._high_water()
    for text in ("a", "b", "c"):
        message_send(sender=alice, room_id=room_obj.pk, content=text)
    a, b, c = RoomEvent.objects.filter(pk__gt=start).order_by("pk").values_list("pk", flat=True)
    frames = recovery._missed(bob.pk, b)
    assert frames is not None
    assert [offset for offset, _ in frames] == [a, c]
    RoomEvent.objects.filter(pk=a).update(created_at=timezone.now() - timedelta(seconds=5))
    frames = recovery._missed(bob.pk, b)
    assert frames is not None and [offset for offset, _ in frames] == [c]


def test_missed_in_sequence_reads_a_rooms_messages_by_seq(room: Any, user_factory: Any) -> None:
    room_obj, alice, bob = room
    other = room_create(creator=alice, name="other", member_ids=[bob.pk])
    start = recovery._high_water()
    sent = []
    for text in ("1", "2", "3", "4", "5"):
        message, _ = message_send(sender=alice, room_id=room_obj.pk, content=text)
        sent.append(message)
        message_send(sender=alice, room_id=other.pk, content="elsewhere")
    message_delete(user=alice, message_id=sent[0].pk)  # not a sequenced event
    offsets = dict(
        RoomEvent.objects.filter(room_id=room_obj.pk, event="message-received").values_list(
            "payload__seq", "pk"
        )
    )
    assert min(offsets.values()) > start
    rows = recovery._missed_in_sequence(room_obj.pk, offsets[1], 2, 4)
    assert [(offset, seq) for offset, seq, _ in rows] == [(offsets[2], 2), (offsets[3], 3)]
    event, payload, offset = orjson.loads(rows[0][2][2:])
    assert event == "message-received" and payload["content"] == "2"
    assert offset == str(offsets[2])
    rows = recovery._missed_in_sequence(room_obj.pk, offsets[3], 4, None)
    assert [seq for _, seq, _ in rows] == [4, 5]
    assert recovery._missed_in_sequence(room_obj.pk, offsets[5], 6, None) == []


def _everything_replayable(room_id: int, user_id: int, start: int) -> str:
    """Every way a stored event reaches a client again, as one string to search: recovery,
    the gap replay and the sequencer's fill."""
    frames = recovery._missed(user_id, start)
    assert frames is not None
    since = recovery._missed_since([room_id], timezone.now() - timedelta(minutes=5))
    filled = recovery._missed_in_sequence(room_id, start, 1, None)
    return "\n".join(
        [frame for _, frame in frames]
        + [frame for _, _, frame in since]
        + [frame for _, _, frame in filled]
    )


def _replayed_payloads(frames: list[tuple[int, str]] | None, event: str) -> list[Any]:
    assert frames is not None
    return [payload for name, payload, _ in _decoded(frames) if name == event]


def test_a_deleted_message_is_replayed_blank(room: Any) -> None:
    room_obj, alice, bob = room
    start = recovery._high_water()
    secret, _ = message_send(sender=alice, room_id=room_obj.pk, content="the secret")
    message_edit(user=alice, message_id=secret.pk, content="the edited secret")
    message_send(sender=alice, room_id=room_obj.pk, content="kept")
    message_delete(user=alice, message_id=secret.pk)

    assert "secret" not in _everything_replayable(room_obj.pk, bob.pk, start)
    # The message-received record shows what REST shows now: blank, with deletedAt.
    current = Message.objects.select_related("sender").get(pk=secret.pk)
    received = _replayed_payloads(recovery._missed(bob.pk, start), "message-received")
    assert received[0] == payloads.message_payload(current)
    assert received[0]["content"] == "" and received[0]["deletedAt"] is not None
    assert received[1]["content"] == "kept"
    edited = _replayed_payloads(recovery._missed(bob.pk, start), "message-edited")
    assert [payload["content"] for payload in edited] == [""]


def test_an_edited_message_is_replayed_with_its_current_content(room: Any) -> None:
    room_obj, alice, bob = room
    start = recovery._high_water()
    message, _ = message_send(sender=alice, room_id=room_obj.pk, content="first draft")
    message_edit(user=alice, message_id=message.pk, content="second draft")
    message_edit(user=alice, message_id=message.pk, content="final")

    replayable = _everything_replayable(room_obj.pk, bob.pk, start)
    assert "draft" not in replayable and "final" in replayable
    current = Message.objects.select_related("sender").get(pk=message.pk)
    frames = recovery._missed(bob.pk, start)
    assert _replayed_payloads(frames, "message-received") == [payloads.message_payload(current)]
    assert (
        _replayed_payloads(frames, "message-edited")
        == [payloads.message_edited_payload(current)] * 2
    )


def test_a_message_deleted_outright_is_replayed_blank(room: Any) -> None:
    # The admin, a shell, or its sender's account deleted with it (chat/signals.py).
    room_obj, alice, bob = room
    start = recovery._high_water()
    message, _ = message_send(sender=alice, room_id=room_obj.pk, content="gone for good")
    message_edit(user=alice, message_id=message.pk, content="gone for good, edited")
    Message.objects.filter(pk=message.pk).delete()
    assert "gone" not in _everything_replayable(room_obj.pk, bob.pk, start)
    received = _replayed_payloads(recovery._missed(bob.pk, start), "message-received")
    assert received[0]["deletedAt"] is not None


def test_events_from_before_the_user_joined_are_not_replayed(room: Any, user_factory: Any) -> None:
    room_obj, alice, _ = room
    newcomer = user_factory()
    start = recovery._high_water()
    message_send(sender=alice, room_id=room_obj.pk, content="before you came")
    member_add(actor=alice, room_id=room_obj.pk, user_id=newcomer.pk)
    message_send(sender=alice, room_id=room_obj.pk, content="welcome")
    frames = recovery._missed(newcomer.pk, start)
    assert [p["content"] for p in _replayed_payloads(frames, "message-received")] == ["welcome"]

    # Nor what was said while they were away (leaving ends the membership).
    room_leave(user=newcomer, room_id=room_obj.pk)
    message_send(sender=alice, room_id=room_obj.pk, content="while you were out")
    member_add(actor=alice, room_id=room_obj.pk, user_id=newcomer.pk)
    message_send(sender=alice, room_id=room_obj.pk, content="welcome back")
    frames = recovery._missed(newcomer.pk, start)
    assert [p["content"] for p in _replayed_payloads(frames, "message-received")] == [
        "welcome back"
    ]


def test_joined_at_is_per_room(room: Any, user_factory: Any) -> None:
    # An early membership in one room does not open another room's earlier history.
    room_obj, alice, bob = room
    later = room_create(creator=alice, name="later")
    start = recovery._high_water()
    message_send(sender=alice, room_id=later.pk, content="before bob")
    member_add(actor=alice, room_id=later.pk, user_id=bob.pk)
    message_send(sender=alice, room_id=room_obj.pk, content="old room")
    frames = recovery._missed(bob.pk, start)
    assert [p["content"] for p in _replayed_payloads(frames, "message-received")] == ["old room"]


def test_reactions_are_replayed_after_their_message_in_order(room: Any, settings: Any) -> None:
    settings.BANTER = {**settings.BANTER, "RECOVERY_LOOKBACK": 0}
    room_obj, alice, bob = room
    start = recovery._high_water()
    message, _ = message_send(sender=alice, room_id=room_obj.pk, content="vote")
    reaction_add(user=bob, message_id=message.pk, emoji="👍")
    reaction_add(user=alice, message_id=message.pk, emoji="👍")
    reaction_remove(user=bob, message_id=message.pk, emoji="👍")

    events = _decoded(recovery._missed(bob.pk, start) or [])
    assert [e[0] for e in events] == ["message-received"] + ["message-reaction"] * 3
    # The message as announced (no reactions); the events carry the absolute counts.
    assert events[0][1]["reactions"] == []
    assert [(e[1]["userId"], e[1]["count"], e[1]["added"]) for e in events[1:]] == [
        (bob.pk, 1, True),
        (alice.pk, 2, True),
        (bob.pk, 1, False),
    ]
