"""Chat fixtures: a group room with an owner, an admin and a member, plus an outsider."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from banter.accounts.models import User
from chat import services
from chat.models import Membership, Message, Room

UserFactory = Callable[..., User]


@pytest.fixture
def owner(user_factory: UserFactory) -> User:
    return user_factory(username="owner")


@pytest.fixture
def admin(user_factory: UserFactory) -> User:
    return user_factory(username="admin")


@pytest.fixture
def member(user_factory: UserFactory) -> User:
    return user_factory(username="member")


@pytest.fixture
def outsider(user_factory: UserFactory) -> User:
    return user_factory(username="outsider")


@pytest.fixture
def room(owner: User, admin: User, member: User) -> Room:
    """A private group room: owner (owner), admin (admin), member (member)."""
    room = services.room_create(creator=owner, name="Team", member_ids=[admin.pk, member.pk])
    Membership.objects.filter(room=room, user=admin).update(role=Membership.Role.ADMIN)
    return room


SendMessage = Callable[..., Message]


@pytest.fixture
def send() -> SendMessage:
    """`send(user, room, content="hi", **options)`: message_send returning the message."""

    def send_message(user: User, room: Room, content: str = "hi", **options: Any) -> Message:
        message, _ = services.message_send(sender=user, room_id=room.pk, content=content, **options)
        return message

    return send_message


Published = list[dict[str, Any]]


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Published:
    """Every message handed to the hub (frames and controls such as "unsubscribe" or
    "revoke"), recorded instead of published. Callbacks run on commit only inside
    capture_broadcasts()."""
    from banter.realtime import hub

    sent: Published = []
    monkeypatch.setattr(hub, "publish", lambda group, message: sent.append(message))
    return sent
