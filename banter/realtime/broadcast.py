"""broadcast_on_commit(): the only way domain code emits real-time events.

The Socket.IO frame is encoded ONCE here, when the service asks, and published to the group
after the surrounding transaction commits (so clients never see an event for a rolled-back
write). Every process subscribed to the group writes the same pre-encoded string to each of
its local sockets: no per-recipient encoding, database access or thread hop.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.db import transaction

from banter.realtime import hub
from banter.realtime.codec import encode_event_frame


# Channel layers allow only [A-Za-z0-9._-] in group names.
def room_group(room_id: int) -> str:
    return f"room.{room_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


@dataclass(frozen=True, slots=True)
class Broadcast:
    group: str
    event: str
    args: tuple[Any, ...]


_captures: list[list[Broadcast]] = []
_captures_lock = threading.Lock()


def broadcast_on_commit(
    group: str,
    event: str,
    *args: Any,
    exclude_sid: str | None = None,
    only_sid: str | None = None,
    offset: int | None = None,
    seq: int | None = None,
) -> None:
    """Send event `event(*args)` to every socket in `group` once the transaction commits.

    `exclude_sid` skips one socket (the device that caused the event, e.g. the one that
    answered a call); `only_sid` reaches one socket of the group (e.g. the device in a call).
    `offset` makes the event recoverable: the id of its durable record, appended to the
    event's arguments as Socket.IO's recovery offset (a string), so a client that reconnects
    with it gets what came after replayed (see banter/realtime/recovery.py). `seq` (with an
    offset) puts the event in the group's gapless sequence: every process hands it to its
    sockets in seq order and reads the ones it never heard from the log
    (banter/realtime/sequencer.py).
    """
    frame = encode_event_frame(event, *args, *(() if offset is None else (str(offset),)))
    filters: dict[str, Any] = {
        key: value
        for key, value in (
            ("exclude_sid", exclude_sid),
            ("only_sid", only_sid),
            ("offset", offset),
            ("seq", seq),
        )
        if value is not None
    }
    transaction.on_commit(partial(_publish_frame, group, event, args, frame, filters))


def broadcast_now(
    groups: str | list[str],
    event: str,
    *args: Any,
    exclude: int | None = None,
    only_sid: str | None = None,
) -> None:
    """Send an ephemeral event (typing, presence, call signals) right away: nothing to commit.

    `exclude` skips the sockets of that user (the sender's own devices); `only_sid` reaches
    one socket of the group. Sent to several
    groups, the frame carries a dedupe key so a socket in more than one of them gets it once.
    """
    frame = encode_event_frame(event, *args)
    targets = [groups] if isinstance(groups, str) else groups
    dedupe = secrets.token_hex(8) if len(targets) > 1 else None
    for group in targets:
        _record(group, event, args)
        message: dict[str, Any] = {"type": "banter.frame", "group": group, "frame": frame}
        if exclude is not None:
            message["exclude"] = exclude
        if only_sid is not None:
            message["only_sid"] = only_sid
        if dedupe is not None:
            message["dedupe"] = dedupe
        hub.publish(group, message)


def control_on_commit(group: str, action: str, **data: Any) -> None:
    """Ask every socket in `group` (on every instance) to act, e.g. subscribe to a room group.

    Used when membership changes outside a socket (REST) or a user's sessions are revoked.
    """
    message = {"type": "banter.control", "group": group, "action": action, **data}
    transaction.on_commit(partial(hub.publish, group, message))


def _record(group: str, event: str, args: tuple[Any, ...]) -> None:
    if _captures:
        with _captures_lock:
            for captured in _captures:
                captured.append(Broadcast(group, event, args))


def _publish_frame(
    group: str,
    event: str,
    args: tuple[Any, ...],
    frame: str,
    filters: dict[str, Any] | None = None,
) -> None:
    _record(group, event, args)
    hub.publish(group, {"type": "banter.frame", "group": group, "frame": frame, **(filters or {})})


@contextmanager
def capture_broadcasts(*, execute_on_commit: bool = True) -> Iterator[list[Broadcast]]:
    """Test helper: record broadcasts published inside the block (after their commit).

    With execute_on_commit, on_commit callbacks registered inside a test's wrapping
    transaction run at the end of the block, as they would after a real commit.
    """
    captured: list[Broadcast] = []
    with _captures_lock:
        _captures.append(captured)
    try:
        if execute_on_commit:
            from django.test import TestCase

            with TestCase.captureOnCommitCallbacks(execute=True):
                yield captured
        else:
            yield captured
    finally:
        with _captures_lock:
            _captures.remove(captured)
