"""Writes of the chat domain: rooms, memberships, messages, read positions.

Every service validates its input and the caller's rights first and raises BanterError
before changing anything; real-time events go out through broadcast_on_commit, so nobody
hears about a write that rolled back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from banter.accounts.models import User
from banter.accounts.payloads import user_summary_payload as user_payload
from banter.core.errors import conflict, forbidden, not_found, validation_error
from banter.core.validation import check_choice, check_id, check_reference_id
from banter.notifications.models import Notification
from banter.notifications.services import notification_create
from banter.realtime.broadcast import (
    broadcast_on_commit,
    control_on_commit,
    room_group,
    user_group,
)
from chat import payloads
from chat.attachments import check_attachment_ids, claim, lock_for_send, message_type_of
from chat.models import Membership, Message, Room, RoomEvent
from chat.selectors import membership_get, read_target
from chat.validation import check_client_id, clean_content, clean_room_name
from push.outbox import record_message_pushes

# "system" messages are written by the server, never accepted from a client.
CLIENT_MESSAGE_TYPES: tuple[str, ...] = (
    Message.Type.TEXT,
    Message.Type.IMAGE,
    Message.Type.FILE,
)
MAX_INITIAL_MEMBERS = 500
MAX_MENTIONS_PER_MESSAGE = 20
# "@name" preceded by start or whitespace; Django usernames are letters, digits and @.+-_,
# and a trailing "." or "," is punctuation, not part of the name.
_MENTION = re.compile(r"(?:^|(?<=\s))@([\w.@+-]*[\w@+-])")

Role = Membership.Role


# -- rooms and memberships ---------------------------------------------------------------


@transaction.atomic
def room_create(
    *,
    creator: User,
    name: str,
    kind: str = Room.Kind.GROUP,
    is_public: bool = False,
    member_ids: Iterable[int] = (),
) -> Room:
    """Create a group room owned by `creator`, with `member_ids` as members."""
    check_choice(kind, field="kind", choices=(Room.Kind.GROUP,))  # direct: see below
    name = clean_room_name(name)
    if type(is_public) is not bool:
        raise validation_error("isPublic must be a boolean", isPublic="not a boolean")
    members = _active_users(_member_ids(member_ids, exclude=creator.pk), field="memberIds")

    room = Room.objects.create(
        name=name, kind=Room.Kind.GROUP, is_public=is_public, created_by=creator
    )
    memberships = [Membership(room=room, user=creator, role=Role.OWNER)]
    memberships += [Membership(room=room, user=user, role=Role.MEMBER) for user in members]
    Membership.objects.bulk_create(memberships)
    for membership in memberships:
        announce_join(membership)
    return room


@transaction.atomic
def direct_room_get_or_create(*, user: User, other_user_id: int) -> tuple[Room, bool]:
    """The one direct room of `user` and `other_user_id`, created on first use.

    Both are plain members (nobody moderates a conversation of two). A participant who had
    left gets their membership back.
    """
    other_user_id = check_reference_id(other_user_id, field="userId")
    if other_user_id == user.pk:
        raise validation_error("You cannot open a direct room with yourself", userId="self")
    (other,) = _active_users([other_user_id], field="userId")
    key = _direct_key(user.pk, other.pk)

    room = Room.objects.filter(direct_key=key).first()
    created = False
    if room is None:
        try:
            with transaction.atomic():  # savepoint: the outer transaction survives a clash
                room = Room.objects.create(kind=Room.Kind.DIRECT, direct_key=key, created_by=user)
            created = True
        except IntegrityError:
            # A concurrent call created the pair's room first; direct_key is unique.
            room = Room.objects.get(direct_key=key)
    for participant in (user, other):
        membership, joined = Membership.objects.get_or_create(
            room=room, user=participant, defaults={"role": Role.MEMBER}
        )
        if joined:
            announce_join(membership)
    return room, created


@transaction.atomic
def room_join(*, user: User, room_id: int) -> tuple[Room, Membership, bool]:
    """Membership of `user` in a room: existing for members, new for public group rooms.

    Private rooms are joined by invitation (member_add); direct rooms only by their two
    participants. Returns (room, membership, created).
    """
    room_id = check_id(room_id, what="Room")
    room = Room.objects.filter(pk=room_id).first()
    if room is None:
        raise not_found("Room")
    membership = Membership.objects.filter(room=room, user=user).first()
    if membership is not None:
        return room, membership, False
    if room.is_direct:
        if user.pk not in _direct_participant_ids(room):
            raise forbidden("Direct rooms cannot be joined")
    elif not room.is_public:
        raise forbidden("This room is private")

    membership, created = Membership.objects.get_or_create(
        room=room, user=user, defaults={"role": Role.MEMBER}
    )
    if created:
        announce_join(membership)
    return room, membership, created


@transaction.atomic
def room_leave(*, user: User, room_id: int) -> None:
    """End the user's membership.

    When the last owner leaves and others stay, ownership passes to the longest-standing
    admin, or if there is none, to the longest-standing member. The last member to leave
    leaves an empty room behind (its history is kept).
    """
    membership = _membership_locking_room(user, room_id)
    _end_membership(membership)


@transaction.atomic
def member_add(*, actor: User, room_id: int, user_id: int, role: str = Role.MEMBER) -> Membership:
    """Add a user to a group room: owners and admins add members, only owners add admins or
    owners. Adding an existing member is a conflict."""
    role = check_choice(role, field="role", choices=tuple(Role.values))
    user_id = check_reference_id(user_id, field="userId")
    actor_membership = _membership_locking_room(actor, room_id)
    room = actor_membership.room
    if room.is_direct:
        raise forbidden("Direct rooms have exactly two members")
    if not actor_membership.can_manage:
        raise forbidden("Only room owners and admins can add members")
    if role != Role.MEMBER and actor_membership.role != Role.OWNER:
        raise forbidden("Only room owners can add admins or owners")
    (user,) = _active_users([user_id], field="userId")
    if Membership.objects.filter(room=room, user=user).exists():
        raise conflict("User is already a member of this room", userId=user.pk)

    try:
        with transaction.atomic():
            membership = Membership.objects.create(room=room, user=user, role=role)
    except IntegrityError:
        # room_join does not take the room lock, so the user may have just joined.
        raise conflict("User is already a member of this room", userId=user.pk) from None
    announce_join(membership)
    return membership


@transaction.atomic
def member_remove(*, actor: User, room_id: int, user_id: int) -> None:
    """Remove a member. Anyone may remove themselves (as room_leave). Admins remove members;
    owners also remove admins and other owners. The last owner can never be removed by
    someone else, since only an owner removes an owner."""
    user_id = check_id(user_id, what="Member")
    actor_membership = _membership_locking_room(actor, room_id)
    if user_id == actor.pk:
        _end_membership(actor_membership)
        return
    room = actor_membership.room
    if room.is_direct:
        raise forbidden("Nobody can be removed from a direct room")
    target = Membership.objects.filter(room=room, user_id=user_id).first()
    if target is None:
        raise not_found("Member")
    if not actor_membership.can_manage:
        raise forbidden("Only room owners and admins can remove members")
    if target.role != Role.MEMBER and actor_membership.role != Role.OWNER:
        raise forbidden("Only room owners can remove admins and owners")
    _end_membership(target)


# -- messages ---------------------------------------------------------------------------


@transaction.atomic
def message_send(
    *,
    sender: User,
    room_id: int,
    content: str | None,
    message_type: str = Message.Type.TEXT,
    client_id: str | None = None,
    reply_to_id: int | None = None,
    attachments: Any = None,
) -> tuple[Message, bool]:
    """Persist a message with the room's next seq and broadcast it after commit.

    A repeated (sender, client_id) returns the stored message with created=False and
    broadcasts nothing, including when two retries race. `attachments` are upload ids of
    the sender's (chat/attachments.py); with them, `content` is an optional caption.
    """
    upload_ids = check_attachment_ids(attachments)
    content = clean_content(content, caption=bool(upload_ids))
    message_type = check_choice(message_type, field="messageType", choices=CLIENT_MESSAGE_TYPES)
    client_id = check_client_id(client_id)
    if reply_to_id is not None:
        reply_to_id = check_reference_id(reply_to_id, field="replyTo")
    room_id = membership_get(sender, room_id).room_id
    if upload_ids and client_id is not None:
        # A retry of a send with attachments finds them claimed by its own first try.
        existing = _message_by_client_id(sender, client_id, room_id=room_id)
        if existing is not None:
            return existing, False

    # A repeated clientId is found by the unique (sender, client_id) constraint below, not
    # by a lookup first: retries are rare, and the lookup was a query on every send.
    if (
        reply_to_id is not None
        and not Message.objects.filter(pk=reply_to_id, room_id=room_id).exists()
    ):
        raise validation_error("replyTo must be a message of this room", replyTo="not found")

    try:
        # Savepoint around seq and insert: when the insert clashes with a concurrent retry
        # (unique sender+client_id), rolling back to it also undoes our seq bump, so the
        # room's seqs stay gapless.
        with transaction.atomic():
            described = lock_for_send(sender.pk, upload_ids)
            message = Message.objects.create(
                room_id=room_id,
                sender=sender,
                content=content,
                message_type=message_type_of(described, message_type),
                client_id=client_id,
                seq=_next_seq(room_id),
                reply_to_id=reply_to_id,
                attachments=described or None,
            )
            claim(message, upload_ids)
    except IntegrityError:
        existing = _message_by_client_id(sender, client_id, room_id=room_id) if client_id else None
        if existing is None:
            raise
        return existing, False
    record_room_event(
        room_id, payloads.MESSAGE_RECEIVED, payloads.message_payload(message), seq=message.seq
    )
    record_message_pushes([message], {message.pk: notify_mentions(message)})
    return message, True


@transaction.atomic
def message_edit(*, user: User, message_id: int, content: str) -> Message:
    """Replace the content of the user's own, not deleted message; sets edited_at. The
    caption of a message with attachments may be emptied."""
    if not isinstance(content, str) or content.strip():
        content = clean_content(content)  # type, length and emptiness, before any lookup
    message = message_locked(message_id)
    membership_get(user, message.room_id)
    if message.sender_id != user.pk:
        raise forbidden("Only the author can edit a message")
    if message.is_deleted:
        raise conflict("The message was deleted", messageId=message.pk)
    content = clean_content(content, caption=bool(message.attachments))
    if content == message.content:
        return message  # nothing changed: no edited mark, no event

    _apply_edit(message, content)
    return message


@transaction.atomic
def message_delete(*, user: User, message_id: int) -> Message:
    """Soft-delete: deleted_at is set and payloads show empty content from then on.

    The author or a room owner/admin may delete; deleting again is a no-op.
    """
    message = message_locked(message_id)
    membership = membership_get(user, message.room_id)
    if message.sender_id != user.pk and not membership.can_manage:
        raise forbidden("Only the author or a room admin can delete this message")
    if message.is_deleted:
        return message

    _apply_delete(message)
    return message


@transaction.atomic
def message_moderate(
    *, message_id: int, content: str | None = None, delete: bool = False
) -> Message:
    """An operator's change to a message (the Django admin): a new content and/or a soft
    delete, announced to the room and rewritten in the event log exactly as the author's
    edit (message_edit) and delete (message_delete) are. No membership or author checks: the
    caller is staff. Changing a deleted message's stored content announces nothing (every
    payload shows it blank anyway)."""
    message = message_locked(message_id)
    if content is not None and content != message.content:
        if message.is_deleted:
            message.content = content
            message.save(update_fields=["content"])
        else:
            _apply_edit(message, content)
    if delete and not message.is_deleted:
        _apply_delete(message)
    return message


@transaction.atomic
def read_position_mark(
    *, user: User, room_id: int, message_id: int, read_at: datetime | None = None
) -> Membership:
    """Move the user's read position in a room forward to `message_id`.

    An older (or the same) message leaves the position alone and returns it unchanged.
    `read_at` lets a coalesced (delayed) write keep the time the client marked the message.
    """
    membership, message = read_target(user, room_id, message_id)
    read_at = read_at or timezone.now()
    # Conditional UPDATE instead of read-compare-write: two devices marking at once can
    # never move the position backwards, with no lock held.
    moved = Membership.objects.filter(pk=membership.pk, last_read_seq__lt=message.seq).update(
        last_read_seq=message.seq, last_read_message=message, read_at=read_at
    )
    if not moved:
        membership.refresh_from_db(fields=["last_read_seq", "last_read_message", "read_at"])
        return membership
    membership.last_read_seq = message.seq
    membership.last_read_message = message
    membership.read_at = read_at
    record_room_event(
        membership.room_id, payloads.MESSAGE_READ, payloads.message_read_payload(membership)
    )
    return membership


# -- helpers ----------------------------------------------------------------------------


def _apply_edit(message: Message, content: str) -> None:
    """Store a new content (message row locked) and announce it."""
    message.content = content
    message.edited_at = timezone.now()
    message.save(update_fields=["content", "edited_at"])
    _rewrite_recorded(message)
    record_room_event(
        message.room_id, payloads.MESSAGE_EDITED, payloads.message_edited_payload(message)
    )


def _apply_delete(message: Message) -> None:
    """Soft-delete (message row locked) and announce it."""
    message.deleted_at = timezone.now()
    message.save(update_fields=["deleted_at"])
    _rewrite_recorded(message)
    record_room_event(
        message.room_id, payloads.MESSAGE_DELETED, payloads.message_deleted_payload(message)
    )


def _rewrite_recorded(message: Message) -> None:
    """Bring the message's earlier recorded events (chat.RoomEvent) up to its current state.

    Recovery, the gap replay and the sequencer's fills all replay stored payloads, so the
    `message-received` and `message-edited` records of an edited or deleted message would
    otherwise hand out the pre-edit or deleted text that REST no longer shows. Rewriting
    them here, in the edit's or delete's transaction, instead of building replay frames from
    the current Message rows keeps message_send (the hot path) at one insert and the replay
    reads (three of them, one per sequencer fill) free of joins; edits and deletes are rare,
    and this is two UPDATEs over one room's recorded events (within RECOVERY_WINDOW, found
    through the (room, id) index). Payloads embed no other message's content (`replyTo` is
    an id), so nothing else can leak a deleted text.
    """
    recorded = RoomEvent.objects.filter(room_id=message.room_id, payload__seq=message.seq)
    recorded.filter(event=payloads.MESSAGE_RECEIVED).update(
        payload=payloads.message_payload(message)
    )
    recorded.filter(event=payloads.MESSAGE_EDITED).update(
        payload=payloads.message_edited_payload(message)
    )


def record_room_event(
    room_id: int, event: str, payload: Mapping[str, Any], *, seq: int | None = None
) -> None:
    """Record a recoverable room event in this transaction and broadcast it after commit,
    with its id as the recovery offset (a reconnecting socket gets it replayed) and, for a
    new message, the room seq (instances deliver those in order, gaps read from the log)."""
    record = RoomEvent.objects.create(room_id=room_id, event=event, payload=payload)
    broadcast_recorded(record, seq=seq)


def broadcast_recorded(record: RoomEvent, *, seq: int | None = None) -> None:
    """Broadcast a recorded room event after commit, its id as the recovery offset."""
    broadcast_on_commit(
        room_group(record.room_id), record.event, record.payload, offset=record.pk, seq=seq
    )


def notify_mentions(message: Message) -> list[int]:
    """A `mention` notification for each room member named as @username (not the sender);
    returns their ids."""
    names = {match.group(1) for match in _MENTION.finditer(message.content)}
    names.discard(message.sender.username)
    if not names:
        return []
    mentioned = list(
        Membership.objects.filter(room_id=message.room_id, user__username__in=list(names))
        .order_by("user_id")
        .values_list("user_id", flat=True)[:MAX_MENTIONS_PER_MESSAGE]
    )
    for user_id in mentioned:
        notification_create(
            user_id=user_id,
            kind=Notification.Kind.MENTION,
            payload={
                "roomId": message.room_id,
                "messageId": message.pk,
                "seq": message.seq,
                "from": user_payload(message.sender),
            },
        )
    return mentioned


def _next_seq(room_id: int) -> int:
    # The UPDATE holds the room row's lock until commit, so concurrent senders of one room
    # queue here on PostgreSQL and each reads back its own value (SQLite's IMMEDIATE
    # transactions serialise all writers anyway). Callers hold a transaction. One statement
    # (RETURNING: PostgreSQL, SQLite >= 3.35) instead of an UPDATE and a SELECT.
    table = connection.ops.quote_name(Room._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_seq = last_seq + 1 WHERE id = %s RETURNING last_seq",
            [room_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise not_found("Room not found")
    return int(row[0])


def _message_by_client_id(sender: User, client_id: str, *, room_id: int) -> Message | None:
    existing = (
        Message.objects.select_related("sender").filter(sender=sender, client_id=client_id).first()
    )
    if existing is not None and existing.room_id != room_id:
        raise conflict(
            "clientId was already used for a message in another room", clientId=client_id
        )
    return existing


def message_locked(message_id: int) -> Message:
    message_id = check_id(message_id, what="Message")
    message = (
        Message.objects.select_for_update(of=("self",))
        .select_related("sender")
        .filter(pk=message_id)
        .first()
    )
    if message is None:
        raise not_found("Message")
    return message


def _membership_locking_room(user: User, room_id: int) -> Membership:
    """The user's membership, after locking the room row: membership changes of one room
    run one at a time, so two owners leaving at once cannot leave the room ownerless."""
    room_id = check_id(room_id, what="Room")
    Room.objects.select_for_update().filter(pk=room_id).first()
    return membership_get(user, room_id)


def _end_membership(membership: Membership) -> None:
    """Delete a membership (room lock held), handing ownership on if needed."""
    if membership.role == Role.OWNER:
        others = Membership.objects.filter(room_id=membership.room_id).exclude(pk=membership.pk)
        if not others.filter(role=Role.OWNER).exists():
            successor = others.order_by(
                Case(
                    When(role=Role.ADMIN, then=Value(0)),
                    default=Value(1),
                    output_field=IntegerField(),
                ),
                "joined_at",
                "pk",
            ).first()
            if successor is not None:
                successor.role = Role.OWNER
                successor.save(update_fields=["role"])
    # The post_delete receiver (chat/signals.py) announces the leave: it is the one place
    # that does, so a membership deleted any other way (the admin, a cascade from a deleted
    # user or room) unsubscribes the user's sockets too, and this path announces it once.
    membership.delete()


def announce_leave(*, room_id: int, user_id: int) -> None:
    """After commit: the room hears who left, and the user's open sockets (on every instance)
    leave the room group, so they stop receiving a room they are no longer in."""
    broadcast_on_commit(
        room_group(room_id),
        payloads.USER_LEFT_ROOM,
        payloads.user_left_room_payload(room_id=room_id, user_id=user_id),
    )
    control_on_commit(user_group(user_id), "unsubscribe", target=room_group(room_id))


def announce_join(membership: Membership) -> None:
    # The new member's open sockets subscribe to the room group, wherever they are
    # connected; the room hears who joined.
    control_on_commit(
        user_group(membership.user_id), "subscribe", target=room_group(membership.room_id)
    )
    broadcast_on_commit(
        room_group(membership.room_id),
        payloads.USER_JOINED_ROOM,
        payloads.user_joined_room_payload(membership),
    )


def _member_ids(values: Iterable[int], *, exclude: int) -> list[int]:
    if isinstance(values, str | bytes | dict) or not isinstance(values, Iterable):
        raise validation_error("memberIds must be a list of user ids", memberIds="not a list")
    ids = list(dict.fromkeys(check_reference_id(value, field="memberIds") for value in values))
    if len(ids) > MAX_INITIAL_MEMBERS:
        raise validation_error(
            f"At most {MAX_INITIAL_MEMBERS} members can be added at once", memberIds="too many"
        )
    return [user_id for user_id in ids if user_id != exclude]


def _active_users(user_ids: list[int], *, field: str) -> list[User]:
    users = {user.pk: user for user in User.objects.filter(pk__in=user_ids, is_active=True)}
    unknown = [user_id for user_id in user_ids if user_id not in users]
    if unknown:
        raise validation_error("Unknown or inactive users", **{field: unknown})
    return [users[user_id] for user_id in user_ids]


def _direct_key(first_user_id: int, second_user_id: int) -> str:
    low, high = sorted((first_user_id, second_user_id))
    return f"{low}:{high}"


def _direct_participant_ids(room: Room) -> set[int]:
    return {int(part) for part in (room.direct_key or "").split(":") if part}
