from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A Banter user. is_online/last_seen are kept by the presence app."""

    display_name = models.CharField(max_length=64, blank=True)
    avatar_url = models.URLField(max_length=500, blank=True)
    is_online = models.BooleanField(default=False, db_index=True)
    last_seen = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    @property
    def public_name(self) -> str:
        return self.display_name or self.username
