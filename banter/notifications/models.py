from __future__ import annotations

from django.conf import settings
from django.db import models


class Notification(models.Model):
    """Something a user should see once: a message while away, a missed call, a mention."""

    class Kind(models.TextChoices):
        MESSAGE = "message"
        MISSED_CALL = "missed_call"
        MENTION = "mention"
        SYSTEM = "system"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            # Serves "my unread, newest first" (read_at IS NULL) and the unread count.
            models.Index(fields=["user", "read_at", "-created_at"], name="notif_user_read_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for user {self.user_id} at {self.created_at:%Y-%m-%d %H:%M}"
