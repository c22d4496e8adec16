"""The realtime server from settings: engine limits, allowed origins, inbox limits.

What it serves (the namespaces, their hubs and event table) is built by the composition root,
banter/wiring.py, and handed in: this floor imports nothing above it.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings

from banter.core import metrics
from banter.realtime.engine import EngineConfig
from banter.realtime.socketio import InboxLimits, Namespace
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
        max_unadmitted=limits["MAX_PENDING_HANDSHAKES"],
        allow_eio3=bool(limits["ALLOW_EIO3"]),
    )


def inbox_limits() -> InboxLimits:
    limits = settings.BANTER
    return InboxLimits(events=limits["MAX_QUEUED_EVENTS"], bytes=limits["MAX_QUEUED_EVENT_BYTES"])


def realtime_server(namespaces: Mapping[str, Namespace]) -> RealtimeServer:
    """A RealtimeServer for `namespaces` with the configured limits; /metrics counts its
    connections by transport."""
    realtime = RealtimeServer(
        dict(namespaces),
        engine_config(),
        OriginPolicy(settings.ALLOWED_ORIGINS),
        inbox_limits(),
    )
    metrics.set_connection_source(realtime.engine.transport_counts)
    return realtime
