"""`serve --proxy-headers` believes X-Forwarded-For only from FORWARDED_ALLOW_IPS.

A real server process, trusting 127.0.0.1 only, with a REST throttle of a burst of 10: a
client on 127.0.0.2 that sends a fresh X-Forwarded-For with every request is still throttled
under 127.0.0.2, while the trusted proxy's forwarded addresses each get their own bucket.
"""

from __future__ import annotations

import http.client
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, server_env
from tests.live_server import LiveServer, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

BURST = 10  # REST_RATE_PER_MINUTE=1 still allows a burst of max(10, rate // 6)


def refresh(port: int, source: str, forwarded_for: str) -> int:
    """POST /api/auth/token/refresh (anonymous, throttled) from `source`: 400 or 429."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=10, source_address=(source, 0)
    )
    try:
        connection.request(
            "POST",
            "/api/auth/token/refresh",
            body=b"{}",
            headers={"Content-Type": "application/json", "X-Forwarded-For": forwarded_for},
        )
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.parametrize("asgi_server", ["uvicorn", "daphne"])
def test_forwarded_for_only_from_trusted_peers(
    e2e_database: str, tmp_path: Path, asgi_server: str
) -> None:
    port = free_port()
    server = LiveServer(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--proxy-headers"],
        port=port,
        env=server_env(
            e2e_database,
            port,
            ASGI_SERVER=asgi_server,
            FORWARDED_ALLOW_IPS="127.0.0.1",
            REST_RATE_PER_MINUTE="1",
        ),
        log_path=tmp_path / f"forwarded-{asgi_server}.log",
        cwd=ROOT,
    )
    with server:
        spoofed = [refresh(port, "127.0.0.2", f"198.51.100.{n}") for n in range(BURST + 1)]
        assert 429 not in spoofed[:BURST], server.log_tail()
        assert spoofed[BURST] == 429, server.log_tail()
        # The trusted proxy: each forwarded client has its own bucket (none is spent).
        proxied = [refresh(port, "127.0.0.1", f"203.0.113.{n}") for n in range(BURST + 2)]
        assert 429 not in proxied, server.log_tail()
        # ...and 127.0.0.2's bucket was its own, not a forwarded address's.
        assert refresh(port, "127.0.0.1", "127.0.0.2") == 429
