"""chat admin: every page renders for a superuser; messages cannot be added by hand; what
the admin changes reaches the live layer like the services' changes do."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from banter.accounts.models import User
from banter.realtime.broadcast import Broadcast, capture_broadcasts, room_group, user_group
from chat import payloads
from chat.models import Membership, Message, Room, RoomEvent
from tests.chat.conftest import Published, SendMessage, UserFactory


@pytest.mark.django_db
def test_admin_pages_render(
    user_factory: UserFactory, room: Room, member: User, send: SendMessage
) -> None:
    message = send(member, room)
    client = Client()
    client.force_login(user_factory(is_staff=True, is_superuser=True))
    membership = Membership.objects.get(room=room, user=member)

    for url in [
        "/admin/chat/room/",
        "/admin/chat/room/?q=Team&kind__exact=group",
        f"/admin/chat/room/{room.pk}/change/",
        "/admin/chat/membership/",
        f"/admin/chat/membership/{membership.pk}/change/",
        "/admin/chat/message/",
        "/admin/chat/message/?deleted_at__isempty=1&q=hi",
        f"/admin/chat/message/{message.pk}/change/",
    ]:
        assert client.get(url).status_code == 200, url
    assert client.get("/admin/chat/message/add/").status_code == 403
    assert Message.objects.count() == 1


# -- admin changes reach the live layer (chat/signals.py, chat/admin.py) ------------------


def _controls(published: Published, action: str) -> list[dict[str, Any]]:
    return [m for m in published if m["type"] == "banter.control" and m["action"] == action]


def _events(sent: list[Broadcast], event: str) -> list[Broadcast]:
    return [broadcast for broadcast in sent if broadcast.event == event]


@pytest.fixture
def staff_client(user_factory: UserFactory) -> Client:
    client = Client()
    client.force_login(user_factory(is_staff=True, is_superuser=True))
    return client


@pytest.mark.django_db
def test_deleting_a_membership_unsubscribes_the_users_sockets(
    staff_client: Client, room: Room, member: User, published: Published
) -> None:
    membership = Membership.objects.get(room=room, user=member)
    with capture_broadcasts() as sent:
        response = staff_client.post(
            f"/admin/chat/membership/{membership.pk}/delete/", {"post": "yes"}
        )
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert _controls(published, "unsubscribe") == [
        {
            "type": "banter.control",
            "group": user_group(member.pk),
            "action": "unsubscribe",
            "target": room_group(room.pk),
        }
    ]
    assert [b.args[0] for b in _events(sent, payloads.USER_LEFT_ROOM)] == [
        {"roomId": room.pk, "userId": member.pk}
    ]


@pytest.mark.django_db
def test_deleting_a_user_closes_their_sockets_and_leaves_their_rooms(
    staff_client: Client, room: Room, member: User, published: Published
) -> None:
    with capture_broadcasts():
        response = staff_client.post(f"/admin/accounts/user/{member.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=member.pk).exists()
    assert [(m["group"], m["reason"]) for m in _controls(published, "revoke")] == [
        (user_group(member.pk), "deleted")
    ]
    assert [m["target"] for m in _controls(published, "unsubscribe")] == [room_group(room.pk)]


@pytest.mark.django_db
def test_adding_a_membership_subscribes_the_users_sockets(
    staff_client: Client, room: Room, outsider: User, published: Published
) -> None:
    with capture_broadcasts() as sent:
        response = staff_client.post(
            "/admin/chat/membership/add/",
            {"room": room.pk, "user": outsider.pk, "role": "member"},
        )
    assert response.status_code == 302, response.content
    assert [(m["group"], m["target"]) for m in _controls(published, "subscribe")] == [
        (user_group(outsider.pk), room_group(room.pk))
    ]
    assert [b.args[0]["user"]["id"] for b in _events(sent, payloads.USER_JOINED_ROOM)] == [
        outsider.pk
    ]


@pytest.mark.django_db
def test_editing_a_message_is_broadcast_and_recorded_as_an_edit(
    staff_client: Client, room: Room, member: User, send: SendMessage
) -> None:
    message = send(member, room, "something rude")
    with capture_broadcasts() as sent:
        response = staff_client.post(
            f"/admin/chat/message/{message.pk}/change/", {"content": "[removed by a moderator]"}
        )
    assert response.status_code == 302, response.content
    message.refresh_from_db()
    assert message.content == "[removed by a moderator]" and message.edited_at is not None
    assert sent == [
        Broadcast(
            room_group(room.pk),
            payloads.MESSAGE_EDITED,
            (payloads.message_edited_payload(message),),
        )
    ]
    # The recorded message-received is rewritten too: a replay shows the moderated text.
    recorded = RoomEvent.objects.filter(room=room).values_list("payload", flat=True)
    assert "rude" not in str(list(recorded))


@pytest.mark.django_db
def test_soft_deleting_messages_is_broadcast(
    staff_client: Client, room: Room, member: User, send: SendMessage
) -> None:
    message = send(member, room, "delete me")
    with capture_broadcasts() as sent:
        response = staff_client.post(
            "/admin/chat/message/",
            {"action": "soft_delete_messages", "_selected_action": [message.pk]},
        )
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.deleted_at is not None
    assert [b.args[0] for b in _events(sent, payloads.MESSAGE_DELETED)] == [
        {"messageId": message.pk, "roomId": room.pk, "seq": message.seq}
    ]
    assert len(sent) == 1
    recorded = RoomEvent.objects.filter(room=room).values_list("payload", flat=True)
    assert "delete me" not in str(list(recorded))


@pytest.mark.django_db
def test_deleting_a_message_row_is_broadcast(
    staff_client: Client, room: Room, member: User, send: SendMessage
) -> None:
    message = send(member, room, "hard delete me")
    with capture_broadcasts() as sent:
        response = staff_client.post(f"/admin/chat/message/{message.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Message.objects.filter(pk=message.pk).exists()
    assert [b.args[0] for b in _events(sent, payloads.MESSAGE_DELETED)] == [
        {"messageId": message.pk, "roomId": room.pk, "seq": 1}
    ]
    recorded = RoomEvent.objects.filter(room=room).values_list("payload", flat=True)
    assert "hard delete me" not in str(list(recorded))
