"""Devices: register (validated, the endpoint checked for where it points), list, remove;
and the per-room mute."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from django.conf import settings
from django.db import transaction

from banter.accounts.models import User
from banter.core.errors import not_found, validation_error
from chat.models import Membership
from chat.selectors import membership_get
from push import endpoints
from push.models import Device
from push.senders import sender_for

KINDS = ("webpush", "fcm", "apns")
_TOKEN = re.compile(r"[!-~]{1,4096}")
_APNS_TOKEN = re.compile(r"[0-9a-fA-F]{64,200}")
_TOPIC = re.compile(r"[A-Za-z0-9.\-_]{1,255}")


def _b64url(value: Any, *, field: str, length: int) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise validation_error(f"{field} must be a base64url string", **{field: "invalid"})
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise validation_error(
            f"{field} must be a base64url string", **{field: "invalid"}
        ) from None
    if len(raw) != length or (field == "p256dh" and raw[0] != 4):
        raise validation_error(f"{field} is not a valid key", **{field: "invalid key"})
    return value.rstrip("=")


def device_register(*, user: User, kind: Any, fields: dict[str, Any]) -> tuple[Device, bool]:
    """A push target: a Web Push subscription as the browser gives it
    (`{subscription: PushSubscription.toJSON()}`), an FCM registration token (`{token}`) or
    an APNs device token (`{token, topic?, sandbox?}`). The device and whether it is new.
    The same address registered again moves to the caller (a browser or phone that changed
    hands): it is one device, and it must not push to two users."""
    if kind not in KINDS:
        raise validation_error("kind must be webpush, fcm or apns", kind="unsupported")
    sender = sender_for(kind)
    if kind == Device.Kind.WEBPUSH and (sender is None or not sender.configured()):
        # A browser cannot even subscribe without the server's VAPID key. FCM and APNs
        # tokens are kept until their credentials are configured (the app registers on
        # its own schedule); no push is queued for them meanwhile.
        raise validation_error(f"{kind} is not configured on this server", kind="not configured")
    if kind == Device.Kind.WEBPUSH:
        address, values = _webpush_fields(fields.get("subscription"))
        lookup = {"kind": kind, "endpoint": address}
    else:
        values = _token_fields(kind, fields)
        lookup = {"kind": kind, "token": values.pop("token")}
    with transaction.atomic():
        device, created = Device.objects.select_for_update().get_or_create(
            **lookup, defaults={"user": user, **values}
        )
        if not created:
            for name, value in {"user": user, **values}.items():
                setattr(device, name, value)
            device.save(update_fields=["user", *values])
        # At most PUSH_MAX_DEVICES: the oldest go (browsers renew their subscriptions, and
        # the stale ones would otherwise fill the list until a push finds them gone).
        keep = int(settings.BANTER["PUSH_MAX_DEVICES"])
        stale = list(
            Device.objects.filter(user=user)
            .order_by("-created_at", "-id")
            .values_list("pk", flat=True)[keep:]
        )
        if stale:
            Device.objects.filter(pk__in=stale).delete()
    return device, created


def _token_fields(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    token = fields.get("token")
    pattern = _APNS_TOKEN if kind == Device.Kind.APNS else _TOKEN
    if not isinstance(token, str) or not pattern.fullmatch(token):
        raise validation_error(f"token is not a valid {kind} token", token="invalid")
    if kind == Device.Kind.FCM:
        return {"token": token}
    topic = fields.get("topic") or settings.BANTER["APNS_TOPIC"]
    if not isinstance(topic, str) or not _TOPIC.fullmatch(topic):
        raise validation_error("topic must be the app's bundle id", topic="invalid")
    sandbox = fields.get("sandbox", False)
    if not isinstance(sandbox, bool):
        raise validation_error("sandbox must be a boolean", sandbox="invalid")
    return {"token": token.lower(), "topic": topic, "sandbox": sandbox}


def _webpush_fields(subscription: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(subscription, dict) or not isinstance(subscription.get("keys"), dict):
        raise validation_error(
            "subscription must be {endpoint, keys: {p256dh, auth}}", subscription="invalid"
        )
    endpoint = subscription.get("endpoint")
    try:
        endpoints.check_registration(endpoint)
    except endpoints.EndpointRefused as refused:
        raise validation_error(str(refused), endpoint="refused") from None
    keys = subscription["keys"]
    p256dh = _b64url(keys.get("p256dh"), field="p256dh", length=65)
    auth = _b64url(keys.get("auth"), field="auth", length=16)
    return str(endpoint), {"p256dh": p256dh, "auth": auth}


def device_list(user: User) -> list[Device]:
    return list(Device.objects.filter(user=user).order_by("created_at", "id"))


def device_remove(*, user: User, device_id: int) -> None:
    deleted, _ = Device.objects.filter(pk=device_id, user=user).delete()
    if not deleted:
        raise not_found("Device")


def room_mute(*, user: User, room_id: int, muted: bool) -> Membership:
    membership = membership_get(user, room_id)
    if membership.muted != muted:
        membership.muted = muted
        membership.save(update_fields=["muted"])
    return membership
