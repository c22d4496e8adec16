"""What a sender needs of a device, read with the claim (push/delivery.py), and the one
interface every push service's sender has (push/webpush.py, push/fcm.py, push/apns.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import aiohttp

Outcome = Literal["sent", "gone", "retry", "failed"]


@dataclass(frozen=True, slots=True)
class PushResult:
    """How a push service answered: `sent`; `gone` (the device no longer exists: it is
    removed); `retry` (later, after `retry_after` seconds if the service said); `failed`
    (sending it again would get the same answer)."""

    outcome: Outcome
    status: int | None = None
    detail: str = ""
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Target:
    kind: str  # "webpush", "fcm", "apns"
    endpoint: str = ""
    p256dh: str = ""
    auth: str = ""
    token: str = ""
    topic: str = ""
    sandbox: bool = False

    def subscription(self) -> dict[str, Any]:
        """Web Push: the subscription as the browser gave it."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


@dataclass(frozen=True, slots=True)
class Push:
    """One push to send: the payload (docs/api.md "Push notifications") and how to send it."""

    payload: dict[str, Any]
    ttl: int  # seconds the push service may hold it
    urgent: bool  # a mention or a ringing call: wake the device now
    collapse_key: str  # "room:<id>" / "call:<id>": a newer one replaces an undelivered one


class Sender(Protocol):
    def configured(self) -> bool: ...

    async def send(
        self, session: aiohttp.ClientSession, target: Target, push: Push
    ) -> PushResult: ...
