"""Devices: register (validated, the endpoint checked for where it points), list, remove;
and the per-room mute."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.conf import settings
from django.db import transaction

from banter.accounts.models import User
from banter.core.errors import not_found, validation_error
from chat.models import Membership
from chat.selectors import membership_get
from push import endpoints, webpush
from push.models import Device

KINDS = ("webpush",)


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


def device_register(*, user: User, kind: Any, subscription: Any) -> tuple[Device, bool]:
    """A Web Push subscription as the browser gives it (`PushSubscription.toJSON()`); the
    device and whether it is new. The same endpoint registered again moves to the caller
    (a browser shared by two users): it is one browser, and it must not push to both."""
    if kind not in KINDS:
        raise validation_error(
            "kind must be webpush (FCM and APNs are not available on this server yet)",
            kind="unsupported",
        )
    if not webpush.configured():
        raise validation_error(
            "Web Push is not configured on this server (VAPID keys)", kind="not configured"
        )
    if not isinstance(subscription, dict) or not isinstance(subscription.get("keys"), dict):
        raise validation_error(
            "subscription must be {endpoint, keys: {p256dh, auth}}", subscription="invalid"
        )
    endpoint = subscription.get("endpoint")
    try:
        endpoints.resolve(endpoints.parse(endpoint))
    except endpoints.EndpointRefused as refused:
        raise validation_error(str(refused), endpoint="refused") from None
    keys = subscription["keys"]
    p256dh = _b64url(keys.get("p256dh"), field="p256dh", length=65)
    auth = _b64url(keys.get("auth"), field="auth", length=16)
    with transaction.atomic():
        device, created = Device.objects.select_for_update().get_or_create(
            kind=kind,
            endpoint=endpoint,
            defaults={"user": user, "p256dh": p256dh, "auth": auth},
        )
        if not created:
            device.user, device.p256dh, device.auth = user, p256dh, auth
            device.save(update_fields=["user", "p256dh", "auth"])
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
