"""The embedded default's channel layer: Channels' in-memory layer, made loud and lean.

Channels' InMemoryChannelLayer drops a group message silently when a channel is full and
deep-copies every message. Banter's hub owns the only channel of the process and never
mutates messages, so the copy is waste; and an overflow (the hub's receive loop more than
`capacity` messages behind) must be counted and logged, never silent.

Its expiry sweep (`_clean_expired`) walks every channel and every group membership and runs on
every send and receive: with a few thousand groups (a room and a user group per connected
user) that walk was two thirds of the CPU of a busy process (bench/run.py, py-spy). Messages
expire after a minute and memberships after a day, so sweeping at most once a second changes
no outcome.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer as ChannelsInMemoryChannelLayer

from banter.core import metrics

logger = logging.getLogger("banter.realtime.layers")

_WARN_EVERY = 10.0
CLEAN_INTERVAL = 1.0  # seconds between two expiry sweeps


class InMemoryChannelLayer(ChannelsInMemoryChannelLayer):
    _warned_at = 0.0
    _cleaned_at = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._cleaned_at >= CLEAN_INTERVAL:
            self._cleaned_at = now
            super()._clean_expired()

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        queue = self.channels.get(channel)
        if queue is None:
            self.require_valid_channel_name(channel)
            queue = self.channels.setdefault(
                channel, asyncio.Queue(maxsize=self.get_capacity(channel))
            )
        try:
            # Shared, not copied: messages are read-only once published (see module doc).
            queue.put_nowait((time.time() + self.expiry, message))
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        # Sequential puts that never suspend: no task per channel per message.
        for channel in list(self.groups.get(group, ())):
            try:
                await self.send(channel, message)
            except ChannelFull:
                metrics.LAYER_ERRORS.labels("overflow").inc()
                now = time.monotonic()
                if now - self._warned_at >= _WARN_EVERY:
                    self._warned_at = now
                    logger.error(
                        "channel %s is full (%d messages): group messages are being dropped; "
                        "the event loop is overloaded",
                        channel,
                        self.get_capacity(channel),
                    )
