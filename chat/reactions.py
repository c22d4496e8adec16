"""Reactions: one emoji per user per message, counted per emoji and announced to the room.

Adding and removing are idempotent: the same reaction twice changes nothing and announces
nothing. A change is recorded as a recoverable room event (`message-reaction`) in its own
transaction, like an edit, and carries the emoji's new count, so a client that sees an
event twice (a replay after a live delivery) ends with the same count.

The message row is locked for the change: the count in the event is the count right after
it, and two users adding the message's 21st distinct emoji at once cannot both get in.
"""

from __future__ import annotations

import emoji as emoji_data
from django.db import IntegrityError, transaction

from banter.accounts.models import User
from banter.core.errors import conflict, validation_error
from chat import payloads, selectors
from chat.models import Message, Reaction
from chat.services import message_locked, record_room_event

# Distinct emojis a message can carry: a reaction bar, not a second message body.
MAX_DISTINCT_EMOJIS = 20


def check_emoji(value: object) -> str:
    """One emoji, as Unicode defines them (skin tones, flags and ZWJ sequences included)."""
    if not isinstance(value, str) or not value:
        raise validation_error("emoji is required", emoji="required")
    if len(value) > 32 or not emoji_data.is_emoji(value):
        raise validation_error("emoji must be a single emoji", emoji="not an emoji")
    return value


@transaction.atomic
def reaction_add(*, user: User, message_id: int, emoji: str) -> payloads.MessageReactionPayload:
    """The user's `emoji` on the message (a member's, not deleted). The answer is the state
    after the call (`added: true`, the emoji's count), also when the reaction was there."""
    emoji = check_emoji(emoji)
    message = _reactable(user, message_id)
    reactions = Reaction.objects.filter(message=message)
    if reactions.filter(user=user, emoji=emoji).exists():
        return _result(message, user, emoji, added=True)  # already there: nothing to announce
    if not reactions.filter(emoji=emoji).exists():
        distinct = reactions.values("emoji").distinct().count()
        if distinct >= MAX_DISTINCT_EMOJIS:
            raise conflict(
                f"A message can carry at most {MAX_DISTINCT_EMOJIS} different emojis",
                messageId=message.pk,
                maxEmojis=MAX_DISTINCT_EMOJIS,
            )
    try:
        with transaction.atomic():  # savepoint: SQLite has no row lock to queue a twin
            Reaction.objects.create(message=message, user=user, emoji=emoji)
    except IntegrityError:
        return _result(message, user, emoji, added=True)  # the same reaction, just stored
    return _announced(message, user, emoji, added=True)


@transaction.atomic
def reaction_remove(*, user: User, message_id: int, emoji: str) -> payloads.MessageReactionPayload:
    """Take the user's `emoji` off the message. The answer is the state after the call
    (`added: false`, the emoji's count), also when there was nothing to remove."""
    emoji = check_emoji(emoji)
    message = _reactable(user, message_id)
    removed, _ = Reaction.objects.filter(message=message, user=user, emoji=emoji).delete()
    if not removed:
        return _result(message, user, emoji, added=False)
    return _announced(message, user, emoji, added=False)


def with_reactions(message: Message, viewer_id: int) -> payloads.MessagePayload:
    """One message's payload with its reactions as the viewer sees them (edit answers)."""
    return payloads.message_payload(
        message, selectors.reactions_of([message], viewer_id).get(message.pk, [])
    )


def _reactable(user: User, message_id: int) -> Message:
    message = message_locked(message_id)
    selectors.membership_get(user, message.room_id)
    if message.is_deleted:
        raise conflict("The message was deleted", messageId=message.pk)
    return message


def _result(
    message: Message, user: User, emoji: str, *, added: bool
) -> payloads.MessageReactionPayload:
    count = Reaction.objects.filter(message=message, emoji=emoji).count()
    return payloads.message_reaction_payload(message, emoji, int(user.pk), count, added)


def _announced(
    message: Message, user: User, emoji: str, *, added: bool
) -> payloads.MessageReactionPayload:
    result = _result(message, user, emoji, added=added)
    record_room_event(message.room_id, payloads.MESSAGE_REACTION, result)
    return result
