"""The REST throttle: DRF's hook over the shared rate limiter (banter.core.ratelimit).

Kept apart from banter.core.api because DRF imports throttle classes while it is still
building APIView, so this module must not import rest_framework.views.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from banter.core import metrics
from banter.core.errors import rate_limited
from banter.core.ratelimit import Rate, event_rate_key, get_rate_limiter, rate_for_class


class BanterThrottle(BaseThrottle):
    """Per-user (or per-IP when anonymous) token bucket over the shared rate limiter."""

    def __init__(self) -> None:
        self._retry_after = 0.0

    def allow_request(self, request: Request, view: Any) -> bool:
        per_minute = settings.BANTER["REST_RATE_PER_MINUTE"]
        if per_minute <= 0:
            return True
        user = request.user
        who = f"u{user.pk}" if user and user.is_authenticated else f"ip{self.get_ident(request)}"
        scope = getattr(view, "throttle_scope", None) or "rest"
        decision = get_rate_limiter().hit(
            f"rest:{scope}:{who}", Rate(per_minute, 60.0, burst=max(10, per_minute // 6))
        )
        self._retry_after = decision.retry_after
        if not decision.allowed:
            metrics.RATE_LIMITED.labels(f"rest:{scope}").inc()
        return decision.allowed

    def get_ident(self, request: Request) -> str:
        """The client address the ASGI server resolved (REMOTE_ADDR, from scope["client"]).

        Never DRF's default, which takes X-Forwarded-For as sent: any client could pick a
        fresh address per request and never be throttled. X-Forwarded-For counts only from
        the proxies in FORWARDED_ALLOW_IPS, and the server has already applied it to
        REMOTE_ADDR (`manage.py serve --proxy-headers`)."""
        return str(request.META.get("REMOTE_ADDR") or "")

    def wait(self) -> float:
        return self._retry_after


def charge_event_rate(rate_class: str, user_id: int) -> None:
    """Spend one event of a socket rate class from the user's bucket, or raise rate_limited:
    a REST endpoint that does what a socket event does (send a message) shares its budget,
    so the socket limit cannot be sidestepped over REST."""
    decision = get_rate_limiter().hit(
        event_rate_key(rate_class, user_id), rate_for_class(rate_class)
    )
    if not decision.allowed:
        metrics.RATE_LIMITED.labels(rate_class).inc()
        raise rate_limited(decision.retry_after)
