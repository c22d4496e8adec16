"""The notifications admin renders with its filters and search."""

from __future__ import annotations

import pytest

from banter.notifications.services import notification_create

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
