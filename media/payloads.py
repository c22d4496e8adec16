"""The attachment shape, the same in the upload answer, message payloads and history."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from media.models import Upload


class AttachmentPayload(TypedDict):
    id: int
    # Same-origin paths: the download view authorizes every request (docs/api.md).
    url: str
    name: str
    mimeType: str
    size: int
    width: int | None
    height: int | None
    thumbnailUrl: str | None


def file_path(upload_id: int) -> str:
    return f"/api/uploads/{upload_id}/file"


def thumbnail_path(upload_id: int) -> str:
    return f"/api/uploads/{upload_id}/thumbnail"


def attachment_payload(upload: Upload) -> AttachmentPayload:
    return {
        "id": upload.pk,
        "url": file_path(upload.pk),
        "name": upload.name,
        "mimeType": upload.mime_type,
        "size": upload.size,
        "width": upload.width,
        "height": upload.height,
        "thumbnailUrl": thumbnail_path(upload.pk) if upload.thumbnail else None,
    }
