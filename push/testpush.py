"""The admin's "send a test push": one push to each chosen device now, with the real
sender, and the answer shown to the operator (a device the push service says is gone is
removed, as the delivery loop would)."""

from __future__ import annotations

import asyncio

import aiohttp

from push import webpush
from push.models import Device

TEST_PAYLOAD = {
    "type": "test",
    "title": "Banter test push",
    "body": "Push notifications reach this device.",
    "badge": 0,
}


def send_now(devices: list[Device]) -> list[tuple[Device, str]]:
    if not webpush.configured():
        return [(device, "Web Push is not configured (VAPID keys)") for device in devices]
    results = asyncio.run(_send_all(devices))
    for device, result in zip(devices, results, strict=True):
        if result.outcome == "gone":
            device.delete()
    return [
        (device, f"{result.outcome} {result.status or ''} {result.detail}".strip())
        for device, result in zip(devices, results, strict=True)
    ]


async def _send_all(devices: list[Device]) -> list[webpush.PushResult]:
    async with aiohttp.ClientSession() as session:
        return list(
            await asyncio.gather(
                *(
                    webpush.send(
                        session,
                        {
                            "endpoint": device.endpoint,
                            "keys": {"p256dh": device.p256dh, "auth": device.auth},
                        },
                        TEST_PAYLOAD,
                        ttl=60,
                    )
                    for device in devices
                )
            )
        )
