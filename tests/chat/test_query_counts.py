"""Query counts of the hot chat services, pinned: a new query on the message path shows here.

The counts include the services' savepoints (each test runs inside a transaction, and
@transaction.atomic nests as a savepoint). Measured the same on SQLite, the default test
database, and on PostgreSQL (DATABASE_URL), so one number holds for both.
"""

from __future__ import annotations

from typing import Any

import pytest

from banter.accounts.models import User
from chat import services
from chat.models import Room

pytestmark = pytest.mark.django_db

# Savepoint, membership check, seq savepoint, seq bump, insert, release, room event, the
# members' push devices (push/outbox.py), release.
SEND = 9
# The above up to the insert, which clashes: rollback, release, the stored message, release.
SEND_RETRY = 9
# Savepoint, room, membership, release.
JOIN_AS_MEMBER = 4
# Savepoint, room, membership (none), get_or_create's get, savepoint, insert, release x2.
JOIN_PUBLIC = 8
# Savepoint, membership, message, conditional update, room event (moved) or re-read
# (behind), release.
MARK_READ = 6


class TestMessageSend:
    def test_a_new_message(self, room: Room, member: User, django_assert_num_queries: Any) -> None:
        with django_assert_num_queries(SEND):
            services.message_send(sender=member, room_id=room.pk, content="hi", client_id="c-1")

    def test_a_retried_client_id(
        self, room: Room, member: User, django_assert_num_queries: Any
    ) -> None:
        services.message_send(sender=member, room_id=room.pk, content="hi", client_id="c-1")
        with django_assert_num_queries(SEND_RETRY):
            _, created = services.message_send(
                sender=member, room_id=room.pk, content="hi", client_id="c-1"
            )
        assert created is False


class TestRoomJoin:
    def test_as_a_member(self, room: Room, member: User, django_assert_num_queries: Any) -> None:
        with django_assert_num_queries(JOIN_AS_MEMBER):
            services.room_join(user=member, room_id=room.pk)

    def test_a_public_room(
        self, owner: User, outsider: User, django_assert_num_queries: Any
    ) -> None:
        public = services.room_create(creator=owner, name="open", is_public=True)
        with django_assert_num_queries(JOIN_PUBLIC):
            _, _, created = services.room_join(user=outsider, room_id=public.pk)
        assert created is True


class TestReadPositionMark:
    def test_moving_forward(
        self, room: Room, owner: User, member: User, send: Any, django_assert_num_queries: Any
    ) -> None:
        message = send(owner, room)
        with django_assert_num_queries(MARK_READ):
            services.read_position_mark(user=member, room_id=room.pk, message_id=message.pk)

    def test_behind_the_position(
        self, room: Room, owner: User, member: User, send: Any, django_assert_num_queries: Any
    ) -> None:
        first, second = send(owner, room), send(owner, room)
        services.read_position_mark(user=member, room_id=room.pk, message_id=second.pk)
        with django_assert_num_queries(MARK_READ):
            position = services.read_position_mark(
                user=member, room_id=room.pk, message_id=first.pk
            )
        assert position.last_read_seq == second.seq
