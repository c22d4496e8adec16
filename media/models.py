"""Uploaded files: what media/services.py stored, and which message (if any) carries them.

The bytes live in the "media" storage (settings.STORAGES); a row is written only after its
files are stored, and the files are deleted when a refusal or a failed insert leaves no row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Upload(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads"
    )
    # Storage names (paths inside the media storage), not URLs: downloads are authorized.
    file = models.CharField(max_length=255)
    thumbnail = models.CharField(max_length=255, blank=True)
    # The client's file name, cleaned (media/services.py): shown, never used as a path.
    name = models.CharField(max_length=255)
    # Sniffed from the content (media/sniffing.py), never the client's claim.
    mime_type = models.CharField(max_length=100)
    size = models.BigIntegerField()
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Set once, in the transaction that stores the message (chat/attachments.py). A message
    # hard-deleted with its sender leaves message NULL and attached_at set: the orphan
    # sweeper removes those files too.
    message = models.ForeignKey(
        "chat.Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="uploads",
    )
    attached_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The quota sum and the owner's list.
            models.Index(fields=["owner", "created_at"], name="media_upload_owner"),
            # The orphan sweep: never-attached uploads by age, and detached ones.
            models.Index(
                fields=["created_at"],
                condition=Q(message__isnull=True),
                name="media_upload_unattached",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.mime_type}, {self.size} bytes) by {self.owner_id}"

    @property
    def is_image(self) -> bool:
        return self.width is not None
