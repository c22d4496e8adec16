"""Messages with attachments (chat/attachments.py): who may attach what, what the message
carries, who may download the files, and the orphan sweep."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import TestCase
from django.utils import timezone

from banter.accounts.models import User
from banter.core.errors import BanterError, ErrorCode
from banter.realtime.broadcast import capture_broadcasts
from chat import services
from chat.message_batch import SendRequest, message_send_batch
from chat.models import Message, Room, RoomEvent
from media import links
from media import services as media_services
from media.models import Upload
from tests.chat.test_api import assert_error
from tests.media.conftest import jpeg_bytes, stored_files

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

AuthClient = Any
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def upload_of(user: User, data: bytes | None = None, name: str = "a.jpg") -> Upload:
    data = data if data is not None else jpeg_bytes((64, 48))
    return media_services.upload_create(
        owner=user, source=io.BytesIO(data), size=len(data), name=name
    )


def code_of(error: pytest.ExceptionInfo[BanterError]) -> ErrorCode:
    return error.value.code


class TestSending:
    def test_an_image_message_carries_its_attachments(self, room: Room, member: User) -> None:
        photo = upload_of(member)
        with capture_broadcasts() as sent:
            message, created = services.message_send(
                sender=member, room_id=room.pk, content=None, attachments=[photo.pk]
            )

        assert created and message.message_type == "image" and message.content == ""
        photo.refresh_from_db()
        assert photo.message_id == message.pk and photo.attached_at is not None
        (event,) = sent
        (attachment,) = event.args[0]["attachments"]
        assert attachment == {
            "id": photo.pk,
            "url": f"/api/uploads/{photo.pk}/file",
            "name": "a.jpg",
            "mimeType": "image/jpeg",
            "size": photo.size,
            "width": 64,
            "height": 48,
            "thumbnailUrl": f"/api/uploads/{photo.pk}/thumbnail",
        }
        recorded = RoomEvent.objects.get(event="message-received")
        assert recorded.payload["attachments"] == [attachment]

    def test_any_file_makes_it_a_file_message_with_a_caption(
        self, room: Room, member: User
    ) -> None:
        photo, pdf = upload_of(member), upload_of(member, PDF, "r.pdf")
        message, _ = services.message_send(
            sender=member, room_id=room.pk, content="  the report ", attachments=[photo.pk, pdf.pk]
        )
        assert message.message_type == "file" and message.content == "the report"
        assert [item["id"] for item in message.attachments or ()] == [photo.pk, pdf.pk]

    def test_someone_elses_upload(self, room: Room, member: User, owner: User) -> None:
        theirs = upload_of(owner)
        with pytest.raises(BanterError) as error:
            services.message_send(
                sender=member, room_id=room.pk, content="x", attachments=[theirs.pk]
            )
        assert code_of(error) == ErrorCode.FORBIDDEN
        assert not Message.objects.exists()

    def test_an_unknown_upload(self, room: Room, member: User) -> None:
        with pytest.raises(BanterError) as error:
            services.message_send(sender=member, room_id=room.pk, content="x", attachments=[10**9])
        assert code_of(error) == ErrorCode.NOT_FOUND

    def test_an_upload_is_attached_once(self, room: Room, member: User) -> None:
        photo = upload_of(member)
        services.message_send(sender=member, room_id=room.pk, content=None, attachments=[photo.pk])
        with pytest.raises(BanterError) as error:
            services.message_send(
                sender=member, room_id=room.pk, content=None, attachments=[photo.pk]
            )
        assert code_of(error) == ErrorCode.CONFLICT
        assert Message.objects.count() == 1

    def test_a_retry_gets_the_stored_message(self, room: Room, member: User) -> None:
        photo = upload_of(member)
        first, created = services.message_send(
            sender=member, room_id=room.pk, content=None, attachments=[photo.pk], client_id="c1"
        )
        again, created_again = services.message_send(
            sender=member, room_id=room.pk, content=None, attachments=[photo.pk], client_id="c1"
        )
        assert created and not created_again and again.pk == first.pk

    @pytest.mark.parametrize("attachments", ["1", [0], ["x"], [1, 1], list(range(1, 12)), [True]])
    def test_malformed_lists(self, room: Room, member: User, attachments: Any) -> None:
        with pytest.raises(BanterError) as error:
            services.message_send(
                sender=member, room_id=room.pk, content="x", attachments=attachments
            )
        assert code_of(error) == ErrorCode.VALIDATION_ERROR

    def test_without_attachments_the_content_is_still_required(
        self, room: Room, member: User
    ) -> None:
        with pytest.raises(BanterError) as error:
            services.message_send(sender=member, room_id=room.pk, content=None)
        assert code_of(error) == ErrorCode.VALIDATION_ERROR

    def test_a_caption_can_be_emptied_but_a_text_cannot(self, room: Room, member: User) -> None:
        photo = upload_of(member)
        with_file, _ = services.message_send(
            sender=member, room_id=room.pk, content="caption", attachments=[photo.pk]
        )
        text, _ = services.message_send(sender=member, room_id=room.pk, content="text")

        assert (
            services.message_edit(user=member, message_id=with_file.pk, content=" ").content == ""
        )
        with pytest.raises(BanterError) as error:
            services.message_edit(user=member, message_id=text.pk, content=" ")
        assert code_of(error) == ErrorCode.VALIDATION_ERROR

    def test_deleting_the_message_blanks_its_attachments_everywhere(
        self, room: Room, member: User
    ) -> None:
        photo = upload_of(member)
        message, _ = services.message_send(
            sender=member, room_id=room.pk, content=None, attachments=[photo.pk]
        )
        services.message_delete(user=member, message_id=message.pk)
        assert RoomEvent.objects.get(event="message-received").payload["attachments"] == []


class TestBatch:
    def test_the_group_commit_attaches_and_refuses_as_message_send(
        self, room: Room, member: User, owner: User
    ) -> None:
        mine, other, theirs = upload_of(member), upload_of(member), upload_of(owner)
        results = message_send_batch(
            [
                SendRequest(sender=member, room_id=room.pk, content=None, attachments=(mine.pk,)),
                SendRequest(sender=member, room_id=room.pk, content="b", attachments=(mine.pk,)),
                SendRequest(sender=member, room_id=room.pk, content="c", attachments=(theirs.pk,)),
                SendRequest(
                    sender=member,
                    room_id=room.pk,
                    content="d",
                    attachments=(other.pk,),
                    client_id="k",
                ),
                SendRequest(
                    sender=member,
                    room_id=room.pk,
                    content="d",
                    attachments=(other.pk,),
                    client_id="k",
                ),
                SendRequest(sender=member, room_id=room.pk, content="plain"),
            ]
        )
        first, second, third, fourth, repeat, plain = results
        assert isinstance(first, tuple) and first[0].message_type == "image"
        assert (first[0].attachments or [{}])[0]["id"] == mine.pk
        assert isinstance(second, BanterError) and second.code == ErrorCode.CONFLICT
        assert isinstance(third, BanterError) and third.code == ErrorCode.FORBIDDEN
        assert isinstance(fourth, tuple) and fourth[1]
        assert isinstance(repeat, tuple) and repeat[0].pk == fourth[0].pk and not repeat[1]
        assert isinstance(plain, tuple) and plain[0].attachments is None
        assert Upload.objects.get(pk=mine.pk).message_id == first[0].pk
        assert list(Message.objects.order_by("seq").values_list("seq", flat=True)) == [1, 2, 3]

    def test_a_repeat_of_a_refused_send_is_refused_alike(
        self, room: Room, member: User, owner: User
    ) -> None:
        theirs = upload_of(owner)
        request = SendRequest(
            sender=member, room_id=room.pk, content="x", attachments=(theirs.pk,), client_id="r"
        )
        first, again = message_send_batch([request, request])
        assert isinstance(first, BanterError) and isinstance(again, BanterError)
        assert first.code == again.code == ErrorCode.FORBIDDEN


class TestRest:
    def test_send_over_rest_and_read_it_back_in_history(
        self, auth_client: AuthClient, room: Room, member: User
    ) -> None:
        client = auth_client(member)
        photo = client.post(
            "/api/uploads",
            {"file": SimpleUploadedFile("p.jpg", jpeg_bytes((40, 30)), "image/jpeg")},
            format="multipart",
        ).json()
        response = client.post(
            f"/api/rooms/{room.pk}/messages", {"attachments": [photo["id"]]}, format="json"
        )
        assert response.status_code == 201, response.json()
        assert response.json()["messageType"] == "image"
        assert response.json()["attachments"] == [photo]

        history = client.get(f"/api/rooms/{room.pk}/messages").json()
        assert history["results"][0]["attachments"] == [photo]

    def test_a_foreign_upload_over_rest(
        self, auth_client: AuthClient, room: Room, member: User, owner: User
    ) -> None:
        theirs = upload_of(owner)
        response = auth_client(member).post(
            f"/api/rooms/{room.pk}/messages", {"attachments": [theirs.pk]}, format="json"
        )
        assert_error(response, 403, "forbidden")


@pytest.fixture
def sent_photo(room: Room, member: User) -> tuple[Upload, Message]:
    photo = upload_of(member, jpeg_bytes((500, 400)))
    message, _ = services.message_send(
        sender=member, room_id=room.pk, content=None, attachments=[photo.pk]
    )
    photo.refresh_from_db()
    return photo, message


class TestDownload:
    def test_members_get_the_bytes(
        self,
        auth_client: AuthClient,
        owner: User,
        sent_photo: tuple[Upload, Message],
        media_root: Path,
    ) -> None:
        photo, _ = sent_photo
        response = auth_client(owner).get(f"/api/uploads/{photo.pk}/file")

        assert response.status_code == 200
        assert b"".join(response.streaming_content) == (media_root / photo.file).read_bytes()
        assert response["Content-Type"] == "image/jpeg"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Disposition"].startswith("inline")
        assert "sandbox" in response["Content-Security-Policy"]
        thumb = auth_client(owner).get(f"/api/uploads/{photo.pk}/thumbnail")
        assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"

    def test_a_non_member_gets_not_found(
        self, auth_client: AuthClient, outsider: User, sent_photo: tuple[Upload, Message]
    ) -> None:
        photo, _ = sent_photo
        for path in (
            f"/api/uploads/{photo.pk}/file",
            f"/api/uploads/{photo.pk}/thumbnail",
            f"/api/uploads/{photo.pk}",
        ):
            assert_error(auth_client(outsider).get(path), 404, "not_found")

    def test_no_login_is_unauthorized(
        self, api_client: Any, sent_photo: tuple[Upload, Message]
    ) -> None:
        photo, _ = sent_photo
        assert_error(api_client.get(f"/api/uploads/{photo.pk}/file"), 401, "unauthorized")

    def test_a_deleted_message_takes_its_files_away(
        self, auth_client: AuthClient, owner: User, member: User, sent_photo: tuple[Upload, Message]
    ) -> None:
        photo, message = sent_photo
        token, _ = links.sign(photo.pk, "file")
        services.message_delete(user=member, message_id=message.pk)

        assert_error(auth_client(owner).get(f"/api/uploads/{photo.pk}/file"), 404, "not_found")
        assert_error(auth_client(member).get(f"/api/uploads/{photo.pk}/file"), 404, "not_found")
        response = auth_client(owner).get(f"/api/uploads/{photo.pk}/file", {"sig": token})
        assert_error(response, 404, "not_found")

    def test_before_it_is_sent_only_the_uploader_reads_it(
        self, auth_client: AuthClient, member: User, owner: User
    ) -> None:
        draft = upload_of(member, PDF, "draft.pdf")
        mine = auth_client(member).get(f"/api/uploads/{draft.pk}/file")
        assert mine.status_code == 200
        assert mine["Content-Disposition"].startswith("attachment")
        assert_error(auth_client(owner).get(f"/api/uploads/{draft.pk}/file"), 404, "not_found")

    def test_a_signed_link_works_without_a_login_until_it_expires(
        self,
        auth_client: AuthClient,
        api_client: Any,
        owner: User,
        sent_photo: tuple[Upload, Message],
        settings: Any,
    ) -> None:
        photo, _ = sent_photo
        detail = auth_client(owner).get(f"/api/uploads/{photo.pk}").json()
        assert detail["messageId"] == sent_photo[1].pk

        assert api_client.get(detail["link"]).status_code == 200
        assert api_client.get(detail["thumbnailLink"]).status_code == 200
        # A file link does not open the thumbnail, nor another upload.
        signature = detail["link"].split("sig=")[1]
        assert_error(
            api_client.get(f"/api/uploads/{photo.pk}/thumbnail?sig={signature}"), 403, "forbidden"
        )
        settings.BANTER = {**settings.BANTER, "MEDIA_LINK_TTL": -1}
        assert_error(api_client.get(detail["link"]), 403, "forbidden")

    def test_with_accel_redirect_nginx_sends_the_bytes(
        self,
        auth_client: AuthClient,
        owner: User,
        sent_photo: tuple[Upload, Message],
        settings: Any,
    ) -> None:
        settings.MEDIA_ACCEL_REDIRECT = "/protected-media/"
        photo, _ = sent_photo
        response = auth_client(owner).get(f"/api/uploads/{photo.pk}/file")
        assert response.status_code == 200 and response.content == b""
        assert response["X-Accel-Redirect"] == f"/protected-media/{photo.file}"


class TestSweep:
    def test_orphans_go_after_the_grace_and_sent_ones_stay(
        self, member: User, sent_photo: tuple[Upload, Message], media_root: Path
    ) -> None:
        recent = upload_of(member)
        stale = upload_of(member)
        Upload.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(days=2))
        before = set(stored_files(media_root))

        with self.captured_commits():
            call_command("sweep_uploads", stdout=io.StringIO())

        assert set(Upload.objects.values_list("pk", flat=True)) == {sent_photo[0].pk, recent.pk}
        gone = before - set(stored_files(media_root))
        assert gone == {media_root / stale.file, media_root / stale.thumbnail}

    def test_a_deleted_users_files_go_with_their_rows(
        self, sent_photo: tuple[Upload, Message], member: User, media_root: Path
    ) -> None:
        upload_of(member)
        with self.captured_commits():
            member.delete()  # their messages and uploads go with them (CASCADE)
        assert not Upload.objects.exists()
        assert stored_files(media_root) == []

    def test_files_of_a_deleted_room_are_swept(
        self, sent_photo: tuple[Upload, Message], room: Room, media_root: Path
    ) -> None:
        room.delete()  # the message goes; the upload stays, detached
        photo = Upload.objects.get()
        assert photo.message_id is None and photo.attached_at is not None

        with self.captured_commits():
            assert media_services.uploads_sweep() == 1
        assert stored_files(media_root) == []

    @staticmethod
    def captured_commits() -> Any:
        # Tests run inside a transaction: run the on_commit callbacks it collects.
        return TestCase.captureOnCommitCallbacks(execute=True)
