"""The password-guessing limit: BANTER["LOGIN_RATE"] attempts per username and client address.

Both password forms take it: the login API and the Django admin login (the middleware
below). The general REST throttle (per IP, REST_RATE_PER_MINUTE) is far too generous to stop
someone trying passwords against one account. Over the shared rate limiter, so the limit
holds across instances when Redis is configured.

The address is REMOTE_ADDR: the ASGI server resolves trusted proxies into it; a
client-supplied X-Forwarded-For must never choose the bucket.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import NoReverseMatch, reverse

from banter.core import metrics
from banter.core.errors import BanterError, rate_limited
from banter.core.ratelimit import Rate, get_rate_limiter, parse_rate


def login_rate() -> Rate | None:
    """LOGIN_RATE as "tokens/period_seconds[/burst]"; None when empty (no limit)."""
    spec = settings.BANTER.get("LOGIN_RATE", "")
    return parse_rate(spec) if spec else None


def login_throttle(*, username: str, ip: str) -> None:
    """Count one password attempt; `rate_limited` (429, retryAfter) when over the limit.

    Every attempt counts, successful or not, and is counted before the password is hashed:
    a throttled guess costs the server nothing.
    """
    rate = login_rate()
    if rate is None:
        return
    # Casefolded: usernames are unique ignoring case, so "Alice" and "alice" share a bucket.
    # Hashed: the key stays short and holds nothing a client typed.
    who = hashlib.sha256(f"{username.casefold()}\0{ip}".encode()).hexdigest()[:32]
    decision = get_rate_limiter().hit(f"login:{who}", rate)
    if not decision.allowed:
        metrics.RATE_LIMITED.labels("login").inc()
        raise rate_limited(decision.retry_after)


def client_ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR") or "")


def error_response(error: BanterError) -> HttpResponse:
    """The API's error rendering ({code, message, details}, Retry-After) outside DRF."""
    response = JsonResponse(error.as_dict(), status=error.http_status)
    if "retryAfter" in error.details:
        response["Retry-After"] = str(error.details["retryAfter"])
    return response


class AdminLoginThrottleMiddleware:
    """LOGIN_RATE on POST /admin/login/ (the admin site's own password form)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path_info == _admin_login_path():
            try:
                login_throttle(username=request.POST.get("username", ""), ip=client_ip(request))
            except BanterError as error:
                return error_response(error)
        return self.get_response(request)


def _admin_login_path() -> str | None:
    try:
        return reverse("admin:login")
    except NoReverseMatch:  # no admin site mounted
        return None
