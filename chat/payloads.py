"""Outbound payload builders: the PROTOCOL.md shapes, shared by socket events and REST.

Everything a client sees of a room, member or message is built here once, so the
`message-received` event, the send-message ack and `GET /api/rooms/{id}/messages` agree.
Users and timestamps use the accounts app's builders (one user shape everywhere).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from banter.accounts.payloads import user_summary_payload as user_payload
from banter.core.timestamps import iso_utc

if TYPE_CHECKING:
    from banter.accounts.models import User
    from chat.models import Membership, Message
    from chat.selectors import RoomView

# Event names (PROTOCOL.md "Server -> client events").
MESSAGE_RECEIVED = "message-received"
MESSAGE_EDITED = "message-edited"
MESSAGE_DELETED = "message-deleted"
MESSAGE_READ = "message-read"
USER_JOINED_ROOM = "user-joined-room"
USER_LEFT_ROOM = "user-left-room"
ROOM_JOINED = "room-joined"
USER_TYPING = "user-typing"
USER_STOPPED_TYPING = "user-stopped-typing"


def message_payload(message: Message) -> dict[str, Any]:
    """The message shape; callers select_related("sender") to keep this query-free."""
    deleted = message.deleted_at is not None
    return {
        "id": message.pk,
        "roomId": message.room_id,
        "seq": message.seq,
        "content": "" if deleted else message.content,
        "messageType": message.message_type,
        "clientId": message.client_id,
        "replyTo": message.reply_to_id,
        "createdAt": iso_utc(message.created_at),
        "editedAt": iso_utc(message.edited_at),
        "deletedAt": iso_utc(message.deleted_at),
        "user": user_payload(message.sender),
    }


def message_edited_payload(message: Message) -> dict[str, Any]:
    # Blank once deleted: the stored edit events of a deleted message are rewritten with
    # this (chat.services._rewrite_recorded), and a replay must not show what REST hides.
    return {
        "messageId": message.pk,
        "roomId": message.room_id,
        "content": "" if message.deleted_at is not None else message.content,
        "editedAt": iso_utc(message.edited_at),
        "seq": message.seq,
    }


def message_deleted_payload(message: Message) -> dict[str, Any]:
    return {"messageId": message.pk, "roomId": message.room_id, "seq": message.seq}


def message_read_payload(membership: Membership) -> dict[str, Any]:
    return {
        "roomId": membership.room_id,
        "messageId": membership.last_read_message_id,
        "userId": membership.user_id,
        "readAt": iso_utc(membership.read_at),
        "seq": membership.last_read_seq,
    }


def user_joined_room_payload(membership: Membership) -> dict[str, Any]:
    return {"roomId": membership.room_id, "user": user_payload(membership.user)}


def user_left_room_payload(*, room_id: int, user_id: int) -> dict[str, Any]:
    return {"roomId": room_id, "userId": user_id}


def member_payload(membership: Membership) -> dict[str, Any]:
    """A room member: the user shape plus role and joinedAt."""
    return {
        **user_payload(membership.user),
        "role": membership.role,
        "joinedAt": iso_utc(membership.joined_at),
    }


def room_payload(view: RoomView) -> dict[str, Any]:
    """`{id, name, kind, isPublic, createdAt, lastSeq, unreadCount, role, members?}`."""
    room = view.room
    payload: dict[str, Any] = {
        "id": room.pk,
        "name": room.name,
        "kind": room.kind,
        "isPublic": room.is_public,
        "createdAt": iso_utc(room.created_at),
        "lastSeq": room.last_seq,
        "unreadCount": view.unread_count,
        "role": view.membership.role,
    }
    if view.members is not None:
        payload["members"] = [member_payload(member) for member in view.members]
    return payload


def user_typing_payload(*, room_id: int, user: User) -> dict[str, Any]:
    return {
        "roomId": room_id,
        "userId": user.pk,
        "username": user.username,
        "displayName": user.public_name,
    }


def user_stopped_typing_payload(*, room_id: int, user_id: int) -> dict[str, Any]:
    return {"roomId": room_id, "userId": user_id}
