"""Push fixtures: VAPID keys configured (as `manage.py vapid_keys` makes them)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from banter.core.vapid import b64url, new_pair


def vapid_pair() -> tuple[str, str]:
    return new_pair()


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
    return {"endpoint": endpoint, "keys": {"p256dh": b64url(key), "auth": b64url(b"a" * 16)}}
