"""The channel layers: Channels' in-memory layer made loud and lean (the embedded default),
and Channels' Redis pub/sub layer with pipelined publishing (REDIS_URL; at the end).

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
from channels_redis import pubsub as channels_redis_pubsub

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


class RedisPubSubChannelLayer(channels_redis_pubsub.RedisPubSubChannelLayer):
    """Channels' Redis pub/sub layer, plus `group_send_many`: a run of broadcasts published
    in one pipeline (one round trip) instead of one awaited PUBLISH each.

    The hub's single publisher keeps a process's broadcasts in commit order, so with one
    PUBLISH per await it could publish only one broadcast per round trip, and under load
    each reply also waits for its turn on the busy event loop: with REDIS_URL a process
    topped out at about 350 messages/s (issue 22). Consecutive broadcasts for the same shard
    go in one pipeline, in order, and the runs go one after the other: the order is the same
    as before. This reaches into channels_redis 4.3's shards (pinned in requirements.txt;
    tests/realtime/test_redis_pipeline.py runs it on a real Redis).
    """

    async def group_send_many(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        layer = self._get_layer()
        runs: list[tuple[Any, list[tuple[str, bytes]]]] = []
        for group, message in items:
            channel = layer._get_group_channel_name(group)
            shard = layer._get_shard(channel)
            publish = (channel, self.serialize(message))
            if runs and runs[-1][0] is shard:
                runs[-1][1].append(publish)
            else:
                runs.append((shard, [publish]))
        for shard, publishes in runs:
            async with shard._lock:
                shard._ensure_redis()
                pipeline = shard._redis.pipeline(transaction=False)
                for channel, payload in publishes:
                    pipeline.publish(channel, payload)
                await pipeline.execute()
