"""The bytes of an authorized download (the caller has checked who may read them):
streamed by Django, handed to nginx (`X-Accel-Redirect`), or a redirect to a short-lived
presigned URL of the bucket (MEDIA_STORAGE=s3). Thumbnails (a few kB) are streamed from the
bucket instead: a page whose CSP allows only its own origin (ours) could not follow the
redirect to show them."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header

from media.models import Upload
from media.services import media_storage

Variant = Literal["file", "thumbnail"]

# Shown in the page (an <img>, a <video>) rather than saved: the types a browser renders
# without running anything. Every other type downloads as a file.
INLINE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "audio/mpeg",
        "audio/ogg",
        "audio/mp4",
        "audio/x-wav",
        "video/mp4",
        "video/webm",
    }
)


def stored_name(upload: Upload, variant: Variant) -> str:
    return upload.thumbnail if variant == "thumbnail" else upload.file


def content_type(upload: Upload, variant: Variant) -> str:
    if variant == "thumbnail":
        return "image/png" if upload.thumbnail.endswith(".png") else "image/jpeg"
    return upload.mime_type


def serve(upload: Upload, variant: Variant) -> HttpResponseBase:
    name = stored_name(upload, variant)
    mime = content_type(upload, variant)
    inline = mime in INLINE_TYPES
    disposition = content_disposition_header(not inline, upload.name) or "attachment"
    if settings.MEDIA_STORAGE == "s3" and variant == "file":
        storage: Any = media_storage()  # django-storages' S3Storage.url takes parameters
        url = storage.url(
            name,
            parameters={"ResponseContentType": mime, "ResponseContentDisposition": disposition},
        )
        response: HttpResponseBase = HttpResponseRedirect(url)
    elif settings.MEDIA_ACCEL_REDIRECT:
        response = HttpResponse(content_type=mime)
        response["X-Accel-Redirect"] = settings.MEDIA_ACCEL_REDIRECT.rstrip("/") + "/" + quote(name)
    else:
        response = FileResponse(media_storage().open(name, "rb"), content_type=mime)
    response["Content-Type"] = mime
    response["Content-Disposition"] = disposition
    # The bytes are the uploader's: never sniffed into HTML, never a page that runs script.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    # Per reader (authorized): no shared cache may keep it, and the reader's own asks again
    # each time, so a deleted message's files are gone for them too.
    response["Cache-Control"] = "private, no-cache"
    return response
