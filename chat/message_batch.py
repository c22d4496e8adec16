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
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import orjson
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from banter.accounts.models import User
from banter.core.errors import BanterError, conflict, forbidden, not_found, validation_error
from banter.core.validation import check_choice, check_id, check_reference_id
from chat import payloads, services
from chat.attachments import (
    attachment_refusal,
    check_attachment_ids,
    claim,
    described,
    message_type_of,
    uploads_by_id,
)
from chat.models import Membership, Message, Room, RoomEvent
from chat.validation import check_client_id, clean_content
from media.payloads import AttachmentPayload
from push.outbox import (
    MEMBER_DEVICES_SQL,
    MemberDevices,
    member_devices_of,
    record_message_pushes,
)


@dataclass(frozen=True, slots=True)
class SendRequest:
    """One `message_send` call, as its keyword arguments."""

    sender: User
    room_id: int
    content: str | None
    message_type: str = Message.Type.TEXT
    client_id: str | None = None
    reply_to_id: int | None = None
    attachments: tuple[int, ...] = ()


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
    upload_ids: tuple[int, ...] = ()
    attachments: list[AttachmentPayload] = field(default_factory=list)


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
            attachments=list(request.attachments),
        )
    except BanterError as error:
        return error


def _write_batch(requests: list[SendRequest], results: list[SendResult | None]) -> None:
    pending = _checked(requests, results)
    if not pending:
        return
    store = _store_for(pending)
    snapshot = store.read(pending)
    pending = _members_only(pending, snapshot, results)
    pending = _replies_in_room(pending, snapshot, results)
    pending = _new_client_ids(pending, snapshot, results)
    pending = _attachable(pending, results)
    if not pending:
        _resolve_repeats(requests, results)
        return
    seqs = _seqs_in_order(pending, store.bump_seqs(_counts(pending)))
    messages = [
        Message(
            room_id=send.room_id,
            sender=send.sender,
            content=send.content,
            message_type=message_type_of(send.attachments, send.message_type),
            client_id=send.client_id,
            seq=seqs[position],
            reply_to_id=send.reply_to_id,
            attachments=send.attachments or None,
        )
        for position, send in enumerate(pending)
    ]
    events = store.insert(messages, snapshot)
    for send, message in zip(pending, messages, strict=True):
        claim(message, send.upload_ids)  # a clash rolls the batch back: each send alone
    mentioned: dict[int, list[int]] = {}
    for send, message, event in zip(pending, messages, events, strict=True):
        services.broadcast_recorded(event, seq=message.seq)
        mentioned[message.pk] = services.notify_mentions(message)
        results[send.index] = (message, True)
    # In this transaction: the pushes commit with the messages, or not at all.
    record_message_pushes(messages, mentioned, snapshot.devices)
    _resolve_repeats(requests, results)


def _checked(requests: list[SendRequest], results: list[SendResult | None]) -> list[_Pending]:
    """The sends whose fields pass message_send's checks, in its order."""
    pending: list[_Pending] = []
    for index, request in enumerate(requests):
        try:
            upload_ids = check_attachment_ids(request.attachments)
            content = clean_content(request.content, caption=bool(upload_ids))
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
            _Pending(
                index,
                request.sender,
                room_id,
                content,
                message_type,
                client_id,
                reply_to_id,
                upload_ids,
            )
        )
    return pending


def _members_only(
    pending: list[_Pending], snapshot: _Snapshot, results: list[SendResult | None]
) -> list[_Pending]:
    outsiders = [send for send in pending if (send.sender.pk, send.room_id) not in snapshot.members]
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
    return [send for send in pending if (send.sender.pk, send.room_id) in snapshot.members]


