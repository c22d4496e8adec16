"""REST input shapes and the documented response shapes (built by payloads.py)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from banter.notifications.services import MAX_MARK_READ_IDS


class NotificationListParamsSerializer(serializers.Serializer):
    unread = serializers.BooleanField(required=False, default=False)


class MarkReadInputSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=MAX_MARK_READ_IDS
    )
    all = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("all") == ("ids" in attrs):
            raise serializers.ValidationError({"ids": ["Give either ids or all=true."]})
        return attrs


class UnreadCountSerializer(serializers.Serializer):
    unread = serializers.IntegerField()


class NotificationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    payload = serializers.JSONField()
    createdAt = serializers.DateTimeField()
    readAt = serializers.DateTimeField(allow_null=True)
