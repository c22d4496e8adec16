"""REST query parameters and the documented call shape (built by calls.events)."""

from __future__ import annotations

from rest_framework import serializers

from banter.accounts.serializers import UserSummarySerializer
from calls.models import CallLog


class CallListParamsSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CallLog.Status.choices, required=False)
    type = serializers.ChoiceField(choices=CallLog.CallType.choices, required=False)


class CallSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    callId = serializers.IntegerField(help_text="The same as id (the seed's clients read it).")
    callerId = serializers.IntegerField()
    receiverId = serializers.IntegerField()
    caller = UserSummarySerializer()
    receiver = UserSummarySerializer()
    callType = serializers.ChoiceField(choices=CallLog.CallType.choices)
    status = serializers.ChoiceField(choices=CallLog.Status.choices)
    startedAt = serializers.DateTimeField()
    answeredAt = serializers.DateTimeField(allow_null=True)
    endedAt = serializers.DateTimeField(allow_null=True)
    duration = serializers.IntegerField(help_text="Seconds from answer to end.")
    ringExpiresAt = serializers.DateTimeField(allow_null=True)
    media = serializers.ChoiceField(
        choices=CallLog.Media.choices,
        help_text="agora: an Agora channel with server tokens; webrtc: the call:signal relay.",
    )
    pricePerMinute = serializers.IntegerField(
        help_text="Coins a minute the caller pays (the receiver's price when it started)."
    )
    cost = serializers.IntegerField(help_text="Coins charged at the end (0 until then).")
    billedSeconds = serializers.IntegerField(help_text="The billed duration.")
    endReason = serializers.ChoiceField(
        choices=CallLog.EndReason.choices,
        allow_null=True,
        help_text="Why a completed call ended.",
    )
