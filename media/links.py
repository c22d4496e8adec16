"""Signed download links: `?sig=` makes a file URL readable without a login until it
expires (MEDIA_LINK_TTL), for players and image loaders that cannot send a header. Handed
out per reader by `GET /api/uploads/{id}` after the same check as a download; the message
being deleted still closes them (chat/attachments.py readable_upload)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.utils import timezone

_SALT = "banter.media.link"


def _value(upload_id: int, variant: str) -> str:
    return f"{upload_id}.{variant}"


def ttl() -> float:
    return float(settings.BANTER["MEDIA_LINK_TTL"])


def sign(upload_id: int, variant: str) -> tuple[str, datetime]:
    token = signing.TimestampSigner(salt=_SALT).sign(_value(upload_id, variant))
    return token, timezone.now() + timedelta(seconds=ttl())


def is_valid(token: str, upload_id: int, variant: str) -> bool:
    try:
        value = signing.TimestampSigner(salt=_SALT).unsign(token, max_age=timedelta(seconds=ttl()))
    except signing.BadSignature:  # SignatureExpired included
        return False
    return value == _value(upload_id, variant)
