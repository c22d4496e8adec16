"""/healthz, /readyz and /metrics: plain ASGI handlers on the event loop, outside Django.

They run where the sockets run, so /readyz can send a real message through the channel
layer and back (the hub's probe), and none of them depend on Django middleware, sessions or
ALLOWED_HOSTS, which a load balancer's health check should not have to satisfy.

- /healthz: the process is alive and its event loop answers (no dependencies checked).
- /readyz: the database answers `SELECT 1`, Redis answers PING (when configured), a probe
  makes the round trip through the channel layer, and the instance is not draining. 503
  with the failing checks otherwise, so a load balancer stops sending new clients. What
  failed (the exception text) only for callers allowed to read /metrics; others see "failed".
- /metrics: Prometheus text format, for clients from METRICS_ALLOWED_NETWORKS (default
  loopback only) or with `Authorization: Bearer <METRICS_TOKEN>`.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from banter.core import metrics
from banter.core.state import get_state_store
from banter.realtime import lifecycle
from banter.realtime.hub import HubProvider

logger = logging.getLogger("banter.ops")

CHECK_TIMEOUT = 2.0

Scope = dict[str, Any]
ASGIHandler = Callable[[Scope, Any, Any], Awaitable[None]]

# Last PING result, for the banter_redis_up gauge (None: no Redis configured).
_redis_up: bool | None = None


def _select_one() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        connection.close()  # a broken connection must not be reused by the next check
        raise


async def check_database() -> None:
    # Its own thread (not the thread-sensitive one the views share): a stuck database
    # must not queue readiness behind requests, nor requests behind readiness.
    await asyncio.wait_for(sync_to_async(_select_one, thread_sensitive=False)(), CHECK_TIMEOUT)


async def check_redis() -> bool | None:
    """PING the shared state store; None when there is no Redis (embedded default)."""
    global _redis_up
    if not settings.REDIS_URL:
        return None
    try:
        await asyncio.wait_for(get_state_store().ping(), CHECK_TIMEOUT)
        _redis_up = True
    except Exception:
        _redis_up = False
    return _redis_up


async def check_channel_layer(hubs: HubProvider) -> bool:
    hub = await hubs.get()
    return await hub.probe(CHECK_TIMEOUT)


async def readiness(hubs: HubProvider) -> dict[str, str]:
    """Each check's result: "ok" or what failed."""
    results: dict[str, str] = {}
    try:
        await check_database()
        results["database"] = "ok"
    except Exception as exc:
        results["database"] = f"error: {type(exc).__name__}: {exc}"[:200]
    redis_ok = await check_redis()
    if redis_ok is not None:
        results["redis"] = "ok" if redis_ok else "error: no answer to PING"
    results["channel_layer"] = "ok" if await check_channel_layer(hubs) else "error: probe lost"
    if lifecycle.is_draining():
        results["draining"] = "error: shutting down"
    return results


metrics.set_health_source("redis", lambda: _redis_up)


async def _respond(
    send: Any, status: int, body: bytes, content_type: bytes = b"application/json"
) -> None:
    headers = [(b"content-type", content_type), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def healthz(scope: Scope, receive: Any, send: Any) -> None:
    await _respond(send, 200, b'{"status":"ok"}')


async def readyz(hubs: HubProvider, scope: Scope, receive: Any, send: Any) -> None:
    checks = await readiness(hubs)
    ready = all(result == "ok" for result in checks.values())
    if not ready:
        logger.warning("not ready: %s", {k: v for k, v in checks.items() if v != "ok"})
    if not metrics_allowed(scope):
        # Exception text names hosts, ports, users and versions: only for the callers that
        # may read /metrics; anyone else (the load balancer needs no more) gets ok/failed.
        checks = {name: "ok" if result == "ok" else "failed" for name, result in checks.items()}
    body = orjson.dumps({"status": "ready" if ready else "not ready", "checks": checks})
    await _respond(send, 200 if ready else 503, body)


def metrics_allowed(scope: Scope) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"authorization", b"").decode("latin-1")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return True
    client = scope.get("client") or ("", 0)
    try:
        address = ipaddress.ip_address(str(client[0]))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


async def metrics_view(scope: Scope, receive: Any, send: Any) -> None:
    if not metrics_allowed(scope):
        await _respond(send, 403, b'{"code":"forbidden","message":"metrics are internal"}')
        return
    await check_redis()
    await _respond(send, 200, generate_latest(metrics.REGISTRY), CONTENT_TYPE_LATEST.encode())


def build_routes(hubs: HubProvider) -> dict[str, ASGIHandler]:
    """The handlers by exact path, reading the channel layer's health from `hubs` (the
    process's, built by banter/wiring.py)."""

    def channel_layer_up() -> bool | None:
        hub = hubs.running()
        return None if hub is None else hub.healthy

    metrics.set_health_source("channel_layer", channel_layer_up)
    return {
        "/healthz": healthz,
        "/readyz": partial(readyz, hubs),
        "/metrics": metrics_view,
    }
