from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A Banter user. is_online/last_seen/presence_status are kept by the presence app."""

    class PresenceStatus(models.TextChoices):
        ONLINE = "online"
        AWAY = "away"
        BUSY = "busy"
        INVISIBLE = "invisible"  # connected, but shown offline to everyone else

    display_name = models.CharField(max_length=64, blank=True)
    avatar_url = models.URLField(max_length=500, blank=True)
    is_online = models.BooleanField(default=False, db_index=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    # The status the user chose; kept across sessions (an invisible user stays invisible).
    presence_status = models.CharField(
        max_length=16, choices=PresenceStatus.choices, default=PresenceStatus.ONLINE
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    @property
    def public_name(self) -> str:
        return self.display_name or self.username
