"""The uploads admin: listed with size, type, owner and message, read-only; staff open any
file through the authorized download path."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.test import Client

from banter.accounts.models import User
from chat import services
from media import services as media_services
from tests.media.conftest import jpeg_bytes

pytestmark = pytest.mark.django_db


def test_uploads_are_listed_read_only_and_staff_can_open_them(user_factory: Any) -> None:
    alice: User = user_factory(username="alice")
    room = services.room_create(creator=alice, name="Pics")
    data = jpeg_bytes((30, 20))
    upload = media_services.upload_create(
        owner=alice, source=io.BytesIO(data), size=len(data), name="cat.jpg"
    )
    message, _ = services.message_send(
        sender=alice, room_id=room.pk, content=None, attachments=[upload.pk]
    )
    staff = Client()
    staff.force_login(user_factory(is_staff=True, is_superuser=True))

    listing = staff.get("/admin/media/upload/?q=alice")
    assert listing.status_code == 200
    page = listing.content.decode()
    for shown in ("cat.jpg", "image/jpeg", str(upload.size), "alice", f"#{message.seq}"):
        assert shown in page, shown
    detail = staff.get(f"/admin/media/upload/{upload.pk}/change/")
    assert detail.status_code == 200 and f"/api/uploads/{upload.pk}/file" in detail.content.decode()
    assert staff.get("/admin/media/upload/add/").status_code == 403

    # Staff read any file (moderation), a deleted message's too.
    services.message_delete(user=alice, message_id=message.pk)
    assert staff.get(f"/api/uploads/{upload.pk}/file").status_code == 200
