"""Reactions (chat/reactions.py): rules, the recorded event, history, and the REST routes."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from banter.accounts.models import User
from banter.core.errors import BanterError
from banter.realtime.broadcast import capture_broadcasts, room_group
from chat import reactions, services
from chat.models import Reaction, Room, RoomEvent
from tests.chat.conftest import SendMessage
from tests.chat.test_api import assert_error

pytestmark = pytest.mark.django_db

AuthClient = Any


def _code(error: pytest.ExceptionInfo[BanterError]) -> str:
    return error.value.code.value


class TestRules:
    @pytest.mark.parametrize("emoji", ["👍", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "1️⃣"])
    def test_one_emoji_of_any_form_is_accepted(self, emoji: str) -> None:
        assert reactions.check_emoji(emoji) == emoji

    @pytest.mark.parametrize("value", ["", "a", "👍👍", "👍 ", "lol", None, 5, ["👍"], "👍" * 40])
    def test_anything_else_is_a_validation_error(self, value: object) -> None:
        with pytest.raises(BanterError) as error:
            reactions.check_emoji(value)
        assert _code(error) == "validation_error"

    def test_add_is_announced_once_and_counted(
        self, room: Room, owner: User, member: User, send: SendMessage
    ) -> None:
        message = send(owner, room)
        with capture_broadcasts() as sent:
            first = reactions.reaction_add(user=member, message_id=message.pk, emoji="👍")
            again = reactions.reaction_add(user=member, message_id=message.pk, emoji="👍")
            other = reactions.reaction_add(user=owner, message_id=message.pk, emoji="👍")
        assert first == {
            "messageId": message.pk,
            "roomId": room.pk,
            "emoji": "👍",
            "userId": member.pk,
            "count": 1,
            "added": True,
        }
        assert again == first  # idempotent: the state after the call, nothing announced
        assert other["count"] == 2 and other["userId"] == owner.pk
        assert [(b.event, b.args[0]["count"]) for b in sent] == [
            ("message-reaction", 1),
            ("message-reaction", 2),
        ]
        # Recoverable: recorded in the room's event log like an edit.
        recorded = RoomEvent.objects.filter(room=room, event="message-reaction")
        assert [event.payload["userId"] for event in recorded.order_by("id")] == [
            member.pk,
            owner.pk,
        ]
        assert all(b.group == room_group(room.pk) for b in sent)

    def test_remove_is_announced_and_removing_twice_changes_nothing(
        self, room: Room, owner: User, member: User, send: SendMessage
    ) -> None:
        message = send(owner, room)
        reactions.reaction_add(user=member, message_id=message.pk, emoji="🎉")
        with capture_broadcasts() as sent:
            removed = reactions.reaction_remove(user=member, message_id=message.pk, emoji="🎉")
            twice = reactions.reaction_remove(user=member, message_id=message.pk, emoji="🎉")
        assert removed["added"] is False and removed["count"] == 0
        assert twice == removed
        assert [b.args[0]["added"] for b in sent] == [False]
        assert not Reaction.objects.exists()

    def test_members_only(self, room: Room, owner: User, outsider: User, send: SendMessage) -> None:
        message = send(owner, room)
        with pytest.raises(BanterError) as error:
            reactions.reaction_add(user=outsider, message_id=message.pk, emoji="👍")
        assert _code(error) == "forbidden"
        with pytest.raises(BanterError) as missing:
            reactions.reaction_add(user=owner, message_id=10**9, emoji="👍")
        assert _code(missing) == "not_found"
        assert not Reaction.objects.exists()

    def test_a_deleted_message_takes_no_reactions_and_shows_none(
        self, room: Room, owner: User, member: User, send: SendMessage
    ) -> None:
        message = send(owner, room)
        reactions.reaction_add(user=member, message_id=message.pk, emoji="👍")
        services.message_delete(user=owner, message_id=message.pk)
        with pytest.raises(BanterError) as error:
            reactions.reaction_add(user=member, message_id=message.pk, emoji="🎉")
        assert _code(error) == "conflict"
        message.refresh_from_db()
        assert reactions.with_reactions(message, member.pk)["reactions"] == []

    def test_distinct_emojis_per_message_are_capped(
        self, room: Room, owner: User, member: User, send: SendMessage, monkeypatch: Any
    ) -> None:
        monkeypatch.setattr(reactions, "MAX_DISTINCT_EMOJIS", 2)
        message = send(owner, room)
        reactions.reaction_add(user=owner, message_id=message.pk, emoji="👍")
        reactions.reaction_add(user=owner, message_id=message.pk, emoji="🎉")
        with pytest.raises(BanterError) as error:
            reactions.reaction_add(user=member, message_id=message.pk, emoji="😀")
        assert _code(error) == "conflict"
        assert error.value.details["maxEmojis"] == 2
        # An emoji already there still takes more users.
        assert reactions.reaction_add(user=member, message_id=message.pk, emoji="🎉")["count"] == 2


class TestHistory:
    def test_history_carries_counts_and_mine_per_reader(
        self, room: Room, owner: User, member: User, send: SendMessage, auth_client: AuthClient
    ) -> None:
        plain, liked = send(owner, room, "plain"), send(owner, room, "liked")
        reactions.reaction_add(user=member, message_id=liked.pk, emoji="🎉")
        reactions.reaction_add(user=owner, message_id=liked.pk, emoji="👍")
        reactions.reaction_add(user=member, message_id=liked.pk, emoji="👍")

        page = auth_client(member).get(f"/api/rooms/{room.pk}/messages").json()["results"]
        by_id = {message["id"]: message["reactions"] for message in page}
        assert by_id[plain.pk] == []
        # In the order the emojis first appeared.
        assert by_id[liked.pk] == [
            {"emoji": "🎉", "count": 1, "mine": True},
            {"emoji": "👍", "count": 2, "mine": True},
        ]
        as_owner = auth_client(owner).get(f"/api/rooms/{room.pk}/messages").json()["results"]
        assert {m["id"]: m["reactions"] for m in as_owner}[liked.pk] == [
            {"emoji": "🎉", "count": 1, "mine": False},
            {"emoji": "👍", "count": 2, "mine": True},
        ]

    def test_an_edit_answers_with_the_reactions(
        self, room: Room, owner: User, member: User, send: SendMessage, auth_client: AuthClient
    ) -> None:
        message = send(owner, room)
        reactions.reaction_add(user=member, message_id=message.pk, emoji="👍")
        edited = auth_client(owner).patch(
            f"/api/messages/{message.pk}", {"content": "edited"}, format="json"
        )
        assert edited.status_code == 200
        assert edited.json()["reactions"] == [{"emoji": "👍", "count": 1, "mine": False}]


class TestRest:
    def test_post_and_delete(
        self, room: Room, owner: User, member: User, send: SendMessage, auth_client: AuthClient
    ) -> None:
        message = send(owner, room)
        client: APIClient = auth_client(member)
        url = f"/api/messages/{message.pk}/reactions"
        added = client.post(url, {"emoji": "👍"}, format="json")
        assert added.status_code == 200, added.json()
        assert added.json()["count"] == 1 and added.json()["added"] is True
        removed = client.delete(url, {"emoji": "👍"}, format="json")
        assert removed.status_code == 200
        assert removed.json()["count"] == 0 and removed.json()["added"] is False
        client.post(url, {"emoji": "🎉"}, format="json")
        by_query = client.delete(f"{url}?emoji=%F0%9F%8E%89")
        assert by_query.json()["emoji"] == "🎉" and by_query.json()["count"] == 0

    def test_refusals(
        self,
        room: Room,
        owner: User,
        outsider: User,
        send: SendMessage,
        auth_client: AuthClient,
    ) -> None:
        message = send(owner, room)
        url = f"/api/messages/{message.pk}/reactions"
        assert_error(
            auth_client(owner).post(url, {"emoji": "nope"}, format="json"), 400, "validation_error"
        )
        assert_error(auth_client(owner).post(url, {}, format="json"), 400, "validation_error")
        assert_error(
            auth_client(outsider).post(url, {"emoji": "👍"}, format="json"), 403, "forbidden"
        )
        assert_error(
            auth_client(owner).post(
                "/api/messages/999999/reactions", {"emoji": "👍"}, format="json"
            ),
            404,
            "not_found",
        )
        assert not Reaction.objects.exists()
