"""Rooms, memberships and messages.

Writes go through chat.services (which keep `Room.last_seq`, roles and read positions
consistent); reads through chat.selectors.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Room(models.Model):
    class Kind(models.TextChoices):
        DIRECT = "direct", "Direct"
        GROUP = "group", "Group"

    name = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.GROUP)
    is_public = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="created_rooms",
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Per-room message counter: the seq of the newest message. Bumped with an UPDATE in
    # message_send, whose row lock serialises the senders of one room.
    last_seq = models.BigIntegerField(default=0)
    # "<low user id>:<high user id>" for direct rooms, NULL for groups: a plain unique
    # column (NULLs never collide) keeps one direct room per pair on SQLite and PostgreSQL.
    direct_key = models.CharField(max_length=41, null=True, blank=True, unique=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind="direct", direct_key__isnull=False, is_public=False)
                    | Q(kind="group", direct_key__isnull=True)
                ),
                name="chat_room_direct_key_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.kind} room {self.pk}"

    @property
    def is_direct(self) -> bool:
        return self.kind == Room.Kind.DIRECT


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(default=timezone.now)
    # Read position: only moves forward (read_position_mark). last_read_seq is what unread
    # counts compare against; the message FK is kept for clients that want the id.
    last_read_seq = models.BigIntegerField(default=0)
    last_read_message = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    read_at = models.DateTimeField(null=True, blank=True)
    # No push for this room's messages (mentions still push): PATCH
    # /api/rooms/{id}/notifications.
    muted = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="chat_membership_room_user"),
        ]
        indexes = [models.Index(fields=["user", "room"], name="chat_membership_user_room")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.room_id} ({self.role})"

    @property
    def can_manage(self) -> bool:
        return self.role in (Membership.Role.OWNER, Membership.Role.ADMIN)


class Message(models.Model):
    class Type(models.TextChoices):
        TEXT = "text", "Text"
        IMAGE = "image", "Image"
        FILE = "file", "File"
        SYSTEM = "system", "System"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    # Deleting a user removes their messages with them (accounts are normally deactivated,
    # not deleted; an explicit deletion is a request to forget).
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_messages"
    )
    # Soft-deleted messages keep their content here for moderation; every payload blanks it.
    content = models.TextField(blank=True)
    message_type = models.CharField(max_length=10, choices=Type.choices, default=Type.TEXT)
    # NULL, not "": messages without a client id must not collide in the unique constraint.
    client_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    seq = models.BigIntegerField()
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # The attached uploads as payloads show them (chat/attachments.py), NULL when none:
    # attachments never change once sent, so keeping their description here makes every
    # message payload (broadcast, history, search, replays) query-free. media.Upload stays
    # the record of the files, their owner and their message.
    attachments = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            # Also THE history index: a B-tree on (room, seq) serves `ORDER BY seq DESC`
            # by scanning backwards on SQLite and PostgreSQL, so no separate (room, -seq)
            # index (it would double the index writes on the hottest table).
            models.UniqueConstraint(fields=["room", "seq"], name="chat_message_room_seq"),
            models.UniqueConstraint(
                fields=["sender", "client_id"],
                condition=Q(client_id__isnull=False),
                name="chat_message_sender_client_id",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} in {self.room_id} by {self.sender_id}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class RoomEvent(models.Model):
    """The room's recoverable real-time events, numbered in one sequence for all rooms.

    Written in the same transaction as the change it announces, and its id travels as the
    Socket.IO recovery offset of the broadcast: a socket that reconnects with the last
    offset it saw gets what it missed replayed from here (banter/realtime recovery, on any
    instance, also after the one it was on died). Rows older than RECOVERY_WINDOW are pruned.
    """

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+", db_index=False)
    event = models.CharField(max_length=40)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["room", "id"], name="chat_roomevent_room_id")]

    def __str__(self) -> str:
        return f"{self.event} #{self.pk} in {self.room_id}"


class Reaction(models.Model):
    """One user's emoji on a message: at most one per (message, user, emoji)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_reactions"
    )
    # One emoji (chat/reactions.py checks it): up to 10 code points for the longest ZWJ
    # family sequences, so 32 characters is room enough and still bounded.
    emoji = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "user", "emoji"], name="chat_reaction_message_user_emoji"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.emoji} by {self.user_id} on {self.message_id}"
