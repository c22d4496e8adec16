"""Pipelined publishing (banter/realtime/layers.py, Hub._publish_batches): broadcasts queued
together go out in one layer call, in the order they were published, and a failed batch
still reaches this instance's own sockets."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from banter.realtime.hub import Hub
from banter.realtime.layers import RedisPubSubChannelLayer
from tests.realtime.test_hub_outage import FlakyLayer, Inbox, _message, _until
from tests.services import require_redis


class Recording(RedisPubSubChannelLayer):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batches: list[int] = []

    async def group_send_many(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        self.batches.append(len(items))
        await super().group_send_many(items)


@pytest.mark.services
async def test_a_burst_is_published_in_few_round_trips_and_in_order() -> None:
    layer = Recording(hosts=[require_redis()], prefix=f"t{uuid.uuid4().hex[:8]}")
    hub = Hub(layer, asyncio.get_running_loop())
    await hub.start()
    try:
        one, two = Inbox(), Inbox()
        await hub.join("room.1", one)
        await hub.join("room.2", two)
        for index in range(600):
            group = f"room.{index % 2 + 1}"
            hub.publish(group, _message(group, str(index)))
        await _until(lambda: len(one.frames) + len(two.frames) == 600)
        assert one.frames == [str(i) for i in range(0, 600, 2)]
        assert two.frames == [str(i) for i in range(1, 600, 2)]
        assert sum(layer.batches) == 600 and len(layer.batches) <= 3  # 256 per pipeline
    finally:
        await hub.stop()
        await layer.flush()


class FlakyBatchLayer(FlakyLayer):
    async def group_send_many(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        self._check()
        for group, message in items:
            await self.group_send(group, message)


async def test_a_failed_batch_is_still_delivered_locally() -> None:
    layer = FlakyBatchLayer()
    hub = Hub(layer, asyncio.get_running_loop())
    await hub.start()
    try:
        inbox = Inbox()
        await hub.join("room.1", inbox)
        layer.down = True
        for frame in ("a", "b", "c"):
            hub.publish("room.1", _message("room.1", frame))
        await _until(lambda: inbox.frames == ["a", "b", "c"])
    finally:
        layer.down = False
        await hub.stop()
