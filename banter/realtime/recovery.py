"""Socket.IO connection state recovery, backed by durable event records (not process memory).

The protocol (socket.io-client >= 4.6 speaks it unchanged):

- the CONNECT reply carries a private session id, `pid`;
- every recoverable event carries an offset as its last argument (a string);
- a reconnecting client sends `{pid, offset}` in its CONNECT auth; when the server can
  replay everything after `offset`, it answers with the same `pid` (the client sets
  `socket.recovered = true`) and sends the missed events before any live one; otherwise it
  answers with a new `pid` and the client resyncs over REST.

Here the pid is a signed (user, high-water offset) pair: it cannot be forged, it is useless
to another user, and it lets a socket that never received an event still recover (from the
offset the events had reached when it connected). An offset below that high water is
refused (not recovered): it would reach back before the socket existed. Offsets are the ids
of the durable records the events were written to (chat.RoomEvent), so any instance can
replay them, also after the instance the client was on died. What to replay is asked of a
`RecoverySource` (the chat app); this module knows nothing of rooms.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.core import signing

PID_SALT = "banter.realtime.recovery.pid"
_MAX_OFFSET = 2**63 - 1


class RecoverySource(Protocol):
    async def high_water(self) -> int:
        """The newest offset so far (a new socket has seen nothing after it)."""

    async def missed(self, user_id: int, after: int) -> list[tuple[int, str]] | None:
        """(offset, encoded frame) of every event for the user after `after`, in order, or
        None when that cannot be replayed whole (older than the window, more than the cap)."""

    async def missed_since(self, groups: set[str], since: float) -> list[tuple[str, int, str]]:
        """(group, offset, frame) of the events for these groups recorded since `since` (a
        Unix time): what a channel-layer gap may have kept from this instance's sockets."""

    async def missed_in_sequence(
        self, group: str, after: int, first_seq: int, before_seq: int | None
    ) -> list[tuple[int, int, str]]:
        """(offset, seq, frame) of the group's sequenced events from `first_seq` (up to
        `before_seq`, or all), with offsets after `after`, in seq order: what a process never
        heard of a group's sequence (banter/realtime/sequencer.py)."""


@dataclass
class Recovery:
    pid: str
    recovered: bool
    frames: list[tuple[int, str]] = field(default_factory=list)


def issue_pid(user_id: int, high_water: int) -> str:
    return signing.dumps([user_id, high_water, secrets.token_hex(4)], salt=PID_SALT)


def read_pid(pid: Any, user_id: int) -> int | None:
    """The high-water offset `pid` was issued with, if it is ours and this user's."""
    if not isinstance(pid, str) or len(pid) > 256:
        return None
    try:
        owner, high_water, _ = signing.loads(pid, salt=PID_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if owner != user_id or type(high_water) is not int:
        return None
    return high_water


def parse_offset(value: Any) -> int | None:
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        return None
    offset = int(value)
    return offset if offset <= _MAX_OFFSET else None


async def recover(source: RecoverySource, user_id: int, auth: dict[str, Any] | None) -> Recovery:
    """What to answer a CONNECT: the same pid and the missed frames, or a fresh pid."""
    auth = auth or {}
    high_water = read_pid(auth.get("pid"), user_id)
    if high_water is not None:
        offset = parse_offset(auth["offset"]) if "offset" in auth else high_water
        # Never before the pid's high water: the socket was issued that pid when the events
        # had reached it, so it cannot have lost anything older, and a lower offset (a
        # forged "0") would replay events from before the socket ever connected. A genuine
        # client's offsets are all above it (the sources' lookback repeats a little before
        # the offset, within their own bounds); the rare late event with a smaller id being
        # the last one a client got costs it a REST resync, not a replay.
        if offset is not None and offset >= high_water:
            frames = await source.missed(user_id, offset)
            if frames is not None:
                return Recovery(auth["pid"], True, frames)
    return Recovery(issue_pid(user_id, await source.high_water()), False)
