"""The REST throttle keys anonymous callers on the address the ASGI server resolved
(REMOTE_ADDR), never on an X-Forwarded-For header a client can write itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from banter.core.ratelimit import get_rate_limiter

BURST = 10  # REST_RATE_PER_MINUTE=1 still allows a burst of max(10, rate // 6)


@pytest.fixture
def one_per_minute(settings: Any) -> Iterator[None]:
    settings.BANTER = {**settings.BANTER, "REST_RATE_PER_MINUTE": 1}
    get_rate_limiter().reset()
    yield
    get_rate_limiter().reset()


def refresh(client: APIClient, remote_addr: str, forwarded_for: str | None = None) -> int:
    extra: dict[str, Any] = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client.post("/api/auth/token/refresh", {}, format="json", **extra).status_code


@pytest.mark.django_db
def test_spoofed_forwarded_for_is_throttled_under_the_real_address(
    one_per_minute: None, api_client: APIClient
) -> None:
    statuses = [refresh(api_client, "203.0.113.7", f"198.51.100.{n}") for n in range(BURST + 1)]
    assert 429 not in statuses[:BURST]
    assert statuses[BURST] == 429
    # Its bucket is 203.0.113.7's: a request without the header is limited too...
    assert refresh(api_client, "203.0.113.7") == 429
    # ...and another real address is not.
    assert refresh(api_client, "203.0.113.8", "198.51.100.1") != 429
