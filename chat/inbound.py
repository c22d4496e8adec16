"""Inbound chat payloads, typed at the edge (banter/realtime/schema.py).

Each `explain_*` repeats the checks the legacy handler and its service apply, in their
order, so a payload the schema refuses gets the very error it always got. Domain rules
(ranges, lengths, control characters) stay in chat/services.py, which REST calls too.
"""

from __future__ import annotations

from typing import Any

from banter.core.validation import check_choice, check_id, check_reference_id
from banter.realtime.schema import EdgeSchema, Payload, require_object
from chat.attachments import check_attachment_ids
from chat.reactions import check_emoji
from chat.services import CLIENT_MESSAGE_TYPES
from chat.validation import check_client_id, clean_content


class RoomRef(Payload, frozen=True):
    room_id: int


class SendMessage(Payload, frozen=True):
    room_id: int
    # Optional with attachments (a caption); message_send says what is missing otherwise.
    content: str | None = None
    message_type: str = "text"
    client_id: str | None = None
    reply_to: int | None = None
    attachments: list[int] | None = None


class EditMessage(Payload, frozen=True):
    message_id: int
    content: str


class MessageRef(Payload, frozen=True):
    message_id: int


class ReactionRef(Payload, frozen=True):
    message_id: int
    emoji: str


def _bare_room_id(payload: Any) -> Any:
    # PROTOCOL.md sends the bare roomId; {"roomId": ...} is accepted too.
    return payload if isinstance(payload, dict) else {"roomId": payload}


def explain_room_ref(payload: Any) -> None:
    check_id(_bare_room_id(payload).get("roomId"), what="Room")


def explain_send_message(payload: Any) -> None:
    # message_send's order: attachments, content, messageType, clientId, replyTo, the room.
    fields = require_object(payload)
    upload_ids = check_attachment_ids(fields.get("attachments"))
    clean_content(fields.get("content"), caption=bool(upload_ids))
    check_choice(
        fields.get("messageType", "text"), field="messageType", choices=CLIENT_MESSAGE_TYPES
    )
    check_client_id(fields.get("clientId"))
    if fields.get("replyTo") is not None:
        check_reference_id(fields.get("replyTo"), field="replyTo")
    check_id(fields.get("roomId"), what="Room")


def explain_edit_message(payload: Any) -> None:
    fields = require_object(payload)
    clean_content(fields.get("content"))
    check_id(fields.get("messageId"), what="Message")


def explain_message_ref(payload: Any) -> None:
    check_id(require_object(payload).get("messageId"), what="Message")


def explain_reaction_ref(payload: Any) -> None:
    # reaction_add's order: the emoji, then the message.
    fields = require_object(payload)
    check_emoji(fields.get("emoji"))
    check_id(fields.get("messageId"), what="Message")


ROOM_REF = EdgeSchema(RoomRef, prepare=_bare_room_id, explain=explain_room_ref)
SEND_MESSAGE = EdgeSchema(SendMessage, explain=explain_send_message)
EDIT_MESSAGE = EdgeSchema(EditMessage, explain=explain_edit_message)
MESSAGE_REF = EdgeSchema(MessageRef, explain=explain_message_ref)
REACTION_REF = EdgeSchema(ReactionRef, explain=explain_reaction_ref)


class ReadMark(Payload, frozen=True):
    room_id: int
    message_id: int


def explain_read_mark(payload: Any) -> None:
    # read_target's order: the message id, then the room.
    fields = require_object(payload)
    check_reference_id(fields.get("messageId"), field="messageId")
    check_id(fields.get("roomId"), what="Room")


READ_MARK = EdgeSchema(ReadMark, explain=explain_read_mark)
