"""The push admin: devices and the outbox listed; "Send a test push" reaches the device
through the real sender and shows the push service's answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from push.models import Device
from tests.push.webpush_service import PushService, Subscriber

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("vapid")]


@pytest.fixture
def push_service() -> Iterator[PushService]:
    with PushService() as service:
        yield service


def test_devices_outbox_and_a_test_push(user_factory: Any, push_service: PushService) -> None:
    bob = user_factory(username="bob")
    subscriber = Subscriber.create(push_service.endpoint("bob"))
    sub = subscriber.subscription()
    device = Device.objects.create(
        user=bob, kind="webpush", endpoint=sub["endpoint"], **sub["keys"]
    )
    staff = Client()
    staff.force_login(user_factory(is_staff=True, is_superuser=True))

    assert staff.get("/admin/push/device/").status_code == 200
    assert staff.get("/admin/push/pushoutbox/").status_code == 200
    assert staff.get("/admin/push/pushoutbox/add/").status_code == 403

    response = staff.post(
        "/admin/push/device/",
        {"action": "send_test_push", "_selected_action": [device.pk]},
        follow=True,
    )
    assert response.status_code == 200
    (push,) = push_service.received("bob")
    assert push.error is None
    assert push.decrypt(subscriber)["title"] == "Banter test push"
    assert "sent 201" in response.content.decode()

    push_service.respond("bob", 410)
    staff.post("/admin/push/device/", {"action": "send_test_push", "_selected_action": [device.pk]})
    assert not Device.objects.exists()  # gone: removed, as the delivery loop would
