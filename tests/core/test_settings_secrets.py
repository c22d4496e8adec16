"""Settings that refuse to start: SECRET_KEY and JWT_SIGNING_KEY under 32 bytes outside DEBUG,
and a FORWARDED_ALLOW_IPS entry that is not an address or a network.

Each case imports banter.settings in a fresh interpreter (settings are read once per process).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEY_32 = "k" * 32
OTHER_32 = "o" * 32
SHORT = "k" * 31


def import_settings(**env: str) -> subprocess.CompletedProcess[str]:
    base = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "JWT_SIGNING_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE"}
    }
    return subprocess.run(
        [sys.executable, "-c", "import banter.settings"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("secret", "jwt", "named"),
    [(SHORT, OTHER_32, "SECRET_KEY"), (KEY_32, SHORT, "JWT_SIGNING_KEY")],
)
def test_short_keys_refused_without_debug(secret: str, jwt: str, named: str) -> None:
    result = import_settings(DEBUG="0", SECRET_KEY=secret, JWT_SIGNING_KEY=jwt)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{named} must be at least 32 bytes" in result.stderr


def test_32_byte_keys_accepted() -> None:
    result = import_settings(DEBUG="0", SECRET_KEY=KEY_32, JWT_SIGNING_KEY=OTHER_32)
    assert result.returncode == 0, result.stderr


def test_length_counts_bytes_not_characters() -> None:
    # 16 two-byte characters are 32 bytes of key material.
    result = import_settings(DEBUG="0", SECRET_KEY="é" * 16, JWT_SIGNING_KEY=OTHER_32)
    assert result.returncode == 0, result.stderr


def test_debug_allows_short_keys() -> None:
    result = import_settings(DEBUG="1", SECRET_KEY="dev", JWT_SIGNING_KEY="dev2")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("value", ["nginx", "10.0.0.1/8", "127.0.0.1,proxy.local"])
def test_forwarded_allow_ips_must_be_addresses_or_networks(value: str) -> None:
    # uvicorn would take a host name as a literal that never matches: refused instead.
    result = import_settings(
        DEBUG="0", SECRET_KEY=KEY_32, JWT_SIGNING_KEY=OTHER_32, FORWARDED_ALLOW_IPS=value
    )
    assert result.returncode != 0
    assert "FORWARDED_ALLOW_IPS" in result.stderr


@pytest.mark.parametrize("value", ["*", "10.0.0.0/8,::1", "192.0.2.7"])
def test_forwarded_allow_ips_accepted(value: str) -> None:
    result = import_settings(
        DEBUG="0", SECRET_KEY=KEY_32, JWT_SIGNING_KEY=OTHER_32, FORWARDED_ALLOW_IPS=value
    )
    assert result.returncode == 0, result.stderr
