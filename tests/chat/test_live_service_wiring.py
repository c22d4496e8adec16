"""The live services (presence, typing, read receipts) hold this process's timers and
coalescing state, so every handler and hook in the event table must share one instance
of each: two would each think the other's timers do not exist."""

from __future__ import annotations

from banter import socket_routes


def test_handlers_and_hooks_share_one_instance_of_each_live_service() -> None:
    presence = socket_routes.PRESENCE
    typing = socket_routes.TYPING
    assert socket_routes.rooms.presence is presence
    assert socket_routes.presence.presence is presence
    assert socket_routes.rooms.typing is typing
    assert socket_routes.typing.typing is typing
    assert socket_routes.receipts.receipts is socket_routes.READ_RECEIPTS
    hooks = [
        *socket_routes.ON_CONNECTED,
        *socket_routes.ON_DISCONNECT,
        *socket_routes.ON_RESYNC,
        *socket_routes.ON_INSTANCE_LOST,
        *socket_routes.ON_SHUTDOWN,
        *socket_routes.BACKGROUND,
    ]
    owners = {id(getattr(hook, "__self__", None)) for hook in hooks}
    assert id(presence) in owners
    assert id(socket_routes.presence) in owners
    assert id(socket_routes.typing) in owners
