"""REST: list (paged, unread filter) and mark read, with what the sockets hear."""

from __future__ import annotations

import pytest

from banter.notifications.models import Notification
from banter.notifications.services import notification_create
from banter.realtime.broadcast import Broadcast, capture_broadcasts, user_group

pytestmark = pytest.mark.django_db


def create(user, count: int, kind: str = "message") -> list[Notification]:
    return [notification_create(user_id=user.pk, kind=kind, payload={"n": i}) for i in range(count)]


class TestList:
    def test_newest_first_and_only_mine(self, auth_client, user_factory) -> None:
        user, other = user_factory(), user_factory()
        mine = create(user, 3)
        create(other, 2)
        body = auth_client(user).get("/api/notifications").json()
        assert [n["id"] for n in body["results"]] == [n.pk for n in mine[::-1]]
        assert body["results"][0]["payload"] == {"n": 2}
        assert body["next"] is None

    @pytest.mark.parametrize("flag", ["1", "true"])
    def test_unread_filter(self, auth_client, user_factory, flag) -> None:
        user = user_factory()
        first, second = create(user, 2)
        client = auth_client(user)
        client.post("/api/notifications/read", {"ids": [first.pk]}, format="json")
        unread = client.get("/api/notifications", {"unread": flag}).json()["results"]
        assert [n["id"] for n in unread] == [second.pk]
        everything = client.get("/api/notifications", {"unread": "0"}).json()["results"]
        assert len(everything) == 2
        assert everything[1]["readAt"] is not None

    def test_bad_unread_value(self, auth_client, user_factory) -> None:
        response = auth_client(user_factory()).get("/api/notifications", {"unread": "maybe"})
        assert response.status_code == 400
        assert response.json()["code"] == "validation_error"
        assert "unread" in response.json()["details"]["fields"]

    def test_pages(self, auth_client, user_factory) -> None:
        user = user_factory()
        created = create(user, 5)
        client = auth_client(user)
        first = client.get("/api/notifications", {"limit": 2}).json()
        second = client.get(first["next"]).json()
        third = client.get(second["next"]).json()
        ids = [n["id"] for page in (first, second, third) for n in page["results"]]
        assert ids == [n.pk for n in created[::-1]]
        assert third["next"] is None

    def test_requires_authentication(self, api_client) -> None:
        response = api_client.get("/api/notifications")
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"


class TestMarkRead:
    def test_ids(self, auth_client, user_factory) -> None:
        user = user_factory()
        first, _second = create(user, 2)
        with capture_broadcasts() as sent:
            response = auth_client(user).post(
                "/api/notifications/read", {"ids": [first.pk]}, format="json"
            )
        assert response.status_code == 200
        assert response.json() == {"unread": 1}
        assert sent == [Broadcast(user_group(user.pk), "notification:count", ({"unread": 1},))]

    def test_all(self, auth_client, user_factory) -> None:
        user = user_factory()
        create(user, 3)
        with capture_broadcasts() as sent:
            response = auth_client(user).post(
                "/api/notifications/read", {"all": True}, format="json"
            )
        assert response.json() == {"unread": 0}
        assert [b.args for b in sent] == [({"unread": 0},)]
        assert not Notification.objects.filter(read_at__isnull=True).exists()

    def test_other_users_notifications_untouched(self, auth_client, user_factory) -> None:
        user, other = user_factory(), user_factory()
        (theirs,) = create(other, 1)
        response = auth_client(user).post(
            "/api/notifications/read", {"ids": [theirs.pk]}, format="json"
        )
        assert response.json() == {"unread": 0}
        theirs.refresh_from_db()
        assert theirs.read_at is None

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"ids": [1], "all": True},
            {"all": False},
            {"ids": ["abc"]},
            {"ids": "1,2"},
            {"ids": [0]},
            {"ids": list(range(1, 502))},
        ],
        ids=["neither", "both", "all-false", "non-int", "not-list", "zero", "too-many"],
    )
    def test_invalid(self, auth_client, user_factory, body) -> None:
        with capture_broadcasts() as sent:
            response = auth_client(user_factory()).post(
                "/api/notifications/read", body, format="json"
            )
        assert response.status_code == 400
        assert response.json()["code"] == "validation_error"
        assert sent == []


def test_payload_matches_documented_shape(user_factory) -> None:
    from banter.notifications.payloads import notification_payload
    from banter.notifications.serializers import NotificationSerializer

    (notification,) = create(user_factory(), 1)
    assert set(notification_payload(notification)) == set(NotificationSerializer().fields)
