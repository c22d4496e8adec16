"""VAPID keys (banter/core/vapid.py): valid P-256 pairs; a DEBUG server's pair is kept."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from banter.core.vapid import dev_pair, new_pair


def _raw(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_a_pair_is_a_p256_key_and_its_point() -> None:
    public, private = new_pair()
    key = ec.derive_private_key(int.from_bytes(_raw(private), "big"), ec.SECP256R1())
    point = key.public_key().public_numbers()
    raw_public = _raw(public)
    assert len(raw_public) == 65 and raw_public[0] == 4
    assert int.from_bytes(raw_public[1:33], "big") == point.x


def test_the_dev_pair_is_made_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / ".vapid-dev-keys.json"
    first = dev_pair(path)
    assert path.exists() and path.stat().st_mode & 0o777 == 0o600
    assert dev_pair(path) == first


def test_an_unwritable_checkout_still_gets_a_pair(tmp_path: Path) -> None:
    public, private = dev_pair(tmp_path / "missing-dir" / "keys.json")
    assert public and private
