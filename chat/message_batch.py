"""Group commit: many message sends written in one transaction (chat/message_writer.py
gathers them).

Each send gets exactly what `services.message_send` would give it, the message and whether
it was created, or the error, but a batch of N costs a fixed handful of statements instead of
about seven per message (docs/benchmarks.md, "Group commit"):

1. the memberships of every (sender, room) pair, one query;
2. the replied-to messages, one query (only when some send replies);
3. the clientIds already stored, one query (only when some send has one);
4. the rooms locked in id order, one query (PostgreSQL: two batch writers never deadlock);
5. every room's seq bumped by its count, one `UPDATE ... RETURNING`;
6. the messages, one multi-row INSERT; their room events, another;
7. one commit, then the broadcasts in seq order.

A send that fails its own checks fails alone, before any seq is taken, so a room's seqs stay
gapless. If the write itself fails (a concurrent retry from another process inserted the same
clientId between step 3 and step 6), the batch rolls back as a whole and each of its sends is
retried alone through `message_send`, which resolves the clash as it always has.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TypeAlias

from django.db import DatabaseError, connection, transaction

from banter.accounts.models import User
from banter.core.errors import BanterError, conflict, forbidden, not_found, validation_error
from banter.core.validation import check_choice, check_id, check_reference_id
from chat import payloads, services
from chat.models import Membership, Message, Room, RoomEvent
from chat.validation import check_client_id, clean_content


@dataclass(frozen=True, slots=True)
class SendRequest:
    """One `message_send` call, as its keyword arguments."""

    sender: User
    room_id: int
    content: str
    message_type: str = Message.Type.TEXT
    client_id: str | None = None
    reply_to_id: int | None = None


SendResult: TypeAlias = tuple[Message, bool] | BanterError


@dataclass(slots=True)
class _Pending:
    index: int
    sender: User
    room_id: int
    content: str
    message_type: str
    client_id: str | None
    reply_to_id: int | None


def message_send_batch(requests: list[SendRequest]) -> list[SendResult]:
    """The result of each request, in order: (message, created) or the BanterError it raised."""
    results: list[SendResult | None] = [None] * len(requests)
    try:
        with transaction.atomic():
            _write_batch(requests, results)
    except (DatabaseError, BanterError):
        # Rolled back whole (nothing was broadcast: broadcasts wait for the commit). Each send
        # again, alone: a clientId clash resolves to the stored message as message_send does.
        return [_send_alone(request) for request in requests]
    return [result for result in results if result is not None]


def _send_alone(request: SendRequest) -> SendResult:
    try:
        return services.message_send(
            sender=request.sender,
            room_id=request.room_id,
            content=request.content,
            message_type=request.message_type,
            client_id=request.client_id,
            reply_to_id=request.reply_to_id,
        )
    except BanterError as error:
        return error


def _write_batch(requests: list[SendRequest], results: list[SendResult | None]) -> None:
    pending = _checked(requests, results)
    pending = _members_only(pending, results)
    pending = _replies_in_room(pending, results)
    pending = _new_client_ids(pending, results)
    if not pending:
        return
    seqs = _allocate_seqs(pending)
    messages = Message.objects.bulk_create(
        [
            Message(
                room_id=send.room_id,
                sender=send.sender,
                content=send.content,
                message_type=send.message_type,
                client_id=send.client_id,
                seq=seqs[position],
                reply_to_id=send.reply_to_id,
            )
            for position, send in enumerate(pending)
        ]
    )
    events = RoomEvent.objects.bulk_create(
        [
            RoomEvent(
                room_id=message.room_id,
                event=payloads.MESSAGE_RECEIVED,
                payload=payloads.message_payload(message),
            )
            for message in messages
        ]
    )
    for send, message, event in zip(pending, messages, events, strict=True):
        services.broadcast_recorded(event, seq=message.seq)
        services.notify_mentions(message)
        results[send.index] = (message, True)
    _resolve_repeats(requests, results)


def _checked(requests: list[SendRequest], results: list[SendResult | None]) -> list[_Pending]:
    """The sends whose fields pass message_send's checks, in its order."""
    pending: list[_Pending] = []
    for index, request in enumerate(requests):
        try:
            content = clean_content(request.content)
            message_type = check_choice(
                request.message_type, field="messageType", choices=services.CLIENT_MESSAGE_TYPES
            )
            client_id = check_client_id(request.client_id)
            reply_to_id = request.reply_to_id
            if reply_to_id is not None:
                reply_to_id = check_reference_id(reply_to_id, field="replyTo")
            room_id = check_id(request.room_id, what="Room")
        except BanterError as error:
            results[index] = error
            continue
        pending.append(
            _Pending(index, request.sender, room_id, content, message_type, client_id, reply_to_id)
        )
    return pending


