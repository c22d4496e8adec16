"""The hub keeps serving local sockets while the channel layer is down, and re-adds every
group once it is back (a Redis restart without persistence forgets group memberships)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer

from banter.realtime import hub as hub_module
from banter.realtime.hub import Hub


class FlakyLayer(InMemoryChannelLayer):
    """The in-memory layer, switchable to "Redis is down" (every call raises), and able to
    forget its groups the way a restarted Redis without persistence does."""

    def __init__(self) -> None:
        super().__init__(capacity=10_000)
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("Redis is down")

    async def group_add(self, group: str, channel: str) -> None:
        self._check()
        await super().group_add(group, channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self._check()
        await super().group_send(group, message)

    async def receive(self, channel: str) -> dict[str, Any]:
        while self.down:
            await asyncio.sleep(0.01)
            raise ConnectionError("Redis is down")
        return await super().receive(channel)

    def restart(self) -> None:
        self.groups.clear()


class Inbox:
    def __init__(self) -> None:
        self.frames: list[str] = []

    def deliver(self, message: dict[str, Any]) -> None:
        self.frames.append(message["frame"])


async def _until(condition: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.fixture
async def hub(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(hub_module, "PROBE_INTERVAL", 0.05)
    monkeypatch.setattr(hub_module, "PROBE_TIMEOUT", 0.2)
    started = Hub(FlakyLayer(), asyncio.get_running_loop())
    await started.start()
    yield started
    await started.stop()


def _message(group: str, frame: str) -> dict[str, Any]:
    return {"type": "banter.frame", "group": group, "frame": frame}


async def test_probe_round_trip_and_delivery_when_healthy(hub: Hub) -> None:
    inbox = Inbox()
    await hub.join("room.1", inbox)
    assert await hub.probe() is True
    hub.publish("room.1", _message("room.1", "a"))
    await _until(lambda: inbox.frames == ["a"])
    assert hub.healthy


async def test_layer_down_local_sockets_still_served_then_groups_restored(hub: Hub) -> None:
    layer: FlakyLayer = hub.layer
    inbox, late = Inbox(), Inbox()
    await hub.join("room.1", inbox)

    layer.down = True
    hub.publish("room.1", _message("room.1", "during"))
    await _until(lambda: inbox.frames == ["during"])  # local fallback
    await _until(lambda: not hub.healthy)
    assert await hub.probe() is False
    await hub.join("room.2", late)  # a connect during the outage still succeeds

    layer.restart()  # Redis came back empty: no group memberships
    layer.down = False
    await _until(lambda: hub.healthy)
    assert {"room.1", "room.2"} <= set(layer.groups)
    hub.publish("room.1", _message("room.1", "after"))
    hub.publish("room.2", _message("room.2", "late"))
    await _until(lambda: inbox.frames == ["during", "after"] and late.frames == ["late"])


async def test_fast_restart_between_probes_is_noticed(hub: Hub) -> None:
    layer: FlakyLayer = hub.layer
    inbox = Inbox()
    await hub.join("room.1", inbox)
    layer.restart()  # memberships gone, no call ever failed
    # The probe group went too, so the next probe is lost and the hub re-adds everything.
    await _until(lambda: "room.1" in layer.groups)
    hub.publish("room.1", _message("room.1", "x"))
    await _until(lambda: inbox.frames == ["x"])
