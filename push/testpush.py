"""The admin's "send a test push": one push to each chosen device now, with the real
sender of its kind, and the answer shown to the operator (a device the push service says
is gone is removed, as the delivery loop would)."""

from __future__ import annotations

import asyncio

import aiohttp

from push.delivery import target_of
from push.models import Device
from push.senders import sender_for
from push.targets import Push, PushResult

TEST_PUSH = Push(
    payload={
        "type": "test",
        "title": "Banter test push",
        "body": "Push notifications reach this device.",
        "badge": 0,
    },
    ttl=60,
    urgent=False,
    collapse_key="test",
)


def send_now(devices: list[Device]) -> list[tuple[Device, str]]:
    results = asyncio.run(_send_all(devices))
    for device, result in zip(devices, results, strict=True):
        if result.outcome == "gone":
            device.delete()
    return [
        (device, f"{result.outcome} {result.status or ''} {result.detail}".strip())
        for device, result in zip(devices, results, strict=True)
    ]


async def _send_all(devices: list[Device]) -> list[PushResult]:
    async def one(session: aiohttp.ClientSession, device: Device) -> PushResult:
        sender = sender_for(device.kind)
        if sender is None or not sender.configured():
            return PushResult("failed", detail=f"{device.kind} is not configured")
        return await sender.send(session, target_of(device), TEST_PUSH)

    async with aiohttp.ClientSession() as session:
        return list(await asyncio.gather(*(one(session, device) for device in devices)))
