from __future__ import annotations

from django.conf import settings
from django.db import models


class CallLog(models.Model):
    """One call attempt between two users, from ringing to its end (the call history)."""

    class CallType(models.TextChoices):
        AUDIO = "audio"
        VIDEO = "video"

    class Status(models.TextChoices):
        RINGING = "ringing"
        ANSWERED = "answered"
        REJECTED = "rejected"
        MISSED = "missed"
        CANCELLED = "cancelled"
        COMPLETED = "completed"
        BUSY = "busy"

    class Media(models.TextChoices):
        WEBRTC = "webrtc"  # the clients' own WebRTC session over the `call:signal` relay
        AGORA = "agora"  # an Agora channel; the server hands out RTC tokens

    class EndReason(models.TextChoices):
        HANGUP = "hangup"
        DROPPED = "dropped"  # a side stayed disconnected past CALL_DROP_GRACE
        INSUFFICIENT_FUNDS = "insufficient_funds"  # the caller's coins ran out

    caller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calls_made"
    )
    receiver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calls_received"
    )
    call_type = models.CharField(max_length=8, choices=CallType.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RINGING)
    started_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration = models.PositiveIntegerField(default=0, help_text="Seconds from answer to end.")
    # When an unanswered call becomes "missed"; the ring-timeout sweeper queries it through
    # the (status, ring_expires_at) index, so no single-column index is needed.
    ring_expires_at = models.DateTimeField(null=True, blank=True)
    # The socket (sid) of each side once known: signals after the answer go to that device
    # only, and the receiver's other devices are told the call was answered elsewhere.
    caller_device = models.CharField(max_length=64, blank=True)
    receiver_device = models.CharField(max_length=64, blank=True)
    # A participant of an answered call lost their last connection at `dropped_at`; unless
    # they reconnect before `drop_deadline`, any instance's sweeper ends the call then, with
    # the duration counted to the drop.
    dropped_at = models.DateTimeField(null=True, blank=True)
    drop_deadline = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=24, choices=EndReason.choices, blank=True)

    media = models.CharField(max_length=8, choices=Media.choices, default=Media.WEBRTC)
    # The Agora channel: random, so a token for one call says nothing about another's name.
    channel = models.CharField(max_length=64, blank=True)
    # Billing (calls/billing.py): the receiver's price when the call started, and what the
    # caller paid at its end (one ledger transaction keyed by the call).
    price_per_minute = models.PositiveIntegerField(default=0)
    cost = models.PositiveBigIntegerField(default=0)
    billed_seconds = models.PositiveIntegerField(default=0)
    # While a paid call is answered: when the caller's coins run out, and when to warn them
    # (`call:balance-low`). Rows, not timers, so any instance's sweeper acts on them.
    billing_deadline = models.DateTimeField(null=True, blank=True)
    balance_warning_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-started_at", "-id")
        indexes = [
            models.Index(fields=["caller", "-started_at"], name="calllog_caller_started"),
            models.Index(fields=["receiver", "-started_at"], name="calllog_receiver_started"),
            models.Index(fields=["status", "ring_expires_at"], name="calllog_status_ring_expiry"),
            models.Index(fields=["status", "drop_deadline"], name="calllog_status_drop_deadline"),
            models.Index(fields=["status", "billing_deadline"], name="calllog_status_billing_due"),
            models.Index(
                fields=["status", "balance_warning_at"], name="calllog_status_warning_due"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(caller=models.F("receiver")), name="calllog_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.call_type} call {self.caller_id} -> {self.receiver_id} ({self.status})"