def _replies_in_room(
    pending: list[_Pending], snapshot: _Snapshot, results: list[SendResult | None]
) -> list[_Pending]:
    kept: list[_Pending] = []
    for send in pending:
        if send.reply_to_id is not None and snapshot.reply_rooms.get(send.reply_to_id) != (
            send.room_id
        ):
            results[send.index] = validation_error(
                "replyTo must be a message of this room", replyTo="not found"
            )
        else:
            kept.append(send)
    return kept


def _new_client_ids(
    pending: list[_Pending], snapshot: _Snapshot, results: list[SendResult | None]
) -> list[_Pending]:
    """Drop the sends whose clientId is already stored (a retry gets the stored message, or a
    conflict if it was for another room) or repeats an earlier send of this batch (resolved
    after the insert, by _resolve_repeats)."""
    retried = [
        snapshot.stored[(int(send.sender.pk), send.client_id)]
        for send in pending
        if send.client_id is not None and (int(send.sender.pk), send.client_id) in snapshot.stored
    ]
    # Retries are rare: their messages (with the sender, for the ack) only when there are some.
    originals = Message.objects.select_related("sender").in_bulk(retried) if retried else {}
    seen: set[tuple[int, str]] = set()
    kept: list[_Pending] = []
    for send in pending:
        if send.client_id is None:
            kept.append(send)
            continue
        key = (int(send.sender.pk), send.client_id)
        stored_id = snapshot.stored.get(key)
        if stored_id is not None:
            message = originals[stored_id]
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


def _attachable(pending: list[_Pending], results: list[SendResult | None]) -> list[_Pending]:
    """Drop the sends whose uploads cannot be attached (chat/attachments.py), and describe
    the others'. One query, and only when some send has attachments; two sends of one batch
    naming the same upload: the later is refused, as it would be one after the other."""
    wanted = [upload_id for send in pending for upload_id in send.upload_ids]
    if not wanted:
        return pending
    uploads = uploads_by_id(wanted)
    taken: set[int] = set()
    kept: list[_Pending] = []
    for send in pending:
        refusal = attachment_refusal(int(send.sender.pk), send.upload_ids, uploads)
        if refusal is None and taken.intersection(send.upload_ids):
            refusal = conflict("The upload is already attached to a message")
        if refusal is not None:
            results[send.index] = refusal
            continue
        taken.update(send.upload_ids)
        send.attachments = described(send.upload_ids, uploads)
        kept.append(send)
    return kept


def _resolve_repeats(requests: list[SendRequest], results: list[SendResult | None]) -> None:
    """A clientId sent twice in one batch: the later send is a retry of the earlier one, and
    fails as it did when its attachments were refused."""
    written: dict[tuple[int, str], Message] = {}
    first: dict[tuple[int, str], SendResult] = {}
    for request, result in zip(requests, results, strict=True):
        if request.client_id is not None and result is not None:
            first.setdefault((int(request.sender.pk), request.client_id), result)
        if isinstance(result, tuple) and result[1] and result[0].client_id is not None:
            written[(int(result[0].sender_id), result[0].client_id)] = result[0]
    for index, request in enumerate(requests):
        if results[index] is not None:
            continue
        key = (int(request.sender.pk), str(request.client_id))
        if key not in written:
            results[index] = first[key]
            continue
        message = written[key]
        results[index] = (
            (message, False)
            if message.room_id == request.room_id
            else conflict(
                "clientId was already used for a message in another room",
                clientId=request.client_id,
            )
        )


def _counts(pending: list[_Pending]) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for send in pending:
        counts[send.room_id] += 1
    return dict(counts)


def _seqs_in_order(pending: list[_Pending], last: dict[int, int]) -> list[int]:
    """Each room's block of seqs ends at its new last_seq: hand them out in batch order."""
    counts = _counts(pending)
    if set(last) != set(counts):
        # A room deleted since the membership check: the batch falls back to one send at a
        # time, and that send answers not_found as message_send always has.
        raise not_found("Room")
    next_seq = {room_id: last[room_id] - counts[room_id] + 1 for room_id in counts}
    seqs: list[int] = []
    for send in pending:
        seqs.append(next_seq[send.room_id])
        next_seq[send.room_id] += 1
    return seqs


