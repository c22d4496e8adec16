"""The sender of each device kind (push/targets.py Sender)."""

from __future__ import annotations

from push.apns import ApnsSender
from push.fcm import FcmSender
from push.targets import Sender
from push.webpush import WebPushSender

SENDERS: dict[str, Sender] = {
    "webpush": WebPushSender(),
    "apns": ApnsSender(),
    "fcm": FcmSender(),
}


def sender_for(kind: str) -> Sender | None:
    return SENDERS.get(kind)


def any_configured() -> bool:
    return any(sender.configured() for sender in SENDERS.values())
