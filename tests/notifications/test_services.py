"""Notification services and selectors: what is stored and what the user's sockets hear."""

from __future__ import annotations

import pytest
from django.db import transaction

from banter.core.errors import BanterError, ErrorCode
from banter.notifications.models import Notification
from banter.notifications.payloads import notification_payload
from banter.notifications.selectors import (
    notification_list,
    notification_unread_count,
    notifications_unread,
)
from banter.notifications.services import notification_create, notifications_mark_read
from banter.realtime.broadcast import Broadcast, capture_broadcasts, user_group

pytestmark = pytest.mark.django_db


class TestNotificationCreate:
    def test_stores_and_broadcasts_after_commit(self, user_factory) -> None:
        user = user_factory()
        with capture_broadcasts() as sent:
            notification = notification_create(
                user_id=user.pk, kind="missed_call", payload={"callId": 7}
            )
            assert sent == []  # nothing before the commit
        assert notification.read_at is None
        assert sent == [
            Broadcast(
                user_group(user.pk), "notification:new", (notification_payload(notification),)
            ),
            Broadcast(user_group(user.pk), "notification:count", ({"unread": 1},)),
        ]

    def test_payload_shape(self, user_factory) -> None:
        user = user_factory()
        notification = notification_create(user_id=user.pk, kind="system", payload={"text": "hi"})
        body = notification_payload(notification)
        assert set(body) == {"id", "kind", "payload", "createdAt", "readAt"}
        assert body["kind"] == "system"
        assert body["payload"] == {"text": "hi"}
        assert body["createdAt"].endswith("Z")
        assert body["readAt"] is None

    def test_count_includes_earlier_unread(self, user_factory) -> None:
        user = user_factory()
        notification_create(user_id=user.pk, kind="message", payload={})
        with capture_broadcasts() as sent:
            notification_create(user_id=user.pk, kind="mention", payload={})
        assert sent[-1].args == ({"unread": 2},)

    @pytest.mark.parametrize(
        ("kind", "payload"), [("bogus", {}), ("x" * 40, {}), ("message", ["not", "a", "dict"])]
    )
    def test_invalid_input_stores_and_sends_nothing(self, user_factory, kind, payload) -> None:
        user = user_factory()
        with capture_broadcasts() as sent, pytest.raises(BanterError) as caught:
            notification_create(user_id=user.pk, kind=kind, payload=payload)
        assert caught.value.code is ErrorCode.VALIDATION_ERROR
        assert not Notification.objects.exists()
        assert sent == []

    def test_unknown_user(self, db) -> None:
        with pytest.raises(BanterError) as caught:
            notification_create(user_id=987_654, kind="system", payload={})
        assert caught.value.code is ErrorCode.NOT_FOUND

    def test_rolled_back_transaction_sends_nothing(self, user_factory) -> None:
        user = user_factory()

        def create_then_fail() -> None:
            with transaction.atomic():
                notification_create(user_id=user.pk, kind="system", payload={})
                raise RuntimeError("roll back")

        with capture_broadcasts() as sent, pytest.raises(RuntimeError):
            create_then_fail()
        assert sent == []
        assert not Notification.objects.exists()

    def test_query_count(self, user_factory, django_assert_num_queries) -> None:
        user = user_factory()
        # user exists + insert + unread count (+ savepoint pair inside the test transaction)
        with django_assert_num_queries(5):
            notification_create(user_id=user.pk, kind="system", payload={})


class TestNotificationsMarkRead:
    def make(self, user, count: int) -> list[Notification]:
        return [
            notification_create(user_id=user.pk, kind="message", payload={"n": i})
            for i in range(count)
        ]

    def test_ids(self, user_factory) -> None:
        user = user_factory()
        first, second, _third = self.make(user, 3)
        with capture_broadcasts() as sent:
            unread = notifications_mark_read(user=user, ids=[first.pk, second.pk])
        assert unread == 1
        assert sent == [Broadcast(user_group(user.pk), "notification:count", ({"unread": 1},))]
        first.refresh_from_db()
        assert first.read_at is not None

    def test_other_users_ids_are_ignored(self, user_factory) -> None:
        user, other = user_factory(), user_factory()
        (theirs,) = self.make(other, 1)
        self.make(user, 1)
        with capture_broadcasts() as sent:
            assert notifications_mark_read(user=user, ids=[theirs.pk]) == 1
        assert sent == []  # nothing changed, nothing to tell
        theirs.refresh_from_db()
        assert theirs.read_at is None

    def test_all(self, user_factory) -> None:
        user, other = user_factory(), user_factory()
        self.make(user, 3)
        self.make(other, 2)
        with capture_broadcasts() as sent:
            assert notifications_mark_read(user=user, all=True) == 0
        assert [b.event for b in sent] == ["notification:count"]
        assert notification_unread_count(other.pk) == 2

    def test_read_stays_read(self, user_factory) -> None:
        user = user_factory()
        (notification,) = self.make(user, 1)
        notifications_mark_read(user=user, ids=[notification.pk])
        notification.refresh_from_db()
        first_read_at = notification.read_at
        notifications_mark_read(user=user, all=True)
        notification.refresh_from_db()
        assert notification.read_at == first_read_at

    @pytest.mark.parametrize(
        "kwargs",
        [{}, {"ids": [1], "all": True}, {"ids": list(range(1, 502))}, {"ids": ["1"]}],
        ids=["neither", "both", "too-many", "not-int"],
    )
    def test_invalid(self, user_factory, kwargs) -> None:
        with pytest.raises(BanterError) as caught:
            notifications_mark_read(user=user_factory(), **kwargs)
        assert caught.value.code is ErrorCode.VALIDATION_ERROR


class TestSelectors:
    def test_unread_newest_first_with_limit(self, user_factory) -> None:
        user = user_factory()
        created = [
            notification_create(user_id=user.pk, kind="message", payload={"n": i}) for i in range(4)
        ]
        notifications_mark_read(user=user, ids=[created[3].pk])
        assert notifications_unread(user, limit=2) == [created[2], created[1]]
        assert notification_unread_count(user.pk) == 3
        assert list(notification_list(user)) == created[::-1]
        assert list(notification_list(user, unread_only=True)) == created[2::-1]

    def test_only_own(self, user_factory) -> None:
        user, other = user_factory(), user_factory()
        notification_create(user_id=other.pk, kind="system", payload={})
        assert notifications_unread(user) == []
        assert notification_unread_count(user.pk) == 0
