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
