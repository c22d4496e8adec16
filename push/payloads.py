"""What a push says: `{type, roomId?, messageId?, callId?, title, body, badge}` (docs/api.md), built
when it is sent (not when queued), so it shows the message as it is then and skips one that
was read or deleted meanwhile."""

from __future__ import annotations

from typing import Any

from django.db import connection

from calls.models import CallLog
from chat.models import Membership, Message
from push.models import PushOutbox

PREVIEW_CHARACTERS = 120
# The badge counts at most this many unread messages ("999+" is for the client to show).
BADGE_CAP = 999


def push_payload(row: PushOutbox) -> tuple[dict[str, Any] | None, str]:
    """The payload, or None and why nothing is to be sent."""
    user = row.user
    if user.do_not_disturb:
        return None, "do not disturb"
    if row.call_id is not None:
        return _call_payload(row, row.call_id)
    if row.message_id is None or row.room_id is None:
        return None, "deleted"
    message = Message.objects.select_related("sender", "room").filter(pk=row.message_id).first()
    if message is None or message.deleted_at is not None:
        return None, "deleted"
    read = (
        Membership.objects.filter(room_id=row.room_id, user_id=row.user_id)
        .values_list("last_read_seq", flat=True)
        .first()
    )
    if read is None:
        return None, "not a member"
    if read >= message.seq:
        return None, "read"
    payload: dict[str, Any] = {
        "type": row.kind,
        "roomId": row.room_id,
        "messageId": message.pk,
        "title": "New message",
        "body": "",
        "badge": unread_total(row.user_id),
    }
    if user.push_previews:
        sender = message.sender.public_name
        room = message.room
        payload["title"] = sender if room.is_direct else f"{sender} in {room.name or 'a group'}"
        payload["body"] = _preview(message)
    return payload, ""


def _call_payload(row: PushOutbox, call_id: int) -> tuple[dict[str, Any] | None, str]:
    call = CallLog.objects.select_related("caller").filter(pk=call_id).first()
    if call is None:
        return None, "deleted"
    if row.kind == PushOutbox.Kind.CALL_INCOMING and call.status != CallLog.Status.RINGING:
        return None, "no longer ringing"
    caller = call.caller.public_name if row.user.push_previews else "Someone"
    title = (
        f"{caller} is calling"
        if row.kind == PushOutbox.Kind.CALL_INCOMING
        else f"Missed call from {caller}"
    )
    return {
        "type": row.kind,
        "callId": call.pk,
        "title": title,
        "body": "Video call" if call.call_type == CallLog.CallType.VIDEO else "Voice call",
        "badge": unread_total(row.user_id),
    }, ""


def _preview(message: Message) -> str:
    text = message.content
    if len(text) > PREVIEW_CHARACTERS:
        text = text[: PREVIEW_CHARACTERS - 1] + "…"
    if text:
        return text
    count = len(message.attachments or ())
    if message.message_type == Message.Type.IMAGE:
        return "Photo" if count == 1 else f"{count} photos"
    return "File" if count == 1 else f"{count} files"


def unread_total(user_id: int) -> int:
    """Others' messages after the user's read position, over all their rooms (capped)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM chat_message m "
            "JOIN chat_membership ms ON ms.room_id = m.room_id AND ms.user_id = %s "
            "WHERE m.seq > ms.last_read_seq AND m.deleted_at IS NULL AND m.sender_id <> %s "
            f"LIMIT {BADGE_CAP}) unread",
            [user_id, user_id],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0
