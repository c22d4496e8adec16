"""Uploads: accept a file (limits, sniffed type, clean images, quota), find and remove the
ones no message kept (the orphan sweep).

Every refusal is a BanterError raised before anything is stored; once files are stored, a
failure before their row is committed deletes them again. Nothing is left behind either way.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, BinaryIO

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, storages
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from banter.accounts.models import User
from banter.core.errors import BanterError, ErrorCode, validation_error
from media import images
from media.models import Upload
from media.sniffing import HEAD_BYTES, contradicts, sniff

logger = logging.getLogger("banter.media")

# Extensions of the stored names (the client's name is kept apart, in Upload.name).
_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "application/pdf": "pdf",
    "text/plain": "txt",
    "audio/mpeg": "mp3",
    "audio/ogg": "ogg",
    "audio/mp4": "m4a",
    "audio/x-wav": "wav",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/quicktime": "mov",
}
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")
MAX_NAME_LENGTH = 255
SWEEP_BATCH = 200


def media_storage() -> Storage:
    return storages["media"]


def _knob(name: str) -> Any:
    return settings.BANTER[name]


def clean_file_name(name: str | None) -> str:
    """The client's file name as shown to others: its last path part, no control characters,
    at most 255 characters (the extension kept); "file" when nothing is left."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = _UNSAFE_NAME.sub("", base).strip().lstrip(".") or "file"
    if len(base) > MAX_NAME_LENGTH:
        _, dot, ext = base.rpartition(".")
        suffix = "." + ext if dot and len(ext) <= 16 else ""
        base = base[: MAX_NAME_LENGTH - len(suffix)] + suffix
    return base


def quota_used(owner_id: int) -> int:
    """Bytes the user's uploads hold (files and thumbnails), attached or not."""
    return int(Upload.objects.filter(owner_id=owner_id).aggregate(total=Sum("size"))["total"] or 0)


def _too_large(size: int, maximum: int) -> BanterError:
    return BanterError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"The file is larger than {maximum} bytes",
        {"size": size, "maxBytes": maximum},
    )


def _check_quota(owner_id: int, size: int) -> None:
    quota = int(_knob("MEDIA_QUOTA_BYTES"))
    if not quota:
        return
    used = quota_used(owner_id)
    if used + size > quota:
        raise BanterError(
            ErrorCode.QUOTA_EXCEEDED,
            "Your storage quota is used up: delete messages with attachments or wait for "
            "unsent uploads to expire",
            {"usedBytes": used, "quotaBytes": quota, "size": size},
        )


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What will be stored: the file's bytes (a clean image) or the upload itself."""

    content: File[Any]
    mime_type: str
    size: int
    width: int | None = None
    height: int | None = None
    thumbnail: bytes | None = None
    thumbnail_type: str = ""


def _prepare(source: BinaryIO, size: int, declared_type: str | None, name: str | None) -> _Prepared:
    source.seek(0)
    head = source.read(HEAD_BYTES)
    source.seek(0)
    mime_type = sniff(head)
    allowed = tuple(_knob("MEDIA_ALLOWED_TYPES"))
    if mime_type is None or mime_type not in allowed:
        raise BanterError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "This type of file is not accepted",
            {"mimeType": mime_type or "unknown", "allowed": list(allowed)},
        )
    if contradicts(mime_type, declared_type, name):
        raise BanterError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "The file's content does not match its declared type",
            {"mimeType": mime_type, "declared": declared_type or name or ""},
        )
    if mime_type not in images.FORMATS:
        return _Prepared(File(source), mime_type, size)
    clean = images.clean_image(
        source,
        mime_type,
        max_pixels=int(_knob("MEDIA_MAX_IMAGE_PIXELS")),
        thumbnail_size=int(_knob("MEDIA_THUMBNAIL_SIZE")),
    )
    return _Prepared(
        ContentFile(clean.data),
        mime_type,
        len(clean.data),
        clean.width,
        clean.height,
        clean.thumbnail,
        clean.thumbnail_type,
    )


def upload_create(
    *,
    owner: User,
    source: BinaryIO,
    size: int,
    name: str | None,
    declared_type: str | None = None,
) -> Upload:
    """Store one uploaded file of `size` bytes for `owner`; the Upload row, or a BanterError
    (payload_too_large, unsupported_media_type, quota_exceeded, validation_error).

    The type is sniffed from the bytes; the client's `declared_type` and `name` only ever
    refuse (a claimed image that is not one), never admit."""
    maximum = int(_knob("MEDIA_MAX_UPLOAD_BYTES"))
    if size > maximum:
        raise _too_large(size, maximum)
    if size == 0:
        raise validation_error("The file is empty", file="empty")
    _check_quota(owner.pk, size)  # early, before the work of reading it
    prepared = _prepare(source, size, declared_type, name)
    stored_size = prepared.size + len(prepared.thumbnail or b"")

    storage = media_storage()
    stem = f"uploads/{timezone.now():%Y/%m}/{secrets.token_urlsafe(18)}"
    stored: list[str] = []
    try:
        stored.append(
            storage.save(f"{stem}.{_EXTENSIONS.get(prepared.mime_type, 'bin')}", prepared.content)
        )
        if prepared.thumbnail is not None:
            ext = "png" if prepared.thumbnail_type == "image/png" else "jpg"
            stored.append(storage.save(f"{stem}.thumb.{ext}", ContentFile(prepared.thumbnail)))
        with transaction.atomic():
            # The owner's row lock serialises their concurrent uploads: two cannot both pass
            # the quota with room for one.
            User.objects.select_for_update().filter(pk=owner.pk).values_list("pk").first()
            _check_quota(owner.pk, stored_size)
            return Upload.objects.create(
                owner=owner,
                file=stored[0],
                thumbnail=stored[1] if len(stored) > 1 else "",
                name=clean_file_name(name),
                mime_type=prepared.mime_type,
                size=stored_size,
                width=prepared.width,
                height=prepared.height,
            )
    except BaseException:
        _delete_files(storage, stored)
        raise


def delete_stored(names: list[str]) -> None:
    """Delete stored files; a failure is logged (a leaked file is better than a lost row)."""
    _delete_files(media_storage(), names)


def _delete_files(storage: Storage, names: list[str]) -> None:
    for stored_name in names:
        try:
            storage.delete(stored_name)
        except Exception:
            logger.exception("could not delete stored file %s", stored_name)


def uploads_sweep(now: Any = None) -> int:
    """Remove up to SWEEP_BATCH uploads no message holds: never attached within
    MEDIA_ORPHAN_GRACE, or whose message is gone. Their files go once the rows' deletion is
    committed (media/signals.py): a file that fails to delete is logged, and no row is ever
    left pointing at nothing."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=float(_knob("MEDIA_ORPHAN_GRACE")))
    with transaction.atomic():
        due = Upload.objects.filter(message__isnull=True).filter(
            Q(created_at__lt=cutoff) | Q(attached_at__isnull=False)
        )
        if connection.features.has_select_for_update_skip_locked:
            # Instances sweep side by side: each takes rows the others have not locked.
            due = due.select_for_update(skip_locked=True)
        ids = list(due.order_by("pk").values_list("pk", flat=True)[:SWEEP_BATCH])
        if not ids:
            return 0
        Upload.objects.filter(pk__in=ids).delete()
    logger.info("removed %d orphan uploads", len(ids))
    return len(ids)
