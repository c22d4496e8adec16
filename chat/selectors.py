"""Reads of the chat domain. Membership is checked here, so transports cannot forget it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db.models import (
    Count,
    F,
    IntegerField,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce

from banter.core.errors import forbidden, not_found, validation_error
from banter.core.validation import (
    check_id,
    check_limit,
    check_optional_seq,
    check_reference_id,
)
from chat.models import Membership, Message, Reaction, Room

if TYPE_CHECKING:
    from banter.accounts.models import User
    from chat.payloads import ReactionPayload

HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class RoomView:
    """A room as one member sees it."""

    room: Room
    membership: Membership
    unread_count: int
    members: list[Membership] | None = None


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """Messages in ascending seq order; has_more says whether the paging direction has more."""

    messages: list[Message]
    has_more: bool
    ascending: bool  # True when paging forward (`after`), False when paging back
    # The page's reactions as its reader sees them, by message id (reactions_of).
    reactions: dict[int, list[ReactionPayload]] = field(default_factory=dict)

    @property
    def next_before(self) -> int | None:
        return self.messages[0].seq if self.has_more and not self.ascending else None

    @property
    def next_after(self) -> int | None:
        return self.messages[-1].seq if self.has_more and self.ascending else None


def membership_get(user: User, room_id: int) -> Membership:
    """The user's membership (with its room): not_found for an unknown room, forbidden if
    the user is not a member."""
    room_id = check_id(room_id, what="Room")
    membership = _membership_with_room(user, room_id)
    if membership is not None:
        return membership
    if not Room.objects.filter(pk=room_id).exists():
        raise not_found("Room")
    raise forbidden("You are not a member of this room")


def _unread_count_subquery(user: User) -> Coalesce:
    # Correlated COUNT per membership: walks the (room, seq) unique index from the read
    # position, so the room list stays one query however many rooms the user has.
    unread = (
        Message.objects.filter(
            room_id=OuterRef("room_id"),
            seq__gt=OuterRef("last_read_seq"),
            deleted_at__isnull=True,
        )
        .exclude(sender=user)
        .order_by()
        .values("room_id")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return Coalesce(Subquery(unread, output_field=IntegerField()), 0)


def _last_activity_subquery() -> Subquery:
    newest = Message.objects.filter(room_id=OuterRef("room_id")).order_by("-seq")
    return Subquery(newest.values("created_at")[:1])


def room_list_for_user(user: User) -> list[RoomView]:
    """The user's rooms, most recently active first, each with its unread count.

    One query for rooms, roles and unread counts, plus one for the members of direct rooms
    (clients name a direct room after the other member).
    """
    direct_members = Prefetch(
        "room__memberships",
        queryset=Membership.objects.filter(room__kind=Room.Kind.DIRECT)
        .select_related("user")
        .order_by("joined_at", "pk"),
    )
    memberships: QuerySet[Membership] = (
        Membership.objects.filter(user=user)
        .select_related("room")
        .annotate(
            unread_count=_unread_count_subquery(user),
            last_activity=Coalesce(_last_activity_subquery(), F("room__created_at")),
        )
        .order_by("-last_activity", "-room_id")
        .prefetch_related(direct_members)
    )
    return [
        RoomView(
            room=membership.room,
            membership=membership,
            unread_count=membership.unread_count,  # type: ignore[attr-defined]
            members=list(membership.room.memberships.all()) if membership.room.is_direct else None,
        )
        for membership in memberships
    ]


def room_get_for_member(user: User, room_id: int) -> RoomView:
    """One room with its members and the user's unread count; members only."""
    return _room_view(user, membership_get(user, room_id))


def _room_view(user: User, membership: Membership) -> RoomView:
    unread = (
        Message.objects.filter(
            room_id=membership.room_id, seq__gt=membership.last_read_seq, deleted_at__isnull=True
        )
        .exclude(sender=user)
        .count()
    )
    return RoomView(
        room=membership.room,
        membership=membership,
        unread_count=unread,
        members=room_members(membership.room_id),
    )


