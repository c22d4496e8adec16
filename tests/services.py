"""Reaching the real services tests need (PostgreSQL, Redis, Node).

On a laptop a missing service skips the test with a reason; under CI
(BANTER_REQUIRE_SERVICES=1) it fails instead, so a broken CI machine cannot pass silently.
"""

from __future__ import annotations

import os
import shutil
import socket
from urllib.parse import urlsplit

import pytest

REQUIRED = os.environ.get("BANTER_REQUIRE_SERVICES") == "1"
TEST_REDIS_URL = os.environ.get("BANTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def missing(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"required service unavailable (BANTER_REQUIRE_SERVICES=1): {reason}")
    pytest.skip(reason)


def tcp_reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def require_redis() -> str:
    if not tcp_reachable(TEST_REDIS_URL, 6379):
        missing(f"Redis not reachable at {TEST_REDIS_URL}")
    return TEST_REDIS_URL


def require_node() -> str:
    node = shutil.which("node")
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if node is None:
        missing("node is not installed (socket.io-client tests)")
    if not os.path.isdir(os.path.join(here, "node_modules", "socket.io-client")):
        missing("node_modules/socket.io-client missing: run `make node-deps` (npm ci)")
    return str(node)
