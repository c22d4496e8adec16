"""REST input shapes (camelCase) and output shapes for the schema.

Input serializers only check JSON types and ranges; the domain rules (content cleaning,
lengths, membership) live in the services, so REST and sockets enforce the same ones.
Output serializers delegate to chat.events, the one builder of every payload.
"""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from banter.accounts.serializers import UserSummarySerializer
from banter.core.validation import MAX_ID
from chat import payloads, search
from chat.models import Membership, Message
from chat.selectors import HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT
from chat.services import CLIENT_MESSAGE_TYPES, MAX_INITIAL_MEMBERS
from media.serializers import AttachmentOutputSerializer


@extend_schema_field(OpenApiTypes.STR)
class StrictStringField(serializers.Field):
    """A JSON string, passed on untouched: no trimming, no coercion of numbers, and no
    rejection of control characters, which the services strip (not refuse)."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return data

    def to_representation(self, value: Any) -> str:
        return str(value)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: DRF's IntegerField would also take "12" and 12.0."""

    def to_internal_value(self, data: Any) -> int:
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON true/false: DRF's BooleanField would also take "yes", "0" and 1."""

    def to_internal_value(self, data: Any) -> bool:
        if type(data) is not bool:
            self.fail("invalid", input=data)
        return data


def _id_field(**kwargs: Any) -> StrictIntegerField:
    return StrictIntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class RoomCreateInputSerializer(serializers.Serializer):
    name = StrictStringField()
    isPublic = StrictBooleanField(required=False, default=False, source="is_public")
    memberIds = serializers.ListField(
        child=_id_field(),
        required=False,
        default=list,
        max_length=MAX_INITIAL_MEMBERS,
        source="member_ids",
    )


class MemberAddInputSerializer(serializers.Serializer):
    userId = _id_field(source="user_id")
    role = serializers.ChoiceField(choices=Membership.Role.choices, default=Membership.Role.MEMBER)


class DirectRoomInputSerializer(serializers.Serializer):
    userId = _id_field(source="other_user_id")


class MessageSendInputSerializer(serializers.Serializer):
    content = StrictStringField(
        required=False, allow_null=True, default=None, help_text="Optional with attachments"
    )
    messageType = serializers.ChoiceField(
        choices=CLIENT_MESSAGE_TYPES, default=Message.Type.TEXT, source="message_type"
    )
    clientId = StrictStringField(required=False, allow_null=True, default=None, source="client_id")
    replyTo = _id_field(required=False, allow_null=True, default=None, source="reply_to_id")
    attachments = serializers.ListField(
        child=_id_field(),
        required=False,
        default=list,
        max_length=10,
        help_text="Ids of the caller's uploads (POST /api/uploads), each attachable once",
    )


class MessageEditInputSerializer(serializers.Serializer):
    content = StrictStringField()


class ReactionInputSerializer(serializers.Serializer):
    emoji = StrictStringField(help_text="One emoji (skin tones, flags, ZWJ sequences)")


class ReadMarkInputSerializer(serializers.Serializer):
    messageId = _id_field(source="message_id")


class HistoryQuerySerializer(serializers.Serializer):
    # Query strings are text, so DRF's lenient IntegerField is right here.
    before = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    after = serializers.IntegerField(required=False, min_value=0, max_value=MAX_ID)
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=HISTORY_MAX_LIMIT, default=HISTORY_DEFAULT_LIMIT
    )


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(
        max_length=search.MAX_QUERY_LENGTH,
        trim_whitespace=False,
        help_text="Words to find (quotes, OR, -word)",
    )
    roomId = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, source="room_id"
    )
    before = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Only messages older than this id"
    )
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=search.MAX_LIMIT, default=search.DEFAULT_LIMIT
    )


# -- outputs: fields describe the schema, to_representation is the shared builder --------
# (the builders return TypedDicts; DRF's signature wants a plain dict, hence the casts)


