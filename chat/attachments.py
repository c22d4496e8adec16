"""Uploads attached to messages: the checks of a send's `attachments`, the claim that ties
each upload to its message (once, and only by its uploader), and who may read the files.

A message keeps its attachments' payloads (Message.attachments), written with it: they
never change, and every payload of the message is then built without a query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils import timezone

from banter.accounts.models import User
from banter.core.errors import BanterError, conflict, forbidden, not_found, validation_error
from banter.core.validation import check_reference_id
from chat.models import Membership, Message
from media.models import Upload
from media.payloads import AttachmentPayload, attachment_payload

MAX_ATTACHMENTS = 10


def check_attachment_ids(value: Any) -> tuple[int, ...]:
    """`attachments`: a list of at most MAX_ATTACHMENTS distinct upload ids (absent: none)."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise validation_error("attachments must be a list of upload ids", attachments="not a list")
    if len(value) > MAX_ATTACHMENTS:
        raise validation_error(
            f"At most {MAX_ATTACHMENTS} attachments per message", attachments="too many"
        )
    ids = tuple(check_reference_id(item, field="attachments") for item in value)
    if len(set(ids)) != len(ids):
        raise validation_error("An upload can be attached once", attachments="repeated")
    return ids


def uploads_by_id(ids: Sequence[int]) -> dict[int, Upload]:
    return Upload.objects.in_bulk(list(ids)) if ids else {}


def attachment_refusal(
    sender_id: int, ids: Sequence[int], uploads: dict[int, Upload]
) -> BanterError | None:
    """Why `sender_id` may not attach these uploads, or None: each must exist, be theirs,
    and be attached to nothing yet."""
    for upload_id in ids:
        upload = uploads.get(upload_id)
        if upload is None:
            return not_found("Upload")
        if upload.owner_id != sender_id:
            return forbidden("Only the uploader can attach an upload")
        if upload.attached_at is not None:
            return conflict("The upload is already attached to a message", uploadId=upload_id)
    return None


def described(ids: Sequence[int], uploads: dict[int, Upload]) -> list[AttachmentPayload]:
    return [attachment_payload(uploads[upload_id]) for upload_id in ids]


def message_type_of(attachments: Sequence[AttachmentPayload], declared: str) -> str:
    """Images only: "image"; any other file: "file"; none: what the client declared."""
    if not attachments:
        return declared
    if all(item["width"] is not None for item in attachments):
        return Message.Type.IMAGE
    return Message.Type.FILE


def claim(message: Message, ids: Sequence[int]) -> None:
    """Tie the uploads to `message` inside its transaction. A concurrent send (another
    process) that claimed one first makes this raise conflict: the caller's transaction
    rolls back, message and all."""
    if not ids:
        return
    claimed = Upload.objects.filter(
        pk__in=list(ids), owner_id=message.sender_id, attached_at__isnull=True
    ).update(message=message, attached_at=timezone.now())
    if claimed != len(ids):
        raise conflict("The upload is already attached to a message")


def lock_for_send(sender_id: int, ids: Sequence[int]) -> list[AttachmentPayload]:
    """The uploads' payloads for a send, their rows locked until it commits (message_send:
    one send at a time); a BanterError if they cannot be attached."""
    if not ids:
        return []
    uploads = Upload.objects.select_for_update().in_bulk(list(ids))
    refusal = attachment_refusal(sender_id, ids, uploads)
    if refusal is not None:
        raise refusal
    return described(ids, uploads)


# -- reading the files ---------------------------------------------------------------------


def readable_upload(user: User | None, upload_id: int, *, signed: bool = False) -> Upload:
    """The upload if this reader may have its bytes, else not_found (a non-member learns
    nothing, not even that it exists).

    Readers: the uploader, before it is sent; once sent, the members of the message's room
    while the message is not deleted; staff always (moderation); anyone holding a valid
    signed link (`signed`), while the message is not deleted."""
    upload = Upload.objects.select_related("message").filter(pk=upload_id).first()
    if upload is None:
        raise not_found("Upload")
    if user is not None and user.is_staff:
        return upload
    message = upload.message
    if upload.attached_at is not None and (message is None or message.deleted_at is not None):
        raise not_found("Upload")
    if signed:
        return upload
    if user is None:
        raise not_found("Upload")
    if message is None:
        if upload.owner_id != user.pk:
            raise not_found("Upload")
        return upload
    if not Membership.objects.filter(room_id=message.room_id, user_id=user.pk).exists():
        raise not_found("Upload")
    return upload
