"""VAPID key pairs (RFC 8292) for Web Push: raw P-256 keys, base64url, as browsers and
py-vapid use them. `manage.py vapid_keys` prints one for production; a developer's DEBUG
server keeps one in a file of the checkout, so `make run` offers Web Push with nothing set
and the browser's subscriptions survive a restart."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_pair() -> tuple[str, str]:
    """(public, private)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(public), b64url(private)


def dev_pair(path: Path) -> tuple[str, str]:
    """The pair kept in `path`, made on first use. For DEBUG only: the private key sits in a
    file beside the code."""
    try:
        stored = json.loads(path.read_text())
        return str(stored["public"]), str(stored["private"])
    except (OSError, ValueError, KeyError, TypeError):
        public, private = new_pair()
        try:
            path.write_text(json.dumps({"public": public, "private": private}))
            path.chmod(0o600)
        except OSError:
            pass  # a read-only checkout: a new pair each start, still a working one
        return public, private
