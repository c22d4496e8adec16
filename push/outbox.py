"""Writing the push outbox, in the transaction of the change that causes the push.

Called by the message writers (chat/services.py message_send, chat/message_batch.py) after
their inserts and before their commit: the rows commit with the messages or not at all, so a
crash after the commit loses no push (the delivery loop finds the rows), and a rolled-back
send owes none. One query finds the devices of the rooms' members; nothing is written when
no member has a device (the common case costs that one indexed read per batch).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from banter.core import metrics
from push.models import Device, PushOutbox
from push.senders import SENDERS

if TYPE_CHECKING:
    from calls.models import CallLog
    from chat.models import Message

_COLUMNS = 14
_UPSERT = (
    "INSERT INTO {table} (device_id, user_id, kind, collapse_key, room_id, message_id, "
    "call_id, status, created_at, due_at, expires_at, attempts, version, last_error) "
    "VALUES {rows} "
    # One pending row per device and room: the newer message replaces the older one's, and
    # a mention stays a mention (it pushes even in a muted room).
    "ON CONFLICT (device_id, collapse_key) WHERE status = 'pending' DO UPDATE SET "
    "message_id = excluded.message_id, call_id = excluded.call_id, "
    "kind = CASE WHEN {table}.kind = 'mention' THEN 'mention' ELSE excluded.kind END, "
    "due_at = excluded.due_at, expires_at = excluded.expires_at, attempts = 0, "
    "version = {table}.version + 1, leased_until = NULL"
)


def collapse_key(room_id: int) -> str:
    return f"room:{room_id}"


MemberDevices = dict[int, list[tuple[int, int, bool]]]  # room -> (device, user, muted)

# The devices of the rooms' members; PostgreSQL's group-commit writer runs it among its
# reads, in the same round trip (chat/message_batch.py).
MEMBER_DEVICES_SQL = (
    "SELECT ms.room_id, d.id, d.user_id, ms.muted, d.kind FROM push_device d "
    "JOIN chat_membership ms ON ms.user_id = d.user_id WHERE ms.room_id = ANY(%s) ORDER BY d.id"
)


def record_message_pushes(
    messages: Sequence[Message],
    mentioned: Mapping[int, Collection[int]] | None = None,
    devices: MemberDevices | None = None,
) -> int:
    """Queue a push for every device of every member of each message's room (not the
    sender; not a muted room unless the member is mentioned). `mentioned`: message id ->
    the user ids it mentions; `devices`: member_devices() of the rooms, when the caller
    read them already. Returns the rows written."""
    if not messages:
        return 0
    mentioned = mentioned or {}
    if devices is None:
        devices = member_devices({message.room_id for message in messages})
    if not devices:
        return 0
    now = timezone.now()
    due = now + timedelta(seconds=float(settings.BANTER["PRESENCE_OFFLINE_GRACE"]))
    expires = now + timedelta(seconds=float(settings.BANTER["PUSH_TTL"]))
    latest: dict[tuple[int, int], list[Any]] = {}  # (device, room) -> its row, newest wins
    for message in messages:
        named = mentioned.get(message.pk, ())
        for device_id, user_id, muted in devices.get(message.room_id, ()):
            if user_id == message.sender_id:
                continue
            is_mention = user_id in named
            if muted and not is_mention:
                continue
            key = (device_id, message.room_id)
            kind = PushOutbox.Kind.MENTION if is_mention else PushOutbox.Kind.MESSAGE
            earlier = latest.get(key)
            if earlier is not None and earlier[2] == PushOutbox.Kind.MENTION:
                kind = PushOutbox.Kind.MENTION
            latest[key] = _row(
                device_id, user_id, kind, collapse_key(message.room_id), now, due, expires,
                room_id=message.room_id, message_id=message.pk,
            )  # fmt: skip
    return _upsert(list(latest.values()))


def record_call_push(call: CallLog, kind: str) -> int:
    """Queue `kind` (call_incoming: high priority, lives while the call rings; missed_call)
    to the receiver's devices, due at once, in the call change's transaction."""
    devices = list(
        Device.objects.filter(
            user_id=call.receiver_id, kind__in=sorted(_configured_kinds())
        ).values_list("pk", flat=True)
    )
    if not devices:
        return 0
    now = timezone.now()
    lifetime = (
        float(settings.BANTER["CALL_RING_TIMEOUT"])
        if kind == PushOutbox.Kind.CALL_INCOMING
        else float(settings.BANTER["PUSH_TTL"])
    )
    expires = now + timedelta(seconds=lifetime)
    return _upsert(
        [
            _row(
                device_id,
                call.receiver_id,
                kind,
                f"call:{call.pk}",
                now,
                now,
                expires,
                call_id=call.pk,
            )
            for device_id in devices
        ]
    )


def _row(
    device_id: int,
    user_id: int,
    kind: str,
    key: str,
    now: datetime,
    due: datetime,
    expires: datetime,
    *,
    room_id: int | None = None,
    message_id: int | None = None,
    call_id: int | None = None,
) -> list[Any]:
    return [
        device_id,
        user_id,
        str(kind),
        key,
        room_id,
        message_id,
        call_id,
        PushOutbox.Status.PENDING.value,
        now,
        due,
        expires,
        0,
        1,
        "",
    ]


def _upsert(rows: list[list[Any]]) -> int:
    if not rows:
        return 0
    table = connection.ops.quote_name(PushOutbox._meta.db_table)
    placeholders = ", ".join(["(" + ", ".join(["%s"] * _COLUMNS) + ")"] * len(rows))
    params = [value for row in rows for value in row]
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT.format(table=table, rows=placeholders), params)
    metrics.PUSHES_QUEUED.inc(len(rows))
    return len(rows)


def member_devices(room_ids: set[int]) -> MemberDevices:
    """room id -> (device id, user id, muted) of each member's devices."""
    params: list[Any]
    if connection.vendor == "postgresql":
        sql, params = MEMBER_DEVICES_SQL, [sorted(room_ids)]
    else:
        placeholders = ", ".join(["%s"] * len(room_ids))
        sql = MEMBER_DEVICES_SQL.replace("= ANY(%s)", f"IN ({placeholders})")
        params = sorted(room_ids)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return member_devices_of(cursor.fetchall())


def member_devices_of(rows: Sequence[Sequence[Any]]) -> MemberDevices:
    devices: MemberDevices = {}
    sendable = _configured_kinds()
    for room_id, device_id, user_id, muted, kind in rows:
        if kind in sendable:
            devices.setdefault(int(room_id), []).append((int(device_id), int(user_id), bool(muted)))
    return devices


def _configured_kinds() -> set[str]:
    # No push is queued for a kind the server has no credentials for (it could only fail).
    return {kind for kind, sender in SENDERS.items() if sender.configured()}
