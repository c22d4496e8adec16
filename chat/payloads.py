"""Outbound payload builders: the PROTOCOL.md shapes, shared by socket events and REST.

Everything a client sees of a room, member or message is built here once, so the
`message-received` event, the send-message ack and `GET /api/rooms/{id}/messages` agree.
Users and timestamps use the accounts app's builders (one user shape everywhere).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from banter.accounts.payloads import UserSummaryPayload
from banter.accounts.payloads import user_summary_payload as user_payload
from banter.core.timestamps import iso_utc
from media.payloads import AttachmentPayload

if TYPE_CHECKING:
    from banter.accounts.models import User
    from chat.models import Membership, Message
    from chat.selectors import RoomView

# Event names (PROTOCOL.md "Server -> client events").
MESSAGE_RECEIVED = "message-received"
MESSAGE_EDITED = "message-edited"
MESSAGE_DELETED = "message-deleted"
MESSAGE_READ = "message-read"
MESSAGE_REACTION = "message-reaction"
USER_JOINED_ROOM = "user-joined-room"
USER_LEFT_ROOM = "user-left-room"
ROOM_JOINED = "room-joined"
USER_TYPING = "user-typing"
USER_STOPPED_TYPING = "user-stopped-typing"


class ReactionPayload(TypedDict):
    emoji: str
    count: int
    mine: bool


class MessagePayload(TypedDict):
    id: int
    roomId: int
    seq: int
    content: str
    messageType: str
    clientId: str | None
    replyTo: int | None
    createdAt: str
    editedAt: str | None
    deletedAt: str | None
    user: UserSummaryPayload
    # Per emoji, as the reader sees them (history, edit acks); [] where the message is
    # announced to the whole room (its reactions follow as `message-reaction` events).
    reactions: list[ReactionPayload]
    # The files sent with it (media.payloads); [] when none, and once deleted.
    attachments: list[AttachmentPayload]


class MessageReactionPayload(TypedDict):
    messageId: int
    roomId: int
    emoji: str
    userId: int
    count: int
    added: bool


class MessageEditedPayload(TypedDict):
    messageId: int
    roomId: int
    content: str
    editedAt: str | None
    seq: int


class MessageDeletedPayload(TypedDict):
    messageId: int
    roomId: int
    seq: int


class MessageReadPayload(TypedDict):
    roomId: int
    messageId: int | None
    userId: int
    readAt: str | None
    seq: int


class UserJoinedRoomPayload(TypedDict):
    roomId: int
    user: UserSummaryPayload


class UserLeftRoomPayload(TypedDict):
    roomId: int
    userId: int


class MemberPayload(UserSummaryPayload):
    role: str
    joinedAt: str


class _RoomFields(TypedDict):
    id: int
    name: str
    kind: str
    isPublic: bool
    createdAt: str
    lastSeq: int
    unreadCount: int
    role: str
    muted: bool  # the reader's push setting for the room (PATCH /api/rooms/{id}/notifications)


# total=False rather than NotRequired[...]: with postponed annotations the runtime would
# count a NotRequired key as required (tests/chat/test_payload_shapes.py reads the keys).
class RoomPayload(_RoomFields, total=False):
    members: list[MemberPayload]  # when the view loaded them


class OnlineUserPayload(TypedDict):
    userId: int
    status: str


class RoomJoinedPayload(TypedDict):
    """The `join-room` ack and the `room-joined` event."""

    roomId: int
    room: RoomPayload
    onlineUsers: list[OnlineUserPayload]
    typingUsers: list[int]


class RoomIdPayload(TypedDict):
    """The `leave-room` ack."""

    roomId: int


class ReadPositionPayload(TypedDict):
    """The `mark-read` ack: where the caller's read position stands."""

    roomId: int
    messageId: int | None
    readAt: str | None
    seq: int


class UserTypingPayload(TypedDict):
    roomId: int
    userId: int
    username: str
    displayName: str


class UserStoppedTypingPayload(TypedDict):
    roomId: int
    userId: int


def message_payload(
    message: Message, reactions: list[ReactionPayload] | None = None
) -> MessagePayload:
    """The message shape; callers select_related("sender") to keep this query-free, and
    pass the reactions the reader sees (chat.reactions.reactions_of) where it has any."""
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
        "reactions": [] if deleted or reactions is None else reactions,
        "attachments": [] if deleted or not message.attachments else message.attachments,
    }


def message_reaction_payload(
    message: Message, emoji: str, user_id: int, count: int, added: bool
) -> MessageReactionPayload:
    return {
        "messageId": message.pk,
        "roomId": message.room_id,
        "emoji": emoji,
        "userId": user_id,
        "count": count,
        "added": added,
    }


def message_edited_payload(message: Message) -> MessageEditedPayload:
    # Blank once deleted: the stored edit events of a deleted message are rewritten with
    # this (chat.services._rewrite_recorded), and a replay must not show what REST hides.
    return {
        "messageId": message.pk,
        "roomId": message.room_id,
        "content": "" if message.deleted_at is not None else message.content,
        "editedAt": iso_utc(message.edited_at),
        "seq": message.seq,
    }


def message_deleted_payload(message: Message) -> MessageDeletedPayload:
    return {"messageId": message.pk, "roomId": message.room_id, "seq": message.seq}


def message_read_payload(membership: Membership) -> MessageReadPayload:
    return {
        "roomId": membership.room_id,
        "messageId": membership.last_read_message_id,
        "userId": membership.user_id,
        "readAt": iso_utc(membership.read_at),
        "seq": membership.last_read_seq,
    }


def user_joined_room_payload(membership: Membership) -> UserJoinedRoomPayload:
    return {"roomId": membership.room_id, "user": user_payload(membership.user)}


def user_left_room_payload(*, room_id: int, user_id: int) -> UserLeftRoomPayload:
    return {"roomId": room_id, "userId": user_id}


def member_payload(membership: Membership) -> MemberPayload:
    """A room member: the user shape plus role and joinedAt."""
    return {
        **user_payload(membership.user),
        "role": membership.role,
        "joinedAt": iso_utc(membership.joined_at),
    }


def room_payload(view: RoomView) -> RoomPayload:
    """`{id, name, kind, isPublic, createdAt, lastSeq, unreadCount, role, muted, members?}`."""
    room = view.room
    payload: RoomPayload = {
        "id": room.pk,
        "name": room.name,
        "kind": room.kind,
        "isPublic": room.is_public,
        "createdAt": iso_utc(room.created_at),
        "lastSeq": room.last_seq,
        "unreadCount": view.unread_count,
        "role": view.membership.role,
        "muted": view.membership.muted,
    }
    if view.members is not None:
        payload["members"] = [member_payload(member) for member in view.members]
    return payload


def user_typing_payload(*, room_id: int, user: User) -> UserTypingPayload:
    return {
        "roomId": room_id,
        "userId": user.pk,
        "username": user.username,
        "displayName": user.public_name,
    }


def user_stopped_typing_payload(*, room_id: int, user_id: int) -> UserStoppedTypingPayload:
    return {"roomId": room_id, "userId": user_id}