def _members_only(pending: list[_Pending], results: list[SendResult | None]) -> list[_Pending]:
    if not pending:
        return pending
    pairs = set(
        Membership.objects.filter(
            room_id__in={send.room_id for send in pending},
            user_id__in={send.sender.pk for send in pending},
        ).values_list("user_id", "room_id")
    )
    outsiders = [send for send in pending if (send.sender.pk, send.room_id) not in pairs]
    if not outsiders:
        return pending
    existing = set(
        Room.objects.filter(pk__in={send.room_id for send in outsiders}).values_list(
            "pk", flat=True
        )
    )
    for send in outsiders:
        results[send.index] = (
            forbidden("You are not a member of this room")
            if send.room_id in existing
            else not_found("Room")
        )
    return [send for send in pending if (send.sender.pk, send.room_id) in pairs]


def _replies_in_room(pending: list[_Pending], results: list[SendResult | None]) -> list[_Pending]:
    reply_ids = {send.reply_to_id for send in pending if send.reply_to_id is not None}
    if not reply_ids:
        return pending
    rooms = dict(Message.objects.filter(pk__in=reply_ids).values_list("pk", "room_id"))
    kept: list[_Pending] = []
    for send in pending:
        if send.reply_to_id is not None and rooms.get(send.reply_to_id) != send.room_id:
            results[send.index] = validation_error(
                "replyTo must be a message of this room", replyTo="not found"
            )
        else:
            kept.append(send)
    return kept


def _new_client_ids(pending: list[_Pending], results: list[SendResult | None]) -> list[_Pending]:
    """Drop the sends whose clientId is already stored (a retry gets the stored message, or a
    conflict if it was for another room) or repeats an earlier send of this batch (resolved
    after the insert, by _resolve_repeats)."""
    keyed = [send for send in pending if send.client_id is not None]
    if not keyed:
        return pending
    stored = {
        (message.sender_id, message.client_id): message
        for message in Message.objects.select_related("sender").filter(
            sender_id__in={send.sender.pk for send in keyed},
            client_id__in={send.client_id for send in keyed},
        )
    }
    seen: set[tuple[int, str]] = set()
    kept: list[_Pending] = []
    for send in pending:
        if send.client_id is None:
            kept.append(send)
            continue
        key = (int(send.sender.pk), send.client_id)
        message = stored.get(key)
        if message is not None:
            results[send.index] = (
                (message, False)
                if message.room_id == send.room_id
                else conflict(
                    "clientId was already used for a message in another room",
                    clientId=send.client_id,
                )
            )
        elif key not in seen:
            seen.add(key)
            kept.append(send)
    return kept


def _resolve_repeats(requests: list[SendRequest], results: list[SendResult | None]) -> None:
    """A clientId sent twice in one batch: the later send is a retry of the earlier one."""
    written: dict[tuple[int, str], Message] = {}
    for result in results:
        if isinstance(result, tuple) and result[1] and result[0].client_id is not None:
            written[(int(result[0].sender_id), result[0].client_id)] = result[0]
    for index, request in enumerate(requests):
        if results[index] is not None:
            continue
        key = (int(request.sender.pk), str(request.client_id))
        message = written[key]
        results[index] = (
            (message, False)
            if message.room_id == request.room_id
            else conflict(
                "clientId was already used for a message in another room",
                clientId=request.client_id,
            )
        )


def _allocate_seqs(pending: list[_Pending]) -> list[int]:
    """The next seqs of each send's room, in the batch's order: one UPDATE for all rooms."""
    counts: dict[int, int] = defaultdict(int)
    for send in pending:
        counts[send.room_id] += 1
    room_ids = sorted(counts)
    if connection.features.has_select_for_update and len(room_ids) > 1:
        # Row locks taken in id order: two processes' batches over the same rooms queue
        # instead of deadlocking (the UPDATE alone locks in whatever order its plan scans).
        list(
            Room.objects.select_for_update()
            .filter(pk__in=room_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    table = connection.ops.quote_name(Room._meta.db_table)
    cases = " ".join("WHEN %s THEN %s" for _ in room_ids)
    params: list[int] = []
    for room_id in room_ids:
        params += [room_id, counts[room_id]]
    placeholders = ", ".join("%s" for _ in room_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_seq = last_seq + CASE id {cases} END "
            f"WHERE id IN ({placeholders}) RETURNING id, last_seq",
            [*params, *room_ids],
        )
        last = {int(room_id): int(seq) for room_id, seq in cursor.fetchall()}
    if len(last) != len(room_ids):
        # A room deleted since the membership check: the batch falls back to one send at a
        # time, and that send answers not_found as message_send always has.
        raise not_found("Room not found")
    # Each room's block ends at its new last_seq; hand them out in the batch's order.
    next_seq = {room_id: last[room_id] - counts[room_id] + 1 for room_id in room_ids}
    seqs: list[int] = []
    for send in pending:
        seqs.append(next_seq[send.room_id])
        next_seq[send.room_id] += 1
    return seqs
