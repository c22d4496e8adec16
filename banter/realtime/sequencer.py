"""In-order delivery of sequenced group broadcasts, with gaps filled from the durable log.

Room messages carry the room's `seq`: gapless, and committed in seq order (the room row is
locked while a message takes its seq), so once seq N is committed every seq below it is
too. Instances publish independently, though: an instance can hear seq 8 before seq 7 (two
senders on two instances), or never hear seq 7 (its instance was killed between commit and
publish, or Redis dropped it during a blip). The hub passes every group message through a
Sequencer, one per process, so all local sockets of a group see one ordered stream:

- the next seq goes out at once (the common case: one dict lookup per broadcast, not per
  recipient);
- a later seq is held, with the unsequenced events of the group that follow it (edits,
  deletes, receipts), for up to FILL_DELAY; when the missing seqs have not arrived live by
  then they are read from the log (`Fill`), delivered, and the held ones follow;
- an older seq (a late copy of one already filled) is passed on: sockets skip an offset they
  already have.

`catch_up()` reads everything after the last delivered seq of every group: run when another
instance was found dead, since its last messages may never have been published and nothing
later in the room would reveal the gap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from banter.core import metrics

logger = logging.getLogger("banter.realtime.sequencer")

FILL_DELAY = 0.2  # long enough for a live copy that is merely late, short next to a human
MAX_HELD = 1000  # seqs held per group: beyond it the gap is given up rather than memory

# (group, after offset, first seq wanted, seq to stop before or None for all) ->
# (offset, seq, encoded frame) of the group's sequenced events, in seq order.
Fill = Callable[[str, int, int, int | None], Awaitable[list[tuple[int, int, str]]]]
Deliver = Callable[[dict[str, Any]], None]


@dataclass
class _Stream:
    next_seq: int
    last_offset: int
    # seq -> the message with that seq, then the unsequenced ones that arrived after it.
    held: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None
    filling: bool = False


class Sequencer:
    def __init__(self, deliver: Deliver, loop: asyncio.AbstractEventLoop) -> None:
        self._deliver = deliver
        self._loop = loop
        self._streams: dict[str, _Stream] = {}
        self.fill: Fill | None = None
        self.fill_delay = FILL_DELAY

    def offer(self, message: dict[str, Any]) -> None:
        group = message.get("group", "")
        seq = message.get("seq")
        stream = self._streams.get(group)
        if seq is None:
            if stream is not None and stream.held:
                stream.held[max(stream.held)].append(message)
            else:
                self._deliver(message)
            return
        if stream is None:
            self._streams[group] = _Stream(seq + 1, message.get("offset") or 0)
            self._deliver(message)
            return
        if seq < stream.next_seq:
            self._deliver(message)
            return
        if seq == stream.next_seq:
            self._pass(stream, message)
            if stream.held:  # the common case (nothing held) stops here
                self._release(group, stream)
                if not stream.held:
                    metrics.SEQUENCE_GAPS.labels("live").inc()
            return
        stream.held.setdefault(seq, []).append(message)
        if len(stream.held) > MAX_HELD:
            self._skip_gap(group, stream)
        elif stream.timer is None and not stream.filling:
            stream.timer = self._loop.call_later(self.fill_delay, self._start_fill, group)

    def forget(self, group: str) -> None:
        """No local subscriber left: drop the group's state (held events have no reader)."""
        stream = self._streams.pop(group, None)
        if stream is not None and stream.timer is not None:
            stream.timer.cancel()

    async def catch_up(self) -> int:
        """Deliver whatever the log has after the last seq each group delivered."""
        if self.fill is None:
            return 0
        delivered = 0
        for group, stream in list(self._streams.items()):
            if stream.filling:
                continue
            rows = await self._read(group, stream, None)
            if self._streams.get(group) is stream:
                delivered += self._take_filled(group, stream, rows)
                self._release(group, stream)
        return delivered

    # -- internals ----------------------------------------------------------------------

    def _pass(self, stream: _Stream, message: dict[str, Any]) -> None:
        stream.next_seq = message["seq"] + 1
        offset = message.get("offset")
        if offset is not None and offset > stream.last_offset:
            stream.last_offset = offset
        self._deliver(message)

    def _release(self, group: str, stream: _Stream) -> None:
        """Deliver the held events that are next in line; stop the timer once none wait."""
        while stream.next_seq in stream.held:
            messages = stream.held.pop(stream.next_seq)
            self._pass(stream, messages[0])
            for message in messages[1:]:
                self._deliver(message)
        # Copies of seqs delivered meanwhile (by a fill) are passed on as late copies.
        for seq in [seq for seq in stream.held if seq < stream.next_seq]:
            for message in stream.held.pop(seq):
                self._deliver(message)
        if not stream.held and stream.timer is not None:
            stream.timer.cancel()
            stream.timer = None

    def _start_fill(self, group: str) -> None:
        stream = self._streams.get(group)
        if stream is None:
            return
        stream.timer = None
        if not stream.held:
            return
        if self.fill is None:
            self._skip_gap(group, stream)
            return
        stream.filling = True
        self._loop.create_task(self._fill_gap(group, stream))

    async def _fill_gap(self, group: str, stream: _Stream) -> None:
        try:
            rows = await self._read(group, stream, min(stream.held, default=None))
        finally:
            stream.filling = False
        if self._streams.get(group) is not stream:
            return
        filled = self._take_filled(group, stream, rows)
        if filled:
            metrics.SEQUENCE_GAPS.labels("filled").inc()
        self._release(group, stream)
        if stream.held and stream.next_seq < min(stream.held):
            # Not in the log either (pruned, or the layer and the database disagree): do not
            # hold the room back for it; the clients' own seq-gap resync is the last resort.
            self._skip_gap(group, stream)
        elif stream.held and stream.timer is None:
            stream.timer = self._loop.call_later(self.fill_delay, self._start_fill, group)

    async def _read(
        self, group: str, stream: _Stream, before: int | None
    ) -> list[tuple[int, int, str]]:
        assert self.fill is not None
        try:
            return await self.fill(group, stream.last_offset, stream.next_seq, before)
        except Exception:
            logger.exception("reading the missing events of %s from the log failed", group)
            return []

    def _take_filled(self, group: str, stream: _Stream, rows: list[tuple[int, int, str]]) -> int:
        taken = 0
        for offset, seq, frame in rows:
            if seq != stream.next_seq:
                continue  # arrived live meanwhile (or out of the range asked for)
            message = {
                "type": "banter.frame",
                "group": group,
                "frame": frame,
                "offset": offset,
                "seq": seq,
            }
            self._pass(stream, message)
            taken += 1
            if stream.next_seq in stream.held:  # keep seq order with what is held
                self._release(group, stream)
        metrics.SEQUENCE_FILLED.inc(taken)
        if taken:
            logger.info("%s: %d events the channel layer did not bring, from the log", group, taken)
        return taken

    def _skip_gap(self, group: str, stream: _Stream) -> None:
        missing = min(stream.held) - stream.next_seq
        logger.warning(
            "%s: seq %d..%d never arrived and is not in the log; going on without it",
            group,
            stream.next_seq,
            stream.next_seq + missing - 1,
        )
        metrics.SEQUENCE_GAPS.labels("skipped").inc()
        stream.next_seq = min(stream.held)
        self._release(group, stream)
