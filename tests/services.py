"""Reaching the real services tests need (PostgreSQL, Redis, Node).

On a laptop a missing service skips the test with a reason; under CI
(BANTER_REQUIRE_SERVICES=1) it fails instead, so a broken CI machine cannot pass silently.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
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


def require_redis_server() -> str:
    """The redis-server binary, for tests that run a private Redis (or Sentinel)."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        missing("redis-server is not installed (needed for a private Redis)")
    return binary


class PrivateRedis:
    """A redis-server of a test's own (to stop, restart or watch through Sentinel): never
    the shared one. Keeps nothing on disk, like production's compose Redis."""

    def __init__(self, port: int, log_dir: Path, *extra: str) -> None:
        self.port = port
        self.log = log_dir / f"redis-{port}.log"
        self.extra = list(extra)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    *self.extra,
                    "--port",
                    str(self.port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start; see {self.log}")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


def require_node() -> str:
    node = shutil.which("node")
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if node is None:
        missing("node is not installed (socket.io-client tests)")
    if not os.path.isdir(os.path.join(here, "node_modules", "socket.io-client")):
        missing("node_modules/socket.io-client missing: run `make node-deps` (npm ci)")
    return str(node)
