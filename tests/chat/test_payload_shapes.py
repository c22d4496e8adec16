"""chat/payloads.py builds what the REST output serializers document and what its TypedDicts
declare: the three kept in step, like the calls, notifications and accounts payloads."""

from __future__ import annotations

from typing import Any

from banter.accounts.models import User
from chat import payloads, selectors, serializers
from chat.models import Membership, Room
from tests.chat.conftest import SendMessage


def _declared(typed_dict: Any) -> set[str]:
    return set(typed_dict.__required_keys__ | typed_dict.__optional_keys__)


def test_message_payload(owner: User, room: Room, send: SendMessage) -> None:
    built = payloads.message_payload(send(owner, room))
    assert set(built) == set(serializers.MessageOutputSerializer().fields)
    assert set(built) == _declared(payloads.MessagePayload)


def test_room_payload_with_and_without_members(owner: User, room: Room) -> None:
    documented = set(serializers.RoomOutputSerializer().fields)
    with_members = payloads.room_payload(selectors.room_get_for_member(owner, room.pk))
    assert "members" in with_members
    assert set(with_members) == documented == _declared(payloads.RoomPayload)
    listed = selectors.room_list_for_user(owner)[0]
    without_members = payloads.room_payload(listed)
    assert "members" not in without_members
    assert set(without_members) == documented - {"members"}
    assert set(without_members) == set(payloads.RoomPayload.__required_keys__)


def test_member_payload(owner: User, room: Room) -> None:
    built = payloads.member_payload(Membership.objects.get(room=room, user=owner))
    assert set(built) == set(serializers.MemberOutputSerializer().fields)
    assert set(built) == _declared(payloads.MemberPayload)


def test_read_position_payload(owner: User, room: Room, send: SendMessage) -> None:
    membership = Membership.objects.get(room=room, user=owner)
    membership.last_read_message = send(owner, room)
    built = payloads.message_read_payload(membership)
    assert set(built) == set(serializers.ReadPositionOutputSerializer().fields)
    assert set(built) == _declared(payloads.MessageReadPayload)
