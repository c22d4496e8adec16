"""The REST throttle: DRF's hook over the shared rate limiter (banter.core.ratelimit).

Kept apart from banter.core.api because DRF imports throttle classes while it is still
building APIView, so this module must not import rest_framework.views.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from banter.core.ratelimit import Rate, get_rate_limiter
from banter.ops import metrics


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

    def wait(self) -> float:
        return self._retry_after
