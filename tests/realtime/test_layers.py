"""The embedded channel layer counts and logs overflow instead of dropping silently."""

from __future__ import annotations

import pytest

from banter.core import metrics
from banter.realtime.layers import InMemoryChannelLayer


async def test_group_send_delivers_and_counts_overflow(caplog: pytest.LogCaptureFixture) -> None:
    layer = InMemoryChannelLayer(capacity=2)
    channel = await layer.new_channel("hub.")
    await layer.group_add("room.1", channel)
    overflow = metrics.LAYER_ERRORS.labels("overflow")
    before = overflow._value.get()
    for n in range(3):
        await layer.group_send("room.1", {"type": "x", "n": n})
    assert overflow._value.get() == before + 1
    assert "is full" in caplog.text
    assert [(await layer.receive(channel))["n"] for _ in range(2)] == [0, 1]
