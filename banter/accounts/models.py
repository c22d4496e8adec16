from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken


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
    # Access tokens carry the generation they were issued in (claim "gen", absent = 0);
    # ending the user's sessions (logout, deactivation, password change, refresh-token
    # reuse) increments it, which refuses every access token issued before. A counter, not
    # a "valid after" time: `iat` has whole seconds, so a time cannot tell a token issued
    # just before a logout from one issued just after it in the same second.
    token_generation = models.PositiveIntegerField(default=0, editable=False)
    # Push notifications (push/): none while on; without previews a push says only
    # "New message", never who wrote what.
    do_not_disturb = models.BooleanField(default=False)
    push_previews = models.BooleanField(default=True)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    @property
    def public_name(self) -> str:
        return self.display_name or self.username


class RotatedRefreshToken(models.Model):
    """A refresh token blacklisted because it was exchanged for a new pair.

    The blacklist alone cannot tell rotation from logout or deactivation; only a rotated
    token presented again is a sign of theft (its successor is out there). Deleted with its
    OutstandingToken (simplejwt's flushexpiredtokens).
    """

    token = models.OneToOneField(OutstandingToken, on_delete=models.CASCADE, primary_key=True)
    rotated_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"rotated {self.token_id} at {self.rotated_at}"
