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


# The service worker fetches nothing and loads no scripts: it may do nothing at all but run.
SERVICE_WORKER_POLICY = "default-src 'none'; base-uri 'none'; frame-ancestors 'none'"


@require_safe
def service_worker(request: HttpRequest) -> HttpResponse:
    """The push service worker, at the root: a worker's scope is at most its own directory,
    and the page is at /. (Under /static/ it would need a Service-Worker-Allowed header,
    which the proxy serving /static/ in production does not send.)"""
    response = render(request, "web/sw.js", content_type="application/javascript")
    # Revalidated on every update check: a fixed worker must not wait for a cached copy to
    # age out (current browsers bypass the cache for it anyway; older ones and proxies may not).
    response["Cache-Control"] = "no-cache"
    response["Content-Security-Policy"] = SERVICE_WORKER_POLICY
    return response
