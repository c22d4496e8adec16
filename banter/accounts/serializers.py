"""REST input shapes (camelCase) and response shapes for the OpenAPI schema.

Input serializers check types and sizes only; the rules live in services. Responses are
built by banter.accounts.events so REST and socket payloads cannot drift; the response
serializers here only describe those payloads (a test keeps them in step).
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

# Long enough for any passphrase, short enough that hashing it is not a denial of service.
PASSWORD_MAX = 1024
TOKEN_MAX = 4096


class RegisterInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=PASSWORD_MAX, trim_whitespace=False)
    displayName = serializers.CharField(
        source="display_name", max_length=64, required=False, allow_blank=True
    )
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)


class LoginInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=PASSWORD_MAX, trim_whitespace=False)


class RefreshInputSerializer(serializers.Serializer):
    refresh = serializers.CharField(max_length=TOKEN_MAX)


class ProfileUpdateInputSerializer(serializers.Serializer):
    displayName = serializers.CharField(
        source="display_name", max_length=64, required=False, allow_blank=True
    )
    avatarUrl = serializers.CharField(
        source="avatar_url", max_length=500, required=False, allow_blank=True
    )
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    doNotDisturb = serializers.BooleanField(
        source="do_not_disturb", required=False, help_text="No push notifications while on"
    )
    pushPreviews = serializers.BooleanField(
        source="push_previews",
        required=False,
        help_text="Off: pushes say only 'New message', never who wrote what",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Silently ignoring {"username": ...} would let a client believe it changed it.
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {name: ["This field cannot be changed here."] for name in unknown}
            )
        return attrs


class UserSearchParamsSerializer(serializers.Serializer):
    search = serializers.CharField(max_length=100, required=False, allow_blank=True)


class UserSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    displayName = serializers.CharField()
    avatarUrl = serializers.CharField(allow_null=True)


class UserPublicSerializer(UserSummarySerializer):
    isOnline = serializers.BooleanField()
    lastSeen = serializers.DateTimeField(allow_null=True)


class UserPrivateSerializer(UserPublicSerializer):
    email = serializers.CharField()
    dateJoined = serializers.DateTimeField()
    doNotDisturb = serializers.BooleanField()
    pushPreviews = serializers.BooleanField()


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class AuthResponseSerializer(TokenPairSerializer):
    user = UserPrivateSerializer()
