"""Push fixtures: VAPID keys configured (as `manage.py vapid_keys` makes them)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def vapid_pair() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _b64url(public), _b64url(private)


@pytest.fixture
def vapid(settings: Any) -> str:
    """VAPID keys in settings; DEBUG on so a local (http://127.0.0.1) push service is
    allowed. The public key."""
    public, private = vapid_pair()
    settings.DEBUG = True
    settings.BANTER = {
        **settings.BANTER,
        "VAPID_PUBLIC_KEY": public,
        "VAPID_PRIVATE_KEY": private,
        "VAPID_SUBJECT": "mailto:ops@banter.test",
    }
    return public


def subscription(endpoint: str = "http://127.0.0.1:9/push/a") -> dict[str, Any]:
    """A browser-shaped subscription with valid-looking keys (not decryptable: for rules)."""
    key = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return {"endpoint": endpoint, "keys": {"p256dh": _b64url(key), "auth": _b64url(b"a" * 16)}}
