"""The chat page: one HTML shell; everything else happens in static/web/app.js."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from chat.management.commands.seed_demo import DEMO_PASSWORD, DEMO_USERS

# Defence in depth behind the page's own rule (user content is only ever set as text):
# no inline script or style can run, and the page talks only to its own origin ('self'
# also covers ws:// and wss:// to the same host for the Socket.IO upgrade).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    context = {
        # On a developer's DEBUG server, say how to log in as the `make seed` users.
        "demo_users": [username for username, _ in DEMO_USERS] if settings.DEBUG else [],
        "demo_password": DEMO_PASSWORD if settings.DEBUG else "",
    }
    response = render(request, "web/index.html", context)
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response