# -- the database side -------------------------------------------------------------------


@dataclass(slots=True)
class _Snapshot:
    """What the batch's checks need from the database, read before any write."""

    members: set[tuple[int, int]]  # (user_id, room_id)
    reply_rooms: dict[int, int]  # replied-to message id -> its room
    stored: dict[tuple[int, str], int]  # (sender_id, client_id) -> stored message id
    message_ids: list[int] = field(default_factory=list)  # pre-allocated (PostgreSQL)
    # The rooms' members' push devices, when read with the rest (PostgreSQL).
    devices: MemberDevices | None = None


class _OrmStore:
    """Any database Django supports (SQLite, the embedded default): the ORM, a query per
    step."""

    def read(self, pending: list[_Pending]) -> _Snapshot:
        members = set(
            Membership.objects.filter(
                room_id__in={send.room_id for send in pending},
                user_id__in={send.sender.pk for send in pending},
            ).values_list("user_id", "room_id")
        )
        reply_ids = {send.reply_to_id for send in pending if send.reply_to_id is not None}
        reply_rooms = (
            dict(Message.objects.filter(pk__in=reply_ids).values_list("pk", "room_id"))
            if reply_ids
            else {}
        )
        keyed = [send for send in pending if send.client_id is not None]
        stored: dict[tuple[int, str], int] = (
            {
                (int(sender_id), str(client_id)): int(message_id)
                for sender_id, client_id, message_id in Message.objects.filter(
                    sender_id__in={send.sender.pk for send in keyed},
                    client_id__in={send.client_id for send in keyed},
                ).values_list("sender_id", "client_id", "pk")
            }
            if keyed
            else {}
        )
        return _Snapshot(members, reply_rooms, stored)

    def bump_seqs(self, counts: dict[int, int]) -> dict[int, int]:
        room_ids = sorted(counts)
        if connection.features.has_select_for_update and len(room_ids) > 1:
            # Row locks in id order: two batches over the same rooms queue, never deadlock.
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
            return {int(room_id): int(seq) for room_id, seq in cursor.fetchall()}

    def insert(self, messages: list[Message], snapshot: _Snapshot) -> list[RoomEvent]:
        Message.objects.bulk_create(messages)
        return RoomEvent.objects.bulk_create(
            [
                RoomEvent(
                    room_id=message.room_id,
                    event=payloads.MESSAGE_RECEIVED,
                    payload=payloads.message_payload(message),
                )
                for message in messages
            ]
        )


