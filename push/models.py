"""Push targets and the push outbox.

A `Device` is where a user's offline notifications go (a browser's Web Push subscription).
A `PushOutbox` row is one notification owed to one device, written in the same transaction
as the message that causes it (push/outbox.py), and delivered by the loop every server
process runs (push/delivery.py). One pending row per device and room: a newer message
replaces the older one's row (collapse), so a device offline for an hour gets one push per
room, not hundreds.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Device(models.Model):
    class Kind(models.TextChoices):
        WEBPUSH = "webpush", "Web Push"
        FCM = "fcm", "Firebase Cloud Messaging"
        APNS = "apns", "Apple Push Notification service"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_devices"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Web Push: the push service's URL for this browser, and the subscription's keys
    # (base64url): p256dh encrypts the payload, auth salts it.
    endpoint = models.URLField(max_length=1000, blank=True)
    p256dh = models.CharField(max_length=200, blank=True)
    auth = models.CharField(max_length=100, blank=True)
    # FCM registration token or APNs device token.
    token = models.CharField(max_length=4096, blank=True)
    # APNs: the app's bundle id (apns-topic) and whether the token is a sandbox one.
    topic = models.CharField(max_length=255, blank=True)
    sandbox = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_success_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One device per address: registering it again (another user on the same browser
            # or phone) moves it.
            models.UniqueConstraint(
                fields=["kind", "endpoint"],
                condition=~Q(endpoint=""),
                name="push_device_kind_endpoint",
            ),
            models.UniqueConstraint(
                fields=["kind", "token"], condition=~Q(token=""), name="push_device_kind_token"
            ),
        ]
        indexes = [models.Index(fields=["user", "created_at"], name="push_device_user")]

    def __str__(self) -> str:
        return f"{self.kind} device {self.pk} of user {self.user_id}"


class PushOutbox(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        SKIPPED = "skipped"  # the user was online (or had read it) when it came due
        FAILED = "failed"  # refused for good by the push service
        EXPIRED = "expired"  # still undelivered after its TTL
        GONE = "gone"  # the push service said the device no longer exists

    class Kind(models.TextChoices):
        MESSAGE = "message"
        MENTION = "mention"
        CALL_INCOMING = "call_incoming"
        MISSED_CALL = "missed_call"

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="outbox")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # "room:<id>" or "call:<id>": at most one pending row per device and key (the newer
    # message replaces; a missed call replaces its ring).
    collapse_key = models.CharField(max_length=64)
    room_id = models.BigIntegerField(null=True, blank=True)
    message_id = models.BigIntegerField(null=True, blank=True)
    call_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    # Not before: a recipient who is back within the presence grace is not pushed.
    due_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    # While a process delivers a row it holds this lease; a crash lets it lapse and another
    # process (or the same, restarted) sends it again: at least once, at most once more.
    leased_until = models.DateTimeField(null=True, blank=True)
    # Bumped when a newer message replaces the row's: a delivery of the older version must
    # not mark the newer one sent.
    version = models.PositiveIntegerField(default=1)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["device", "collapse_key"],
                condition=Q(status="pending"),
                name="push_outbox_one_pending_per_key",
            ),
        ]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(status="pending"), name="push_outbox_due"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} push {self.pk} to device {self.device_id} ({self.status})"
