"""The notifications admin renders with its filters and search, and what it changes reaches
the user's sockets."""

from __future__ import annotations

import pytest

from banter.notifications.models import Notification
from banter.notifications.payloads import notification_payload
from banter.notifications.services import notification_create
from banter.realtime.broadcast import Broadcast, capture_broadcasts, user_group

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "query",
    ["", "?q=alice", "?kind__exact=message", "?read_at__isempty=1", "?created_at__year=2030"],
)
def test_changelist(client, user_factory, query) -> None:
    admin_user = user_factory(is_staff=True, is_superuser=True)
    notification = notification_create(
        user_id=user_factory(username="alice").pk, kind="message", payload={}
    )
    client.force_login(admin_user)
    assert client.get(f"/admin/notifications/notification/{query}").status_code == 200
    change = client.get(f"/admin/notifications/notification/{notification.pk}/change/")
    assert change.status_code == 200


# -- admin changes reach the user's sockets like notification_create's ------------------


def test_a_notification_added_in_the_admin_is_pushed(client, user_factory) -> None:
    client.force_login(user_factory(is_staff=True, is_superuser=True))
    user = user_factory()
    with capture_broadcasts() as sent:
        response = client.post(
            "/admin/notifications/notification/add/",
            {
                "user": user.pk,
                "kind": "system",
                "payload": '{"text": "maintenance at noon"}',
                "read_at_0": "",
                "read_at_1": "",
            },
        )
    assert response.status_code == 302, response.content
    notification = Notification.objects.get(user=user)
    assert sent == [  # once each: the admin hook, no receiver pushing it again
        Broadcast(user_group(user.pk), "notification:new", (notification_payload(notification),)),
        Broadcast(user_group(user.pk), "notification:count", ({"unread": 1},)),
    ]


def test_marking_read_or_deleting_in_the_admin_updates_the_count(client, user_factory) -> None:
    client.force_login(user_factory(is_staff=True, is_superuser=True))
    user = user_factory()
    first = notification_create(user_id=user.pk, kind="system", payload={})
    notification_create(user_id=user.pk, kind="system", payload={})
    with capture_broadcasts() as sent:
        response = client.post(
            f"/admin/notifications/notification/{first.pk}/change/",
            {
                "user": user.pk,
                "kind": "system",
                "payload": "{}",
                "read_at_0": "2030-01-01",
                "read_at_1": "12:00:00",
            },
        )
    assert response.status_code == 302, response.content
    assert sent == [Broadcast(user_group(user.pk), "notification:count", ({"unread": 1},))]
    with capture_broadcasts() as sent:
        response = client.post(
            "/admin/notifications/notification/",
            {"action": "delete_selected", "_selected_action": [first.pk], "post": "yes"},
        )
    assert response.status_code == 302
    assert sent == [Broadcast(user_group(user.pk), "notification:count", ({"unread": 1},))]
