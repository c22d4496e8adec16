"""Builds the Banter realtime server from settings and the event table."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from banter.ops import metrics
from banter.realtime import lifecycle
from banter.realtime.asgi_routing import ASGIApp, realtime_asgi
from banter.realtime.engine import EngineConfig
from banter.realtime.namespace import BanterNamespace
from banter.realtime.socketio import InboxLimits
from banter.realtime.transports import OriginPolicy, RealtimeServer


def engine_config() -> EngineConfig:
    limits = settings.BANTER
    return EngineConfig(
        ping_interval=limits["PING_INTERVAL"],
        ping_timeout=limits["PING_TIMEOUT"],
        max_payload=limits["MAX_PAYLOAD"],
        connect_timeout=limits["CONNECT_TIMEOUT"],
        max_sessions=limits["MAX_CONNECTIONS_PER_PROCESS"],
        max_unadmitted_per_ip=limits["MAX_HANDSHAKES_PER_IP"],
    )


def inbox_limits() -> InboxLimits:
    limits = settings.BANTER
    return InboxLimits(events=limits["MAX_QUEUED_EVENTS"], bytes=limits["MAX_QUEUED_EVENT_BYTES"])


def build_realtime() -> RealtimeServer:
    from banter import socket_routes

    namespace = BanterNamespace(
        socket_routes.EVENTS,
        socket_routes.ON_CONNECT,
        socket_routes.ON_DISCONNECT,
        socket_routes.ON_CONNECTED,
        socket_routes.ON_RESYNC,
        socket_routes.RECOVERY,
    )
    realtime = RealtimeServer(
        {"/": namespace},
        engine_config(),
        OriginPolicy(settings.ALLOWED_ORIGINS),
        inbox_limits(),
    )
    metrics.set_connection_source(realtime.engine.transport_counts)
    return realtime


def build_application(django_app: Any) -> ASGIApp:
    from banter import socket_routes
    from banter.ops.endpoints import ROUTES

    for hook in socket_routes.ON_SHUTDOWN:
        lifecycle.on_shutdown(hook)
    return realtime_asgi(
        build_realtime(),
        http_fallback=django_app,
        background=socket_routes.BACKGROUND,
        http_routes=ROUTES,
    )