class MemberOutputSerializer(UserSummarySerializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    joinedAt = serializers.DateTimeField()

    def to_representation(self, instance: Membership) -> dict[str, Any]:
        return cast(dict[str, Any], payloads.member_payload(instance))


class ReactionOutputSerializer(serializers.Serializer):
    emoji = serializers.CharField()
    count = serializers.IntegerField()
    mine = serializers.BooleanField(help_text="One of them is the reader's")


class MessageReactionOutputSerializer(serializers.Serializer):
    """The reaction's state after the call, also the `message-reaction` event."""

    messageId = serializers.IntegerField()
    roomId = serializers.IntegerField()
    emoji = serializers.CharField()
    userId = serializers.IntegerField()
    count = serializers.IntegerField(help_text="The emoji's count on the message now")
    added = serializers.BooleanField(help_text="true after an add, false after a remove")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return cast(dict[str, Any], instance)


class MessageOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    roomId = serializers.IntegerField()
    seq = serializers.IntegerField()
    content = serializers.CharField(help_text='"" once the message is deleted')
    messageType = serializers.ChoiceField(choices=Message.Type.choices)
    clientId = serializers.CharField(allow_null=True)
    replyTo = serializers.IntegerField(allow_null=True)
    createdAt = serializers.DateTimeField()
    editedAt = serializers.DateTimeField(allow_null=True)
    deletedAt = serializers.DateTimeField(allow_null=True)
    user = UserSummarySerializer()
    reactions = ReactionOutputSerializer(
        many=True, help_text="Per emoji, as the reader sees them; [] on a new message"
    )
    attachments = AttachmentOutputSerializer(many=True, help_text="[] when none or deleted")

    def to_representation(self, instance: Message) -> dict[str, Any]:
        # The view passes the message's reactions as its reader sees them, where it has any.
        reactions = self.context.get("reactions")
        return cast(dict[str, Any], payloads.message_payload(instance, reactions))


class RoomOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    isPublic = serializers.BooleanField()
    createdAt = serializers.DateTimeField()
    lastSeq = serializers.IntegerField()
    unreadCount = serializers.IntegerField()
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    muted = serializers.BooleanField(help_text="No pushes for this room (mentions still push)")
    members = MemberOutputSerializer(
        many=True, required=False, help_text="In room details, and for direct rooms in lists"
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return cast(dict[str, Any], payloads.room_payload(instance))


class HistoryPageOutputSerializer(serializers.Serializer):
    results = MessageOutputSerializer(many=True)
    hasMore = serializers.BooleanField()
    nextBefore = serializers.IntegerField(allow_null=True)
    nextAfter = serializers.IntegerField(allow_null=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {
            "results": [
                payloads.message_payload(message, instance.reactions.get(message.pk, []))
                for message in instance.messages
            ],
            "hasMore": instance.has_more,
            "nextBefore": instance.next_before,
            "nextAfter": instance.next_after,
        }


class SearchHitOutputSerializer(serializers.Serializer):
    message = MessageOutputSerializer()
    snippet = serializers.CharField(
        help_text="HTML: the matching text escaped, each match in <mark>…</mark>"
    )
    rank = serializers.FloatField(help_text="Higher is better; compare within one answer")


class SearchPageOutputSerializer(serializers.Serializer):
    results = SearchHitOutputSerializer(many=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {"results": instance}


class ReadPositionOutputSerializer(serializers.Serializer):
    roomId = serializers.IntegerField()
    messageId = serializers.IntegerField(allow_null=True)
    userId = serializers.IntegerField()
    readAt = serializers.DateTimeField(allow_null=True)
    seq = serializers.IntegerField()

    def to_representation(self, instance: Membership) -> dict[str, Any]:
        return cast(dict[str, Any], payloads.message_read_payload(instance))


class ErrorOutputSerializer(serializers.Serializer):
    """Every error: {code, message, details} (banter.core.errors)."""

    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField()
