"""chat admin: every page renders for a superuser; messages cannot be added by hand."""

from __future__ import annotations

import pytest
from django.test import Client

from banter.accounts.models import User
from chat.models import Membership, Message, Room
from tests.chat.conftest import SendMessage, UserFactory


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
