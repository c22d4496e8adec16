"""The composition root: the one place the running server is put together.

Everything below it is built without knowing what it will serve; here the pieces are made
and handed in, as python-socketio takes `AsyncServer(client_manager=...)`:

- the recovery source (chat's room event log), read by connection state recovery and by
  every hub's gap replay and sequence fill;
- the hubs (banter.realtime.hub.HubProvider), given those reads when each hub is built, and
  installed as the process's hubs: services broadcast from worker threads through
  banter.realtime.hub.publish(), and this install is the one place that decides where that
  goes;
- the namespace, with the event table, the connect/disconnect hooks (banter/socket_routes.py),
  the recovery source and the hubs;
- the ASGI application (banter/asgi.py): Socket.IO, the ops endpoints, the background loops,
  the shutdown hooks, and Django for every other HTTP request.

Arrows point down only (README "Layers"): banter/realtime never imports this module, the
event table or an app.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from banter import socket_routes
from banter.ops import gcwatch
from banter.ops.body_limit import BodyLimit, limit_request_bodies
from banter.ops.endpoints import build_routes
from banter.realtime import hub, lifecycle
from banter.realtime.admin_ui import AdminUI
from banter.realtime.asgi_routing import ASGIApp, realtime_asgi
from banter.realtime.hub import HubProvider
from banter.realtime.namespace import BanterNamespace
from banter.realtime.recovery import RecoverySource
from banter.realtime.server import realtime_server
from banter.realtime.socketio import Namespace
from banter.realtime.transports import RealtimeServer
from chat.recovery import RoomEventRecovery

UPLOADS_PATH = "/api/uploads"


def build_hubs(recovery: RecoverySource) -> HubProvider:
    """Hubs that replay a channel-layer gap and fill a room's sequence from `recovery`."""
    return HubProvider(gap_source=recovery.missed_since, fill=recovery.missed_in_sequence)


def build_admin_ui(hubs: HubProvider) -> AdminUI | None:
    """The Socket.IO Admin UI's part of this instance when ADMIN_UI is on (else nothing of it
    runs: no namespace, no taps)."""
    return AdminUI.from_settings(hubs) if settings.BANTER["ADMIN_UI"] else None


def build_realtime(
    recovery: RecoverySource | None = None,
    hubs: HubProvider | None = None,
    admin_ui: AdminUI | None = None,
) -> RealtimeServer:
    """The Socket.IO server of the event table, reading `recovery` (chat's room event log by
    default) on `hubs` (built on that source by default), which become the process's hubs;
    with `admin_ui` (built from the settings by default) its namespace and taps."""
    if recovery is None:
        recovery = RoomEventRecovery()
    if hubs is None:
        hubs = build_hubs(recovery)
    hub.install(hubs)
    namespace = BanterNamespace(
        socket_routes.EVENTS,
        socket_routes.ON_CONNECT,
        socket_routes.ON_DISCONNECT,
        socket_routes.ON_CONNECTED,
        socket_routes.ON_RESYNC,
        recovery_source=recovery,
        hubs=hubs,
    )
    namespaces: dict[str, Namespace] = {"/": namespace}
    if admin_ui is None:
        admin_ui = build_admin_ui(hubs)
    if admin_ui is not None:
        namespaces = admin_ui.instrument(namespaces)
    realtime = realtime_server(namespaces)
    if admin_ui is not None:
        admin_ui.attach(realtime.engine)
    return realtime


# Room for the multipart framing around an upload's bytes.
MULTIPART_OVERHEAD = 64 * 1024
# Every other request: far above what any JSON call or admin form sends, and Django's own
# DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) answers those with a 400 first.
OTHER_BODY_LIMIT = 10 * 1024 * 1024


def body_limit(path: str) -> BodyLimit:
    """The largest request body Django may read for `path`."""
    if path == UPLOADS_PATH:
        file_limit = int(settings.BANTER["MEDIA_MAX_UPLOAD_BYTES"])
        return BodyLimit(file_limit + MULTIPART_OVERHEAD, file_limit, "file")
    return BodyLimit(OTHER_BODY_LIMIT, OTHER_BODY_LIMIT)


def build_application(django_app: Any) -> ASGIApp:
    """The whole server: /socket.io/, /healthz, /readyz, /metrics, then Django."""
    for hook in socket_routes.ON_SHUTDOWN:
        lifecycle.on_shutdown(hook)
    recovery = RoomEventRecovery()
    hubs = build_hubs(recovery)
    admin_ui = build_admin_ui(hubs)
    return realtime_asgi(
        build_realtime(recovery, hubs, admin_ui),
        http_fallback=limit_request_bodies(django_app, body_limit),
        # The GC collector idles unless `manage.py serve` installed its policy. The Admin UI
        # joins the cluster at startup: a UI elsewhere sees this instance before its sockets.
        background=[
            *socket_routes.BACKGROUND,
            gcwatch.run_collector,
            *([admin_ui.start] if admin_ui is not None else []),
        ],
        http_routes=build_routes(hubs),
    )