def room_view_of_member(user: User, room_id: int) -> RoomView | None:
    """room_get_for_member, or None when the user is not (yet) a member: join-room's read
    for an existing member, three reads and no write (room_join is for the others)."""
    membership = _membership_with_room(user, room_id)
    return None if membership is None else _room_view(user, membership)


def _membership_with_room(user: User, room_id: int) -> Membership | None:
    return Membership.objects.select_related("room").filter(room_id=room_id, user=user).first()


def room_members(room_id: int) -> list[Membership]:
    return list(
        Membership.objects.filter(room_id=room_id)
        .select_related("user")
        .order_by("joined_at", "pk")
    )


def message_history(
    user: User,
    room_id: int,
    before: int | None = None,
    after: int | None = None,
    limit: int = HISTORY_DEFAULT_LIMIT,
) -> HistoryPage:
    """A page of a room's messages by seq, members only, always returned oldest first.

    Without `after`: the newest `limit` messages below `before` (or the newest overall).
    With `after`: the oldest `limit` messages above `after` (and below `before` if given),
    which is how a reconnecting client catches up. Deleted messages stay in as tombstones
    so a client sees every seq.
    """
    before = check_optional_seq(before, field="before")
    after = check_optional_seq(after, field="after")
    limit = check_limit(limit, maximum=HISTORY_MAX_LIMIT)
    membership = membership_get(user, room_id)

    messages = Message.objects.filter(room_id=membership.room_id).select_related("sender")
    if before is not None:
        messages = messages.filter(seq__lt=before)
    ascending = after is not None
    if ascending:
        messages = messages.filter(seq__gt=after).order_by("seq")
    else:
        messages = messages.order_by("-seq")
    # One extra row tells whether another page exists without a COUNT query.
    rows = list(messages[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    if not ascending:
        rows.reverse()
    return HistoryPage(
        messages=rows,
        has_more=has_more,
        ascending=ascending,
        reactions=reactions_of(rows, int(user.pk)),
    )


def reactions_of(messages: Sequence[Message], viewer_id: int) -> dict[int, list[ReactionPayload]]:
    """Each message's reactions as the viewer sees them: per emoji, the count and whether
    one is the viewer's, in the order the emojis first appeared. One query for a page;
    a deleted message shows none."""
    ids = [message.pk for message in messages if message.deleted_at is None]
    if not ids:
        return {}
    rows = (
        Reaction.objects.filter(message_id__in=ids)
        .values("message_id", "emoji")
        .annotate(count=Count("id"), mine=Count("id", filter=Q(user_id=viewer_id)), first=Min("id"))
        .order_by("message_id", "first")
    )
    reactions: dict[int, list[ReactionPayload]] = {}
    for row in rows:
        reactions.setdefault(row["message_id"], []).append(
            {"emoji": row["emoji"], "count": row["count"], "mine": row["mine"] > 0}
        )
    return reactions


def read_target(user: User, room_id: int, message_id: int) -> tuple[Membership, Message]:
    """Check a read-position move: the user is a member and the message is in the room."""
    message_id = check_reference_id(message_id, field="messageId")
    membership = membership_get(user, room_id)
    message = (
        Message.objects.filter(pk=message_id, room_id=membership.room_id).only("pk", "seq").first()
    )
    if message is None:
        raise validation_error("messageId must be a message of this room", messageId="not found")
    return membership, message


def room_member_ids(room_id: int) -> list[int]:
    return list(Membership.objects.filter(room_id=room_id).values_list("user_id", flat=True))


def room_ids_for_user(user_id: int) -> list[int]:
    return room_ids_for_users([user_id])[user_id]


def room_ids_for_users(user_ids: list[int]) -> dict[int, list[int]]:
    """Each user's room ids, in one query for a batch of connects."""
    rooms: dict[int, list[int]] = {user_id: [] for user_id in user_ids}
    for user_id, room_id in Membership.objects.filter(user_id__in=user_ids).values_list(
        "user_id", "room_id"
    ):
        rooms[user_id].append(room_id)
    return rooms
