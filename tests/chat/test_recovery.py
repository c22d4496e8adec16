"""The room event log behind recovery: what is replayed, to whom, and within which limits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.utils import timezone

from chat import recovery
from chat.models import RoomEvent
from chat.services import message_delete, message_send, room_create


@pytest.fixture
def room(user_factory: Any) -> Any:
    alice, bob = user_factory(), user_factory()
    return room_create(creator=alice, name="r", member_ids=[bob.pk]), alice, bob


def _decoded(frames: list[tuple[int, str]]) -> list[list[Any]]:
    return [orjson.loads(frame[2:]) for _, frame in frames]


def test_sends_and_deletes_are_recorded_and_replayed_in_order(room: Any) -> None:
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
    settings.BANTER = {**settings.BANTER, "RECOVERY_MAX_EVENTS": 2}
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