class _PostgresStore:
    """PostgreSQL: the same statements in three round trips instead of seven.

    The reads and the message ids (nextval) go in one multi-statement query; the seqs in one
    UPDATE that locks the rooms in id order; both inserts in one more. Django's PostgreSQL
    cursors bind client-side, which is what allows several statements per execute.
    """

    def read(self, pending: list[_Pending]) -> _Snapshot:
        reply_ids = sorted({send.reply_to_id for send in pending if send.reply_to_id is not None})
        keyed = [send for send in pending if send.client_id is not None]
        sql = [
            f"SELECT user_id, room_id FROM {_table(Membership)} "
            "WHERE room_id = ANY(%s) AND user_id = ANY(%s)",
            f"SELECT nextval(pg_get_serial_sequence('{Message._meta.db_table}', 'id')) "
            "FROM generate_series(1, %s)",
            MEMBER_DEVICES_SQL,
        ]
        params: list[Any] = [
            sorted({send.room_id for send in pending}),
            sorted({int(send.sender.pk) for send in pending}),
            len(pending),
            sorted({send.room_id for send in pending}),
        ]
        if keyed:
            sql.append(
                f"SELECT sender_id, client_id, id FROM {_table(Message)} "
                "WHERE sender_id = ANY(%s) AND client_id = ANY(%s)"
            )
            params += [
                sorted({int(send.sender.pk) for send in keyed}),
                sorted({str(send.client_id) for send in keyed}),
            ]
        if reply_ids:
            sql.append(f"SELECT id, room_id FROM {_table(Message)} WHERE id = ANY(%s)")
            params.append(reply_ids)
        with connection.cursor() as cursor:
            cursor.execute("; ".join(sql), params)
            members = {(int(u), int(r)) for u, r in cursor.fetchall()}
            cursor.nextset()
            message_ids = [int(row[0]) for row in cursor.fetchall()]
            cursor.nextset()
            devices = member_devices_of(cursor.fetchall())
            stored: dict[tuple[int, str], int] = {}
            if keyed:
                cursor.nextset()
                stored = {(int(s), str(c)): int(m) for s, c, m in cursor.fetchall()}
            reply_rooms: dict[int, int] = {}
            if reply_ids:
                cursor.nextset()
                reply_rooms = {int(m): int(r) for m, r in cursor.fetchall()}
        return _Snapshot(members, reply_rooms, stored, message_ids, devices)

    def bump_seqs(self, counts: dict[int, int]) -> dict[int, int]:
        room_ids = sorted(counts)
        table = _table(Room)
        with connection.cursor() as cursor:
            # The subquery locks the rooms in id order: two batches over the same rooms
            # (another process's) queue, never deadlock.
            cursor.execute(
                f"UPDATE {table} AS r SET last_seq = r.last_seq + v.n "
                f"FROM (SELECT id FROM {table} WHERE id = ANY(%s) ORDER BY id FOR UPDATE) AS l, "
                "unnest(%s::bigint[], %s::bigint[]) AS v(id, n) "
                "WHERE r.id = l.id AND r.id = v.id RETURNING r.id, r.last_seq",
                [room_ids, room_ids, [counts[room_id] for room_id in room_ids]],
            )
            return {int(room_id): int(seq) for room_id, seq in cursor.fetchall()}

    def insert(self, messages: list[Message], snapshot: _Snapshot) -> list[RoomEvent]:
        now = timezone.now()
        message_rows: list[Any] = []
        for message, message_id in zip(messages, snapshot.message_ids, strict=False):
            message.pk = message_id
            message.created_at = now
            message_rows += [
                message_id,
                message.room_id,
                message.sender_id,
                message.content,
                message.message_type,
                message.client_id,
                message.seq,
                message.reply_to_id,
                orjson.dumps(message.attachments).decode() if message.attachments else None,
                now,
            ]
        events = [
            RoomEvent(
                room_id=message.room_id,
                event=payloads.MESSAGE_RECEIVED,
                payload=payloads.message_payload(message),
                created_at=now,
            )
            for message in messages
        ]
        event_rows: list[Any] = []
        for event in events:
            event_rows += [event.room_id, event.event, orjson.dumps(event.payload).decode(), now]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {_table(Message)} (id, room_id, sender_id, content, message_type, "
                "client_id, seq, reply_to_id, attachments, created_at) VALUES "
                + ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s)"] * len(messages))
                + f"; INSERT INTO {_table(RoomEvent)} (room_id, event, payload, created_at) "
                "VALUES " + ", ".join(["(%s, %s, %s::jsonb, %s)"] * len(events)) + " RETURNING id",
                [*message_rows, *event_rows],
            )
            cursor.nextset()
            for event, (event_id,) in zip(events, cursor.fetchall(), strict=True):
                event.pk = int(event_id)
        for message in messages:
            message._state.adding = False
            message._state.db = connection.alias
        for event in events:
            event._state.adding = False
            event._state.db = connection.alias
        return events


def _store_for(pending: list[_Pending]) -> _OrmStore | _PostgresStore:
    return _PostgresStore() if connection.vendor == "postgresql" else _OrmStore()


def _table(model: type[Any]) -> str:
    return connection.ops.quote_name(model._meta.db_table)
