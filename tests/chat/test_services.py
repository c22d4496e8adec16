"""chat.services: rules, idempotency, emitted events."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from banter.accounts.models import User
from banter.core.errors import BanterError, ErrorCode
from banter.realtime.broadcast import Broadcast, capture_broadcasts, room_group, user_group
from chat import payloads, services
from chat.models import Membership, Message, Room
from tests.chat.conftest import Published, SendMessage, UserFactory

Role = Membership.Role


def role_of(room: Room, user: User) -> str | None:
    return Membership.objects.filter(room=room, user=user).values_list("role", flat=True).first()


def raises(code: ErrorCode) -> Any:
    """pytest.raises for a BanterError with this code."""
    return pytest.raises(BanterError, check=lambda error: error.code is code)


def events_named(sent: list[Broadcast], event: str) -> list[Broadcast]:
    return [broadcast for broadcast in sent if broadcast.event == event]


@pytest.mark.django_db
class TestRoomCreate:
    def test_creator_owns_and_members_join(self, owner: User, member: User) -> None:
        with capture_broadcasts() as sent:
            room = services.room_create(
                creator=owner, name="  Team  ", member_ids=[member.pk, owner.pk]
            )

        assert room.name == "Team"
        assert room.kind == Room.Kind.GROUP
        assert role_of(room, owner) == Role.OWNER
        assert role_of(room, member) == Role.MEMBER
        joined = events_named(sent, payloads.USER_JOINED_ROOM)
        assert {broadcast.args[0]["user"]["id"] for broadcast in joined} == {owner.pk, member.pk}
        assert {broadcast.group for broadcast in joined} == {room_group(room.pk)}

    @pytest.mark.parametrize(
        "options",
        [
            {"name": "   "},
            {"name": 12},
            {"name": "x" * 101},
            {"name": "ok", "kind": "direct"},
            {"name": "ok", "is_public": "yes"},
            {"name": "ok", "member_ids": "1,2"},
            {"name": "ok", "member_ids": [True]},
            {"name": "ok", "member_ids": [10**9]},
        ],
    )
    def test_bad_input_stores_nothing(self, owner: User, options: dict[str, Any]) -> None:
        with raises(ErrorCode.VALIDATION_ERROR):
            services.room_create(creator=owner, **options)
        assert not Room.objects.exists()

    def test_inactive_users_cannot_be_added(self, owner: User, user_factory: UserFactory) -> None:
        inactive = user_factory(is_active=False)
        with raises(ErrorCode.VALIDATION_ERROR) as error:
            services.room_create(creator=owner, name="Team", member_ids=[inactive.pk])
        assert error.value.details == {"fields": {"memberIds": [inactive.pk]}}


@pytest.mark.django_db
class TestDirectRoom:
    def test_one_room_per_pair_in_either_direction(self, owner: User, member: User) -> None:
        room, created = services.direct_room_get_or_create(user=owner, other_user_id=member.pk)
        again, created_again = services.direct_room_get_or_create(
            user=member, other_user_id=owner.pk
        )

        assert (created, created_again) == (True, False)
        assert again.pk == room.pk
        assert room.kind == Room.Kind.DIRECT
        assert room.direct_key == f"{min(owner.pk, member.pk)}:{max(owner.pk, member.pk)}"
        assert role_of(room, owner) == role_of(room, member) == Role.MEMBER

    def test_participant_who_left_is_back(self, owner: User, member: User) -> None:
        room, _ = services.direct_room_get_or_create(user=owner, other_user_id=member.pk)
        services.room_leave(user=member, room_id=room.pk)

        with capture_broadcasts() as sent:
            services.direct_room_get_or_create(user=owner, other_user_id=member.pk)

        assert role_of(room, member) == Role.MEMBER
        assert [b.args[0]["user"]["id"] for b in sent] == [member.pk]

    @pytest.mark.parametrize("other", ["self", "unknown", "string", "inactive"])
    def test_invalid_other_user(self, owner: User, user_factory: UserFactory, other: str) -> None:
        other_user_id: Any = {  # "string": what the service must refuse, whatever its type says
            "self": owner.pk,
            "unknown": 10**9,
            "string": "2",
            "inactive": user_factory(is_active=False).pk,
        }[other]
        with raises(ErrorCode.VALIDATION_ERROR):
            services.direct_room_get_or_create(user=owner, other_user_id=other_user_id)
        assert not Room.objects.exists()

    def test_outsiders_cannot_join(self, owner: User, member: User, outsider: User) -> None:
        room, _ = services.direct_room_get_or_create(user=owner, other_user_id=member.pk)
        with raises(ErrorCode.FORBIDDEN):
            services.room_join(user=outsider, room_id=room.pk)

    def test_nobody_moderates_a_direct_room(self, owner: User, member: User) -> None:
        room, _ = services.direct_room_get_or_create(user=owner, other_user_id=member.pk)
        with raises(ErrorCode.FORBIDDEN):
            services.member_remove(actor=owner, room_id=room.pk, user_id=member.pk)
        message, _ = services.message_send(sender=member, room_id=room.pk, content="mine")
        with raises(ErrorCode.FORBIDDEN):
            services.message_delete(user=owner, message_id=message.pk)


@pytest.mark.django_db
class TestRoomJoin:
    def test_public_room_creates_membership_once(self, owner: User, outsider: User) -> None:
        room = services.room_create(creator=owner, name="Lobby", is_public=True)

        with capture_broadcasts() as sent:
            _, membership, created = services.room_join(user=outsider, room_id=room.pk)
            _, same, created_again = services.room_join(user=outsider, room_id=room.pk)

        assert (created, created_again) == (True, False)
        assert same.pk == membership.pk
        assert membership.role == Role.MEMBER
        assert [(b.event, b.args[0]["user"]["id"]) for b in sent] == [
            (payloads.USER_JOINED_ROOM, outsider.pk)
        ]

    def test_members_rejoin_private_rooms(self, room: Room, member: User) -> None:
        _, membership, created = services.room_join(user=member, room_id=room.pk)
        assert not created
        assert membership.user_id == member.pk

    def test_private_room_is_forbidden(self, room: Room, outsider: User) -> None:
        with raises(ErrorCode.FORBIDDEN):
            services.room_join(user=outsider, room_id=room.pk)
        assert role_of(room, outsider) is None

    @pytest.mark.parametrize(
        ("room_id", "code"),
        [
            (10**9, ErrorCode.NOT_FOUND),
            (2**70, ErrorCode.NOT_FOUND),
            ("1", ErrorCode.VALIDATION_ERROR),
        ],
    )
    def test_unknown_room(self, outsider: User, room_id: Any, code: ErrorCode) -> None:
        with raises(code):
            services.room_join(user=outsider, room_id=room_id)


@pytest.mark.django_db
class TestRoomLeave:
    def test_member_leaves(self, room: Room, member: User) -> None:
        with capture_broadcasts() as sent:
            services.room_leave(user=member, room_id=room.pk)

        assert role_of(room, member) is None
        assert sent == [
            Broadcast(
                room_group(room.pk),
                payloads.USER_LEFT_ROOM,
                ({"roomId": room.pk, "userId": member.pk},),
            )
        ]

    def test_leave_unsubscribes_the_users_sockets_once(
        self, room: Room, member: User, admin: User, published: Published
    ) -> None:
        # The post_delete receiver (chat/signals.py) is the one announcer: the service path
        # must not announce a second time.
        with capture_broadcasts() as sent:
            services.member_remove(actor=admin, room_id=room.pk, user_id=member.pk)
        assert len(events_named(sent, payloads.USER_LEFT_ROOM)) == 1
        controls = [m for m in published if m["type"] == "banter.control"]
        assert controls == [
            {
                "type": "banter.control",
                "group": user_group(member.pk),
                "action": "unsubscribe",
                "target": room_group(room.pk),
            }
        ]

    def test_any_membership_delete_unsubscribes(
        self, room: Room, owner: User, admin: User, member: User, published: Published
    ) -> None:
        # A queryset delete, a cascade from a deleted room: nothing bypasses the live layer.
        room_id = room.pk
        with capture_broadcasts() as sent:
            Membership.objects.filter(room=room, user=member).delete()
            room.delete()
        unsubscribed = [
            (m["group"], m["target"]) for m in published if m.get("action") == "unsubscribe"
        ]
        assert sorted(unsubscribed) == sorted(
            (user_group(user.pk), room_group(room_id)) for user in (owner, admin, member)
        )
        assert len(events_named(sent, payloads.USER_LEFT_ROOM)) == 3

    def test_last_owner_hands_over_to_oldest_admin(
        self, room: Room, owner: User, admin: User, member: User
    ) -> None:
        services.room_leave(user=owner, room_id=room.pk)
        assert role_of(room, admin) == Role.OWNER
        assert role_of(room, member) == Role.MEMBER

    def test_without_admins_the_oldest_member_becomes_owner(
        self, owner: User, user_factory: UserFactory
    ) -> None:
        first, second = user_factory(), user_factory()
        room = services.room_create(creator=owner, name="Team", member_ids=[second.pk])
        services.member_add(actor=owner, room_id=room.pk, user_id=first.pk)
        Membership.objects.filter(user=second).update(joined_at=timezone.now() - timedelta(days=1))

        services.room_leave(user=owner, room_id=room.pk)

        assert role_of(room, second) == Role.OWNER
        assert role_of(room, first) == Role.MEMBER

    def test_one_of_two_owners_leaves_without_promotion(
        self, room: Room, owner: User, admin: User, member: User
    ) -> None:
        Membership.objects.filter(room=room, user=member).update(role=Role.OWNER)
        services.room_leave(user=owner, room_id=room.pk)
        assert role_of(room, admin) == Role.ADMIN
        assert role_of(room, member) == Role.OWNER

    def test_last_member_leaves_an_empty_room(self, owner: User) -> None:
        room = services.room_create(creator=owner, name="Solo")
        services.room_leave(user=owner, room_id=room.pk)
        assert Room.objects.filter(pk=room.pk).exists()
        assert not Membership.objects.filter(room=room).exists()

    def test_non_member_and_unknown_room(self, room: Room, outsider: User) -> None:
        with raises(ErrorCode.FORBIDDEN):
            services.room_leave(user=outsider, room_id=room.pk)
        with raises(ErrorCode.NOT_FOUND):
            services.room_leave(user=outsider, room_id=10**9)


@pytest.mark.django_db
class TestMemberAdd:
    def test_admin_adds_member(self, room: Room, admin: User, outsider: User) -> None:
        with capture_broadcasts() as sent:
            membership = services.member_add(actor=admin, room_id=room.pk, user_id=outsider.pk)

        assert membership.role == Role.MEMBER
        assert events_named(sent, payloads.USER_JOINED_ROOM)[0].args[0]["user"]["id"] == outsider.pk

    def test_owner_adds_admin(self, room: Room, owner: User, outsider: User) -> None:
        services.member_add(actor=owner, room_id=room.pk, user_id=outsider.pk, role="admin")
        assert role_of(room, outsider) == Role.ADMIN

    @pytest.mark.parametrize(
        ("actor", "role", "code"),
        [
            ("member", "member", ErrorCode.FORBIDDEN),
            ("admin", "admin", ErrorCode.FORBIDDEN),
            ("admin", "owner", ErrorCode.FORBIDDEN),
            ("owner", "boss", ErrorCode.VALIDATION_ERROR),
            ("outsider", "member", ErrorCode.FORBIDDEN),
        ],
    )
    def test_rules(
        self, room: Room, request: pytest.FixtureRequest, actor: str, role: str, code: ErrorCode
    ) -> None:
        newcomer = request.getfixturevalue("user_factory")()
        with raises(code):
            services.member_add(
                actor=request.getfixturevalue(actor),
                room_id=room.pk,
                user_id=newcomer.pk,
                role=role,
            )
        assert role_of(room, newcomer) is None

    def test_existing_member_is_a_conflict(self, room: Room, owner: User, member: User) -> None:
        with raises(ErrorCode.CONFLICT):
            services.member_add(actor=owner, room_id=room.pk, user_id=member.pk, role="admin")
        assert role_of(room, member) == Role.MEMBER

    def test_unknown_user(self, room: Room, owner: User) -> None:
        with raises(ErrorCode.VALIDATION_ERROR):
            services.member_add(actor=owner, room_id=room.pk, user_id=10**9)


@pytest.mark.django_db
class TestMemberRemove:
    @pytest.mark.parametrize(
        ("actor", "target", "allowed"),
        [
            ("admin", "member", True),
            ("owner", "admin", True),
            ("member", "member", True),  # oneself
            ("admin", "admin", True),  # oneself
            ("member", "admin", False),
            ("admin", "owner", False),
            ("member", "owner", False),
        ],
    )
    def test_rules(
        self, room: Room, request: pytest.FixtureRequest, actor: str, target: str, allowed: bool
    ) -> None:
        actor_user = request.getfixturevalue(actor)
        target_user = request.getfixturevalue(target)
        if allowed:
            services.member_remove(actor=actor_user, room_id=room.pk, user_id=target_user.pk)
            assert role_of(room, target_user) is None
        else:
            with raises(ErrorCode.FORBIDDEN):
                services.member_remove(actor=actor_user, room_id=room.pk, user_id=target_user.pk)
            assert role_of(room, target_user) is not None

    def test_member_cannot_remove_another_member(
        self, room: Room, owner: User, member: User, user_factory: UserFactory
    ) -> None:
        other = user_factory()
        services.member_add(actor=owner, room_id=room.pk, user_id=other.pk)
        with raises(ErrorCode.FORBIDDEN):
            services.member_remove(actor=member, room_id=room.pk, user_id=other.pk)

    def test_owner_removing_themselves_hands_over(
        self, room: Room, owner: User, admin: User
    ) -> None:
        services.member_remove(actor=owner, room_id=room.pk, user_id=owner.pk)
        assert role_of(room, admin) == Role.OWNER

    def test_not_a_member(self, room: Room, owner: User, outsider: User) -> None:
        with raises(ErrorCode.NOT_FOUND):
            services.member_remove(actor=owner, room_id=room.pk, user_id=outsider.pk)


@pytest.mark.django_db
class TestMessageSend:
    def test_stores_with_next_seq_and_broadcasts(self, room: Room, member: User) -> None:
        with capture_broadcasts() as sent:
            first, created = services.message_send(sender=member, room_id=room.pk, content="one")
            second, _ = services.message_send(sender=member, room_id=room.pk, content="two")

        assert created
        assert (first.seq, second.seq) == (1, 2)
        room.refresh_from_db()
        assert room.last_seq == 2
        assert sent == [
            Broadcast(
                room_group(room.pk), payloads.MESSAGE_RECEIVED, (payloads.message_payload(m),)
            )
            for m in (first, second)
        ]

    def test_payload_shape(self, room: Room, member: User, send: SendMessage) -> None:
        original = send(member, room, "original")
        message = send(member, room, "reply", client_id="c-1", reply_to_id=original.pk)
        payload = payloads.message_payload(message)

        assert payload == {
            "id": message.pk,
            "roomId": room.pk,
            "seq": 2,
            "content": "reply",
            "messageType": "text",
            "clientId": "c-1",
            "replyTo": original.pk,
            "createdAt": payload["createdAt"],
            "editedAt": None,
            "deletedAt": None,
            "user": {
                "id": member.pk,
                "username": "member",
                "displayName": "Member",
                "avatarUrl": None,
            },
            "reactions": [],
            "attachments": [],
        }
        assert payload["createdAt"].endswith("Z")

    def test_repeated_client_id_stores_and_broadcasts_once(self, room: Room, member: User) -> None:
        with capture_broadcasts() as sent:
            first, created = services.message_send(
                sender=member, room_id=room.pk, content="hi", client_id="retry-1"
            )
            again, created_again = services.message_send(
                sender=member, room_id=room.pk, content="hi", client_id="retry-1"
            )

        assert (created, created_again) == (True, False)
        assert again.pk == first.pk
        assert Message.objects.count() == 1
        assert len(events_named(sent, payloads.MESSAGE_RECEIVED)) == 1
        # The retry's seq bump was rolled back with its insert: seqs stay gapless.
        after, _ = services.message_send(sender=member, room_id=room.pk, content="next")
        assert (first.seq, after.seq) == (1, 2)

    def test_client_ids_are_per_sender(self, room: Room, member: User, admin: User) -> None:
        services.message_send(sender=member, room_id=room.pk, content="a", client_id="same")
        _, created = services.message_send(
            sender=admin, room_id=room.pk, content="b", client_id="same"
        )
        assert created

    def test_client_id_reused_in_another_room_is_a_conflict(
        self, room: Room, owner: User, member: User
    ) -> None:
        other = services.room_create(creator=owner, name="Other", member_ids=[member.pk])
        services.message_send(sender=member, room_id=room.pk, content="a", client_id="k")
        with raises(ErrorCode.CONFLICT):
            services.message_send(sender=member, room_id=other.pk, content="b", client_id="k")

    def test_cleans_content(self, room: Room, member: User, send: SendMessage) -> None:
        message = send(member, room, " \x00a\x1bb\r\nc\td\x7f\x85e\u200d\U0001f600 \n")
        assert message.content == "ab\nc\tde\u200d\U0001f600"

    def test_maximum_length_counts_after_cleaning(
        self, room: Room, member: User, send: SendMessage
    ) -> None:
        assert len(send(member, room, "x" * 4000).content) == 4000
        assert len(send(member, room, "  " + "y" * 4000 + "\x00\x00  ").content) == 4000

    @pytest.mark.parametrize(
        "options",
        [
            {"content": ""},
            {"content": " \n\t "},
            {"content": "\x00\x01\x1b"},
            {"content": "x" * 4001},
            {"content": "bad \ud800 half"},
            {"content": 42},
            {"content": None},
            {"content": ["hi"]},
            {"content": "ok", "message_type": "system"},
            {"content": "ok", "message_type": "sticker"},
            {"content": "ok", "client_id": "x" * 65},
            {"content": "ok", "client_id": "has space"},
            {"content": "ok", "client_id": "tab\t"},
            {"content": "ok", "client_id": ""},
            {"content": "ok", "client_id": 7},
            {"content": "ok", "reply_to_id": "1"},
            {"content": "ok", "reply_to_id": 10**9},
        ],
    )
    def test_invalid_input_stores_nothing(
        self, room: Room, member: User, options: dict[str, Any]
    ) -> None:
        with capture_broadcasts() as sent, raises(ErrorCode.VALIDATION_ERROR):
            services.message_send(sender=member, room_id=room.pk, **options)

        assert not Message.objects.exists()
        assert Room.objects.get(pk=room.pk).last_seq == 0
        assert sent == []

    def test_reply_must_be_in_the_same_room(
        self, room: Room, owner: User, member: User, send: SendMessage
    ) -> None:
        other = services.room_create(creator=owner, name="Other", member_ids=[member.pk])
        elsewhere = send(member, other)
        with raises(ErrorCode.VALIDATION_ERROR):
            send(member, room, reply_to_id=elsewhere.pk)

    def test_non_member_is_forbidden(self, room: Room, outsider: User) -> None:
        with raises(ErrorCode.FORBIDDEN):
            services.message_send(sender=outsider, room_id=room.pk, content="let me in")
        assert not Message.objects.exists()

    def test_unknown_room_is_not_found(self, member: User) -> None:
        with raises(ErrorCode.NOT_FOUND):
            services.message_send(sender=member, room_id=10**9, content="hello?")

    def test_member_who_left_cannot_send(self, room: Room, member: User) -> None:
        services.room_leave(user=member, room_id=room.pk)
        with raises(ErrorCode.FORBIDDEN):
            services.message_send(sender=member, room_id=room.pk, content="still here?")


@pytest.mark.django_db
class TestMessageEdit:
    def test_author_edits(self, room: Room, member: User, send: SendMessage) -> None:
        message = send(member, room, "befor")
        with capture_broadcasts() as sent:
            edited = services.message_edit(user=member, message_id=message.pk, content=" before ")

        assert edited.content == "before"
        assert edited.edited_at is not None
        assert sent == [
            Broadcast(
                room_group(room.pk),
                payloads.MESSAGE_EDITED,
                (
                    {
                        "messageId": message.pk,
                        "roomId": room.pk,
                        "content": "before",
                        "editedAt": payloads.iso_utc(edited.edited_at),
                        "seq": 1,
                    },
                ),
            )
        ]

    def test_unchanged_content_is_a_no_op(
        self, room: Room, member: User, send: SendMessage
    ) -> None:
        message = send(member, room, "same")
        with capture_broadcasts() as sent:
            edited = services.message_edit(user=member, message_id=message.pk, content="same ")
        assert edited.edited_at is None
        assert sent == []

    def test_only_the_author(
        self, room: Room, owner: User, member: User, send: SendMessage
    ) -> None:
        message = send(member, room, "mine")
        with raises(ErrorCode.FORBIDDEN):
            services.message_edit(user=owner, message_id=message.pk, content="theirs")
        assert Message.objects.get(pk=message.pk).content == "mine"

    def test_deleted_message_is_a_conflict(
        self, room: Room, member: User, send: SendMessage
    ) -> None:
        message = send(member, room)
        services.message_delete(user=member, message_id=message.pk)
        with raises(ErrorCode.CONFLICT):
            services.message_edit(user=member, message_id=message.pk, content="undo")

    def test_invalid_content_and_unknown_message(
        self, room: Room, member: User, send: SendMessage
    ) -> None:
        message = send(member, room, "keep")
        with raises(ErrorCode.VALIDATION_ERROR):
            services.message_edit(user=member, message_id=message.pk, content="x" * 4001)
        with raises(ErrorCode.NOT_FOUND):
            services.message_edit(user=member, message_id=10**9, content="x")
        assert Message.objects.get(pk=message.pk).content == "keep"

    def test_author_who_left_cannot_edit(self, room: Room, member: User, send: SendMessage) -> None:
        message = send(member, room)
        services.room_leave(user=member, room_id=room.pk)
        with raises(ErrorCode.FORBIDDEN):
            services.message_edit(user=member, message_id=message.pk, content="x")


@pytest.mark.django_db
class TestMessageDelete:
    @pytest.mark.parametrize("deleter", ["member", "admin", "owner"])
    def test_author_or_room_admin(
        self,
        room: Room,
        member: User,
        send: SendMessage,
        request: pytest.FixtureRequest,
        deleter: str,
    ) -> None:
        message = send(member, room, "secret")
        with capture_broadcasts() as sent:
            deleted = services.message_delete(
                user=request.getfixturevalue(deleter), message_id=message.pk
            )

        assert deleted.deleted_at is not None
        assert payloads.message_payload(deleted)["content"] == ""
        assert Message.objects.get(pk=message.pk).content == "secret"  # kept for moderation
        assert sent == [
            Broadcast(
                room_group(room.pk),
                payloads.MESSAGE_DELETED,
                ({"messageId": message.pk, "roomId": room.pk, "seq": 1},),
            )
        ]

    def test_other_members_cannot(
        self, room: Room, admin: User, member: User, send: SendMessage
    ) -> None:
        message = send(admin, room)
        with raises(ErrorCode.FORBIDDEN):
            services.message_delete(user=member, message_id=message.pk)
        assert Message.objects.get(pk=message.pk).deleted_at is None

    def test_outsider_cannot(
        self, room: Room, member: User, outsider: User, send: SendMessage
    ) -> None:
        message = send(member, room)
        with raises(ErrorCode.FORBIDDEN):
            services.message_delete(user=outsider, message_id=message.pk)

    def test_deleting_twice_is_a_no_op(self, room: Room, member: User, send: SendMessage) -> None:
        message = send(member, room)
        first = services.message_delete(user=member, message_id=message.pk).deleted_at
        with capture_broadcasts() as sent:
            again = services.message_delete(user=member, message_id=message.pk)
        assert again.deleted_at == first
        assert sent == []


@pytest.mark.django_db
class TestReadPosition:
    def test_moves_forward_only(
        self, room: Room, owner: User, member: User, send: SendMessage
    ) -> None:
        first, second = send(owner, room), send(owner, room)

        with capture_broadcasts() as sent:
            forward = services.read_position_mark(
                user=member, room_id=room.pk, message_id=second.pk
            )
            back = services.read_position_mark(user=member, room_id=room.pk, message_id=first.pk)
            same = services.read_position_mark(user=member, room_id=room.pk, message_id=second.pk)

        assert forward.last_read_seq == back.last_read_seq == same.last_read_seq == 2
        assert back.last_read_message_id == second.pk
        assert back.read_at == forward.read_at
        assert sent == [
            Broadcast(
                room_group(room.pk),
                payloads.MESSAGE_READ,
                (
                    {
                        "roomId": room.pk,
                        "messageId": second.pk,
                        "userId": member.pk,
                        "readAt": payloads.iso_utc(forward.read_at),
                        "seq": 2,
                    },
                ),
            )
        ]
        stored = Membership.objects.get(room=room, user=member)
        assert (stored.last_read_seq, stored.last_read_message_id) == (2, second.pk)

    def test_message_of_another_room(
        self, room: Room, owner: User, member: User, send: SendMessage
    ) -> None:
        other = services.room_create(creator=owner, name="Other", member_ids=[member.pk])
        with raises(ErrorCode.VALIDATION_ERROR):
            services.read_position_mark(
                user=member, room_id=room.pk, message_id=send(owner, other).pk
            )

    def test_non_member(self, room: Room, owner: User, outsider: User, send: SendMessage) -> None:
        with raises(ErrorCode.FORBIDDEN):
            services.read_position_mark(
                user=outsider, room_id=room.pk, message_id=send(owner, room).pk
            )


def run_in_threads(count: int, work: Any) -> list[Any]:
    """Run work(index) in `count` threads started together; re-raise the first failure."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def target(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()  # each thread has its own connection; don't leak it

    threads = [threading.Thread(target=target, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


@pytest.mark.django_db(transaction=True)
class TestConcurrency:
    THREADS = 8

    def test_concurrent_sends_get_gapless_unique_seqs(self, room: Room, member: User) -> None:
        per_thread = 25

        def send_many(index: int) -> list[int]:
            return [
                services.message_send(
                    sender=member, room_id=room.pk, content=f"{index}-{n}", client_id=f"{index}-{n}"
                )[0].seq
                for n in range(per_thread)
            ]

        seqs = [
            seq for thread_seqs in run_in_threads(self.THREADS, send_many) for seq in thread_seqs
        ]

        total = self.THREADS * per_thread
        assert sorted(seqs) == list(range(1, total + 1))
        stored = list(
            Message.objects.filter(room=room).order_by("seq").values_list("seq", flat=True)
        )
        assert stored == list(range(1, total + 1))
        assert Room.objects.get(pk=room.pk).last_seq == total

    def test_racing_retries_store_and_broadcast_once(self, room: Room, member: User) -> None:
        with capture_broadcasts(execute_on_commit=False) as sent:
            results = run_in_threads(
                self.THREADS,
                lambda _: services.message_send(
                    sender=member, room_id=room.pk, content="once", client_id="same-retry"
                ),
            )

        assert len({message.pk for message, _ in results}) == 1
        assert sum(created for _, created in results) == 1
        assert Room.objects.get(pk=room.pk).last_seq == 1  # the losers' seq bumps rolled back
        assert len(events_named(sent, payloads.MESSAGE_RECEIVED)) == 1

    def test_racing_direct_room_creation_makes_one_room(self, owner: User, member: User) -> None:
        results = run_in_threads(
            self.THREADS,
            lambda index: services.direct_room_get_or_create(
                user=(owner, member)[index % 2], other_user_id=(member, owner)[index % 2].pk
            ),
        )

        assert len({room.pk for room, _ in results}) == 1
        assert sum(created for _, created in results) == 1
        assert Membership.objects.filter(room=results[0][0]).count() == 2

    def test_concurrent_read_marks_end_at_the_newest(
        self, room: Room, owner: User, member: User
    ) -> None:
        messages = [
            services.message_send(sender=owner, room_id=room.pk, content=str(n))[0]
            for n in range(self.THREADS)
        ]

        run_in_threads(
            self.THREADS,
            lambda index: services.read_position_mark(
                user=member, room_id=room.pk, message_id=messages[index].pk
            ),
        )

        stored = Membership.objects.get(room=room, user=member)
        assert stored.last_read_seq == self.THREADS
        assert stored.last_read_message_id == messages[-1].pk


@pytest.mark.django_db
class TestMentions:
    def test_members_named_with_at_get_a_notification_pushed_to_them(
        self, room: Room, owner: User, member: User, admin: User, outsider: User, send: SendMessage
    ) -> None:
        from banter.notifications.models import Notification

        text = f"@{member.username}, see this; @{outsider.username} too, mail a@{admin.username}"
        with capture_broadcasts() as sent:
            message = send(owner, room, text)

        notes = list(Notification.objects.all())
        assert [(n.user_id, n.kind) for n in notes] == [(member.pk, "mention")]
        assert notes[0].payload["messageId"] == message.pk
        assert notes[0].payload["from"]["id"] == owner.pk
        pushed = [b for b in sent if b.group == user_group(member.pk)]
        assert [b.event for b in pushed] == ["notification:new", "notification:count"]

    def test_self_mentions_and_retries_notify_nobody_twice(
        self, room: Room, owner: User, member: User, send: SendMessage
    ) -> None:
        from banter.notifications.models import Notification

        send(owner, room, f"@{owner.username} note to self @{member.username}", client_id="m-1")
        send(owner, room, f"@{owner.username} note to self @{member.username}", client_id="m-1")
        assert list(Notification.objects.values_list("user_id", flat=True)) == [member.pk]
